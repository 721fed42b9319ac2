"""What pairing buys: CRN efficiency and control variates on data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.engine.pairing import control_variates, crn_efficiency


def arms(base: np.ndarray, arm: np.ndarray, **extra: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    n = len(base)
    cols = {"scenario": ["b"] * n + ["a"] * n, "replicate": [*range(n)] * 2,
            "y": np.concatenate([base, arm])}
    for name, (xb, xa) in extra.items():
        cols[name] = np.concatenate([xb, xa])
    return pd.DataFrame(cols)


def test_efficiency_and_correlation_of_arms_sharing_a_component() -> None:
    """A = S + e1, B = S + e2 with unit variances: corr 0.5, Var(A-B)/(VarA+VarB) = 2/4 = 0.5.
    With 2000 pairs the estimates' s.e. is about 0.02, so 0.06 is three s.e."""
    rng = np.random.default_rng(5)
    s, e1, e2 = rng.normal(size=(3, 2000))
    table = crn_efficiency(arms(s + e2, s + e1), "b", ["y"]).iloc[0]
    assert table.correlation == pytest.approx(0.5, abs=0.06)
    assert table.efficiency == pytest.approx(0.5, abs=0.06)
    assert table.corr_low < 0.5 < table.corr_high and table.eff_low < 0.5 < table.eff_high
    independent = crn_efficiency(arms(e1, e2), "b", ["y"]).iloc[0]
    assert independent.efficiency == pytest.approx(1.0, abs=0.08)
    assert independent.corr_low < 0 < independent.corr_high


def test_efficiency_above_one_when_the_arms_move_apart() -> None:
    rng = np.random.default_rng(6)
    s, e1, e2 = rng.normal(size=(3, 500))
    row = crn_efficiency(arms(s + e1, -s + e2), "b", ["y"]).iloc[0]
    assert row.correlation < 0 and row.efficiency > 1 and row.eff_low > 1


def test_control_variate_removes_exogenous_drift_between_arms() -> None:
    """D = 1 + 2 (c_arm - c_base) + noise(sd 0.5), drift sd 1: beta 2, residual variance 0.25 of
    4.25, so the variance ratio is about 0.06; the adjusted mean stays near the true 1."""
    rng = np.random.default_rng(8)
    n = 400
    c_base = rng.poisson(15, n).astype(float)
    c_arm = c_base + rng.normal(0, 1, n).round()
    base = rng.normal(10, 3, n)
    arm = base + 1 + 2 * (c_arm - c_base) + rng.normal(0, 0.5, n)
    row = control_variates(arms(base, arm, inflow=(c_base, c_arm)), "b", ["y"], ["inflow"]).iloc[0]
    assert row.controls == "inflow (arm - baseline)"
    assert float(row.beta) == pytest.approx(2.0, abs=0.1)
    assert row.variance_ratio < 0.15 and row.width_ratio < 0.5
    assert row.adj_low < 1.0 < row.adj_high


def test_identical_controls_give_nothing_to_adjust_unless_their_mean_is_known() -> None:
    """After the model rebuild the inflow is the same in both arms: no between-arm control; with
    its expected value known, the baseline's luck in the draw is the control."""
    rng = np.random.default_rng(9)
    n = 300
    c = rng.poisson(15, n).astype(float)
    base = rng.normal(10, 1, n) + c
    arm = base - 2 + 0.5 * (c - 15) + rng.normal(0, 0.3, n)
    runs = arms(base, arm, inflow=(c, c))
    assert control_variates(runs, "b", ["y"], ["inflow"]).empty
    row = control_variates(runs, "b", ["y"], ["inflow"], expected={"inflow": 15.0}).iloc[0]
    assert row.controls.startswith("inflow (baseline - expected 15")
    assert row.variance_ratio < 0.2 and row.adj_low < -2.0 < row.adj_high
