"""Shards that hold a batch of replicates ("bundles"), and the checks they pass before reuse.

Why: one file per replicate and table (the first store) left 300,000 files after a
100,000-replicate sweep, a known pain on cluster file systems. A bundle is written by the driver
whenever enough results are buffered: one Parquet file per table,
``shards/<table>/<stem>.parquet``, each written atomically (temporary name, then rename; ``runs``
last, so its presence marks the bundle complete). Inside, rows are grouped in **chunks**: the
replicates of one point within one block of ``BLOCK`` replicate ids, sorted by replicate, stored
as their own row groups. Compaction streams each chunk's row groups in batches (``Reader``), so
its memory stays within a few batches, whatever a block or a chunk holds.

Every file records in its footer (schema metadata under ``gapsim``) its own bundle name and table
and, per chunk, the point hash, block, replicate ids, rows and row groups. ``inspect`` checks all
of that before a bundle is trusted: a truncated file (no footer), a file copied under another
name, siblings that disagree, or ``runs`` rows whose run ids do not match their point and
replicate make the whole bundle rejected, and its replicates are computed again.
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sim.engine.frames import REPLICATE, RUN_ID, TABLES
from sim.engine.identity import job_id

#: Replicate ids per block: a chunk never spans two blocks, so completion is tracked, and
#: compaction walks replicates, one block of one point at a time.
BLOCK = 256

#: Bundle format written here (older shard layouts are not resumed).
FORMAT = 2

#: Schema-metadata key holding provenance.
META_KEY = b"gapsim"

#: Parquet compression for bundles and compacted tables.
COMPRESSION = "zstd"

#: Rows per row group inside a chunk (a chunk larger than this spans several row groups).
RG_ROWS = 1 << 20

#: Temporary files are ``_gapsim-tmp-<32 hex>-<final name>``; only these (and the first
#: store's ``_<32 hex>.<name>``) are ever deleted by cleanup.
TMP_PREFIX = "_gapsim-tmp-"
TMP_PATTERN = re.compile(r"^(_gapsim-tmp-[0-9a-f]{32}-|_[0-9a-f]{32}\.).+")

#: Bundle names: ``<session: time-pid-random>-<sequence>``.
STEM = re.compile(r"^\d{8}T\d{6}-\d+-[0-9a-f]{6}-\d{5}$")


class BundleProblem(Exception):
    """A bundle that cannot be trusted: which file and why (one line)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def tmp_path(path: Path) -> Path:
    """A unique temporary name next to ``path`` that cleanup recognises as gapsim's own."""
    return path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}-{path.name}")


def is_tmp(name: str) -> bool:
    """Whether a file name is one of gapsim's temporary names."""
    return TMP_PATTERN.match(name) is not None


def ranges(reps: np.ndarray) -> list[list[int]]:
    """Sorted replicate ids as ``[[start, stop), ...]`` runs (compact in the footer)."""
    if len(reps) == 0:
        return []
    breaks = np.flatnonzero(np.diff(reps) != 1) + 1
    starts = np.concatenate(([0], breaks))
    stops = np.concatenate((breaks, [len(reps)]))
    return [[int(reps[a]), int(reps[b - 1]) + 1] for a, b in zip(starts, stops, strict=True)]


def expand(spans: Iterable[Sequence[int]]) -> np.ndarray:
    """The inverse of ``ranges``."""
    parts = [np.arange(a, b, dtype=np.int64) for a, b in spans]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


@dataclass
class Chunk:
    """Replicates of one point within one block, as buffered or as found in a bundle.

    Attributes:
        point: the point hash.
        block: ``replicate // BLOCK``.
        reps: replicate ids, ascending.
        tables: the rows (only while buffered, before the bundle is written).
        rgs: per table, ``(first, stop)`` row groups in the bundle's file.
        schema: per table, index into the bundle's schemas (the chunk's own columns).
        bundle: index of the bundle in the store's list (once written or found).
    """

    point: str
    block: int
    reps: np.ndarray
    tables: dict[str, pa.Table] | None = None
    rgs: dict[str, tuple[int, int]] = field(default_factory=dict)
    schema: dict[str, int] = field(default_factory=dict)
    bundle: int = -1


@dataclass
class Bundle:
    """One bundle on disk: its three files, its chunks and the distinct chunk schemas.

    ``points`` maps each point hash to what it covers (``config``: the config-only hash,
    ``inputs``: input-file hashes, ``model_version``), so that a run can say *why* results in
    its folder are not resumed (another DEM, another model version).
    """

    stem: str
    paths: dict[str, Path]
    chunks: list[Chunk]
    schemas: dict[str, list[pa.Schema]]
    points: dict[str, Any] = field(default_factory=dict)


def _schema_text(schema: pa.Schema) -> str:
    return base64.b64encode(schema.remove_metadata().serialize().to_pybytes()).decode()


def _schema_from(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder, add missing (null) columns and cast ``table`` to ``schema``."""
    n = table.num_rows
    cols = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(n, type=f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(cols, schema=schema)


def write_bundle(
    shard_dir: Path, stem: str, chunks: Sequence[Chunk], points: Mapping[str, Any] | None = None
) -> Bundle:
    """Write buffered chunks as one bundle (three files, ``runs`` last), each atomically.

    Fills in each chunk's ``rgs`` and ``schema`` and drops its ``tables``. ``points`` (what each
    point hash covers) is stored in the runs file's footer.
    """
    described = {c.point: dict((points or {}).get(c.point, {})) for c in chunks}
    paths = {name: shard_dir / name / f"{stem}.parquet" for name in TABLES}
    schemas: dict[str, list[pa.Schema]] = {}
    for name in TABLES:
        distinct: list[pa.Schema] = []
        for chunk in chunks:
            assert chunk.tables is not None
            own = chunk.tables[name].schema.remove_metadata()
            index = next((i for i, s in enumerate(distinct) if s.equals(own)), None)
            if index is None:
                index = len(distinct)
                distinct.append(own)
            chunk.schema[name] = index
        schemas[name] = distinct
        unified = pa.unify_schemas(distinct, promote_options="permissive")
        rows = 0
        groups = 0
        for chunk in chunks:
            n = chunk.tables[name].num_rows  # type: ignore[index]
            count = max(1, -(-n // RG_ROWS))
            chunk.rgs[name] = (groups, groups + count)
            groups += count
            rows += n
        meta = {
            "format": FORMAT,
            "bundle": stem,
            "table": name,
            "rows": rows,
            "schemas": [_schema_text(s) for s in distinct],
            "chunks": [
                [c.point, c.block, ranges(c.reps), c.tables[name].num_rows, *c.rgs[name],  # type: ignore[index]
                 c.schema[name]]
                for c in chunks
            ],
        }
        if name == "runs":
            meta["points"] = described
        schema = unified.with_metadata({META_KEY: json.dumps(meta, separators=(",", ":"))})
        path = paths[name]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_path(path)
        try:
            with pq.ParquetWriter(
                tmp, schema, compression=COMPRESSION, write_page_checksum=True
            ) as writer:
                for chunk in chunks:
                    table = conform(chunk.tables[name], unified)  # type: ignore[index]
                    first, stop = chunk.rgs[name]
                    for i in range(stop - first):
                        piece = table.slice(i * RG_ROWS, RG_ROWS)
                        writer.write_table(piece, row_group_size=max(piece.num_rows, 1))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    for chunk in chunks:
        chunk.tables = None
    return Bundle(stem, paths, list(chunks), schemas, described)


# ------------------------------------------------------------------------------- inspection


def _footer(path: Path, table: str, stem: str) -> tuple[dict[str, Any], pq.FileMetaData]:
    if not path.is_file():
        raise BundleProblem(path, "missing (the bundle's other tables exist)")
    try:
        md = pq.read_metadata(path)
    except (OSError, pa.ArrowException) as err:
        raise BundleProblem(path, f"unreadable footer, truncated or not Parquet ({err})") from None
    raw = (md.metadata or {}).get(META_KEY)
    try:
        meta = json.loads(raw) if raw else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleProblem(path, "no gapsim provenance in its footer")
    if meta.get("bundle") != stem or meta.get("table") != table:
        raise BundleProblem(
            path,
            f"its footer says it is {meta.get('table')!r} of bundle {meta.get('bundle')!r} "
            "(copied or renamed)",
        )
    if meta.get("rows") != md.num_rows:
        raise BundleProblem(path, f"holds {md.num_rows} rows, its footer says {meta.get('rows')}")
    return meta, md


def _chunk_key(entry: Sequence[Any]) -> tuple[Any, ...]:
    return (entry[0], entry[1], entry[2])


def inspect(shard_dir: Path, stem: str) -> Bundle:
    """Read and check a bundle's three footers and its runs rows (not its other rows).

    Raises:
        BundleProblem: the first check that fails, naming the file.
    """
    paths = {name: shard_dir / name / f"{stem}.parquet" for name in TABLES}
    metas = {name: _footer(paths[name], name, stem) for name in TABLES}
    try:
        entries = {name: metas[name][0]["chunks"] for name in TABLES}
        keys = [_chunk_key(e) for e in entries["runs"]]
        chunks = [
            Chunk(str(e[0]), int(e[1]), expand(e[2]), bundle=-1) for e in entries["runs"]
        ]
        schemas = {name: [_schema_from(s) for s in metas[name][0]["schemas"]] for name in TABLES}
    except (KeyError, TypeError, ValueError, IndexError, pa.ArrowException) as err:
        raise BundleProblem(paths["runs"], f"malformed provenance ({err})") from None
    for name in TABLES:
        meta, md = metas[name]
        if [_chunk_key(e) for e in entries[name]] != keys:
            raise BundleProblem(paths[name], "its chunks differ from those of its runs file")
        for chunk, entry in zip(chunks, entries[name], strict=True):
            rows, first, stop, schema = entry[3], entry[4], entry[5], entry[6]
            if not (0 <= first < stop <= md.num_row_groups and 0 <= schema < len(schemas[name])):
                raise BundleProblem(paths[name], "its row groups do not match its footer")
            found = sum(md.row_group(i).num_rows for i in range(first, stop))
            if found != rows:
                raise BundleProblem(paths[name], f"a chunk holds {found} rows, its footer says {rows}")
            if name == "runs" and rows != len(chunk.reps):
                raise BundleProblem(paths[name], "a chunk's runs rows differ from its replicates")
            if not len(chunk.reps) or not (
                chunk.reps[0] // BLOCK == chunk.block == chunk.reps[-1] // BLOCK
            ):
                raise BundleProblem(paths[name], "a chunk's replicates lie outside its block")
            chunk.rgs[name] = (first, stop)
            chunk.schema[name] = schema
    _check_runs_rows(paths["runs"], chunks)
    points = metas["runs"][0].get("points")
    return Bundle(stem, paths, chunks, schemas, points if isinstance(points, dict) else {})


def _check_runs_rows(path: Path, chunks: Sequence[Chunk]) -> None:
    """Each runs row's replicate and run id are those its chunk declares, in order."""
    try:
        with pq.ParquetFile(path, page_checksum_verification=True) as f:
            table = f.read(columns=[REPLICATE, RUN_ID])
    except (OSError, pa.ArrowException, KeyError) as err:
        raise BundleProblem(path, f"unreadable runs rows ({err})") from None
    reps = table.column(REPLICATE).to_numpy()
    ids = table.column(RUN_ID).to_pylist()
    offset = 0
    for chunk in chunks:
        n = len(chunk.reps)
        if not np.array_equal(reps[offset : offset + n], chunk.reps):
            raise BundleProblem(path, "its replicate column differs from its footer")
        expected = [job_id(chunk.point, int(r)) for r in chunk.reps]
        if ids[offset : offset + n] != expected:
            raise BundleProblem(path, "its run ids do not match their point and replicate")
        offset += n


def stems(shard_dir: Path) -> list[str]:
    """Names of bundles whose runs file exists (complete), sorted."""
    root = shard_dir / "runs"
    if not root.is_dir():
        return []
    return sorted(
        p.name[: -len(".parquet")]
        for p in root.iterdir()
        if p.name.endswith(".parquet") and not p.name.startswith(("_", ".")) and p.is_file()
    )


# ---------------------------------------------------------------------------------- reading


class Reader:
    """Streams chunks' rows, keeping a few files open (footers are parsed once per file).

    Files are opened without pre-buffering and with a read buffer, so reading a chunk holds one
    batch and a buffer per column, not the chunk's (or a row group's) compressed bytes. A file
    pushed out of the few kept open is not closed here: a stream still reading it keeps it open
    until that stream is done with it.
    """

    def __init__(self, keep: int = 8, buffer_bytes: int = 1 << 20) -> None:
        self._open: OrderedDict[Path, tuple[pq.ParquetFile, int | None]] = OrderedDict()
        self._keep = keep
        self._buffer_bytes = buffer_bytes

    def _file(self, path: Path) -> tuple[pq.ParquetFile, int | None]:
        entry = self._open.get(path)
        if entry is None:
            f = pq.ParquetFile(path, page_checksum_verification=True, pre_buffer=False,
                               buffer_size=self._buffer_bytes)
            column = _replicate_leaf(f.metadata)
            entry = self._open[path] = (f, column)
            while len(self._open) > self._keep:
                self._open.popitem(last=False)
        else:
            self._open.move_to_end(path)
        return entry

    def batches(
        self, path: Path, rgs: tuple[int, int], first: int, last: int, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """A chunk's rows (its row groups ``rgs``) in batches of at most ``batch_rows``.

        Row groups whose replicate statistics show no replicate in ``first..last`` are not read.
        """
        f, column = self._file(path)
        groups = []
        for i in range(*rgs):
            stats = None if column is None else f.metadata.row_group(i).column(column).statistics
            if (stats is not None and stats.has_min_max and isinstance(stats.min, int)
                    and isinstance(stats.max, int) and (stats.max < first or stats.min > last)):
                continue
            groups.append(i)
        if groups:
            yield from f.iter_batches(batch_size=batch_rows, row_groups=groups, use_threads=False)

    def close(self) -> None:
        for f, _ in self._open.values():
            f.close()
        self._open.clear()


def _replicate_leaf(meta: pq.FileMetaData) -> int | None:
    """Index of the replicate column among a file's leaf columns (for its row-group statistics).

    Read from a row group's column chunks, not from ``meta.schema``: with pyarrow 26, walking
    ``FileMetaData.schema.column(i)`` keeps memory that not even ``gc.collect()`` gives back
    (+140 MB over 1,172 walks of a 28-column footer), which made the driver's peak grow with the
    number of bundles compacted (store benchmark: 189 MB at 10^4 replicates, 300 MB at 10^6).
    """
    if meta.num_row_groups == 0:
        return None
    group = meta.row_group(0)
    return next((j for j in range(group.num_columns)
                 if group.column(j).path_in_schema == REPLICATE), None)


def take(table: pa.Table, keep: np.ndarray) -> pa.Table:
    """Rows of ``table`` whose replicate is in ``keep`` (all rows if every one is)."""
    # from a list: numpy input would make pyarrow import pandas (seconds) in the driver
    mask = pc.is_in(table.column(REPLICATE), value_set=pa.array(keep.tolist(), pa.int64()))
    if pc.all(mask).as_py() is not False:
        return table
    return table.filter(mask)


def metadata_of(schema: pa.Schema) -> Mapping[str, Any]:
    """The gapsim provenance in a schema's metadata (empty if none)."""
    raw = (schema.metadata or {}).get(META_KEY)
    return json.loads(raw) if raw else {}
