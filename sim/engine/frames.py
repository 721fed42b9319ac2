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
