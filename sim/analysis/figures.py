"""Result figures drawn from the results tables only (never from a model object).

Why here: plots read tidy tables (``timeseries.parquet``), so any run, sweep or comparison can be
re-plotted later from its directory.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

MONTHLY_PANELS = (
    ("incidents", "incidents per month", "sum"),
    ("fighters", "insurgent fighters", "mean"),
    ("tips", "villager tips per month", "sum"),
    ("tips_reaching_actor", "tips reaching the acting force", "sum"),
    ("airstrikes", "airstrikes per month", "sum"),
    ("gap_control", "share of gap under control", "mean"),
)


def monthly(ts: pd.DataFrame, column: str, how: str, by: str = "scenario") -> pd.DataFrame:
    """Per scenario, replicate and month: the column summed or averaged."""
    frame = ts.copy()
    frame["month"] = pd.to_datetime(frame["date"]).dt.to_period("M").dt.to_timestamp()
    keys = [k for k in (by, "replicate") if k in frame.columns] + ["month"]
    return frame.groupby(keys, as_index=False)[column].agg(how)


def plot_monthly(ts: pd.DataFrame, path: str | Path | None = None, title: str = "",
                 by: str = "scenario", panels=MONTHLY_PANELS):
    """Monthly series: median across replicates with a 10-90 % band, one line per scenario."""
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5), sharex=True, constrained_layout=True)
    groups = ts[by].unique() if by in ts.columns else [None]
    for ax, (column, label, how) in zip(axes.flat, panels, strict=False):
        if column not in ts.columns:
            ax.set_visible(False)
            continue
        m = monthly(ts, column, how, by)
        for g in groups:
            sub = m[m[by] == g] if g is not None else m
            q = sub.groupby("month")[column].quantile([0.1, 0.5, 0.9]).unstack()
            line, = ax.plot(q.index, q[0.5], label=str(g) if g is not None else None)
            ax.fill_between(q.index, q[0.1], q[0.9], alpha=0.2, color=line.get_color())
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    if len(groups) > 1 or groups[0] is not None:
        axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"{title} - median and 10-90 % band across replicates", fontsize=11)
    fig.supxlabel("month")
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=130)
        plt.close(fig)
    return fig
