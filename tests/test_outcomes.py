"""The outcome table: every column the model returns is labelled, with a unit and a direction.

When the model gains an outcome column, the first test fails until ``sim/outcomes.py`` has an
entry for it: a report must never show a raw column name to a workshop.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.runner import run_replicate
from sim.outcomes import NOT_OUTCOMES, OUTCOMES, SUPPORT, outcome
from tests.conftest import coarse


@pytest.fixture(scope="module")
def output():
    return run_replicate(coarse("days=12"), 0)


def _numeric(columns: dict) -> set[str]:
    out = set()
    for name, value in columns.items():
        arr = np.asarray(value)
        if arr.dtype.kind in "iuf" and name not in NOT_OUTCOMES:
            out.add(name)
    return out


def test_every_numeric_outcome_column_has_an_entry(output):
    missing_runs = _numeric(output.run) - set(OUTCOMES)
    missing_daily = _numeric(output.timeseries) - set(OUTCOMES)
    assert not missing_runs, f"add to sim/outcomes.py (runs.parquet): {sorted(missing_runs)}"
    assert not missing_daily, f"add to sim/outcomes.py (timeseries): {sorted(missing_daily)}"


def test_entries_are_complete_and_consistent(output):
    labels = [o.label for o in OUTCOMES.values()]
    for name, o in OUTCOMES.items():
        assert o.name == name and o.label and o.unit, name
        assert o.kind in SUPPORT and o.better in ("lower", "higher", None), name
        assert "_" not in o.label, f"{name}: the label must be plain words"
    runs_labels = [OUTCOMES[c].label for c in _numeric(output.run)]
    assert len(set(runs_labels)) == len(runs_labels), "two runs columns share a label"
    assert len(labels) >= len(runs_labels)


def test_values_lie_in_each_kinds_support(output):
    for name in _numeric(output.run):
        low, high = outcome(name).support
        value = float(output.run[name])
        assert np.isnan(value) or low <= value <= high, f"{name}={value} outside {low}-{high}"


def test_shares_change_in_points_and_counts_in_percent():
    assert outcome("tips_reaching_share").change_unit == "points"
    assert outcome("gap_control").change_unit == "points"
    assert outcome("incidents").change_unit == "%"
    assert outcome("incidents").direction == "fewer is better"
    assert outcome("airstrikes").direction == "neither better nor worse"
    assert outcome("gap_control").display(0.534) == "53%"
    unknown = outcome("brand_new_column")
    assert unknown.label == "brand new column" and unknown.better is None


@pytest.mark.slow
def test_expected_inflow_matches_the_models_mean():
    """The control variate's known mean (rate x days) must be the model's. Over 120 days and 30
    replicates: Poisson with mean ~31.5 per replicate, s.e. of the 30-replicate mean about 1.0;
    tolerance 3.5 (3.5 s.e.). Budget: about 30 s on one core."""
    config = coarse("days=120")
    expected = OUTCOMES["inflow"].expected(config)
    observed = np.mean([run_replicate(config, r).run["inflow"] for r in range(30)])
    assert observed == pytest.approx(expected, abs=3.5)
