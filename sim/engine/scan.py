"""Out-of-core reads of the compacted tables: summaries at flat memory, whatever their size.

Why: a million replicates make a ``runs.parquet`` of a million rows and a ``timeseries.parquet``
of hundreds of millions; loading either into pandas to average it does not scale. These readers
stream the tables as Arrow record batches (``pyarrow.dataset``, only the columns asked for) and
merge per-group counts, means and sums of squared deviations batch by batch (Chan et al.'s
pairwise update, numerically stable), so memory is one batch plus one row per group.

``summarise`` gives the same table as ``sim.engine.stats.summarise`` (n, mean, sd, t-interval)
for a file instead of a DataFrame; ``group_mean`` the mean of columns per group (e.g. monthly
series across replicates).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import scipy.stats as sps

from sim.engine.stats import MIN_RELIABLE_N

#: Rows per streamed batch.
BATCH_ROWS = 64 * 1024

#: Columns that are never outcomes.
NOT_OUTCOMES = ("replicate", "design_point", "run_id")

Path = str | os.PathLike[str]


def batches(path: Path, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
    """A Parquet table as record batches of at most ``BATCH_ROWS`` rows (selected columns)."""
    # No pre-buffering (pyarrow would keep every range it read until the scan ends: memory
    # growing with the file) and no read-ahead (up to 16 queued batches while the consumer works).
    fmt = ds.ParquetFileFormat(
        default_fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False)
    )
    dataset = ds.dataset(os.fspath(path), format=fmt)
    yield from dataset.to_batches(columns=list(columns) if columns else None,
                                  batch_size=BATCH_ROWS, batch_readahead=0,
                                  fragment_readahead=0, use_threads=False)


def numeric_columns(path: Path, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric, non-boolean columns of a Parquet table (from its schema alone)."""
    schema = ds.dataset(os.fspath(path), format="parquet").schema
    skip = {*NOT_OUTCOMES, *exclude}
    return [
        f.name
        for f in schema
        if f.name not in skip
        and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
    ]


def _moments(path: Path, by: list[str], columns: list[str]) -> pd.DataFrame:
    """Per group and column: n, mean and M2 (sum of squared deviations), NaNs ignored.

    Each batch is aggregated by Arrow (count, mean, population variance per group), so only the
    batch and one row per group are ever in memory; batches are merged with Chan's update.
    """
    total: pd.DataFrame | None = None
    for batch in batches(path, [*by, *columns]):
        table = pa.Table.from_batches([batch])
        for name in columns:  # NaN counts as missing, as in stats.t_interval
            col = table.column(name)
            if pa.types.is_floating(col.type):
                col = pc.if_else(pc.is_nan(col), pa.scalar(None, col.type), col)
            elif not pa.types.is_floating(col.type):
                col = col.cast(pa.float64())
            table = table.set_column(table.schema.get_field_index(name), name, col)
        aggs = [(c, f, opts) for c in columns for f, opts in (
            ("count", None), ("mean", None), ("variance", pc.VarianceOptions(ddof=0)))]
        grouped = table.group_by(by, use_threads=False).aggregate(
            [(c, f) if o is None else (c, f, o) for c, f, o in aggs]
        ).to_pandas()
        parts = []
        for name in columns:
            part = grouped[by].copy()
            part["outcome"] = name
            part["n"] = grouped[f"{name}_count"].astype(float)
            part["mean"] = grouped[f"{name}_mean"].astype(float).fillna(0.0)
            part["m2"] = grouped[f"{name}_variance"].astype(float).fillna(0.0) * part["n"]
            parts.append(part)
        frame = pd.concat(parts, ignore_index=True).set_index([*by, "outcome"])
        total = frame if total is None else _merge(total, frame)
        del table, grouped
    if total is None:
        return pd.DataFrame(columns=[*by, "outcome", "n", "mean", "m2"])
    return total.reset_index()


def _merge(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Chan's pairwise combination of two (n, mean, m2) tables indexed by group."""
    joined = a.add_suffix("_a").join(b.add_suffix("_b"), how="outer").fillna(
        {"n_a": 0, "n_b": 0, "mean_a": 0.0, "mean_b": 0.0, "m2_a": 0.0, "m2_b": 0.0}
    )
    n = joined["n_a"] + joined["n_b"]
    delta = joined["mean_b"] - joined["mean_a"]
    safe = n.where(n > 0, 1)
    mean = joined["mean_a"] + delta * joined["n_b"] / safe
    m2 = joined["m2_a"] + joined["m2_b"] + delta**2 * joined["n_a"] * joined["n_b"] / safe
    return pd.DataFrame({"n": n, "mean": mean, "m2": m2})


def summarise(
    path: Path,
    by: str | Sequence[str] = ("scenario",),
    outcomes: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per group and outcome of a runs table: n, mean, sd, t-interval, (relative) half-width.

    The columns of ``sim.engine.stats.summarise`` (groups sorted), streamed at flat memory. The
    interval is Student's t from streamed moments, not the in-memory summary's bootstrap
    (a bootstrap needs every value at once): the two agree closely at the replicate counts
    where streaming matters (hundreds and more), and ``reliable`` flags small groups the same way.
    """
    keys = [by] if isinstance(by, str) else list(by)
    names = list(outcomes) if outcomes is not None else numeric_columns(path, keys)
    moments = _moments(path, keys, names)
    rows = []
    for _, r in moments.iterrows():
        n = int(r["n"])
        mean = float(r["mean"]) if n else math.nan
        sd = math.sqrt(r["m2"] / (n - 1)) if n >= 2 else math.nan
        half = float(sps.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)) if n >= 2 else (
            math.nan)
        rows.append({
            **{k: r[k] for k in keys},
            "outcome": r["outcome"],
            "n": n,
            "mean": mean,
            "sd": sd,
            "ci_low": mean - half,
            "ci_high": mean + half,
            "half_width": half,
            "rel_half_width": abs(half / mean) if mean else math.nan,
            "reliable": n >= MIN_RELIABLE_N,
        })
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    order = {o: i for i, o in enumerate(names)}
    out["_o"] = out["outcome"].map(order)
    return out.sort_values([*keys, "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


def group_mean(path: Path, by: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Mean of ``columns`` per group of ``by`` (one row per group, groups sorted), streamed."""
    keys = list(by)
    moments = _moments(path, keys, list(columns))
    if moments.empty:
        return pd.DataFrame(columns=[*keys, *columns])
    wide = moments.pivot_table(index=keys, columns="outcome", values="mean", dropna=False)
    return wide.reindex(columns=list(columns)).reset_index().rename_axis(columns=None)


def read_rows(
    path: Path, *, below_replicate: int | None = None, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """A table's rows as a DataFrame, optionally only replicates below ``below_replicate``.

    Compacted tables are sorted by replicate within each point, so the filter skips whole row
    groups by their statistics: reading the first thousand replicates of a million costs about
    a thousandth of the file.
    """
    dataset = ds.dataset(os.fspath(path), format="parquet")
    filt = ds.field("replicate") < below_replicate if below_replicate is not None else None
    return dataset.to_table(columns=list(columns) if columns else None, filter=filt).to_pandas()


def row_count(path: Path) -> int:
    """Rows of a Parquet table, from its footer."""
    return int(ds.dataset(os.fspath(path), format="parquet").count_rows())

