"""Exact table comparison and the reproduce round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml
from test_engine_support import RUNNER, base_config

from sim.engine.experiment import Point, run_experiment
from sim.engine.reproduce import compare_table, compare_tables, reproduce


def frame(**cols: object) -> pd.DataFrame:
    return pd.DataFrame(cols)


def test_identical_tables_have_no_differences() -> None:
    a = {"runs": frame(replicate=[0, 1], x=[1.0, np.nan])}
    assert compare_tables(a, {"runs": frame(replicate=[0, 1], x=[1.0, np.nan])}) == []


def test_differences_are_named() -> None:
    a = {"runs": frame(replicate=[0, 1, 2], x=[1.0, 2.0, 3.0])}
    changed = {"runs": frame(replicate=[0, 1, 2], x=[1.0, 2.5, 3.0])}
    assert compare_tables(a, changed) == ["runs.x: first difference at row 1: 2.0 vs 2.5"]
    shorter = {"runs": frame(replicate=[0, 1], x=[1.0, 2.0])}
    assert compare_tables(a, shorter) == ["runs: row count 3 vs 2"]
    renamed = {"runs": frame(replicate=[0, 1, 2], y=[1.0, 2.0, 3.0])}
    assert "only in first: ['x']; only in second: ['y']" in compare_tables(a, renamed)[0]
    retyped = {"runs": frame(replicate=[0, 1, 2], x=[1, 2, 3])}
    assert compare_tables(a, retyped) == ["runs.x: type double vs int64"]
    assert compare_tables(a, {}) == ["runs: missing in the second result"]
    ignored = compare_table("runs", *(pd_to_arrow(t["runs"]) for t in (a, changed)), ignore=["x"])
    assert ignored == []


def pd_to_arrow(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def test_reproduce_reruns_the_saved_config(tmp_path: Path) -> None:
    config = base_config(replicates=3, workers=2)
    run_dir = tmp_path / "saved"

    def rerun(cfg: dict, out: Path) -> None:
        replicates = cfg["replicates"]
        run_experiment([Point(cfg)], out, replicates=replicates, progress=None, runner=RUNNER)

    rerun(config, run_dir)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    assert reproduce(run_dir, rerun) == []

    def tampered(cfg: dict, out: Path) -> None:
        rerun(dict(cfg, seed=cfg["seed"] + 1), out)

    diffs = reproduce(run_dir, tampered)
    assert diffs and any(d.startswith("runs.") for d in diffs)
