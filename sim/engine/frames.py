"""Result tables as they travel from a worker to the driver: Arrow tables in one byte string.

Why: workers return their results to the driver (which alone writes files, so no disk has to be
shared with the workers). A task's replicates become three tables (``timeseries``, ``incidents``,
``runs``: label columns, ``replicate``, ``run_id``, then the model's columns), serialised once
in the worker as Arrow IPC streams. The driver appends those bytes to its journal unchanged and
reads them back without copying; no pickles are involved, so a damaged journal cannot run code.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

#: The three result tables, in the order a payload holds them (``runs`` last, as in the files).
TABLES: tuple[str, ...] = ("timeseries", "incidents", "runs")

#: Columns the engine adds to every row (besides the point's labels).
REPLICATE, RUN_ID = "replicate", "run_id"

_LEN = struct.Struct("<Q")


class FrameError(ValueError):
    """A payload that does not decode into the three tables (damaged or not gapsim's)."""


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
    """One replicate's table: label columns, ``replicate``, ``run_id``, then the model's columns.

    Args:
        columns: the model's columns (equal-length arrays), or scalars when ``one_row``.
        labels: the point's labels, repeated on every row.
        replicate: replicate id.
        run_id: the replicate's id.
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


def replicate_tables(output: Any, labels: Mapping[str, Any], replicate: int, run_id: str) -> dict:
    """The three tables of one ``ReplicateOutput`` (``run``, ``timeseries``, ``incidents``)."""
    return {
        "timeseries": build_table(output.timeseries, labels, replicate, run_id),
        "incidents": build_table(output.incidents, labels, replicate, run_id),
        "runs": build_table(output.run, labels, replicate, run_id, one_row=True),
    }


def _stack(dicts: list[Mapping[str, Any]]) -> dict[str, np.ndarray] | None:
    """Columns of several replicates concatenated, or None when their keys or kinds differ.

    Types come out as a row-wise permissive concatenation of per-replicate tables would give
    them (same kind: numpy's promotion; ints with floats: float64), so a replicate's columns do
    not depend on which replicates share its task. Anything else returns None (the caller
    then builds per-replicate tables).
    """
    keys = list(dicts[0])
    if any(list(d) != keys for d in dicts):
        return None
    out: dict[str, np.ndarray] = {}
    for key in keys:
        arrays = [np.asarray(d[key]) for d in dicts]
        kinds = {a.dtype.kind for a in arrays}
        if any(a.ndim != 1 for a in arrays) or not (len(kinds) == 1 or kinds == {"i", "f"}):
            return None
        if kinds & {"O", "u", "V", "M", "m", "S"}:
            return None
        out[key] = np.concatenate(arrays)
    return out


def _column(values: Any) -> pa.Array:
    if isinstance(values, np.ndarray) and values.dtype.kind == "U":
        return pa.array(values.tolist(), type=pa.string())
    return pa.array(values)


def task_tables(
    items: list[tuple[int, str, Any]], labels: Mapping[str, Any]
) -> dict[str, pa.Table]:
    """The three tables of a task's replicates ``(replicate, run_id, output)``, in that order.

    Builds each column once per task when the replicates' columns line up (the usual case), so
    a task of cheap replicates costs a few Arrow arrays, not a few per replicate; otherwise
    falls back to per-replicate tables concatenated. Both give identical tables.
    """
    fast = _task_tables(items, labels)
    if fast is not None:
        return fast
    per = [replicate_tables(out, labels, rep, rid) for rep, rid, out in items]
    return {name: concat([t[name] for t in per]) for name in TABLES}


def _task_tables(
    items: list[tuple[int, str, Any]], labels: Mapping[str, Any]
) -> dict[str, pa.Table] | None:
    if len(items) == 1:
        return None
    out: dict[str, pa.Table] = {}
    for name, attr in (("timeseries", "timeseries"), ("incidents", "incidents")):
        dicts = [getattr(output, attr) for _, _, output in items]
        if not all(dicts) or (cols := _stack(dicts)) is None:
            return None
        lengths = [len(next(iter(d.values()))) for d in dicts]
        if any(len(set(map(len, d.values()))) > 1 for d in dicts):
            raise ValueError(f"{name}: columns of unequal length")
        out[name] = _with_engine_columns(cols, labels, items, lengths)
    rows = [dict(output.run) for _, _, output in items]
    keys = list(rows[0])
    if any(list(r) != keys for r in rows):
        return None
    try:
        cols = {
            k: pa.array([v.item() if isinstance(v, np.generic) else v for v in (r[k] for r in rows)])
            for k in keys
        }
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    out["runs"] = _with_engine_columns(cols, labels, items, [1] * len(items))
    return out


def _with_engine_columns(
    cols: Mapping[str, Any],
    labels: Mapping[str, Any],
    items: list[tuple[int, str, Any]],
    lengths: list[int],
) -> pa.Table:
    n = int(sum(lengths))
    engine: dict[str, pa.Array] = {k: _as_array(v, n) for k, v in labels.items()}
    counts = np.asarray(lengths, dtype=np.int64)
    engine[REPLICATE] = pa.array(np.repeat(np.array([r for r, _, _ in items], np.int64), counts))
    ids = pa.array([rid for _, rid, _ in items], pa.string())
    engine[RUN_ID] = ids.take(pa.array(np.repeat(np.arange(len(items)), counts)))
    model = {k: v if isinstance(v, pa.Array) else _column(v) for k, v in cols.items()}
    return pa.table({**engine, **{k: v for k, v in model.items() if k not in engine}})


def concat(tables: list[pa.Table]) -> pa.Table:
    """Row-wise concatenation; missing columns become nulls and ints widen where needed."""
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


def encode(tables: Mapping[str, pa.Table]) -> bytes:
    """The three tables as one byte string: per table, an 8-byte length and an IPC stream."""
    parts: list[bytes] = []
    for name in TABLES:
        table = tables[name]
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        data = sink.getvalue()
        parts += [_LEN.pack(data.size), data.to_pybytes()]
    return b"".join(parts)


def decode(payload: bytes | memoryview | pa.Buffer) -> dict[str, pa.Table]:
    """The three tables of an ``encode`` payload (zero-copy views of it).

    Raises:
        FrameError: the bytes are not a payload (truncated or damaged).
    """
    buf = payload if isinstance(payload, pa.Buffer) else pa.py_buffer(payload)
    out: dict[str, pa.Table] = {}
    offset = 0
    try:
        for name in TABLES:
            if offset + _LEN.size > buf.size:
                raise FrameError(f"payload ends before the {name} table")
            (size,) = _LEN.unpack(buf.slice(offset, _LEN.size).to_pybytes())
            offset += _LEN.size
            if offset + size > buf.size:
                raise FrameError(f"payload ends inside the {name} table")
            with pa.ipc.open_stream(buf.slice(offset, size)) as reader:
                out[name] = reader.read_all()
            offset += size
    except (pa.ArrowInvalid, pa.ArrowIOError, pa.ArrowTypeError, struct.error) as err:
        raise FrameError(f"not a result payload ({type(err).__name__}: {err})") from None
    if offset != buf.size:
        raise FrameError("trailing bytes after the runs table")
    return out
