"""Compaction: the bundles of a run's planned replicates, merged into three sorted tables.

Why here: the tables users and analyses read (``runs.parquet``, ``timeseries.parquet``,
``incidents.parquet``) must be identical whatever the worker count, executor, batch sizes, or
interruptions and resumes along the way. So rows are written in one canonical order -- points in
label order, replicates ascending, each replicate's rows in the model's order.

Why streaming: a block of one point can hold hundreds of replicates of a long daily series
(200 replicates x 40,000 days is 8 million rows), so nothing here holds a block, or a chunk, at
once. Each block's replicates are walked as *runs* of consecutive replicates held by the same
chunk (one run per chunk in an ordinary run; several when resumes or workers interleaved the
bundles). A chunk is read by one forward stream of record batches (``bundles.Reader``) that
each of its runs continues, so every row group is read once per table however the ownership
interleaves, and rows are written out in row groups of a fixed row count. Memory therefore holds
one output row group plus one batch of each chunk whose runs in the current block are not all
written yet (one or two chunks, unless resumes interleaved many), whatever the replicates.

Every row written is checked against the run id its point and replicate imply; a chunk that
fails (or cannot be read, or is out of replicate order) raises ``BundleProblem`` so the caller
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

#: Bytes of a row group of a compacted table (estimated from its schema, see ``rows_per_group``);
#: also the size of the batches chunks are read in. Bounds compaction's memory.
ROW_GROUP_BYTES = 8 * 2**20

#: Bytes assumed per value of a variable-width column (strings, lists) in that estimate.
VARIABLE_BYTES = 32

#: Compacted tables, in the order they are written.
OUTPUTS: tuple[str, ...] = ("runs", "timeseries", "incidents")


def _runs(store: ResultStore, point: str, n: int) -> Iterator[list[tuple[int, int, int]]]:
    """Per block of replicates ``0..n-1`` of a point: ``(chunk index, first, stop)`` runs.

    A run is a maximal range of consecutive replicates held by the same chunk, in replicate
    order; replicates no chunk holds are left out (a failed replicate leaves a hole).
    """
    for block in range(-(-n // BLOCK)):
        owner = store.owners(point, block)
        if owner is None:
            continue
        slots = owner[: min(BLOCK, n - block * BLOCK)]
        starts = np.flatnonzero(np.diff(slots)) + 1
        bounds = zip(np.concatenate(([0], starts)), np.append(starts, len(slots)), strict=True)
        base = block * BLOCK
        runs = [(int(slots[a]), base + int(a), base + int(b)) for a, b in bounds if slots[a] >= 0]
        if runs:
            yield runs


class _ChunkStream:
    """One chunk's rows of one table, read forward once, handed out run by run.

    The chunk's rows are sorted by replicate (bundles are written so; a chunk that is not is
    refused), so the rows of a run are the next ones in the stream; rows in front of them
    belong to replicates this chunk holds but does not own (another chunk was found first) or
    that are not planned, and are skipped.
    """

    def __init__(
        self, store: ResultStore, reader: Reader, table: str, chunk: Chunk,
        wanted: tuple[int, int], batch_rows: int,
    ) -> None:
        self.path = store.bundles[chunk.bundle].paths[table]
        self._batches = reader.batches(self.path, chunk.rgs[table], *wanted, batch_rows)
        self._rows: pa.Table | None = None  # the current batch's rows not yet handed out
        self._reps: np.ndarray = np.zeros(0, dtype=np.int64)
        self._last = -1  # the highest replicate seen so far

    def _next_batch(self) -> bool:
        try:
            batch = next(self._batches, None)
        except (OSError, pa.ArrowException) as err:
            raise BundleProblem(self.path, f"unreadable rows ({err})") from None
        if batch is None:
            return False
        column = batch.column(REPLICATE) if REPLICATE in batch.schema.names else None
        if column is None or not pa.types.is_integer(column.type) or column.null_count:
            raise BundleProblem(self.path, "rows without a replicate id")
        reps = column.to_numpy()
        if len(reps) and (reps[0] < self._last or np.any(np.diff(reps) < 0)):
            raise BundleProblem(self.path, "rows out of replicate order")
        if len(reps):
            self._last = int(reps[-1])
        self._rows = pa.Table.from_batches([batch]).replace_schema_metadata(None)
        self._reps = reps
        return True

    def rows(self, first: int, stop: int) -> Iterator[pa.Table]:
        """The rows of replicates ``first..stop-1``, in order, as one or more tables."""
        while True:
            if self._rows is None and not self._next_batch():
                return
            assert self._rows is not None
            a, b = (int(i) for i in np.searchsorted(self._reps, [first, stop]))
            if b > a:
                yield self._rows.slice(a, b - a)
            if b < len(self._reps):
                self._rows, self._reps = self._rows.slice(b), self._reps[b:]
                return
            self._rows = None


def _checked(rows: pa.Table, first: int, expected: pa.Array, path: Path) -> None:
    """Each row's run id is the one its point and replicate imply (``expected[replicate - first]``)."""
    want = expected.take(pc.subtract(rows.column(REPLICATE), first))
    if not pc.all(pc.equal(rows.column(RUN_ID), want), skip_nulls=False).as_py():
        raise BundleProblem(path, "rows whose run ids do not match their point and replicate")


def _stream(
    store: ResultStore, reader: Reader, table: str, point: str, n: int, schema: pa.Schema,
    batch_rows: int,
) -> Iterator[pa.Table]:
    """A point's rows of ``table``, replicates ``0..n-1`` in order, checked and conformed."""
    for runs in _runs(store, point, n):
        last_run = {cid: i for i, (cid, _, _) in enumerate(runs)}
        streams: dict[int, _ChunkStream] = {}
        for i, (cid, first, stop) in enumerate(runs):
            stream = streams.get(cid)
            if stream is None:
                last = runs[last_run[cid]][2] - 1
                stream = streams[cid] = _ChunkStream(
                    store, reader, table, store.chunks[cid], (first, last), batch_rows
                )
            expected = pa.array([job_id(point, r) for r in range(first, stop)], pa.string())
            count = 0
            for rows in stream.rows(first, stop):
                if RUN_ID not in rows.column_names:
                    raise BundleProblem(stream.path, "rows without a run id")
                _checked(rows, first, expected, stream.path)
                count += rows.num_rows
                yield bundles.conform(rows, schema)
            if table == "runs" and count != stop - first:
                raise BundleProblem(
                    stream.path, f"{count} runs rows where {stop - first} were declared"
                )
            if last_run[cid] == i:  # the chunk's last run in this block: let its rows go
                del streams[cid]


def output_schema(store: ResultStore, table: str, order: Sequence[tuple[str, int]]) -> pa.Schema:
    """The union of the planned chunks' own schemas, in canonical order of first appearance."""
    seen: dict[tuple[int, int], pa.Schema] = {}
    for point, n in order:
        for runs in _runs(store, point, n):
            for cid, _, _ in runs:
                chunk = store.chunks[cid]
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


def rows_per_group(schema: pa.Schema) -> int:
    """Rows in a row group of about ``ROW_GROUP_BYTES``, from the schema alone.

    From the schema, not from the rows read, so that row groups (and so the file's bytes) do
    not depend on how replicates were batched into bundles.
    """
    width = 0.0
    for f in schema:
        try:
            width += max(f.type.bit_width / 8, 1 / 8)
        except ValueError:  # variable width
            width += VARIABLE_BYTES
    return max(1, int(ROW_GROUP_BYTES // max(width, 1.0)))


def _row_groups(tables: Iterable[pa.Table], rows: int) -> Iterator[pa.Table]:
    """The rows of ``tables`` regrouped into tables of exactly ``rows`` rows (the last fewer)."""
    buffer: list[pa.Table] = []
    held = 0
    for table in tables:
        buffer.append(table)
        held += table.num_rows
        while held >= rows:
            merged = pa.concat_tables(buffer)
            yield merged.slice(0, rows)
            rest = merged.slice(rows)
            buffer, held = [rest], rest.num_rows
    if held:
        yield pa.concat_tables(buffer)


def compact(store: ResultStore, order: Sequence[tuple[str, int]]) -> dict[str, Path]:
    """Write the three tables from the planned replicates (``(point hash, n)`` in label order).

    Replicates ``0..n-1`` of each point that are complete are included (failed ones leave a
    hole). Each table is written atomically.

    Raises:
        BundleProblem: a chunk's rows are unreadable, out of order or carry wrong run ids.
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
    rows = rows_per_group(schema)
    jobs = sum(stop - first for point, n in order for runs in _runs(store, point, n)
               for _, first, stop in runs)
    pieces = (piece for point, n in order
              for piece in _stream(store, reader, table, point, n, schema, rows))
    target = store.table_path(table)
    tmp = bundles.tmp_path(target)
    try:
        with pq.ParquetWriter(tmp, schema, compression=bundles.COMPRESSION) as writer:
            written = False
            for group in _row_groups(pieces, rows):
                writer.write_table(group, row_group_size=group.num_rows)
                written = True
            if not written:
                writer.write_table(schema.empty_table())
            meta = {"format": bundles.FORMAT, "table": table, "jobs": jobs}
            writer.add_key_value_metadata({bundles.META_KEY: json.dumps(meta)})
        os.replace(tmp, target)
    except OSError as err:  # name the table (pyarrow's own errors name no file)
        raise OSError(err.errno, str(err), str(target)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def read_runs(store: ResultStore, point: str, n: int) -> pa.Table:
    """The runs rows of replicates ``0..n-1`` of a point, by replicate (flush the store first).

    Columns are the point's own (the union of its chunks' schemas), whatever other points
    share its bundles.
    """
    schema = output_schema(store, "runs", [(point, n)])
    reader = Reader()
    try:
        parts = list(_stream(store, reader, "runs", point, n, schema, rows_per_group(schema)))
    finally:
        reader.close()
    return concat(parts) if parts else pa.table({REPLICATE: pa.array([], pa.int64())})
