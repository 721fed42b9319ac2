"""The scenario-discovery figure: PRIM's coverage-density trade-off and the chosen box's limits.

Why one figure per discovery with a row per box: the analyst needs to see the trade-off the box
was chosen from (every box on the peeling trajectory, coloured by how many factors it restricts,
the chosen one ringed) next to what the box says (each restricted factor's range in the sweep,
the box's limits drawn over it, and each limit's quasi-p), under the plain-language line a
workshop reads. Reads a ``Discovery`` only; writes PNG and SVG.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sim.experiments.discover import Box, Discovery  # noqa: E402


def _qp_text(qp: float | None) -> str:
    if qp is None:
        return ""
    return "qp<0.001" if qp < 0.001 else f"qp={qp:.2g}"


def _tradeoff(ax: plt.Axes, box: Box, cmap) -> plt.cm.ScalarMappable:
    t = box.trajectory
    top = int(max(t["res_dim"].max(), 1))
    norm = matplotlib.colors.BoundaryNorm(np.arange(-0.5, top + 1.5), cmap.N)
    peel = t[t["from_id"].isna()]
    points = ax.scatter(peel["coverage"], peel["density"], c=peel["res_dim"], cmap=cmap, norm=norm,
                        s=22, edgecolors="none", zorder=2, label="peeling trajectory")
    dropped = t[t["from_id"].notna()]
    if len(dropped):  # the chosen box's insignificant limits dropped one by one
        chain = pd.concat([t[t["id"] == box.start_id], dropped])
        ax.plot(chain["coverage"], chain["density"], color="0.35", lw=0.9, ls="--", zorder=1)
        ax.scatter(dropped["coverage"], dropped["density"], c=dropped["res_dim"], cmap=cmap,
                   norm=norm, s=60, marker="D", edgecolors="0.2", linewidths=0.6, zorder=2,
                   label="insignificant limits dropped")
        ax.legend(loc="lower left", fontsize=7, frameon=False)
    row = t[t["id"] == box.trajectory_id].iloc[0]
    ax.scatter([row["coverage"]], [row["density"]], s=150, facecolors="none",
               edgecolors="crimson", linewidths=2, zorder=3)
    left = row["coverage"] > 0.5  # label on the side with room
    ax.annotate(f"box {box.number} (id {box.trajectory_id}, from {box.start_id})\n"
                f"coverage {row['coverage']:.0%}, "
                f"density {row['density']:.0%}", (row["coverage"], row["density"]),
                xytext=(-14 if left else 14, -30 if row["density"] > 0.5 else 24),
                textcoords="offset points", ha="right" if left else "left", fontsize=8,
                color="crimson", arrowprops={"arrowstyle": "-", "color": "crimson", "lw": 0.8})
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("coverage (share of all cases of interest in the box)")
    ax.set_ylabel("density (share of the box's cases of interest)")
    ax.set_title(f"Box {box.number}: peeling trajectory", fontsize=10)
    ax.grid(alpha=0.3)
    return points


def _limits(ax: plt.Axes, box: Box, d: Discovery, x: pd.DataFrame | None) -> None:
    lims = list(box.limits)
    ax.set_title(f"Box {box.number}: limits (grey: range in the sweep)", fontsize=10)
    if any(lim.reproduce for lim in lims):
        ax.text(0.5, -0.06, "resamples: share of PRIM runs on random halves of the cases whose box "
                "(matched on coverage / on density) restricts the factor too", fontsize=7,
                color="0.35", ha="center", transform=ax.transAxes)
    if not lims:
        ax.text(0.5, 0.5, "no factor restricted", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    for row, lim in enumerate(lims):
        y = len(lims) - 1 - row
        ax.plot([0, 1], [y, y], color="0.8", lw=8, solid_capstyle="butt", zorder=1)
        kind = d.kinds.get(lim.factor, "numeric")
        if kind == "categorical" or x is None or lim.factor not in x:
            kept = ", ".join(map(str, lim.levels)) if lim.levels else ""
            ax.plot([0, 1], [y, y], color="tab:blue", lw=8, solid_capstyle="butt", zorder=2)
            ax.text(0.5, y + 0.28, f"{kept}  {_qp_text(lim.qp_low)}", ha="center", fontsize=8)
            continue
        col = x[lim.factor].astype(float)
        lo_all, hi_all = float(col.min()), float(col.max())
        span = (hi_all - lo_all) or 1.0
        lo = lim.low if lim.low is not None else lo_all
        hi = lim.high if lim.high is not None else hi_all
        a, b = (lo - lo_all) / span, (hi - lo_all) / span
        ax.plot([a, b], [y, y], color="tab:blue", lw=8, solid_capstyle="butt", zorder=2)
        ax.text(0, y - 0.42, f"{lo_all:.3g}", ha="left", fontsize=7, color="0.4")
        ax.text(1, y - 0.42, f"{hi_all:.3g}", ha="right", fontsize=7, color="0.4")
        if lim.low is not None:
            ax.text(a, y + 0.25, f"{lim.low:.3g} ({_qp_text(lim.qp_low)})", ha="center",
                    fontsize=8)
        if lim.high is not None:
            ax.text(b, y + 0.25, f"{lim.high:.3g} ({_qp_text(lim.qp_high)})", ha="center",
                    fontsize=8)
    labels = []
    for lim in lims:
        unit = d.units.get(lim.factor, "")
        text = f"{lim.factor} ({unit})" if unit else lim.factor
        if lim.reproduce is not None:
            text += f"\nresamples: {lim.reproduce[0]:.0f}% / {lim.reproduce[1]:.0f}%"
        labels.append(text)
    ax.set_yticks(range(len(lims) - 1, -1, -1), labels, fontsize=8)
    ax.set_ylim(-0.8, len(lims) - 0.2)
    ax.set_xlim(-0.08, 1.08)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)


def plot_discovery(d: Discovery, path: Path, x: pd.DataFrame | None = None) -> list[Path]:
    """Write the figure (PNG and SVG twin) and return both paths.

    Args:
        x: the factor values of the cases (for each factor's range in the limits panel).
    """
    cmap = plt.get_cmap("viridis")
    rows = max(len(d.boxes), 1)
    height = max(3.6, 0.55 * max((len(b.limits) for b in d.boxes), default=1) + 2.4)
    fig, axes = plt.subplots(rows, 2, figsize=(12.5, height * rows + 0.9), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.25]}, layout="constrained")
    for r, box in enumerate(d.boxes):
        mappable = _tradeoff(axes[r, 0], box, cmap)
        top = int(max(box.trajectory["res_dim"].max(), 1))
        bar = fig.colorbar(mappable, ax=axes[r, 0], ticks=range(top + 1), shrink=0.9, pad=0.02)
        bar.set_label("factors restricted")
        _limits(axes[r, 1], box, d, x)
    lines = [d.sentence(b) for b in d.boxes] or [f"{d.condition()}: no box found"]
    head = f"Scenario discovery (PRIM): {d.of_interest} of {d.cases} {d.on} have {d.condition()}"
    wrapped = "\n".join(textwrap.fill(t, 130) for t in [head, *lines])
    fig.suptitle(wrapped, fontsize=9.5, x=0.02, ha="left")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for target in (path, path.with_suffix(".svg")):
        tmp = target.with_name(f"_{target.stem}.tmp{target.suffix}")
        fig.savefig(tmp, dpi=130, bbox_inches="tight")
        tmp.replace(target)
        written.append(target)
    plt.close(fig)
    return written
