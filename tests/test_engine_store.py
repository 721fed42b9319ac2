"""Results store: wire format, journal, bundles and their checks, recovery, compaction."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_engine_support import RUNNER, base_config, temp_files

from sim.engine import bundles, compaction, frames, journal
from sim.engine.bundles import BLOCK, BundleProblem
from sim.engine.identity import job_id, point_hash
from sim.engine.progress import Progress
from sim.engine.reproduce import compare_table
from sim.engine.store import ResultStore, completed_replicates
from sim.engine.worker import Task, TaskResult, run_task


def task(reps: list[int], scenario: str = "base", **extra: object) -> Task:
    config = base_config(10, scenario, **extra)
    return Task(0, point_hash(config, "1"), tuple(reps), config, {"scenario": scenario}, RUNNER)


def fresh(out: Path, **options: int) -> ResultStore:
    store = ResultStore(out, **options)
    store.open()
    return store


# ------------------------------------------------------------------------------- wire format


def test_build_table_adds_labels_replicate_and_run_id() -> None:
    table = frames.build_table(
        {"x": np.array([1.0, 2.0]), "z": np.array(["a", "b"])},
        {"scenario": "s", "design_point": 3},
        7,
        "abc",
    )
    assert table.column_names == ["scenario", "design_point", "replicate", "run_id", "x", "z"]
    assert table.column("replicate").to_pylist() == [7, 7]
    assert table.schema.field("z").type == pa.string()
    row = frames.build_table({"n": np.int64(4), "f": 0.5}, {"scenario": "s"}, 0, "r", one_row=True)
    assert row.num_rows == 1 and row.column("n").to_pylist() == [4]
    with pytest.raises(ValueError, match="unequal length"):
        frames.build_table({"a": [1, 2], "b": [1]}, {}, 0, "r")


def test_payload_round_trip_and_damage() -> None:
    result = run_task(task([0, 1, 2]))
    assert result.done == [0, 1, 2] and not result.failures
    tables = frames.decode(result.payload)
    assert tables["runs"].column("replicate").to_pylist() == [0, 1, 2]
    assert tables["runs"].column("run_id").to_pylist() == [
        job_id(task([0]).point_hash, r) for r in range(3)
    ]
    for cut in (5, len(result.payload) // 2, len(result.payload) - 1):
        with pytest.raises(frames.FrameError):
            frames.decode(result.payload[:cut])


def test_task_tables_do_not_depend_on_how_replicates_are_batched() -> None:
    """Columns built once per task equal per-replicate tables concatenated (types included)."""
    from test_engine_support import stub_replicate

    config = base_config(3, gap_width_km=0.0)  # few incidents: some replicates have none
    items = [(r, f"id{r}", stub_replicate(config, r)) for r in range(12)]
    assert any(len(out.incidents["day"]) == 0 for _, _, out in items)
    labels = {"scenario": "s", "design_point": 1}
    batched = frames.task_tables(items, labels)
    single = [frames.task_tables([item], labels) for item in items]
    for name in frames.TABLES:
        one_by_one = frames.concat([t[name] for t in single])
        assert batched[name].schema == one_by_one.schema, name
        assert batched[name].equals(one_by_one), name


def test_model_tables_do_not_depend_on_how_replicates_are_batched(coarse_config) -> None:
    """The same for the real model's outputs (three replicates of two days)."""
    from sim.model.runner import run_replicate

    config = coarse_config("days=2")
    items = [(r, f"id{r}", run_replicate(config, r)) for r in range(3)]
    batched = frames.task_tables(items, {"scenario": "m"})
    single = [frames.task_tables([item], {"scenario": "m"}) for item in items]
    for name in frames.TABLES:  # NaN equals NaN here, as in `gapsim reproduce`
        one_by_one = frames.concat([t[name] for t in single])
        assert batched[name].schema == one_by_one.schema, name
        assert compare_table(name, batched[name], one_by_one) == [], name


def test_worker_records_failures_and_returns_the_rest(tmp_path: Path) -> None:
    control = tmp_path / "c.json"
    control.write_text(json.dumps({"fail": [1]}))
    result = run_task(task([0, 1, 2], test_control=str(control)))
    assert result.done == [0, 2] and len(result.seconds) == 3
    (failure,) = result.failures
    assert failure["replicate"] == 1 and "injected failure" in failure["message"]
    assert failure["run_id"] == job_id(result.point_hash, 1)


# ------------------------------------------------------------------------------------ journal


def test_journal_reads_complete_records_and_stops_at_damage(tmp_path: Path) -> None:
    j = journal.Journal(tmp_path, "s")
    for i in range(3):
        j.append({"i": i}, bytes([i]) * 100)
    j.close()
    (path,) = journal.segments(tmp_path)
    records, torn = journal.read_segment(path)
    assert [h["i"] for h, _ in records] == [0, 1, 2] and not torn
    data = path.read_bytes()
    path.write_bytes(data[:-10])  # cut short: the last record is dropped
    records, torn = journal.read_segment(path)
    assert [h["i"] for h, _ in records] == [0, 1] and torn
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF  # a flipped bit fails the checksum of its record
    path.write_bytes(bytes(flipped))
    records, torn = journal.read_segment(path)
    assert len(records) < 3 and torn


# ------------------------------------------------------------------------------------ bundles


def test_results_become_one_bundle_written_runs_last(tmp_path: Path) -> None:
    store = fresh(tmp_path)
    for reps in ([0, 1], [2], [BLOCK, BLOCK + 1]):
        store.add(run_task(task(reps)))
    assert store.done_mask(task([0]).point_hash, BLOCK + 2).sum() == 5  # buffered counts
    assert list((tmp_path / "shards" / "journal").glob("*.journal"))
    store.flush()
    store.close()
    assert not list((tmp_path / "shards" / "journal").glob("*"))
    files = {t: list((tmp_path / "shards" / t).glob("*.parquet")) for t in frames.TABLES}
    assert all(len(f) == 1 for f in files.values())
    runs = files["runs"][0]
    for table in ("timeseries", "incidents"):
        assert files[table][0].stat().st_mtime_ns <= runs.stat().st_mtime_ns
    bundle = bundles.inspect(tmp_path / "shards", runs.stem)
    assert [(c.block, c.reps.tolist()) for c in bundle.chunks] == [(0, [0, 1, 2]),
                                                                  (1, [BLOCK, BLOCK + 1])]
    assert pq.ParquetFile(runs).metadata.num_row_groups == 2  # one row group per chunk
    assert temp_files(tmp_path) == []
    reopened = fresh(tmp_path)
    assert reopened.done_mask(task([0]).point_hash, 3).all()


def test_flush_limits_bound_the_buffer(tmp_path: Path) -> None:
    store = fresh(tmp_path, flush_replicates=4)
    for r in range(10):
        store.add(run_task(task([r])))
    assert store.stats["bundles_written"] == 2  # after 4 and 8 replicates
    store.flush()
    assert store.stats["bundles_written"] == 3 and store.stats["files_written"] == 9


def written(tmp_path: Path, reps: list[int]) -> Path:
    store = fresh(tmp_path)
    store.add(run_task(task(reps)))
    store.flush()
    store.close()
    (runs,) = (tmp_path / "shards" / "runs").glob("*.parquet")
    return runs


def test_inspect_rejects_truncated_renamed_and_mismatched_bundles(tmp_path: Path) -> None:
    shard_dir = tmp_path / "shards"
    runs = written(tmp_path, [0, 1])
    stem = runs.stem
    bundles.inspect(shard_dir, stem)  # whole: passes

    ts = shard_dir / "timeseries" / f"{stem}.parquet"
    data = ts.read_bytes()
    ts.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleProblem, match="unreadable footer"):
        bundles.inspect(shard_dir, stem)
    ts.write_bytes(data)

    other = "20990101T000000-1-abcdef-00000"
    for table in frames.TABLES:  # the whole bundle copied under another name
        src = shard_dir / table / f"{stem}.parquet"
        (shard_dir / table / f"{other}.parquet").write_bytes(src.read_bytes())
    with pytest.raises(BundleProblem, match="copied or renamed"):
        bundles.inspect(shard_dir, other)


def test_inspect_rejects_runs_rows_with_foreign_run_ids(tmp_path: Path) -> None:
    runs = written(tmp_path, [0, 1])
    table = pq.read_table(runs)
    ids = table.column("run_id").to_pylist()
    forged = table.set_column(
        table.schema.get_field_index("run_id"), "run_id", pa.array([ids[1], ids[0]])
    )
    pq.write_table(forged.replace_schema_metadata(table.schema.metadata), runs)
    with pytest.raises(BundleProblem, match="run ids"):
        bundles.inspect(tmp_path / "shards", runs.stem)


def test_open_sets_bad_bundles_aside_and_reports_them(tmp_path: Path) -> None:
    runs = written(tmp_path, [0, 1])
    runs.write_bytes(runs.read_bytes()[:100])
    store = ResultStore(tmp_path)
    notes = store.open()
    assert len(notes) == 1 and "set aside" in notes[0] and str(runs) in notes[0]
    assert not store.done_mask(task([0]).point_hash, 2).any()
    assert sorted(p.name for p in (tmp_path / "shards" / "rejected").iterdir()) == sorted(
        f"{runs.stem}.{t}.parquet" for t in frames.TABLES
    )


def test_cleanup_removes_only_gapsim_temporary_files(tmp_path: Path) -> None:
    store = fresh(tmp_path)
    mine = bundles.tmp_path(tmp_path / "shards" / "runs" / "x.parquet")
    mine.write_bytes(b"half a file")
    old_style = tmp_path / "shards" / "runs" / f"_{'a' * 32}.r1.parquet"
    old_style.write_bytes(b"half")
    users = [tmp_path / "shards" / "_notes.txt", tmp_path / "shards" / "runs" / "_keep.parquet",
             tmp_path / "_mine.txt"]
    for path in users:
        path.write_text("mine")
    store.close()
    fresh(tmp_path)
    assert not mine.exists() and not old_style.exists()
    assert all(p.read_text() == "mine" for p in users)


# ------------------------------------------------------------------------------------ recovery


def test_a_journal_left_by_a_kill_becomes_a_bundle(tmp_path: Path) -> None:
    store = fresh(tmp_path)
    store.add(run_task(task([0, 1])))
    store.add(run_task(task([2])))
    # no flush, no close: as after SIGKILL (the records are in the operating system's hands)
    seg = next((tmp_path / "shards" / "journal").glob("*.journal"))
    with seg.open("ab") as fh:
        fh.write(b"GJR1\x00\x00")  # a record cut short by the kill
    assert completed_replicates(tmp_path) == {task([0]).point_hash: {0, 1, 2}}
    again = ResultStore(tmp_path)
    notes = again.open()
    assert any("recovered 3 finished replicates" in n for n in notes)
    assert any("partial record" in n for n in notes)
    assert again.done_mask(task([0]).point_hash, 4).tolist() == [True, True, True, False]
    assert not list((tmp_path / "shards" / "journal").glob("*"))


# ---------------------------------------------------------------------------------- compaction


def test_compaction_is_sorted_unified_and_independent_of_batching(tmp_path: Path) -> None:
    def build(out: Path, groups: list[list[int]], flush_every: int) -> dict[str, Path]:
        store = fresh(out)
        a, b = task([0], "a", gap_width_km=1.0), task([0], "b")
        for i, reps in enumerate(groups):
            store.add(run_task(Task(1, b.point_hash, tuple(reps), b.config, b.labels, RUNNER)))
            store.add(run_task(Task(0, a.point_hash, tuple(reps), a.config, a.labels, RUNNER)))
            if i % flush_every == 0:
                store.flush()
        store.flush()
        tables = compaction.compact(store, [(a.point_hash, 5), (b.point_hash, 5)])
        store.close()
        return tables

    one = build(tmp_path / "one", [[4], [0, 1], [3], [2]], flush_every=1)
    two = build(tmp_path / "two", [[0, 1, 2, 3, 4]], flush_every=9)
    runs = pd.read_parquet(one["runs"])
    assert list(zip(runs.scenario, runs.replicate, strict=True)) == [
        (s, r) for s in ("a", "b") for r in range(5)
    ]
    ts = pd.read_parquet(one["timeseries"])
    assert ts.groupby(["scenario", "replicate"]).day.apply(list).map(lambda d: d == sorted(d)).all()
    for name in ("runs", "timeseries", "incidents"):
        assert one[name].read_bytes() == two[name].read_bytes(), name


def test_compaction_takes_only_planned_replicates_and_checks_rows(tmp_path: Path) -> None:
    store = fresh(tmp_path)
    t = task([0, 1, 2, 3])
    store.add(run_task(t))
    store.flush()
    tables = compaction.compact(store, [(t.point_hash, 2)])
    assert pd.read_parquet(tables["runs"]).replicate.tolist() == [0, 1]
    rows = compaction.read_runs(store, t.point_hash, 3)
    assert rows.column("replicate").to_pylist() == [0, 1, 2]


def test_compaction_of_nothing_writes_empty_tables(tmp_path: Path) -> None:
    store = fresh(tmp_path)
    tables = compaction.compact(store, [])
    assert pq.read_table(tables["runs"]).num_rows == 0


def test_compaction_finds_damaged_rows(tmp_path: Path) -> None:
    store = fresh(tmp_path)
    t = task([0, 1])
    store.add(run_task(t))
    store.flush()
    ts = store.bundles[0].paths["timeseries"]
    data = bytearray(ts.read_bytes())
    data[200] ^= 0xFF  # a bit flip inside a data page: the page checksum catches it
    ts.write_bytes(bytes(data))
    with pytest.raises(BundleProblem):
        compaction.compact(store, [(t.point_hash, 2)])


# ----------------------------------------------------------------------------------- failures


def test_failure_log_round_trip_and_superseded_records_dropped(tmp_path: Path) -> None:
    store = fresh(tmp_path)
    store.record_failures([{"run_id": "r9", "replicate": 9, "message": "boom"}])
    store.record_failures([{"run_id": "r8", "replicate": 8, "message": "bang"}])
    store.close()
    again = fresh(tmp_path)
    assert again.failures()["r9"]["message"] == "boom"
    again.forget_failures({"r9"})
    again.close()
    log = (tmp_path / "shards" / "failures" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["run_id"] for line in log] == ["r8"]


def test_result_without_payload_is_not_journaled(tmp_path: Path) -> None:
    store = fresh(tmp_path)
    store.add(TaskResult(0, "p", [], None))
    assert not (tmp_path / "shards" / "journal").exists() or not os.listdir(
        tmp_path / "shards" / "journal"
    )


# ----------------------------------------------------------------------------------- progress


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
        bar.note("a word")
    assert "1 failed" in stream.getvalue() and "gapsim: a word" in stream.getvalue()
