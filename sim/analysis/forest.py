"""The forest plot of a comparison: each scenario's change from the baseline, per outcome.

Why this layout: one column per scenario with one shared axis range per unit (percent for counts,
percentage points for shares), so panels compared side by side read on the same scale; points
coloured by verdict (better, worse, a change without a direction, no clear change) so a room
sees trade-offs at a glance; the axis says which side is "less than the baseline". Intervals are
the ones in the tables (``sim.analysis.compare``); with fewer than ``MIN_RELIABLE_N`` replicates
they are drawn hollow and dashed, and the figure says they are unreliable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from sim.analysis.style import VERDICT_COLOURS, slide_style  # noqa: E402
from sim.engine.stats import MIN_RELIABLE_N  # noqa: E402
from sim.outcomes import outcome  # noqa: E402

#: The percent axis stops here; longer intervals end in an arrow at the edge.
PCT_CAP = 300.0
VERDICT_LEGEND = {"better": "better", "worse": "worse",
                  "changed": "changes (neither better nor worse)",
                  "unclear": "no clear change"}  # fmt: skip


def forest_outcomes(diffs, heads: Sequence[str]) -> list[str]:
    """Headline outcomes plus every outcome that gets clearly worse in some scenario."""
    present = list(dict.fromkeys(diffs["outcome"]))
    worse = set(diffs.loc[diffs["verdict"] == "worse", "outcome"])
    return [o for o in present if o in heads or o in worse]


def _wrap(text: str, width: int = 30) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


def plot_forest(diffs, outcomes: Sequence[str], path: str | Path | None = None,
                *, dpi: int = 130) -> Figure:
    """Draw (and save as PNG + SVG if ``path``) the forest plot of ``outcomes``."""
    with slide_style():
        fig = _draw(diffs, list(outcomes))
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=dpi)
            fig.savefig(path.with_suffix(".svg"))
    return fig


def _draw(diffs, outcomes: list[str]) -> Figure:
    scenarios = list(dict.fromkeys(diffs["scenario"]))
    baseline = str(diffs["baseline"].iloc[0])
    groups = [(unit, [o for o in outcomes if outcome(o).change_unit == unit])
              for unit in ("%", "points")]  # fmt: skip
    groups = [(u, g) for u, g in groups if g]
    n = int(diffs["n"].max()) if len(diffs) else 0
    reliable = n >= MIN_RELIABLE_N
    heights = [len(g) + 1.6 for _, g in groups]
    fig = Figure(figsize=(4.3 + 3.7 * len(scenarios), 0.5 * sum(heights) + 2.4),
                 layout="constrained")  # fmt: skip
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    axes = fig.subplots(len(groups), len(scenarios), squeeze=False, sharey="row",
                        height_ratios=heights)  # fmt: skip
    for gi, (unit, names) in enumerate(groups):
        sub = diffs[diffs["outcome"].isin(names)]
        lo_col, hi_col = sub["change_low"].to_numpy(float), sub["change_high"].to_numpy(float)
        vals = np.concatenate([lo_col, hi_col, sub["change"].to_numpy(float)])
        vals = vals[np.isfinite(vals)]
        if unit == "%":
            left = -105.0
            right = min(max(float(vals.max()) if vals.size else 0.0, 20.0) * 1.08 + 5, PCT_CAP)
        else:
            span = max(float(np.abs(vals).max()) if vals.size else 1.0, 1.0) * 1.1
            left, right = -span, span
        for si, scenario in enumerate(scenarios):
            ax = axes[gi, si]
            for yi, name in enumerate(names):
                r = sub[(sub["scenario"] == scenario) & (sub["outcome"] == name)]
                if r.empty or not np.isfinite(r["change"].iloc[0]):
                    ax.text(0, yi, "n/a", ha="center", va="center", color="#777777", fontsize=11)
                    continue
                r = r.iloc[0]
                colour = VERDICT_COLOURS[r["verdict"]]
                lo, hi, mid = r["change_low"], r["change_high"], r["change"]
                if np.isfinite(lo) and (np.isfinite(hi) or hi == np.inf):
                    ax.plot([max(lo, left), min(hi, right)], [yi, yi], color=colour, lw=2.4,
                            ls="-" if reliable else (0, (3, 2)), solid_capstyle="butt")  # fmt: skip
                    if hi > right:
                        ax.plot(right, yi, ">", color=colour, ms=9, clip_on=False)
                ax.plot(min(mid, right), yi, "o", ms=9, color=colour,
                        markerfacecolor=colour if reliable else "white", markeredgewidth=2)  # fmt: skip
            ax.axvline(0, color="black", lw=1)
            ax.set_xlim(left, right)
            ax.set_ylim(len(names) - 0.5, -0.5)
            ax.grid(axis="x", alpha=0.3)
            ax.set_yticks(range(len(names)), [_wrap(outcome(o).label) for o in names])
            if gi == 0:
                ax.set_title(scenario, fontsize=14, fontweight="bold")
            ax.set_xlabel(
                ("% change" if unit == "%" else "change in percentage points")
                + "\n\u2190 less than baseline | more \u2192", fontsize=12)  # fmt: skip
    handles = [Line2D([], [], color=c, marker="o", lw=2.4, ms=9, label=VERDICT_LEGEND[v])
               for v, c in VERDICT_COLOURS.items()]  # fmt: skip
    if not reliable:
        handles.append(Line2D([], [], color="#777777", marker="o", markerfacecolor="white",
                              ls=(0, (3, 2)), lw=2.4, ms=9,
                              label=f"hollow, dashed: {n} replicates, interval unreliable"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 3),
               frameon=False)  # fmt: skip
    fig.suptitle(f"Change from {baseline} per outcome: mean and 95% interval "
                 f"({n} paired replicates{'' if reliable else ', too few for reliable intervals'})")
    return fig
