"""Results store: one set of Parquet shards per replicate, compacted into three tables at the end.

Why: a Monte Carlo run must survive Ctrl-C, a kill or a crashed worker without losing or corrupting
finished replicates, and must resume by skipping them. Each job (point, replicate) therefore writes
its own shards, atomically (temporary ``_``-prefixed name, then ``os.replace``), and the ``runs``
shard last, so that its presence alone means "this job is complete". The shards are the resume
state; the compacted ``runs.parquet``, ``timeseries.parquet`` and ``incidents.parquet`` are derived
from them, deterministically and idempotently, by streaming (one shard in memory at a time).

Layout under ``out_dir``::

    shards/<table>/<scenario>/dp-<design_point>/<run_id>.parquet   (table: runs|timeseries|incidents)
    shards/<table>/<scenario>/<run_id>.parquet                     (points without a design_point)
    shards/failures/<run_id>.json                                  (a replicate that raised)

Directory names carry no ``key=value`` pairs on purpose: every shard keeps all its label columns
(self-describing when read alone), and ``pandas.read_parquet("shards/runs")`` then does not infer
hive partitions that would clash with those columns (string vs dictionary type).
"""

from __future__ import annotations

import json
import os
import string
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

#: The three result tables, in the order a job writes them (``runs`` last: the completion marker).
TABLES: tuple[str, ...] = ("timeseries", "incidents", "runs")

#: Parquet compression for shards and compacted tables.
COMPRESSION = "zstd"

#: Columns the engine adds to every row (besides the point's labels).
REPLICATE, RUN_ID = "replicate", "run_id"

#: Schema-metadata key holding provenance (run id, config hash, labels).
META_KEY = b"gapsim"

#: Bytes buffered before a row group is written during compaction (bounds parent memory).
ROW_GROUP_BYTES = 8 * 2**20

_SAFE = frozenset(string.ascii_letters + string.digits + "-_.")


@dataclass(frozen=True)
class ShardRef:
    """Where one job's shards live and how it sorts in the compacted tables.

    Attributes:
        run_id: the job's id (file stem of each shard).
        replicate: replicate id.
        labels: the point's label columns.
        sort_key: labels-then-replicate key fixing the row order of compacted tables.
    """

    run_id: str
    replicate: int
    labels: Mapping[str, Any]
    sort_key: tuple[Any, ...]


def path_component(value: object) -> str:
    """A file-system-safe, reversible directory name for a label value.

    Characters outside ``[A-Za-z0-9._-]`` are percent-encoded, and so is a leading ``_`` or ``.``
    (dataset discovery would ignore such directories).
    """
    text = str(value)
    out = [c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in text]
    if out and out[0] in ("_", "."):
        out[0] = f"%{ord(out[0]):02X}"
    return "".join(out) or "%00"


def _atomic_write_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` via a unique ``_``-prefixed temporary file and ``os.replace``."""
    tmp = path.with_name(f"_{uuid.uuid4().hex}.{path.name}")
    try:
        pq.write_table(table, tmp, compression=COMPRESSION)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _atomic_write_text(text: str, path: Path) -> None:
    """Write text atomically (same scheme as tables)."""
    tmp = path.with_name(f"_{uuid.uuid4().hex}.{path.name}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _as_array(values: Any, length: int | None = None) -> pa.Array:
    """A column as an Arrow array (numpy arrays, lists, or a scalar repeated ``length`` times)."""
    if length is not None:
        if isinstance(values, np.generic):
            values = values.item()
        return pa.repeat(pa.scalar(values), length)
    if isinstance(values, np.ndarray) and values.dtype.kind == "U":
        return pa.array(values.tolist(), type=pa.string())
    return pa.array(values)


def build_table(
    columns: Mapping[str, Any],
    labels: Mapping[str, Any],
    replicate: int,
    run_id: str,
    *,
    one_row: bool = False,
) -> pa.Table:
    """One shard's table: label columns, ``replicate``, ``run_id``, then the model's columns.

    Args:
        columns: the model's columns (equal-length arrays), or scalars when ``one_row``.
        labels: the point's labels, repeated on every row.
        replicate: replicate id.
        run_id: the job's id.
        one_row: ``columns`` holds scalars for a single row (the ``runs`` table).

    Raises:
        ValueError: columns of unequal length.
    """
    if one_row:
        model = {
            k: _as_array([v.item() if isinstance(v, np.generic) else v]) for k, v in columns.items()
        }
    else:
        model = {k: _as_array(v) for k, v in columns.items()}
    lengths = {len(a) for a in model.values()}
    if len(lengths) > 1:
        sizes = {k: len(a) for k, a in model.items()}
        raise ValueError(f"columns of unequal length: {sizes}")
    n = lengths.pop() if lengths else (1 if one_row else 0)
    engine: dict[str, pa.Array] = {k: _as_array(v, n) for k, v in labels.items()}
    engine[REPLICATE] = pa.repeat(pa.scalar(int(replicate), pa.int64()), n)
    engine[RUN_ID] = pa.repeat(pa.scalar(run_id, pa.string()), n)
    arrays = {**engine, **{k: v for k, v in model.items() if k not in engine}}
    return pa.table(arrays)


class ResultStore:
    """The shard tree of one output directory (a plain path: cheap to pickle into workers).

    Args:
        out_dir: the run directory; shards go under ``out_dir/shards``.
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir).resolve()
        self.shard_dir = self.out_dir / "shards"

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (ResultStore, (str(self.out_dir),))

    # ----------------------------------------------------------------- paths

    def shard_path(self, table: str, labels: Mapping[str, Any], run_id: str) -> Path:
        """Path of one job's shard of ``table``."""
        parts = [path_component(labels.get("scenario", "default"))]
        if "design_point" in labels:
            parts.append("dp-" + path_component(labels["design_point"]))
        return self.shard_dir.joinpath(table, *parts, f"{run_id}.parquet")

    def failure_path(self, run_id: str) -> Path:
        """Path of one job's failure record."""
        return self.shard_dir / "failures" / f"{run_id}.json"

    def table_path(self, table: str) -> Path:
        """Path of a compacted table."""
        return self.out_dir / f"{table}.parquet"

    # ----------------------------------------------------------- maintenance

    def prepare(self) -> int:
        """Create the shard tree and delete temporary files left by a killed run.

        Returns:
            How many stale temporary files were removed.
        """
        for sub in (*TABLES, "failures"):
            (self.shard_dir / sub).mkdir(parents=True, exist_ok=True)
        removed = 0
        for tmp in self.shard_dir.rglob("_*"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed += 1
        for tmp in self.out_dir.glob("_*.parquet"):
            tmp.unlink(missing_ok=True)
            removed += 1
        return removed

    def completed(self) -> set[Path]:
        """Paths of every complete job's ``runs`` shard (a job is complete iff this exists)."""
        root = self.shard_dir / "runs"
        return {p for p in root.rglob("*.parquet") if not p.name.startswith(("_", "."))}

    def completed_run_ids(self) -> set[str]:
        """Run ids of every complete job on disk (for any point)."""
        return {p.stem for p in self.completed()}

    def failures(self) -> dict[str, dict[str, Any]]:
        """Recorded failures on disk, by run id."""
        out = {}
        for p in (self.shard_dir / "failures").glob("*.json"):
            if not p.name.startswith(("_", ".")):
                out[p.stem] = json.loads(p.read_text(encoding="utf-8"))
        return out

    # ---------------------------------------------------------------- writes

    def write_replicate(
        self,
        labels: Mapping[str, Any],
        replicate: int,
        run_id: str,
        output: Any,
        provenance: Mapping[str, Any],
    ) -> None:
        """Write one job's three shards (``runs`` last) and drop any stale failure record.

        Args:
            labels: the point's labels.
            replicate: replicate id.
            run_id: the job's id.
            output: a ``ReplicateOutput`` (``run``, ``timeseries``, ``incidents``).
            provenance: JSON-able facts stored in each shard's schema metadata.
        """
        meta = {META_KEY: json.dumps(dict(provenance), sort_keys=True, default=str).encode()}
        tables = {
            "timeseries": build_table(output.timeseries, labels, replicate, run_id),
            "incidents": build_table(output.incidents, labels, replicate, run_id),
            "runs": build_table(output.run, labels, replicate, run_id, one_row=True),
        }
        for name in TABLES:  # runs last
            path = self.shard_path(name, labels, run_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write_table(tables[name].replace_schema_metadata(meta), path)
        self.failure_path(run_id).unlink(missing_ok=True)

    def write_failure(self, record: Mapping[str, Any]) -> Path:
        """Record a failed job as ``shards/failures/<run_id>.json`` (atomically)."""
        path = self.failure_path(str(record["run_id"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(json.dumps(dict(record), indent=2, sort_keys=True, default=str), path)
        return path

    # ----------------------------------------------------------------- reads

    def read_run(self, labels: Mapping[str, Any], run_id: str) -> dict[str, Any]:
        """One complete job's ``runs`` row as a dict."""
        table = _read(self.shard_path("runs", labels, run_id))
        return {k: v[0] for k, v in table.to_pydict().items()}

    def compact(self, shards: Sequence[ShardRef]) -> dict[str, Path]:
        """Merge the given jobs' shards into ``<table>.parquet``, sorted by ``sort_key``.

        Streams shards one at a time (row groups of about ``ROW_GROUP_BYTES``), so
        memory does not grow with the number of replicates. Idempotent: the same shards give the
        same files. Each table is written atomically.

        Returns:
            The compacted table paths by table name.
        """
        ordered = sorted(shards, key=lambda s: s.sort_key)
        return {
            name: self._compact_table(name, ordered) for name in ("runs", "timeseries", "incidents")
        }

    def _compact_table(self, name: str, shards: Sequence[ShardRef]) -> Path:
        paths = [self.shard_path(name, s.labels, s.run_id) for s in shards]
        schema = _unified_schema(paths)
        meta = {META_KEY: json.dumps({"table": name, "jobs": len(paths)}).encode()}
        schema = schema.with_metadata(meta)
        target = self.table_path(name)
        tmp = target.with_name(f"_{uuid.uuid4().hex}.{target.name}")
        try:
            with pq.ParquetWriter(tmp, schema, compression=COMPRESSION) as writer:
                for chunk in _chunks((_conform(_read(p), schema) for p in paths), schema):
                    writer.write_table(chunk, row_group_size=chunk.num_rows or None)
                    del chunk
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        return target


def _unified_schema(paths: Sequence[Path]) -> pa.Schema:
    """One schema for all shards (missing columns become nullable, ints widen to floats)."""
    if not paths:
        return pa.schema([(REPLICATE, pa.int64()), (RUN_ID, pa.string())])
    schemas = [pq.read_schema(p).remove_metadata() for p in paths]
    return pa.unify_schemas(schemas, promote_options="permissive")


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder, add missing (null) columns and cast ``table`` to ``schema``."""
    n = table.num_rows
    cols = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(n, type=f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(cols, schema=schema)


def _chunks(tables: Iterable[pa.Table], schema: pa.Schema) -> Iterable[pa.Table]:
    """Group consecutive tables into row groups of about ``ROW_GROUP_BYTES`` (zero-copy concat)."""
    buffer: list[pa.Table] = []
    size, emitted = 0, False
    for table in tables:
        buffer.append(table)
        size += table.nbytes
        if size >= ROW_GROUP_BYTES:
            chunk = pa.concat_tables(buffer)
            buffer, size, emitted = [], 0, True
            yield chunk
    if buffer:
        yield pa.concat_tables(buffer)
    elif not emitted:
        yield schema.empty_table()


def _read(path: Path) -> pa.Table:
    """Read one Parquet file (``ParquetFile`` avoids importing pyarrow.dataset and pandas)."""
    with pq.ParquetFile(path) as f:
        return f.read()
