"""Incident-density maps of several scenarios side by side, on one colour scale.

Why one figure with one colour bar: maps drawn one per scenario, each with its own colour scale,
make a scenario with 89 % fewer incidents look as red as the baseline. Here every panel uses the
same bins, the same colour scale (from zero to the highest density of any panel) and one colour
bar, and each panel's title gives its incidents per replicate, so the eye compares like with like.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.analysis import maps
from sim.analysis.style import slide_style
from sim.terrain.builder import Terrain

#: Yellow-orange-red without its palest end, so the lowest density still stands out from the
#: grey relief.
CMAP = ListedColormap(colormaps["YlOrRd"](np.linspace(0.18, 1.0, 256)), name="YlOrRd_visible")


@dataclass(frozen=True)
class DensityPanel:
    """One scenario's map: its terrain, its incidents and how many replicates produced them."""

    title: str
    terrain: Terrain
    incidents: pd.DataFrame
    replicates: int


def density_grid(terrain: Terrain, incidents: pd.DataFrame, replicates: int,
                 bin_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x edges, y edges, incidents per km^2 per replicate) on ``bin_km`` squares."""
    x0, x1, y0, y1 = terrain.extent_km
    xe = np.arange(x0, x1 + bin_km * 0.999, bin_km)
    ye = np.arange(y0, y1 + bin_km * 0.999, bin_km)
    counts, _, _ = np.histogram2d(incidents["x_km"].to_numpy(float),
                                  incidents["y_km"].to_numpy(float), bins=[xe, ye])  # fmt: skip
    return xe, ye, counts / (bin_km * bin_km) / max(replicates, 1)


def _panel(ax, p: DensityPanel, grid, norm: Normalize):
    xe, ye, density = grid
    maps._hillshade(ax, p.terrain, faint=True)
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_equal(density.T, 0.0), cmap=CMAP, norm=norm,
                         alpha=0.9, zorder=1, shading="flat")  # fmt: skip
    maps._gap_band(ax, p.terrain, filled=False)
    maps._lines(ax, p.terrain)
    for s in p.terrain.settlements:
        if s.kind in ("town", "camp"):
            ax.scatter([s.x_km], [s.y_km], s=maps._marker_size(s.pop) * 0.5,
                       marker="s" if s.kind == "camp" else "o", c="white", edgecolors="black",
                       linewidths=0.8, zorder=8)  # fmt: skip
            name = maps.pretty(s.name) if s.kind == "town" else "camp"
            ax.annotate(name, (s.x_km, s.y_km), xytext=(-6, 0), textcoords="offset points",
                        ha="right", va="center", fontsize=10, zorder=9,
                        path_effects=maps.HALO)  # fmt: skip
    x0, x1, y0, y1 = p.terrain.extent_km
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    per_rep = len(p.incidents) / max(p.replicates, 1)
    noun = "incident" if per_rep == 1 else "incidents"
    ax.set_title(f"{p.title}\n{per_rep:.3g} {noun} per replicate", fontsize=14)
    if not len(p.incidents):
        ax.text(0.5, 0.5, "no incidents", transform=ax.transAxes, ha="center", fontsize=15,
                path_effects=maps.HALO)  # fmt: skip
    return mesh


def plot_density_panels(panels: Sequence[DensityPanel], path: str | Path | None = None, *,
                        bin_km: float = 2.0, days: int | None = None, ncols: int | None = None,
                        dpi: int = 110) -> Figure:
    """All panels on one colour scale with one colour bar (PNG + SVG if ``path``).

    Args:
        ncols: panels per row (default: up to three in a row, else two rows).
    """
    with slide_style():
        grids = [density_grid(p.terrain, p.incidents, p.replicates, bin_km) for p in panels]
        top = max((float(g[2].max()) for g in grids), default=0.0)
        norm = Normalize(vmin=0.0, vmax=top if top > 0 else 1.0)
        if ncols is None:
            ncols = len(panels) if len(panels) <= 3 else math.ceil(len(panels) / 2)
        nrows = math.ceil(len(panels) / ncols)
        x0, x1, y0, y1 = panels[0].terrain.extent_km
        panel_w = 4.2
        panel_h = 0.85 * panel_w * (y1 - y0) / (x1 - x0) + 0.8  # the colour bar takes ~15 %
        fig = Figure(figsize=(panel_w * ncols + 1.6, panel_h * nrows + 1.1), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        mesh = None
        for ax, p, g in zip(axes.flat, panels, grids, strict=False):
            mesh = _panel(ax, p, g, norm)
        for ax in list(axes.flat)[len(panels):]:
            ax.set_visible(False)
        if mesh is not None:
            cb = fig.colorbar(mesh, ax=axes, shrink=0.7, aspect=30)
            cb.set_label(f"incidents per km² per replicate ({bin_km:g} km squares)")
        handles = [Line2D([], [], color=maps.PESH_COLOUR, lw=2.4, label="Peshmerga line"),
                   Line2D([], [], color=maps.IRAQI_COLOUR, lw=2.4, ls=(0, (6, 2)),
                          label="Iraqi line"),
                   Patch(facecolor="none", edgecolor=maps.GAP_COLOUR, hatch="///",
                         label="gap band")]  # fmt: skip
        fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
        horizon = f" over {days} days" if days else ""
        fig.suptitle(f"Where incidents happen{horizon}: one colour scale for every scenario")
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=dpi)
            fig.savefig(path.with_suffix(".svg"))
    return fig
