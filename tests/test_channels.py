"""The coordination-channel study (issue 13, item 7): its plan and its arithmetic on known answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from sim.errors import ConfigError
from sim.model.mechanisms import MECHANISMS
from sim.validation import channels as ch


def test_shipped_study_names_every_mechanism_and_real_tables() -> None:
    spec = ch.load_spec()
    assert set(spec.channels) == set(MECHANISMS)
    arms = ch.plan(spec)
    labels = [a.label for a in arms]
    assert len(labels) == len(set(labels))
    for s in ("base", *spec.scenarios):
        assert s in labels
        assert all(f"{s}-no-{c}" in labels for c in spec.channels)
    # a table arm changes one table and nothing else, and only where the scenario's level differs
    for arm in arms:
        if arm.label.startswith("base+"):
            assert arm.overrides[0] == f"scenario={spec.baseline}" and len(arm.overrides) == 2
            assert arm.overrides[1].startswith("model.")


def test_an_unknown_channel_is_refused(tmp_path) -> None:
    bad = tmp_path / "study.yaml"
    bad.write_text("baseline: status_quo_2019\nscenarios: [joint_brigades]\nchannels: [telepathy]\n"
                   "outcomes: [incidents]\n")
    with pytest.raises(ConfigError, match="telepathy"):
        ch.load_spec(bad)


def _runs(effects: dict[str, float], reps: int = 8) -> pd.DataFrame:
    """A runs table where each arm's incidents are a shared per-replicate noise plus its effect."""
    noise = np.random.default_rng(3).normal(0, 5, reps)
    rows = [{"scenario": arm, "replicate": r, "incidents": 50 + noise[r] + eff}
            for arm, eff in effects.items() for r in range(reps)]
    return pd.DataFrame(rows)


def test_attribution_recovers_what_each_channel_carries() -> None:
    """Scenario effect -10; without channel a it is -2 (a carries 8), without b still -10 (b
    carries 0). The paired arithmetic must return exactly that (the noise is common)."""
    spec = ch.ChannelSpec(baseline="b0", scenarios=("s",), channels=("a", "b"), tables=(),
                          outcomes=("incidents",))
    runs = _runs({"base": 0, "s": -10, "base-no-a": 3, "s-no-a": 1, "base-no-b": 0, "s-no-b": -10})
    attr = ch.attribute(runs, spec).set_index("channel")
    assert attr.loc["(all on)", "effect"] == pytest.approx(-10)
    assert attr.loc["a", "carried"] == pytest.approx(-8)
    assert attr.loc["a", "share"] == pytest.approx(0.8)
    assert attr.loc["b", "carried"] == pytest.approx(0, abs=1e-9)


def test_tables_alone_reports_each_tables_share_of_the_effect(monkeypatch) -> None:
    spec = ch.ChannelSpec(baseline="b0", scenarios=("s",), channels=(), tables=("t1", "t2"),
                          outcomes=("incidents",))
    labels = {"t1": "base+t1=1.0", "t2": None}  # t2: the scenario uses the baseline's value
    monkeypatch.setattr(ch, "table_arm", lambda spec, s, t: labels[t])
    runs = _runs({"base": 0, "s": -10, "base+t1=1.0": -4})
    alone = ch.tables_alone(runs, spec).set_index("table")
    assert alone.loc["t1", "effect_alone"] == pytest.approx(-4)
    assert alone.loc["t1", "share"] == pytest.approx(0.4)
    assert alone.loc["t2", "effect_alone"] == 0 and alone.loc["t2", "n"] == 0


def test_spec_is_a_frozen_record() -> None:
    spec = ch.load_spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.replicates = 1  # type: ignore[misc]
