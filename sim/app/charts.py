"""The dashboard's live charts, drawn from each model's daily series (``sim.app.view``).

Why one figure of four panels, sized in pixels: each frame re-draws the charts, and one
matplotlib figure is cheaper to render and send than four. The figure is drawn at the size it is
shown (``width_px`` x ``height_px`` at ``DPI``), so no text is scaled down in the browser, and no
text is smaller than ``MIN_FONT_PT`` points, i.e. 14 px or more: readable from the back of a
workshop room. With two scenarios side by side, each panel has one line per scenario on shared
axes. Labels come from ``sim.outcomes``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.outcomes import label

DPI = 100
#: The smallest text on the charts (points); at ``DPI`` 100 it is 14.6 px.
MIN_FONT_PT = 10.5
TITLE_PT = 12.5
#: Line colours of the first and second scenario.
ARM_COLOURS = ("#0072B2", "#D55E00")

#: Panels: (title, [(column, line style, legend words)], y label, y scale). Titles name the
#: outcome with the outcome table's words; legend words are short enough for a panel.
PANELS = (
    (f"{label('incidents').capitalize()} so far", [("incidents", "-", "")], "incidents", 1.0),
    (label("fighters").capitalize(), [("fighters", "-", "")], "fighters", 1.0),
    (f"{label('tips').capitalize()} so far",
     [("tips", ":", "all tips"), ("tips_reaching_actor", "-", "reached the acting force")],
     "tips", 1.0),
    ("Trust in the forces (0-100)",
     [("trust_kurd_pesh", "-", "Kurds in the Peshmerga"),
      ("trust_arab_ia", "--", "Arabs in the Iraqi Army")], "trust", 100.0),
)  # fmt: skip


def charts_figure(series: Mapping[str, pd.DataFrame], *, days: int, width_px: int = 490,
                  height_px: int = 600, ncols: int = 1) -> Figure:
    """Four panels, one line per scenario (``series``: name -> ``view.daily_series``).

    Args:
        series: the daily series of each scenario shown (one or two).
        days: the run's horizon (days), to fix the x range as the run goes on.
        width_px, height_px: the size the figure is shown at.
        ncols: panels per row (1: a column of four; 2: a 2 x 2 grid).
    """
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    nrows = -(-len(PANELS) // ncols)
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
    last = max((int(df["day"].iloc[-1]) for df in series.values() if len(df)), default=0)
    right = min(max(last * 1.15, 7.0), float(max(days, 1)))
    several = len(series) > 1
    for ax, (title, lines, ylabel, scale) in zip(axes, PANELS, strict=True):
        for k, df in enumerate(series.values()):
            colour = ARM_COLOURS[k % len(ARM_COLOURS)]
            for column, style, words in lines:
                if not len(df) or column not in df:
                    continue
                y = df[column].to_numpy(float) * scale
                text = words if k == 0 else None  # line styles once; colours: the figure legend
                ax.plot(df["day"], y, ls=style, lw=2.2, color=colour if several or not words
                        else ("#777777" if style == ":" else colour), label=text or None,
                        marker="o" if len(df) == 1 else None)  # fmt: skip
        ax.set_title(title, loc="left", fontsize=TITLE_PT)
        ax.set_ylabel(ylabel, fontsize=MIN_FONT_PT)
        ax.set_xlim(0, right)
        if scale == 100.0:
            ax.set_ylim(0, 100)
        else:  # counts: whole numbers, and an axis up to at least 1 before the first one
            ax.set_ylim(0, max(ax.get_ylim()[1], 1.0))
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.tick_params(labelsize=MIN_FONT_PT)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0] and len(lines) > 1:
            ax.legend(fontsize=MIN_FONT_PT, frameon=False, handlelength=1.6,
                      loc="center right" if scale == 100.0 else "upper left")
    if not any(len(df) for df in series.values()):
        axes[0].text(0.5, 0.5, "press +1 day or Play", transform=axes[0].transAxes,
                     ha="center", va="center", fontsize=MIN_FONT_PT, color="#666666")
    for ax in axes[-ncols:]:
        ax.set_xlabel("days since the start", fontsize=MIN_FONT_PT)
    if several:
        handles = [ax.plot([], [], color=c, lw=2.2)[0] for c, ax in
                   zip(ARM_COLOURS, [axes[0], axes[0]], strict=True)]  # fmt: skip
        fig.legend(handles, list(series), loc="outside lower center", ncol=1 if width_px < 500 else 2,
                   fontsize=MIN_FONT_PT, frameon=False)  # fmt: skip
    return fig


def smallest_text_px(fig: Figure) -> float:
    """The smallest font size of any visible text in ``fig``, in pixels (for tests)."""
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(lambda a: hasattr(a, "get_fontsize"))
             if t.get_visible() and getattr(t, "get_text", lambda: "")()]  # fmt: skip
    return float(np.min(sizes)) * fig.dpi / 72.0 if sizes else float("nan")
