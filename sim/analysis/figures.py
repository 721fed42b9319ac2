"""Result figures drawn from the results tables only (never from a model object).

Why here: plots read tidy tables (``timeseries.parquet``), so any run, sweep or comparison can be
re-plotted later from its directory.

The series figure picks its period from the horizon (weeks up to 120 days, months up to three
years, quarters beyond), so a 60-day run shows eight points rather than two; a period cut short by
the end of the run is scaled to a full period's rate. Every scenario's series is drawn against
the days since its own start; when all scenarios start on the same date the axis shows that
calendar, with a note that the dates are simulated (a scenario named for 2019 may start in 2020).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sim.analysis.style import slide_style  # noqa: E402
from sim.outcomes import outcome  # noqa: E402

#: (column, how a period aggregates it: "sum" of daily counts or "mean" of daily values).
MONTHLY_PANELS = (
    ("incidents", "sum"),
    ("fighters", "mean"),
    ("tips", "sum"),
    ("tips_reaching_actor", "sum"),
    ("airstrikes", "sum"),
    ("gap_control", "mean"),
)

#: (largest horizon in days, period length in days, its name).
PERIODS = ((120, 7.0, "week"), (3 * 365, 30.44, "month"), (10**9, 91.31, "quarter"))


def period_for(days: int) -> tuple[float, str]:
    """(period length in days, name) for a horizon."""
    for limit, length, name in PERIODS:
        if days <= limit:
            return length, name
    return PERIODS[-1][1], PERIODS[-1][2]


def periodic(ts: pd.DataFrame, column: str, how: str, length: float,
             by: str = "scenario") -> pd.DataFrame:
    """Per group, replicate and period (``day // length``): the period's rate (sums scaled to
    a full period when the run ends inside it) or mean, with the period's middle day."""
    frame = ts.copy()
    frame["period"] = np.floor(frame["day"].to_numpy(float) / length).astype(int)
    keys = [k for k in (by, "replicate") if k in frame.columns] + ["period"]
    grouped = frame.groupby(keys, as_index=False).agg(value=(column, "mean"),
                                                      mid_day=("day", "mean"))  # fmt: skip
    if how == "sum":
        grouped["value"] *= length  # mean per day x days per period: partial periods scale up
    return grouped.rename(columns={"value": column})


def plot_monthly(ts: pd.DataFrame, path: str | Path | None = None, title: str = "",
                 by: str = "scenario", panels=MONTHLY_PANELS, *, order=None, dpi: int = 130):
    """Series per period: median across replicates with a 10-90 % band, one line per scenario.

    Axes are shared by every scenario in a panel (one scale); shares are shown in percent.

    Args:
        order: the groups' order in the legend (default: as they appear in ``ts``).
    """
    with slide_style():
        fig = _draw(ts, title, by, panels, order)
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=dpi)
            fig.savefig(path.with_suffix(".svg"))
            plt.close(fig)
    return fig


def _draw(ts: pd.DataFrame, title: str, by: str, panels, order=None):
    days = int(ts["day"].max()) + 1 if len(ts) else 1
    length, name = period_for(days)
    shown = [(c, how) for c, how in panels if c in ts.columns]
    ncols = 3 if len(shown) > 4 else 2
    nrows = max(1, -(-len(shown) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 4.0 * nrows + 1.4),
                             sharex=True, constrained_layout=True, squeeze=False)  # fmt: skip
    groups = list(dict.fromkeys(ts[by])) if by in ts.columns else [None]
    if order is not None:
        groups = [g for g in order if g in groups] + [g for g in groups if g not in order]
    starts = _start_dates(ts, by)
    common = len(set(starts.values())) == 1 and next(iter(starts.values())) is not None
    for ax, (column, how) in zip(axes.flat, shown, strict=False):
        spec = outcome(column)
        scale = 100.0 if spec.kind == "share" else 1.0
        m = periodic(ts, column, how, length, by)
        for g in groups:
            sub = m[m[by] == g] if g is not None else m
            q = sub.groupby("period").agg(mid=("mid_day", "mean"))
            qs = sub.groupby("period")[column].quantile([0.1, 0.5, 0.9]).unstack() * scale
            x = _x_values(q["mid"].to_numpy(float), starts.get(g) if common else None)
            line, = ax.plot(x, qs[0.5], marker="o", ms=5, lw=2, label=str(g) if g else None)
            ax.fill_between(x, qs[0.1], qs[0.9], alpha=0.18, color=line.get_color(), lw=0)
        rate = f" per {name}" if how == "sum" else (" (daily mean)" if spec.kind != "share" else "")
        ax.set_title(f"{spec.label}{rate}", loc="left", fontsize=13)
        ax.set_ylabel(spec.unit)
        ax.set_ylim(bottom=0, top=100 if spec.kind == "share" else None)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    if len(groups) > 1 or groups[0] is not None:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(groups), 4),
                   frameon=False)  # fmt: skip
    if common:
        first = next(iter(starts.values()))
        note = (f"\nsimulated dates: every scenario starts on its own start date (here {first} for "
                "all), whatever year its name refers to")  # fmt: skip
        import matplotlib.dates as mdates

        for ax in axes.flat:
            locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    else:
        note = "\nx axis: days since each scenario's own start date (the start dates differ)"
        for ax in axes[-1]:
            ax.set_xlabel("days since the start")
    fig.suptitle(f"{title + ': ' if title else ''}median and 10-90% band across replicates, "
                 f"per {name}{note}")  # fmt: skip
    return fig


def _start_dates(ts: pd.DataFrame, by: str) -> dict:
    """First date per group (None without a ``date`` column)."""
    if "date" not in ts.columns or not len(ts):
        return {None: None}
    first = ts[ts["day"] == 0]
    if by in ts.columns:
        return {g: str(d) for g, d in first.groupby(by)["date"].first().items()}
    return {None: str(first["date"].iloc[0])}


def _x_values(mid_days: np.ndarray, start: str | None):
    if start is None:
        return mid_days
    return pd.Timestamp(start) + pd.to_timedelta(mid_days, unit="D")
