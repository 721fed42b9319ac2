"""Compaction streams: same rows as merging each block in memory, each row group read once.

The in-memory merge below is what compaction did before it streamed (read every chunk of a
block, keep the replicates each chunk owns, order by replicate): the compacted tables must hold
exactly its rows, in its order, however ownership interleaves and however small the row groups
and batches are.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_engine_support import RUNNER, base_config

from sim.engine import bundles, compaction
from sim.engine.bundles import BLOCK, BundleProblem
from sim.engine.identity import point_hash
from sim.engine.store import ResultStore
from sim.engine.worker import Task, run_task


def task(reps: list[int], scenario: str, **extra: object) -> Task:
    config = base_config(10, scenario, **extra)
    return Task(0, point_hash(config, "1"), tuple(reps), config, {"scenario": scenario}, RUNNER)


def fresh(out: Path) -> ResultStore:
    store = ResultStore(out)
    store.open()
    return store


def interleaved(out: Path, late_first: bool = True) -> tuple[ResultStore, list[tuple[str, int]]]:
    """Two points whose replicates are spread over bundles of two sessions, with duplicates.

    Point a, block 0: bundle 1 holds 0-1, 4-5, 8-9; bundle 2 holds 2-3, 6-7; a session opened
    before either was written also holds 1-4, so one bundle holds replicates another owns
    (``late_first``: its bundle is found first and owns them, else it owns none); block 1 is
    split the same way. Point b is planned short of what is held.
    """
    a, b = task([0], "a", gap_width_km=1.0), task([0], "b")
    late = fresh(out)  # sees nothing yet: its bundle duplicates the others' replicates
    first = fresh(out)
    # bundles are found in name order, i.e. by session name: fix which session comes first
    late.session, first.session = (
        ("20000101T000000-1-aaaaaa", "20000101T000000-1-bbbbbb") if late_first
        else ("20000101T000000-1-bbbbbb", "20000101T000000-1-aaaaaa"))
    for point, groups in ((a, ([0, 1], [4, 5], [8, 9], [BLOCK, BLOCK + 2])), (b, ([0, 1, 2],))):
        for reps in groups:
            first.add(run_task(Task(0, point.point_hash, tuple(reps), point.config, point.labels,
                                    RUNNER)))
    first.flush()
    for point, groups in ((a, ([2, 3], [6, 7], [BLOCK + 1])), (b, ([3, 4, 5, 6, 7, 8],))):
        for reps in groups:
            first.add(run_task(Task(0, point.point_hash, tuple(reps), point.config, point.labels,
                                    RUNNER)))
    first.flush()
    first.close()
    late.add(run_task(Task(0, a.point_hash, (1, 2, 3, 4), a.config, a.labels, RUNNER)))
    late.flush()
    late.close()
    return fresh(out), [(a.point_hash, BLOCK + 3), (b.point_hash, 7)]


def merged_in_memory(store: ResultStore, order: list[tuple[str, int]]) -> dict[str, pa.Table]:
    """Every planned replicate's rows, read whole from the chunk that owns it, in order."""
    out = {}
    for table in compaction.OUTPUTS:
        schema = compaction.output_schema(store, table, order)
        parts = [schema.empty_table()]
        for point, n in order:
            for r in range(n):
                owner = store.owners(point, r // BLOCK)
                if owner is None or owner[r % BLOCK] < 0:
                    continue
                chunk = store.chunks[int(owner[r % BLOCK])]
                with pq.ParquetFile(store.bundles[chunk.bundle].paths[table]) as f:
                    rows = f.read_row_groups(range(*chunk.rgs[table])).replace_schema_metadata(None)
                rows = rows.filter(pc.equal(rows.column("replicate"), r))
                parts.append(bundles.conform(rows, schema))
        out[table] = pa.concat_tables(parts)
    return out


@pytest.mark.parametrize("late_first", [True, False], ids=["duplicates-owned", "duplicates-unused"])
@pytest.mark.parametrize("small", [True, False], ids=["tiny-row-groups", "defaults"])
def test_interleaved_bundles_compact_to_the_in_memory_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: bool, late_first: bool
) -> None:
    if small:  # replicates span bundle row groups and read batches; output groups of ~23 rows
        monkeypatch.setattr(bundles, "RG_ROWS", 7)
        monkeypatch.setattr(compaction, "ROW_GROUP_BYTES", 2000)
    store, order = interleaved(tmp_path, late_first)
    runs = [r for block in compaction._runs(store, order[0][0], order[0][1]) for r in block]
    chunks = [cid for cid, _, _ in runs]
    assert len(chunks) > len(set(chunks)) >= 2  # a chunk owns runs that others' runs separate
    held = [int(r) for c in store.chunks if c.point == order[0][0] for r in c.reps]
    assert len(held) > len(set(held))  # and some chunk holds replicates another one owns
    expected = merged_in_memory(store, order)
    tables = compaction.compact(store, order)
    for name, path in tables.items():
        got = pq.read_table(path).replace_schema_metadata(None)
        assert got.num_rows == expected[name].num_rows > 0, name
        assert got.equals(expected[name]), name
        if small and name != "runs":
            assert pq.ParquetFile(path).metadata.num_row_groups > 3
    assert compaction.read_runs(store, *order[1]).column("replicate").to_pylist() == list(range(7))


def test_each_chunk_is_read_once_per_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundles, "RG_ROWS", 7)
    store, order = interleaved(tmp_path, late_first=True)
    owning = {cid for point, n in order for runs in compaction._runs(store, point, n)
              for cid, _, _ in runs}
    assert owning == set(range(len(store.chunks)))  # every chunk owns some planned replicate
    calls: Counter[tuple[Path, tuple[int, int]]] = Counter()
    batches = bundles.Reader.batches

    def counted(self, path, rgs, *args):  # type: ignore[no-untyped-def]
        calls[(path, rgs)] += 1
        return batches(self, path, rgs, *args)

    monkeypatch.setattr(bundles.Reader, "batches", counted)
    compaction.compact(store, order)
    assert calls and max(calls.values()) == 1
    assert len(calls) == 3 * len(owning)


def rewrite(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Rewrite a bundle file's rows, keeping its footer's provenance (a forged file)."""
    table = pq.read_table(path)
    pq.write_table(change(table).replace_schema_metadata(table.schema.metadata), path)


def one_bundle(tmp_path: Path) -> tuple[ResultStore, list[tuple[str, int]], Path]:
    t = task([0, 1, 2], "a")
    store = fresh(tmp_path)
    store.add(run_task(t))
    store.flush()
    return store, [(t.point_hash, 3)], store.bundles[0].paths["timeseries"]


def test_rows_carrying_another_replicates_run_id_are_refused(tmp_path: Path) -> None:
    store, order, path = one_bundle(tmp_path)

    def swap(table: pa.Table) -> pa.Table:  # rows of replicate 0 get 1's run id, and back
        ids, reps = table.column("run_id"), table.column("replicate")
        first, second = (pc.filter(ids, pc.equal(reps, r))[0] for r in (0, 1))
        swapped = pc.if_else(pc.equal(reps, 0), second, pc.if_else(pc.equal(reps, 1), first, ids))
        return table.set_column(table.schema.get_field_index("run_id"), "run_id", swapped)

    rewrite(path, swap)
    with pytest.raises(BundleProblem, match="run ids do not match"):
        compaction.compact(store, order)


def test_rows_out_of_replicate_order_are_refused(tmp_path: Path) -> None:
    store, order, path = one_bundle(tmp_path)
    rewrite(path, lambda t: t.take(pa.array(range(t.num_rows - 1, -1, -1))))
    with pytest.raises(BundleProblem, match="out of replicate order"):
        compaction.compact(store, order)


def test_replicate_leaf_is_the_leaf_index_the_footer_schema_gives(tmp_path) -> None:
    """The reader finds the replicate column's leaf index from a row group's column chunks (the
    footer schema walk leaks memory in pyarrow 26); the two agree, also behind a nested column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.engine.bundles import _replicate_leaf

    table = pa.table({"tags": pa.array([[1, 2], [3]], pa.list_(pa.int64())),
                      "point": ["a", "b"], "replicate": pa.array([0, 1], pa.int64())})
    pq.write_table(table, tmp_path / "t.parquet")
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    walk = next(i for i in range(len(meta.schema)) if meta.schema.column(i).path == "replicate")
    assert _replicate_leaf(meta) == walk == 2
    pq.ParquetWriter(tmp_path / "empty.parquet", table.schema).close()  # no row group at all
    assert _replicate_leaf(pq.ParquetFile(tmp_path / "empty.parquet").metadata) is None
