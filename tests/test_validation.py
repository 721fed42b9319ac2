"""Pattern-oriented validation: a fast subset in the default suite, the whole suite as `slow`.

Fixed seed; each pattern states its own criterion on a 95 % interval across replicates (see
sim/validation/patterns.py). The fast subset uses the coarse terrain and 4 replicates, so its
intervals are wide; the criteria are the same as the full suite's.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sim.cli import main
from sim.engine.experiment import Point, run_experiment
from sim.validation.patterns import ARMS, Tables, evaluate
from tests.conftest import coarse

FAST_ARMS = ("status_quo", "gap_2km", "gap_6km", "brigades")


@pytest.fixture(scope="module")
def fast_tables(tmp_path_factory):
    out = tmp_path_factory.mktemp("validation")
    arms = [a for a in ARMS if a.label in FAST_ARMS]
    points = [Point(coarse(*a.overrides, f"days={a.days}"), {"scenario": a.label}) for a in arms]
    run_experiment(points, out, replicates=4, workers=2, progress=False)
    return Tables(pd.read_parquet(out / "runs.parquet"), pd.read_parquet(out / "timeseries.parquet"),
                  pd.read_parquet(out / "incidents.parquet"))


@pytest.mark.parametrize("pattern", ["gap_concentration", "strike_tempo", "diurnal_shift"])
def test_fast_patterns_hold(fast_tables, pattern):
    table = evaluate(fast_tables, [pattern])
    failed = table[~table["held"]]
    assert failed.empty, failed[["pattern", "value", "low", "high", "criterion"]].to_string()


def test_joint_brigades_lower_incidents_in_every_replicate(fast_tables):
    """The full coordination pattern needs the jcc and joint-ops arms; here the strongest
    contrast must hold replicate by replicate (paired on replicate ids)."""
    runs = fast_tables.runs.set_index(["scenario", "replicate"])["incidents"]
    diffs = runs.loc["brigades"] - runs.loc["status_quo"]
    assert (diffs < 0).all(), diffs.to_dict()


@pytest.mark.slow
def test_gapsim_validate_passes_every_pattern(tmp_path, capsys):
    out = tmp_path / "validate"
    code = main(["validate", "replicates=8", "progress=false", f"hydra.run.dir={out}"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    table = pd.read_csv(out / "validation.csv")
    assert table["held"].all()
    assert (out / "figures" / "validation.png").exists()
