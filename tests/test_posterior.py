"""Uncertain parameters, the posterior file, the per-world overlay and the plausible-worlds
statistic: pure functions on small inputs (no model runs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.errors import ConfigError
from sim.validation import parameters as pm
from sim.validation import posterior as po
from sim.validation import targets as tg
from tests.conftest import coarse

# ------------------------------------------------------------------------------ parameters


def test_parse_reads_units_and_ranges_from_model_params() -> None:
    items = pm.parse({"model.strike_kill_prob": {"range": [0.02, 0.1], "scale": "log"},
                      "model.share_prob": {"ranges": [[0, 0.1], [0.1, 0.5], [0.5, 0.9],
                                                      [0.7, 1.0], [0.8, 1.0]]},
                      "model.n_fighters": {"range": [50, 200]},
                      "gap_width_km": {"range": [2, 6]}})
    by = {u.key: u for u in items}
    assert "model.share_prob[jcc]" in by and by["model.share_prob[jcc]"].level == 2
    assert by["model.strike_kill_prob"].prior()[0] == "loguniform"
    assert by["model.n_fighters"].integer and by["model.n_fighters"].unit == "fighters"
    assert by["model.strike_kill_prob"].bounds == (0.0, 1.0)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [({"model.nope": {"range": [0, 1]}}, "no model parameter"),
     ({"model.share_prob": {"range": [0, 1]}}, "per-level table"),
     ({"model.share_prob[nine]": {"range": [0, 1]}}, "level must be one of"),
     ({"model.strike_kill_prob": {"range": [0.5, 2.0]}}, "allowed range"),
     ({"model.strike_kill_prob": {"range": [0.0, 0.1], "scale": "log"}}, "log scale"),
     ({"model.share_prob[*]": {"range": [0, 1]}}, "takes a factor"),
     ({"model.strike_kill_prob": {"range": [0.1, 0.05]}}, "below high"),
     ({"model.strike_kill_prob": {"rnage": [0.1, 0.2]}}, "unknown key"),
     ({"model.share_prob[2]": {"range": [0, 1]}, "model.share_prob[jcc]": {"range": [0, 1]}},
      "given twice"),
     ({"../../etc": {"range": [0, 1]}}, "not a parameter key")],
)
def test_parse_refuses_bad_specs_in_one_line(spec, needle) -> None:
    with pytest.raises(ConfigError, match=needle) as err:
        pm.parse(spec)
    assert "\n" not in str(err.value)


def test_apply_sets_scalars_table_entries_and_factors_within_bounds() -> None:
    base = coarse()
    items = pm.parse({"model.share_prob[jcc]": {"range": [0, 1]},
                      "model.air_delay_h[*]": {"factor": [0.5, 2]},
                      "model.n_fighters": {"range": [50, 200]},
                      "model.strike_kill_prob": {"factor": [0.5, 30]}})
    cfg = pm.apply(base, {"model.share_prob[jcc]": 0.42, "model.air_delay_h[*]": 2.0,
                          "model.n_fighters": 77.6, "model.strike_kill_prob": 30.0}, items)
    assert cfg["model"]["share_prob"][2] == 0.42
    assert cfg["model"]["share_prob"][0] == base["model"]["share_prob"][0]
    assert cfg["model"]["air_delay_h"] == [2 * x for x in base["model"]["air_delay_h"]]
    assert cfg["model"]["n_fighters"] == 78 and isinstance(cfg["model"]["n_fighters"], int)
    assert cfg["model"]["strike_kill_prob"] == 1.0  # clipped into the allowed range
    assert base["model"]["n_fighters"] != 78  # a copy
    pm.check_values(cfg)


def test_est_parameters_are_exactly_the_est_fields() -> None:
    from dataclasses import fields

    from sim.model.params import ModelParams

    items = pm.est_parameters(exclude=["tick_hours"])
    keys = {u.key for u in items}
    for f in fields(ModelParams):
        est = "[EST]" in f.metadata.get("source", "")
        listed = f"model.{f.name}" in keys or f"model.{f.name}[*]" in keys
        if f.name == "tick_hours" or f.metadata.get("names"):
            assert not listed
        elif est and f.default not in (0, 0.0):
            assert listed, f.name
        elif not est:
            assert not listed, f.name


# --------------------------------------------------------------------------- the posterior


def posterior_text(values, weights, keys=("model.strike_kill_prob", "model.share_prob[jcc]")):
    return po.to_yaml({"name": "t", "note": "line one\nhydra: injected"}, list(keys),
                      np.asarray(values, float), np.asarray(weights, float),
                      ["header\nhydra: {run: {dir: /tmp}}"])


@pytest.fixture
def posterior_dir(tmp_path, monkeypatch):
    import shutil

    import sim.config.load as load

    tree = tmp_path / "configs"
    shutil.copytree(load.CONFIG_DIR, tree, ignore=shutil.ignore_patterns("posterior"))
    monkeypatch.setattr(load, "CONFIG_DIR", tree)
    (tree / "posterior").mkdir()
    return tree / "posterior"


def test_posterior_file_round_trip_and_header_cannot_inject(posterior_dir) -> None:
    text = posterior_text([[0.05, 0.6], [0.07, 0.8], [0.04, 0.7]], [1, 2, 1])
    post = po.write(po.posterior_path(), text)
    data = yaml.safe_load(po.posterior_path().read_text())
    assert "hydra" not in data and data["note"] == "line one\nhydra: injected"
    assert post.keys == ("model.strike_kill_prob", "model.share_prob[jcc]")
    assert post.weights.sum() == pytest.approx(1.0) and post.size == 3


@pytest.mark.parametrize(
    ("values", "weights", "keys", "needle"),
    [([[1.5, 0.6]], [1], None, "outside its allowed range"),
     ([[0.05, 0.6]], [-1], None, "weights >= 0"),
     ([[0.05, 0.6]], [1], ("model.strike_kill_prob", "model.share_prob[*]"), "canonical"),
     ([[0.05, 0.6]], [1], ("model.strike_kill_prob", "model.share_prob[2]"), "canonical")],
)
def test_posterior_write_revalidates_and_writes_nothing_bad(posterior_dir, values, weights, keys,
                                                            needle) -> None:
    text = posterior_text(values, weights, keys) if keys else posterior_text(values, weights)
    with pytest.raises(ConfigError, match=needle):
        po.write(po.posterior_path(), text)
    assert not po.posterior_path().exists()


def test_posterior_names_cannot_leave_configs_posterior() -> None:
    for bad in ("../config", "a/b", "x.yaml", "a\nb", ""):
        with pytest.raises(ConfigError):
            po.posterior_path(bad)


def test_draws_are_keyed_by_seed_and_world_and_follow_the_weights(posterior_dir) -> None:
    post = po.write(po.posterior_path(), posterior_text(
        [[0.05, 0.6], [0.07, 0.8], [0.04, 0.7]], [0.1, 0.8, 0.1]))
    a = [post.draw_index(20170, w) for w in range(2000)]
    assert a == [post.draw_index(20170, w) for w in range(2000)]  # stateless
    assert a != [post.draw_index(7, w) for w in range(2000)]
    share = np.bincount(a, minlength=3) / len(a)
    assert share == pytest.approx([0.1, 0.8, 0.1], abs=0.03)  # 3 s.e. of a 2000-draw share


def test_overlay_gives_every_arm_of_a_world_the_same_draw(posterior_dir) -> None:
    po.write(po.posterior_path(), posterior_text([[0.05, 0.6], [0.07, 0.8]], [1, 1]))
    sq = coarse("parameters=posterior")
    jb = coarse("parameters=posterior", "scenario=joint_brigades")
    for rep in range(6):
        c1, cols1 = po.overlay(sq, rep)
        c2, cols2 = po.overlay(jb, rep)
        assert cols1 == cols2 and cols1["posterior_world"] == rep // po.REPLICATES_PER_WORLD
        assert c1["model"]["strike_kill_prob"] == c2["model"]["strike_kill_prob"]
        assert c1["model"]["share_prob"][2] == c2["model"]["share_prob"][2]
        assert c2["model"]["share_prob"][0] == jb["model"]["share_prob"][0]
    point = coarse()
    assert po.overlay(point, 3) == (point, {})


def test_parameters_key_is_checked_before_any_work(posterior_dir) -> None:
    with pytest.raises(ConfigError, match="point, posterior"):
        coarse("parameters=best")
    with pytest.raises(ConfigError, match="run gapsim calibrate"):
        coarse("parameters=posterior")


# ------------------------------------------------------------------- plausible worlds


def worlds_runs(effects: list[float], noise: float, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for w, eff in enumerate(effects):
        for k in range(2):
            r = 2 * w + k
            base = 100 + rng.normal(0, 5)
            rows.append({"scenario": "a", "replicate": r, "posterior_world": w, "incidents": base})
            rows.append({"scenario": "b", "replicate": r, "posterior_world": w,
                         "incidents": base + eff + rng.normal(0, noise)})
    return pd.DataFrame(rows)


def test_plausible_worlds_counts_worlds_and_separates_the_variance() -> None:
    effects = [*np.linspace(-30, -2, 30), *np.linspace(2, 10, 10)]  # lower in 30 of 40 worlds
    w = po.plausible_worlds(worlds_runs(effects, noise=0.5), "a", "b", "incidents")
    assert w.worlds == 40 and w.better == 30 and w.share_better == 0.75
    assert w.share_parameter > 0.99  # the effects differ by world; the noise is tiny
    flat = po.plausible_worlds(worlds_runs([-5.0] * 40, noise=8.0), "a", "b", "incidents")
    assert flat.share_parameter < 0.2  # same effect in every world: the spread is noise
    # var_noise estimates the within-world variance of a difference: 8^2 = 64 (+-30 % at 40 pairs)
    assert flat.var_noise == pytest.approx(64, rel=0.35)


def test_plausible_world_lines_label_the_point_estimate() -> None:
    runs = worlds_runs([-1.0] * 4, 0.1).drop(columns="posterior_world")
    lines = po.plausible_world_lines(runs, "a", ["a", "b"], {"incidents": True})
    assert len(lines) == 1 and lines[0].startswith("Parameters: point estimate")
    lines = po.plausible_world_lines(worlds_runs([-1.0] * 4, 0.1), "a", ["a", "b"],
                                     {"incidents": True, "airstrikes": None})
    lines = [line for line in lines if not line.startswith("Caution")]  # see the next test
    assert "b lowers incidents in 100% of plausible worlds (4 of 4)" in lines[1]
    assert "too few worlds" in lines[1] and len(lines) == 2
    lines = po.plausible_world_lines(worlds_runs([-1.0] * 6, 0.1), "a", ["a", "b"],
                                     {"incidents": True})
    lines = [line for line in lines if not line.startswith("Caution")]
    assert "of the spread between worlds is parameter uncertainty" in lines[1]


def test_a_posterior_of_another_model_version_is_flagged_in_the_report(monkeypatch) -> None:
    """Draws fitted to one model version are not known to be plausible for the next: the report
    says so rather than presenting them as the current model's posterior."""
    import sim.model

    fitted = int(po.load(po.posterior_path()).meta["model_version"])
    monkeypatch.setattr(sim.model, "MODEL_VERSION", fitted)
    assert po.version_note() is None
    lines = po.plausible_world_lines(worlds_runs([-1.0] * 4, 0.1), "a", ["a", "b"], {"incidents": True})
    assert not any(line.startswith("Caution") for line in lines)
    monkeypatch.setattr(sim.model, "MODEL_VERSION", fitted + 2)
    note = po.version_note()
    assert note and f"model version {fitted};" in note and f"model version {fitted + 2}," in note
    lines = po.plausible_world_lines(worlds_runs([-1.0] * 4, 0.1), "a", ["a", "b"], {"incidents": True})
    assert lines[1] == note


# ------------------------------------------------------------------------------- targets


def test_target_bands_are_ninety_percent_intervals() -> None:
    t = tg.TARGETS["log_fighters"]
    lo, hi = np.exp(t.observed - tg.Z90 * t.sd), np.exp(t.observed + tg.Z90 * t.sd)
    assert (lo, hi) == pytest.approx((50, 300))
    k = tg.TARGETS["log_kidnappings"]
    assert np.exp(k.observed + tg.Z90 * k.sd) - tg.RATE_FLOOR == pytest.approx(4.0)
    runs = pd.DataFrame({"airstrikes": [76, 0], "insurgents_killed_air": [52, 0],
                         "fighters_mean": [100, 144], "kidnappings": [12, 0],
                         "fake_checkpoints": [0, 0], "ambushes": [0, 0], "arsons": [0, 0],
                         "hostages": [24, 0]})
    s = tg.summaries(runs, 365.0, list(tg.TARGETS.values()))
    assert s["strikes_per_month"] == pytest.approx(38 * tg.MONTH_DAYS / 365)
    assert s["kills_per_strike"] == pytest.approx(52 / 76)  # pooled: a strikeless replicate is fine
    assert s["log_fighters"] == pytest.approx(np.log(122))
    assert s["log_hostages_per_event"] == pytest.approx(np.log(2 + tg.RATE_FLOOR))


def test_runner_hook_runs_the_draw_and_records_it(posterior_dir) -> None:
    """The one hook in sim/model/runner.py: the replicate runs the drawn values and its runs row
    says which draw (three simulated days on the 500 m terrain, a few seconds)."""
    from sim.model.runner import run_replicate

    po.write(po.posterior_path(), posterior_text([[0.5, 0.6], [0.5, 0.8]], [1, 1]))
    cfg = coarse("parameters=posterior", "days=3")
    out = run_replicate(cfg, 3)
    assert out.run["posterior_world"] == 1 and out.run["posterior_draw"] in (0, 1)
    assert len(out.run["posterior_sha"]) == 12
    point = run_replicate(coarse("days=3"), 3)
    assert "posterior_draw" not in point.run


@pytest.mark.slow
def test_compare_across_plausible_worlds_with_the_shipped_posterior(tmp_path, capsys) -> None:
    """Budget: 2 scenarios x 4 replicates x 20 days on the 500 m terrain (about 1 minute).
    Every arm of a replicate runs the same draw, and the report states the share of worlds."""
    from sim.cli import main

    assert po.posterior_path().is_file(), "the shipped posterior configs/posterior/*.yaml"
    out = tmp_path / "cmp"
    code = main(["compare", "scenarios=[status_quo_2019,joint_brigades]",
                 "baseline=status_quo_2019", "parameters=posterior", "replicates=4", "days=20",
                 "terrain=qarachogh_coarse", "progress=false", f"hydra.run.dir={out}"])
    assert code == 0, capsys.readouterr()
    runs = pd.read_parquet(out / "runs.parquet")
    draws = runs.pivot(index="replicate", columns="scenario", values="posterior_draw")
    assert (draws["status_quo_2019"] == draws["joint_brigades"]).all()
    assert sorted(runs["posterior_world"].unique()) == [0, 1]
    html = (out / "report.html").read_text()
    assert "of plausible worlds" in html and "posterior status_quo_2020" in html
