"""Reproducibility check: rerun a saved result from its own config and compare the tables exactly.

Why: a figure in a report is only citable if ``gapsim reproduce DIR`` regenerates the very same
``runs``, ``timeseries`` and ``incidents`` tables from ``DIR/config.yaml``. Comparison is exact
(floats bit for bit, NaN equal to NaN), and differences are listed as short, readable lines: which
table, and its row count, columns, types, or first differing column and row.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

#: Tables a result directory holds (``sweep`` only in a sweep's directory).
TABLES: tuple[str, ...] = ("runs", "timeseries", "incidents")
#: Every Parquet table a reproduction compares (those missing from both sides are skipped).
ALL_TABLES: tuple[str, ...] = (*TABLES, "sweep")

#: Columns that legitimately differ between reruns (wall-clock timings); none today.
TIMING_COLUMNS: frozenset[str] = frozenset()

#: At most this many differing columns are listed per table.
MAX_COLUMNS_LISTED = 5

Source = str | os.PathLike[str] | Mapping[str, Any]


def load_table(source: Source, name: str) -> pa.Table | None:
    """A table from a result directory (``<dir>/<name>.parquet``) or a mapping of tables.

    Mapping values may be Arrow tables or pandas DataFrames. Returns None when absent.
    """
    if isinstance(source, Mapping):
        value = source.get(name)
        if value is None or isinstance(value, pa.Table):
            return value
        return pa.Table.from_pandas(value, preserve_index=False)
    path = Path(source) / f"{name}.parquet"
    if not path.exists():
        return None
    with pq.ParquetFile(path) as f:
        return f.read()


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return type(x) is type(y) and x == y


def _first_difference(a: pa.ChunkedArray, b: pa.ChunkedArray) -> tuple[int, Any, Any] | None:
    """Index and values of the first differing row (None when equal, NaN == NaN)."""
    if a.equals(b):
        return None
    for i, (x, y) in enumerate(zip(a.to_pylist(), b.to_pylist(), strict=True)):
        if not _same(x, y):
            return i, x, y
    return None


def compare_table(name: str, a: pa.Table, b: pa.Table, ignore: Iterable[str] = ()) -> list[str]:
    """Differences between two versions of one table, as readable lines (empty when identical)."""
    skip = set(ignore)
    cols_a = [c for c in a.column_names if c not in skip]
    cols_b = [c for c in b.column_names if c not in skip]
    out: list[str] = []
    if cols_a != cols_b:
        missing = [c for c in cols_a if c not in cols_b]
        extra = [c for c in cols_b if c not in cols_a]
        detail = f"only in first: {missing}; only in second: {extra}"
        if not missing and not extra:
            detail = f"column order differs: {cols_a} vs {cols_b}"
        out.append(f"{name}: columns differ ({detail})")
    if a.num_rows != b.num_rows:
        out.append(f"{name}: row count {a.num_rows} vs {b.num_rows}")
    if out:
        return out
    differing = 0
    for col in cols_a:
        ta, tb = a.schema.field(col).type, b.schema.field(col).type
        if ta != tb:
            out.append(f"{name}.{col}: type {ta} vs {tb}")
            differing += 1
        elif (diff := _first_difference(a.column(col), b.column(col))) is not None:
            row, x, y = diff
            out.append(f"{name}.{col}: first difference at row {row}: {x!r} vs {y!r}")
            differing += 1
        if differing >= MAX_COLUMNS_LISTED:
            out.append(f"{name}: (more columns may differ; listing stopped)")
            break
    return out


def compare_tables(
    a: Source,
    b: Source,
    tables: Iterable[str] = TABLES,
    ignore_columns: Iterable[str] = TIMING_COLUMNS,
) -> list[str]:
    """Exact comparison of result tables from two directories (or mappings of tables).

    Args:
        a: the original result (a directory, or ``{name: Table | DataFrame}``).
        b: the rerun.
        tables: which tables to compare.
        ignore_columns: columns left out of the comparison (timing-only columns).

    Returns:
        One line per difference; empty when every table is identical.
    """
    ignore = list(ignore_columns)
    out: list[str] = []
    for name in tables:
        ta, tb = load_table(a, name), load_table(b, name)
        if ta is None or tb is None:
            if ta is not None or tb is not None:
                which = "first" if ta is None else "second"
                out.append(f"{name}: missing in the {which} result")
            continue
        out += compare_table(name, ta, tb, ignore)
    return out


def compare_text_files(a: str | os.PathLike[str], b: str | os.PathLike[str],
                       names: Iterable[str]) -> list[str]:
    """Byte-for-byte comparison of derived text files (CSV tables, ``config.yaml``).

    Returns one line per file that is missing on one side or differs, naming the first
    differing line.
    """
    out: list[str] = []
    for name in names:
        pa_, pb = Path(a) / name, Path(b) / name
        if not pa_.exists() or not pb.exists():
            if pa_.exists() or pb.exists():
                which = "first" if not pa_.exists() else "second"
                out.append(f"{name}: missing in the {which} result")
            continue
        ta, tb = pa_.read_text().splitlines(), pb.read_text().splitlines()
        if ta == tb:
            continue
        for i, (x, y) in enumerate(zip(ta, tb, strict=False)):
            if x != y:
                out.append(f"{name}: line {i + 1} differs: {x[:120]!r} vs {y[:120]!r}")
                break
        else:
            out.append(f"{name}: {len(ta)} vs {len(tb)} lines")
    return out


def derived_files(run_dir: str | os.PathLike[str]) -> list[str]:
    """The text outputs of a result directory that a rerun must reproduce: every top-level YAML
    (``config.yaml``, a sweep's study and base config), ``scenarios.json`` and every top-level
    CSV (summaries, paired differences, pairing efficiency, validation, design, indices)."""
    root = Path(run_dir)
    names = [p.name for p in (*root.glob("*.yaml"), *root.glob("*.csv"))]
    if (root / "scenarios.json").exists():
        names.append("scenarios.json")
    return sorted(names)


def load_saved_config(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The resolved config a result directory was produced from (``config.yaml``)."""
    from omegaconf import OmegaConf

    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: not a gapsim result directory")
    container = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    assert isinstance(container, dict)
    return {str(k): v for k, v in container.items()}


def reproduce(
    run_dir: str | os.PathLike[str],
    rerun: Callable[[dict[str, Any], Path], object],
    *,
    work_dir: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Rerun a saved result from its ``config.yaml`` into a fresh directory and compare tables.

    Args:
        run_dir: the saved result.
        rerun: ``rerun(config, out_dir)`` recomputes the result into ``out_dir`` (the CLI passes
            the same function that produced it, e.g. a wrapper around ``run_from_config``).
        work_dir: parent of the temporary directory (default: the system temp dir); the rerun is
            deleted afterwards.

    Returns:
        Differences (empty when the result reproduces exactly).
    """
    config = load_saved_config(run_dir)
    with tempfile.TemporaryDirectory(prefix="gapsim-reproduce-", dir=work_dir) as tmp:
        rerun(config, Path(tmp))
        return compare_tables(run_dir, tmp)
