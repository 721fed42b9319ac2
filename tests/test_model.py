"""Mechanism tests of the security-gap model, each with fixed seeds.

Statistical assertions compare two settings on the same random streams (common random numbers)
and state their margin; single-run invariants are exact.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sim.model.clock import DAWN, DAY, NIGHT
from sim.model.posture import IA, PESH
from sim.model.runner import build_model, config_object, run_replicate
from sim.model.villagers import TRUFFLE
from tests.conftest import coarse


def test_same_seed_same_outcomes_and_replicates_differ():
    cfg = coarse("days=60")
    a = run_replicate(cfg, 0).run
    b = run_replicate(cfg, 0).run
    c = run_replicate(cfg, 1).run
    same = {k: (a[k] == b[k]) or (np.isnan(a[k]) and np.isnan(b[k])) for k in a}
    assert all(same.values()), [k for k, ok in same.items() if not ok]
    assert any(a[k] != c[k] for k in ("tips", "detections", "incidents", "airstrikes"))


def test_detection_falls_with_cover_and_at_night():
    model = build_model(coarse("days=5"), 0)
    post = model.posture.post_xy_km[0]
    group = np.array([post + [0.8, 0.0]])
    forces = model.forces
    p_open_day = forces.detection_probabilities(group, np.array([0.0]), night=False)[0].max()
    p_cover_day = forces.detection_probabilities(group, np.array([0.8]), night=False)[0].max()
    p_open_night = forces.detection_probabilities(group, np.array([0.0]), night=True)[0].max()
    assert p_open_day > p_cover_day > 0
    assert p_open_day > p_open_night
    far = np.array([post + [8.0, 0.0]])
    assert forces.detection_probabilities(far, np.array([0.0]), night=False)[0].max() < p_open_day


def test_withdrawal_cuts_that_forces_informant_links():
    cfg = coarse("scenario=withdrawal_2017", "days=240")
    model = build_model(cfg, 0)
    v = model.villagers
    held_by_pesh = model.posture.holder[v.home_ix, v.home_iy] == PESH
    before = int(v.linked[held_by_pesh, PESH].sum())
    assert before > 0
    _, event = model.timeline[0]
    model._apply_event(event)  # the 17 Oct 2017 withdrawal, applied as the run would
    lost = held_by_pesh & (model.posture.holder[v.home_ix, v.home_iy] != PESH)
    assert lost.any()
    assert model.posture.holders[2] == IA
    assert not v.linked[lost, PESH].any(), "links to the withdrawing force must be cut"


def test_network_recovers_only_slowly_after_withdrawal():
    out = run_replicate(coarse("scenario=withdrawal_2017", "days=300"), 0)
    ts = out.timeseries
    links = ts["links_pesh"] + ts["links_ia"] + ts["links_pmf"]
    eve = int(np.flatnonzero(ts["date"] == "2017-10-16")[0])
    # About 190 days after the cut the network is still well below its pre-withdrawal size
    # (S6: it "collapsed"; S8: the newcomers lack local knowledge).
    assert links[-1] < 0.6 * links[eve]
    assert links[eve + 2] < 0.6 * links[eve]


def test_higher_trust_gives_more_tips():
    keys = ["trust_kurd_pesh", "trust_kurd_ia", "trust_kurd_pmf", "trust_arab_pesh",
            "trust_arab_ia", "trust_arab_pmf"]
    low = coarse("days=120", *[f"model.{k}=0.1" for k in keys])
    high = coarse("days=120", *[f"model.{k}=0.9" for k in keys])
    tips_low = sum(run_replicate(low, r).run["tips"] for r in range(3))
    tips_high = sum(run_replicate(high, r).run["tips"] for r in range(3))
    # Same streams (CRN); report probability scales with trust, so expect several times more tips.
    assert tips_high > 2 * tips_low


def test_truffle_hunters_go_out_only_in_season():
    model = build_model(coarse("days=5"), 0)
    v = model.villagers
    hunters = v.role == TRUFFLE
    assert hunters.any()
    for month, expect_out in ((2, True), (7, False), (11, False), (4, True)):
        model.clock.start = dt.date(2021, month, 10)
        model.clock.tick = 0
        v.new_day(model.clock.truffle_season, rainfall=1.0)
        v.place(DAWN, 2)
        assert v.out[hunters].any() == expect_out, month
        v.place(NIGHT, 0)
        assert not v.out[hunters].any()


def test_kidnappings_only_where_no_force_can_respond_in_time():
    cfg = coarse("days=365")
    window = config_object(cfg).model.kidnap_window_h
    total = 0
    for r in range(2):
        inc = run_replicate(cfg, r).incidents
        kid = inc["type"] == "kidnapping"
        total += int(kid.sum())
        assert (inc["response_h"][kid] >= window).all()
    assert total > 0


def test_run_counts_equal_incident_rows():
    out = run_replicate(coarse("days=200"), 3)
    types = out.incidents["type"]
    assert out.run["incidents"] == len(types)
    by_type = ["kidnappings", "fake_checkpoints", "ambushes", "arsons", "extortions",
               "village_attacks", "retributions"]
    assert sum(out.run[c] for c in by_type) == len(types)
    zones = ["incidents_gap", "incidents_ridge", "incidents_plain", "incidents_camp"]
    assert sum(out.run[c] for c in zones) == len(types)
    assert out.run["incidents"] == int(out.timeseries["incidents"].sum())


def test_no_agent_leaves_the_grid_and_fighters_never_negative():
    model = build_model(coarse("days=90", "model.n_fighters=150"), 2)
    x0, x1, y0, y1 = model.terrain.extent_km
    w, h = model.terrain.width, model.terrain.height
    while model.running:
        model.step()
        ins = model.insurgents
        assert (ins.fighters >= 0).all()
        a = ins.active
        assert (ins.xy[a, 0] >= x0).all() and (ins.xy[a, 0] <= x1).all()
        assert (ins.xy[a, 1] >= y0).all() and (ins.xy[a, 1] <= y1).all()
        v = model.villagers
        assert (v.xy[:, 0] >= x0).all() and (v.xy[:, 0] <= x1).all()
        assert (v.xy[:, 1] >= y0).all() and (v.xy[:, 1] <= y1).all()
    model.sync_grid()
    for agent in model.agents:
        ix, iy = agent.cell.coordinate
        assert 0 <= ix < w and 0 <= iy < h


def test_phases_of_a_three_hour_day():
    model = build_model(coarse("days=2"), 0)
    phases = [model.clock._phase_by_tick[i] for i in range(model.clock.ticks_per_day)]
    assert phases.count(DAY) == 3 and phases.count(NIGHT) == 3


def test_gap_band_unheld_in_status_quo_and_held_by_joint_brigades():
    quo = build_model(coarse("days=2"), 0)
    jb = build_model(coarse("scenario=joint_brigades", "days=2"), 0)
    gap = quo.terrain.layers["gap"]
    assert (quo.posture.holder[gap] == -1).all()
    assert np.median(quo.posture.response_h[gap]) > 24
    assert np.median(jb.posture.response_h[gap]) < 1


@pytest.mark.slow
def test_wider_gap_more_incidents_and_brigades_fewer():
    """Paired on replicate ids (CRN): 6 replicates of a year. Margins are well inside the
    differences measured on the default terrain (see the issue note); a failure means a mechanism
    stopped acting, not noise."""
    def mean_incidents(*overrides):
        cfg = coarse("days=365", *overrides)
        return np.mean([run_replicate(cfg, r).run["incidents"] for r in range(6)])

    narrow = mean_incidents("gap_width_km=1")
    wide = mean_incidents("gap_width_km=8")
    brigades = mean_incidents("scenario=joint_brigades")
    quo = mean_incidents()
    assert wide > 1.5 * narrow
    assert brigades < 0.7 * quo
