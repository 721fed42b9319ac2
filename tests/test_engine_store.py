"""Results store: shard tables, atomic writes, layout and streaming compaction."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_engine_support import temp_files

from sim.engine.progress import Progress
from sim.engine.store import ResultStore, ShardRef, build_table, path_component


def output(n_inc: int, extra: dict | None = None) -> SimpleNamespace:
    incidents = {"day": np.arange(n_inc, dtype=np.int32), "type": np.array(["ambush"] * n_inc)}
    return SimpleNamespace(
        run={"incidents": n_inc, "gap_control": np.float64(0.5), **(extra or {})},
        timeseries={"day": np.arange(3, dtype=np.int32)},
        incidents=incidents if n_inc else {},
    )


def test_build_table_adds_labels_replicate_and_run_id() -> None:
    table = build_table(
        {"x": np.array([1.0, 2.0]), "z": np.array(["a", "b"])},
        {"scenario": "s", "design_point": 3},
        7,
        "abc",
    )
    assert table.column_names == ["scenario", "design_point", "replicate", "run_id", "x", "z"]
    assert table.column("replicate").to_pylist() == [7, 7]
    assert table.schema.field("z").type == pa.string()
    row = build_table({"n": np.int64(4), "f": 0.5}, {"scenario": "s"}, 0, "r", one_row=True)
    assert row.num_rows == 1 and row.column("n").to_pylist() == [4]
    with pytest.raises(ValueError, match="unequal length"):
        build_table({"a": [1, 2], "b": [1]}, {}, 0, "r")


def test_path_component_is_safe() -> None:
    assert path_component("joint_ops") == "joint_ops"
    assert path_component("a/b c") == "a%2Fb%20c"
    assert path_component("_hidden").startswith("%5F")
    assert path_component(".x").startswith("%2E")


def test_write_layout_runs_last_and_no_temp_files(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.prepare()
    labels = {"scenario": "base", "design_point": 2}
    store.write_replicate(labels, 0, "r0", output(4), {"run_id": "r0"})
    runs = tmp_path / "shards" / "runs" / "base" / "dp-2" / "r0.parquet"
    assert runs.exists() and store.completed_run_ids() == {"r0"}
    for table in ("timeseries", "incidents"):
        path = store.shard_path(table, labels, "r0")
        assert path.exists() and path.stat().st_mtime_ns <= runs.stat().st_mtime_ns
    assert b"gapsim" in pq.read_schema(runs).metadata
    assert temp_files(tmp_path) == []


def test_prepare_removes_stale_temporary_files(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.prepare()
    stale = tmp_path / "shards" / "runs" / "base" / "_dead.r1.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a file")
    assert store.prepare() == 1 and not stale.exists()
    assert store.completed() == set()


def test_failure_records_round_trip(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.write_failure({"run_id": "r9", "replicate": 9, "message": "boom"})
    assert store.failures()["r9"]["message"] == "boom"
    store.write_replicate({"scenario": "s"}, 9, "r9", output(1), {})
    assert store.failures() == {}  # a success clears the record


def test_compaction_unifies_schemas_and_sorts(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    refs = []
    for scenario, key in (("b", (2,)), ("a", (1,))):
        for rep in (1, 0):
            rid = f"{scenario}{rep}"
            extra = {"kidnappings": rep} if scenario == "a" else {}
            store.write_replicate({"scenario": scenario}, rep, rid, output(rep * 2, extra), {})
            refs.append(ShardRef(rid, rep, {"scenario": scenario}, (*key, rep)))
    tables = store.compact(refs)
    runs = pd.read_parquet(tables["runs"])
    assert list(zip(runs.scenario, runs.replicate, strict=True)) == [
        ("a", 0),
        ("a", 1),
        ("b", 0),
        ("b", 1),
    ]
    assert runs.kidnappings.isna().tolist() == [False, False, True, True]
    incidents = pd.read_parquet(tables["incidents"])  # replicate-0 shards had no columns at all
    assert list(incidents.run_id) == ["a1", "a1", "b1", "b1"]
    first = tables["runs"].read_bytes()
    store.compact(list(reversed(refs)))
    assert tables["runs"].read_bytes() == first  # idempotent, order-independent
    assert temp_files(tmp_path) == []


def test_compaction_of_nothing_writes_empty_tables(tmp_path: Path) -> None:
    tables = ResultStore(tmp_path).compact([])
    assert pq.read_table(tables["runs"]).num_rows == 0


def test_progress_log_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress(20, stream=stream, every_s=1e9) as bar:
        for _ in range(20):
            bar.advance()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("replicates: 20/20 (100%)")
    stream = io.StringIO()
    with Progress(4, initial=2, stream=stream) as bar:
        bar.advance(failed=True)
    assert "1 failed" in stream.getvalue()
