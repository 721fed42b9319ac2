"""The published sensitivity study: the shipped spec, the design's configs, the Sobol analysis on
a function with known indices, and the generated page (no model runs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.validation import parameters as pm
from sim.validation import sensitivity as se
from tests.conftest import coarse


def test_shipped_spec_covers_headline_tables_and_every_est_parameter() -> None:
    spec = se.load_spec()
    keys = {u.key for u in spec.items}
    assert {"gap_width_km", "coordination", "model.share_prob[*]", "model.air_delay_h[*]"} <= keys
    assert "model.gap_garrison[*]" not in keys and "model.tick_hours" not in keys
    est = {u.key for u in pm.est_parameters(exclude=["tick_hours", "people_per_agent",
                                                     "max_agents_per_settlement"], tables=False)}
    assert est <= keys
    assert spec.n & (spec.n - 1) == 0 and spec.outcomes[0] == "incidents"


def test_every_design_row_is_a_valid_config() -> None:
    spec = se.load_spec(design_size=2)
    x = se.design(spec)
    assert x.shape == (2 * (len(spec.items) + 3), len(spec.items) + 1)  # N x (D + 2), D with the realisation
    cfgs = se.configs(spec, coarse("days=30"), x)
    widths = {c["gap_width_km"] for c in cfgs}
    assert min(widths) >= 0 and max(widths) <= 10 and len(widths) > 2
    assert len({c["seed"] for c in cfgs}) > 2  # the realisation index moves the seed


def test_sobol_analysis_recovers_known_indices() -> None:
    """y = 4 a + b (c inert), uniform on [0, 1]: S_a = 16/17, S_b = 1/17, S_c = 0. Tolerance
    0.1 at N = 512 (bootstrap intervals of SALib's estimators are about +-0.05 there)."""
    items = tuple(pm.parse({"model.report_base": {"range": [0, 1]},
                            "model.call_prob": {"range": [0, 1]},
                            "model.truffle_go_prob": {"range": [0, 1]}}))
    spec = se.SensitivitySpec("status_quo_2019", {}, ("incidents",), items, 512, 3, 100, {})
    x = se.design(spec)
    runs = pd.DataFrame({"design_point": range(len(x)), "incidents": 4 * x[:, 0] + x[:, 1]})
    idx = se.analyse(spec, runs).set_index("factor")
    assert idx.loc["model.report_base", "ST"] == pytest.approx(16 / 17, abs=0.1)
    assert idx.loc["model.call_prob", "S1"] == pytest.approx(1 / 17, abs=0.1)
    assert abs(idx.loc["model.truffle_go_prob", "ST"]) < 0.05
    page = se.render(spec, idx.reset_index(), None,
                     {"model_version": 2, "git": "abc", "date": "2026-12-01", "days": 365,
                      "terrain": "t", "runs": len(x), "runtime_min": 1.0, "workers": 2,
                      "seconds_per_run": 0.1})
    assert "## Closing note" in page and "`model.report_base` (ST" in page.split("Closing note")[1]
    assert page.count("| `model.") == 3


def test_bad_design_size_is_refused() -> None:
    from sim.errors import ConfigError

    with pytest.raises(ConfigError, match="power of 2"):
        se.load_spec(design_size=12)
    assert np.isfinite(se.problem(se.load_spec().items)["bounds"]).all()


def _three_factor_spec(n: int = 8) -> se.SensitivitySpec:
    items = tuple(pm.parse({"model.report_base": {"range": [0, 1]},
                            "model.call_prob": {"range": [0, 1]},
                            "model.truffle_go_prob": {"range": [0, 1]}}))
    return se.SensitivitySpec("status_quo_2019", {}, ("incidents",), items, n, 3, 100, {})


def test_morris_screening_ranks_against_the_noise_floor() -> None:
    """y = 4 a + b + 0.1 realisation (c inert), each on [0, 1]: an elementary effect is the change
    over a step divided by the step (as a share of the range), so mu_star is 4 for a, 1 for b, 0 for
    c and 0.1 for the realisation (the noise floor). Exact up to float error: elementary effects
    of a linear function do not depend on the path."""
    from sim.validation import screening as sc

    spec = _three_factor_spec()
    x = sc.design(spec, trajectories=10, seed=5)
    assert x.shape == (10 * 5, 4)  # r x (D + 2): D = 3 factors, the realisation, one start
    runs = pd.DataFrame({"design_point": range(len(x)), "incidents": 4 * x[:, 0] + x[:, 1] + 0.1 * x[:, 3]})
    idx = sc.analyse(spec, x, runs, seed=5).set_index("factor")
    assert idx.loc["model.report_base", "mu_star"] == pytest.approx(4.0)
    assert idx.loc["model.call_prob", "ratio_to_noise"] == pytest.approx(10.0)
    assert idx.loc["model.truffle_go_prob", "mu_star"] == pytest.approx(0.0, abs=1e-12)
    assert sc.select(idx.reset_index(), keep=5) == ["model.report_base", "model.call_prob"]
    assert sc.select(idx.reset_index(), keep=1) == ["model.report_base"]
    page = "\n".join(sc.render(idx.reset_index(), ["model.report_base"],
                               {"model_version": 4, "git": "abc", "date": "2026-12-02", "days": 365,
                                "runs": len(x), "runtime_min": 1.0, "workers": 2, "trajectories": 10,
                                "factors": 3, "outcomes": ["incidents"]}))
    assert "| `model.report_base` |" in page and "| kept |" in page
    assert "`model.call_prob` (10.00 x)" in page  # above the floor, cut by keep=1: said so


def test_screening_takes_each_outcomes_strongest_factors_in_turn() -> None:
    """An outcome with small effects still gets its strongest factor into the Sobol stage."""
    from sim.validation import screening as sc

    rows = [("incidents", f, r) for f, r in (("a", 9.0), ("b", 8.0), ("c", 7.0), ("d", 0.5))]
    rows += [("kidnappings", f, r) for f, r in (("a", 0.9), ("b", 0.2), ("c", 0.1), ("d", 1.5))]
    rows += [(o, se.REALISATION, 1.0) for o in ("incidents", "kidnappings")]
    idx = pd.DataFrame(rows, columns=["outcome", "factor", "ratio_to_noise"])
    assert sc.select(idx, keep=2) == ["a", "d"]
    assert sc.select(idx, keep=9) == ["a", "d", "b", "c"]  # nothing below the floor


def test_sobol_stage_keeps_only_screened_factors(tmp_path) -> None:
    from sim.errors import ConfigError
    from sim.validation import screening as sc

    spec = se.load_spec(design_size=2, only=["gap_width_km", "model.strike_kill_prob"])
    assert [u.key for u in spec.items] == ["gap_width_km", "model.strike_kill_prob"]
    with pytest.raises(ConfigError, match="not factors"):
        se.load_spec(only=["model.no_such_thing"])
    with pytest.raises(ConfigError, match="selected.json"):
        sc.load_selected(tmp_path)
