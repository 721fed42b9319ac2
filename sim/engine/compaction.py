"""Compaction: the bundles of a run's planned replicates, merged into three sorted tables.

Why here: the tables users and analyses read (``runs.parquet``, ``timeseries.parquet``,
``incidents.parquet``) must be identical whatever the worker count, executor, batch sizes, or
interruptions and resumes along the way. So rows are written in one canonical order -- points in
label order, replicates ascending, each replicate's rows in the model's order -- by walking the
blocks of each point and reading only the chunks that hold them (one block in memory at a time,
so memory stays flat however many replicates there are). Every row read is checked against the
run ids its point and replicate imply; a chunk that fails raises ``BundleProblem`` so the caller
can set the bundle aside and recompute it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sim.engine import bundles
from sim.engine.bundles import BLOCK, BundleProblem, Chunk, Reader
from sim.engine.frames import REPLICATE, RUN_ID, concat
from sim.engine.identity import job_id
from sim.engine.store import ResultStore

#: Bytes buffered before a row group of a compacted table is written (bounds memory).
ROW_GROUP_BYTES = 8 * 2**20

#: Compacted tables, in the order they are written.
OUTPUTS: tuple[str, ...] = ("runs", "timeseries", "incidents")


def _blocks(store: ResultStore, point: str, n: int) -> Iterator[list[tuple[Chunk, np.ndarray]]]:
    """Per block of replicates ``0..n-1`` of a point: the chunks holding them and which ones."""
    for block in range(-(-n // BLOCK)):
        owner = store.owners(point, block)
        if owner is None:
            continue
        slots = owner[: min(BLOCK, n - block * BLOCK)]
        held = slots >= 0
        if not held.any():
            continue
        ids, first = np.unique(slots[held], return_index=True)
        parts = []
        for cid in ids[np.argsort(first)]:
            keep = block * BLOCK + np.flatnonzero(slots == cid).astype(np.int64)
            parts.append((store.chunks[int(cid)], keep))
        yield parts


def _read(
    store: ResultStore, reader: Reader, table: str, chunk: Chunk, keep: np.ndarray
) -> pa.Table:
    """A chunk's rows of ``keep``, checked against the run ids they must carry."""
    path = store.bundles[chunk.bundle].paths[table]
    try:
        rows = bundles.take(reader.read(path, chunk.rgs[table]), keep)
    except (OSError, pa.ArrowException) as err:
        raise BundleProblem(path, f"unreadable rows ({err})") from None
    expected = pa.array([job_id(chunk.point, int(r)) for r in keep], pa.string())
    ids = pc.unique(rows.column(RUN_ID))
    if pc.any(pc.invert(pc.is_in(ids, value_set=expected))).as_py():
        raise BundleProblem(path, "rows whose run ids do not match their point and replicate")
    if table == "runs" and rows.num_rows != len(keep):
        raise BundleProblem(path, f"{rows.num_rows} runs rows where {len(keep)} were declared")
    return rows


def _block_table(
    store: ResultStore, reader: Reader, table: str, parts: Sequence[tuple[Chunk, np.ndarray]]
) -> pa.Table:
    pieces = [_read(store, reader, table, chunk, keep) for chunk, keep in parts]
    if len(pieces) == 1:
        return pieces[0]
    merged = concat(pieces)
    return merged.take(pc.sort_indices(merged.column(REPLICATE)))


def output_schema(store: ResultStore, table: str, order: Sequence[tuple[str, int]]) -> pa.Schema:
    """The union of the planned chunks' own schemas, in canonical order of first appearance."""
    seen: dict[tuple[int, int], pa.Schema] = {}
    for point, n in order:
        for parts in _blocks(store, point, n):
            for chunk, _ in parts:
                key = (chunk.bundle, chunk.schema[table])
                if key not in seen:
                    seen[key] = store.bundles[chunk.bundle].schemas[table][chunk.schema[table]]
    if not seen:
        return pa.schema([(REPLICATE, pa.int64()), (RUN_ID, pa.string())])
    distinct: list[pa.Schema] = []
    for schema in seen.values():
        if not any(s.equals(schema) for s in distinct):
            distinct.append(schema)
    return pa.unify_schemas(distinct, promote_options="permissive")


def compact(store: ResultStore, order: Sequence[tuple[str, int]]) -> dict[str, Path]:
    """Write the three tables from the planned replicates (``(point hash, n)`` in label order).

    Replicates ``0..n-1`` of each point that are complete are included (failed ones leave a
    hole). Each table is written atomically.

    Raises:
        BundleProblem: a chunk's rows are unreadable or carry wrong run ids.
        OSError: a table could not be written (e.g. the disk is full).
    """
    reader = Reader()
    try:
        return {name: _compact_table(store, reader, name, order) for name in OUTPUTS}
    finally:
        reader.close()


def _compact_table(
    store: ResultStore, reader: Reader, table: str, order: Sequence[tuple[str, int]]
) -> Path:
    schema = output_schema(store, table, order)
    jobs = 0

    def blocks() -> Iterator[pa.Table]:
        nonlocal jobs
        for point, n in order:
            for parts in _blocks(store, point, n):
                jobs += sum(len(keep) for _, keep in parts)
                yield bundles.conform(_block_table(store, reader, table, parts), schema)

    target = store.table_path(table)
    tmp = bundles.tmp_path(target)
    try:
        with pq.ParquetWriter(tmp, schema, compression=bundles.COMPRESSION) as writer:
            for group in _row_groups(blocks(), schema):
                writer.write_table(group, row_group_size=group.num_rows or None)
                del group
            meta = {"format": bundles.FORMAT, "table": table, "jobs": jobs}
            writer.add_key_value_metadata({bundles.META_KEY: json.dumps(meta)})
        os.replace(tmp, target)
    except OSError as err:  # name the table (pyarrow's own errors name no file)
        raise OSError(err.errno, str(err), str(target)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _row_groups(tables: Iterable[pa.Table], schema: pa.Schema) -> Iterator[pa.Table]:
    """Group consecutive tables into row groups of about ``ROW_GROUP_BYTES`` (zero-copy)."""
    buffer: list[pa.Table] = []
    size, emitted = 0, False
    for table in tables:
        buffer.append(table)
        size += table.nbytes
        if size >= ROW_GROUP_BYTES:
            yield pa.concat_tables(buffer)
            buffer, size, emitted = [], 0, True
    if buffer:
        yield pa.concat_tables(buffer)
    elif not emitted:
        yield schema.empty_table()


def read_runs(store: ResultStore, point: str, n: int) -> pa.Table:
    """The runs rows of replicates ``0..n-1`` of a point, by replicate (flush the store first)."""
    reader = Reader()
    try:
        parts = [_block_table(store, reader, "runs", p) for p in _blocks(store, point, n)]
    finally:
        reader.close()
    return concat(parts) if parts else pa.table({REPLICATE: pa.array([], pa.int64())})
