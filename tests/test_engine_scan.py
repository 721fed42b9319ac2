"""Out-of-core summaries of compacted tables agree with the in-memory ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.engine import scan
from sim.engine.stats import summarise, t_interval


@pytest.fixture
def runs_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, pd.DataFrame]:
    """A runs table of two scenarios, with NaNs and an int column, in several row groups."""
    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame({
        "scenario": np.repeat(["a", "b"], n // 2),
        "replicate": np.tile(np.arange(n // 2), 2),
        "run_id": [f"r{i}" for i in range(n)],
        "incidents": rng.poisson(7, n),
        "gap_control": rng.random(n) * 1e6 + 1e9,  # large offset: a naive sum of squares fails
    })
    frame.loc[::17, "gap_control"] = np.nan
    path = tmp_path / "runs.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=400)
    monkeypatch.setattr(scan, "BATCH_ROWS", 250)  # many batches: the merge is exercised
    return path, frame


def test_summarise_matches_the_in_memory_summary(runs_file: tuple[Path, pd.DataFrame]) -> None:
    path, frame = runs_file
    streamed = scan.summarise(path, by="scenario")
    direct = summarise(frame, by="scenario", outcomes=["incidents", "gap_control"])
    assert list(streamed.columns) == list(direct.columns)
    assert streamed[["scenario", "outcome", "n", "reliable"]].equals(
        direct[["scenario", "outcome", "n", "reliable"]])
    # the same moments up to float rounding in the merge (relative 1e-9)
    for col in ("mean", "sd"):
        np.testing.assert_allclose(streamed[col], direct[col], rtol=1e-9)
    # the streamed interval is Student's t (the in-memory one a bootstrap): t from the frame
    for _, row in streamed.iterrows():
        values = frame.loc[frame["scenario"] == row["scenario"], row["outcome"]]
        ci = t_interval(values.to_numpy(dtype=float))
        np.testing.assert_allclose([row["ci_low"], row["ci_high"]], [ci.low, ci.high], rtol=1e-9)


def test_group_mean_and_filtered_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "BATCH_ROWS", 100)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "scenario": "s",
        "replicate": np.repeat(np.arange(50), 12),
        "month": np.tile(np.arange(12), 50),
        "tips": rng.poisson(9, 600),
        "heat": rng.random(600),
    })
    path = tmp_path / "ts.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=120)
    means = scan.group_mean(path, by=["scenario", "month"], columns=["tips", "heat"])
    expected = frame.groupby(["scenario", "month"], as_index=False)[["tips", "heat"]].mean()
    np.testing.assert_allclose(means[["tips", "heat"]], expected[["tips", "heat"]], rtol=1e-12)
    assert list(means.month) == list(range(12))
    first = scan.read_rows(path, below_replicate=5)
    assert sorted(first.replicate.unique()) == [0, 1, 2, 3, 4] and len(first) == 60
    assert scan.row_count(path) == 600
