"""Map figures of the terrain, the two lines and the gap band, with optional incidents.

Why: workshops read the model through maps first ("where is the gap, where do things happen").
These functions draw a :class:`~sim.terrain.Terrain` (fresh or loaded from a run's
``terrain.npz``) with matplotlib's object API on the Agg canvas: no pyplot state, no windows, safe in
worker processes and tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LightSource, LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon
from matplotlib.transforms import Bbox

from sim.terrain.builder import Terrain

# Okabe-Ito colours (colour-blind safe) and map styling.
PESH_COLOUR = "#009E73"
IRAQI_COLOUR = "#D55E00"
GAP_COLOUR = "#E69F00"
RIVER_COLOUR = "#3A8FD0"
ROAD_COLOUR = "#404040"
TRUFFLE_COLOUR = "#CC79A7"
PMF_COLOUR = "#8B1A1A"
KURD_COLOUR = "#0072B2"
ARAB_COLOUR = "#F0E442"
MIXED_COLOUR = "#BBBBBB"
#: Incident types cycle through these (chosen to differ from the line and feature colours).
INCIDENT_COLOURS = (
    "#1F1F1F",
    "#56B4E9",
    "#7B3294",
    "#E7298A",
    "#66A61E",
    "#A6761D",
    "#1B9E77",
    "#E6AB02",
)
INCIDENT_MARKERS = ("o", "s", "D", "v", "P", "X", "h", "*")
TERRAIN_CMAP = LinearSegmentedColormap.from_list(
    "qarachogh", ["#efe9d2", "#e2d6ae", "#cbb68a", "#a88f6a", "#8a7560", "#d9d2c8"]
)
HALO = [patheffects.withStroke(linewidth=3, foreground="white")]
#: Label directions tried in order (unit steps in points; scaled by the marker radius).
LABEL_DIRECTIONS = ((1, 0), (1, 1), (1, -1), (-1, 0), (-1, 1), (-1, -1), (0, 1), (0, -1))


def pretty(name: str) -> str:
    """Display form of a config name: ``gali_manjalan`` -> ``Gali Manjalan``."""
    return name.replace("_", " ").title().replace("Al ", "al-")


def _new_figure(figsize: tuple[float, float]) -> tuple[Figure, Any]:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _extend(line: np.ndarray, km: float) -> np.ndarray:
    """Continue a polyline straight beyond both ends (the axes clip it)."""
    if len(line) < 2:
        return line
    d0 = line[0] - line[1]
    d1 = line[-1] - line[-2]
    d0 = d0 / max(float(np.hypot(*d0)), 1e-9)
    d1 = d1 / max(float(np.hypot(*d1)), 1e-9)
    return np.vstack([line[0] + km * d0, line, line[-1] + km * d1])


def _hillshade(ax: Any, terrain: Terrain, *, faint: bool = False) -> None:
    """Shaded relief of ``elevation_m`` (NW light), drawn under everything else."""
    elev = np.flipud(np.asarray(terrain.layers["elevation_m"], dtype=float).T)
    cell_m = terrain.cell_km * 1000.0
    ls = LightSource(azdeg=300, altdeg=40)
    if faint:
        shade = ls.hillshade(elev, vert_exag=2.0, dx=cell_m, dy=cell_m)
        ax.imshow(
            shade,
            cmap="gray",
            vmin=-0.3,
            vmax=1.2,
            alpha=0.45,
            extent=terrain.extent_km,
            origin="upper",
            zorder=0,
        )
        return
    rgb = ls.shade(
        elev,
        cmap=TERRAIN_CMAP,
        blend_mode="overlay",
        vert_exag=1.5,
        dx=cell_m,
        dy=cell_m,
        vmin=float(np.percentile(elev, 1)),
        vmax=float(elev.max()),
    )
    ax.imshow(rgb, extent=terrain.extent_km, origin="upper", zorder=0, interpolation="bilinear")
    x, y = _centres(terrain)
    raw = np.asarray(terrain.layers["elevation_m"], dtype=float).T
    levels = np.arange(np.ceil(raw.min() / 100) * 100, raw.max(), 100)
    if len(levels):
        ax.contour(
            x, y, raw, levels=levels, colors="#5b4a36", linewidths=0.35, alpha=0.45, zorder=1
        )


def _gap_band(ax: Any, terrain: Terrain, *, filled: bool = True) -> None:
    if terrain.gap_width_km <= 0 or len(terrain.pesh_line_km) < 2:
        return
    pesh = _extend(terrain.pesh_line_km, 100.0)
    iraqi = _extend(terrain.iraqi_line_km, 100.0)
    band = np.vstack([pesh, iraqi[::-1]])
    face = (*_rgb(GAP_COLOUR), 0.18 if filled else 0.0)
    ax.add_patch(
        Polygon(
            band,
            closed=True,
            facecolor=face,
            edgecolor=GAP_COLOUR,
            hatch="///",
            linewidth=0,
            zorder=2,
        )
    )


def _rgb(colour: str) -> tuple[float, float, float]:
    colour = colour.lstrip("#")
    return tuple(int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def _lines(ax: Any, terrain: Terrain) -> None:
    for line, colour, style in (
        (terrain.pesh_line_km, PESH_COLOUR, "-"),
        (terrain.iraqi_line_km, IRAQI_COLOUR, (0, (6, 2))),
    ):
        if len(line) >= 2:
            ax.plot(
                *line.T,
                color=colour,
                lw=2.4,
                ls=style,
                zorder=6,
                path_effects=[patheffects.withStroke(linewidth=4.2, foreground="white")],
            )


def _features(ax: Any, terrain: Terrain) -> None:
    """River, roads, truffle grounds, PMF sector and caves."""
    for poly_name, poly in terrain.polygons_km.items():
        if poly_name == "pmf_sector":
            continue
        ax.add_patch(
            Polygon(
                poly,
                closed=True,
                facecolor=(*_rgb(TRUFFLE_COLOUR), 0.22),
                edgecolor=TRUFFLE_COLOUR,
                hatch="..",
                lw=1.0,
                zorder=3,
            )
        )
    pmf = np.asarray(terrain.layers["pmf_sector"])
    if pmf.any():
        x, y = _centres(terrain)
        ax.contourf(
            x,
            y,
            pmf.T.astype(float),
            levels=[0.5, 1.5],
            colors=[PMF_COLOUR],
            alpha=0.07,
            zorder=1.5,
        )
        ax.contour(
            x,
            y,
            pmf.T.astype(float),
            levels=[0.5],
            colors=[PMF_COLOUR],
            linewidths=1.4,
            linestyles=[(0, (1, 1.5))],
            zorder=4,
        )
    for line in terrain.rivers_km.values():
        if len(line) >= 2:
            ax.plot(*line.T, color=RIVER_COLOUR, lw=3.0, solid_capstyle="round", zorder=4)
    drawn: set[str] = set()
    for road in terrain.roads:
        base = road.name.split("#")[0]
        if base in drawn:
            continue
        drawn.add(base)
        style = (0, (2, 1.5)) if "pass" in base else "-"
        ax.plot(
            *road.polyline_km.T,
            color=ROAD_COLOUR,
            lw=1.3,
            ls=style,
            zorder=5,
            path_effects=[patheffects.withStroke(linewidth=2.6, foreground="#f5f0e0")],
        )
    if len(terrain.caves):
        cx, cy = terrain.to_km(terrain.caves[:, 0], terrain.caves[:, 1])
        ax.scatter(
            cx, cy, marker="^", s=16, c="#1a1a1a", edgecolors="white", linewidths=0.4, zorder=7
        )


def _centres(terrain: Terrain) -> tuple[np.ndarray, np.ndarray]:
    g = terrain.grid
    return g.x_centres_km, g.y_centres_km


def _settlement_colour(kurd: float, arab: float) -> str:
    if kurd >= 0.6:
        return KURD_COLOUR
    if arab >= 0.6:
        return ARAB_COLOUR
    return MIXED_COLOUR


def _marker_size(pop: float) -> float:
    return 10.0 + 2.0 * float(np.sqrt(max(pop, 0.0)))


def _settlements(ax: Any, terrain: Terrain) -> None:
    for s in sorted(terrain.settlements, key=lambda s: -s.pop):
        marker = "s" if s.kind == "camp" else "o"
        ax.scatter(
            [s.x_km],
            [s.y_km],
            s=_marker_size(s.pop),
            marker=marker,
            c=_settlement_colour(s.kurd, s.sunni_arab),
            edgecolors="black",
            linewidths=0.8,
            zorder=8,
        )


def _obstacles(terrain: Terrain, scale: float = 1.0) -> list[tuple[float, float, float]]:
    """Settlement markers and named places as ``(x, y, radius_pt)`` for label placement."""
    out = [
        (s.x_km, s.y_km, float(np.sqrt(_marker_size(s.pop) * scale)) / 2)
        for s in terrain.settlements
    ]
    names = {s.name for s in terrain.settlements}
    out += [(x, y, 2.0) for n, (x, y) in terrain.places.items() if n not in names]
    return out


def _label_items(
    terrain: Terrain, minimal: bool = False
) -> list[tuple[str, float, float, dict[str, Any]]]:
    """(text, x, y, style) in priority order: towns, camp, villages, groups, places."""
    items: list[tuple[str, float, float, dict[str, Any]]] = []
    groups: dict[str, list[tuple[float, float]]] = {}
    in_settlements = {s.name for s in terrain.settlements}
    for s in sorted(terrain.settlements, key=lambda s: -s.pop):
        if s.group:
            groups.setdefault(s.group, []).append((s.x_km, s.y_km))
            continue
        if minimal and s.kind == "village":
            continue
        size = 10 if s.kind in ("town", "camp") else 8.5
        weight = "bold" if s.kind in ("town", "camp") else "normal"
        items.append((pretty(s.name), s.x_km, s.y_km, {"fontsize": size, "fontweight": weight}))
    for group, pts in groups.items():
        gx, gy = np.mean(pts, axis=0)
        items.append(
            (
                f"{pretty(group)} villages",
                float(gx),
                float(gy),
                {"fontsize": 9, "fontstyle": "italic"},
            )
        )
    if not minimal:
        for name, (x, y) in terrain.places.items():
            if name not in in_settlements:
                items.append(
                    (pretty(name), x, y, {"fontsize": 8, "fontstyle": "italic", "color": "#3d2b1f"})
                )
    return items


def _place_labels(
    fig: Figure,
    ax: Any,
    items: Sequence[tuple[str, float, float, dict[str, Any]]],
    obstacles: Iterable[tuple[float, float, float]],
) -> None:
    """Greedy label placement around each point; keeps the first spot that overlaps nothing.

    Args:
        fig, ax: the figure and its map axes (limits already set).
        items: ``(text, x_km, y_km, text style)`` in priority order.
        obstacles: ``(x_km, y_km, radius_pt)`` markers that labels should not cover.
    """
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    to_disp = ax.transData.transform
    px_per_pt = fig.dpi / 72.0
    markers: list[tuple[np.ndarray, float]] = []
    placed: list[Bbox] = []
    for ox, oy, r_pt in obstacles:
        c = to_disp((ox, oy))
        r = max(r_pt, 2.0) * px_per_pt
        markers.append((c, r_pt))
        placed.append(Bbox.from_extents(c[0] - r, c[1] - r, c[0] + r, c[1] + r))
    ax_box = ax.get_window_extent(renderer)
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    for text, x, y, style in items:
        if not (xlim[0] <= x <= xlim[1] and ylim[0] <= y <= ylim[1]):
            continue
        c = to_disp((x, y))
        own_r = max((r for m, r in markers if np.hypot(*(m - c)) < 1.0), default=2.0)
        others = [b for b in placed if not b.contains(*c)]
        chosen = None
        for ux, uy in LABEL_DIRECTIONS:
            gap_pt = own_r + 2.5
            art = ax.annotate(
                text,
                (x, y),
                xytext=(ux * gap_pt, uy * gap_pt),
                textcoords="offset points",
                ha="left" if ux > 0 else "right" if ux < 0 else "center",
                va="bottom" if uy > 0 else "top" if uy < 0 else "center",
                path_effects=HALO,
                zorder=9,
                **style,
            )
            box = art.get_window_extent(renderer)
            inside = ax_box.contains(box.x0, box.y0) and ax_box.contains(box.x1, box.y1)
            if inside and not any(box.overlaps(b) for b in others):
                chosen = box
                break
            art.remove()
        if chosen is None:  # everything collides: use the first spot anyway
            art = ax.annotate(
                text,
                (x, y),
                xytext=(own_r + 2.5, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                path_effects=HALO,
                zorder=9,
                **style,
            )
            chosen = art.get_window_extent(renderer)
        placed.append(chosen)


def _legend_handles(terrain: Terrain) -> list[Any]:
    h: list[Any] = [
        Line2D([], [], color=PESH_COLOUR, lw=2.4, label="Peshmerga line"),
        Line2D([], [], color=IRAQI_COLOUR, lw=2.4, ls=(0, (6, 2)), label="Iraqi line"),
    ]
    if terrain.gap_width_km > 0:
        h.append(
            Patch(
                facecolor=(*_rgb(GAP_COLOUR), 0.18),
                edgecolor=GAP_COLOUR,
                hatch="///",
                label=f"gap band ({terrain.gap_width_km:g} km)",
            )
        )
    if np.asarray(terrain.layers["pmf_sector"]).any():
        h.append(
            Patch(
                facecolor=(*_rgb(PMF_COLOUR), 0.07),
                edgecolor=PMF_COLOUR,
                ls=(0, (1, 1.5)),
                label="PMF sector (plain)",
            )
        )
    if any(n != "pmf_sector" for n in terrain.polygons_km):
        h.append(
            Patch(
                facecolor=(*_rgb(TRUFFLE_COLOUR), 0.22),
                edgecolor=TRUFFLE_COLOUR,
                hatch="..",
                label="truffle grounds",
            )
        )
    h += [
        Line2D([], [], color=ROAD_COLOUR, lw=1.3, label="road"),
        Line2D([], [], color=ROAD_COLOUR, lw=1.3, ls=(0, (2, 1.5)), label="ridge pass road"),
        Line2D([], [], color="#5b4a36", lw=0.5, alpha=0.6, label="100 m contours"),
    ]
    if terrain.rivers_km:
        h.append(Line2D([], [], color=RIVER_COLOUR, lw=3.0, label="river (Great Zab)"))
    if len(terrain.caves):
        h.append(
            Line2D(
                [],
                [],
                marker="^",
                ls="",
                color="#1a1a1a",
                markeredgecolor="white",
                ms=6,
                label=f"cave ({len(terrain.caves)})",
            )
        )
    for colour, label in (
        (KURD_COLOUR, "Kurdish-majority"),
        (ARAB_COLOUR, "Sunni Arab-majority"),
        (MIXED_COLOUR, "mixed"),
    ):
        h.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                markerfacecolor=colour,
                markeredgecolor="black",
                ms=8,
                label=f"settlement, {label}",
            )
        )
    if any(s.kind == "camp" for s in terrain.settlements):
        h.append(
            Line2D(
                [],
                [],
                marker="s",
                ls="",
                markerfacecolor=KURD_COLOUR,
                markeredgecolor="black",
                ms=9,
                label="refugee camp (own security)",
            )
        )
    for pop in (300, 3000, 20000):
        h.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                markerfacecolor="white",
                markeredgecolor="black",
                ms=float(np.sqrt(_marker_size(pop))),
                label=f"pop. {pop:,}",
            )
        )
    return h


def _axes_style(ax: Any, terrain: Terrain) -> None:
    x0, x1, y0, y1 = terrain.extent_km
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xlabel("x (km east of Makhmour town)")
    ax.set_ylabel("y (km north of Makhmour town)")
    ax.grid(True, color="white", alpha=0.35, lw=0.5)
    ax.annotate(
        "N",
        xy=(0.965, 0.975),
        xytext=(0.965, 0.915),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=11,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5},
    )


def _save(fig: Figure, path: str | Path | None) -> None:
    if path is not None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=150)


def _incident_types(incidents: pd.DataFrame) -> list[str]:
    return sorted(str(t) for t in pd.unique(incidents["type"].astype(str)))


def _check_incidents(incidents: pd.DataFrame) -> pd.DataFrame:
    missing = {"x_km", "y_km", "type"} - set(incidents.columns)
    if missing:
        raise ValueError(f"incidents need columns x_km, y_km, type; missing {sorted(missing)}")
    return incidents


def plot_terrain_map(
    terrain: Terrain,
    path: str | Path | None = None,
    *,
    incidents: pd.DataFrame | None = None,
    title: str | None = None,
) -> Figure:
    """The terrain map: shaded ridge, gap band, both lines, roads, river, caves, settlements.

    Args:
        terrain: the terrain to draw.
        path: if given, save a PNG there (parent folders are created).
        incidents: optional table with ``x_km``, ``y_km`` and ``type`` columns, drawn as dots
            coloured by type.
        title: figure title (a default names the gap width and cell size).

    Returns:
        The matplotlib figure (Agg canvas; close it with ``fig.clear()`` or let it be collected).
    """
    fig, ax = _new_figure((11.0, 10.5))
    _hillshade(ax, terrain)
    _gap_band(ax, terrain)
    _features(ax, terrain)
    _lines(ax, terrain)
    _settlements(ax, terrain)
    handles = _legend_handles(terrain)
    if incidents is not None and len(incidents):
        incidents = _check_incidents(incidents)
        for i, kind in enumerate(_incident_types(incidents)):
            sel = incidents["type"].astype(str) == kind
            colour = INCIDENT_COLOURS[i % len(INCIDENT_COLOURS)]
            marker = INCIDENT_MARKERS[i % len(INCIDENT_MARKERS)]
            ax.scatter(
                incidents.loc[sel, "x_km"],
                incidents.loc[sel, "y_km"],
                s=18,
                c=colour,
                marker=marker,
                edgecolors="white",
                linewidths=0.4,
                alpha=0.9,
                zorder=8.5,  # above the settlement markers: incidents at a village stay visible
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    marker=marker,
                    ls="",
                    markerfacecolor=colour,
                    markeredgecolor="white",
                    ms=6,
                    label=f"incident: {kind.replace('_', ' ')} ({int(sel.sum())})",
                )
            )
    _axes_style(ax, terrain)
    _place_labels(fig, ax, _label_items(terrain), _obstacles(terrain))
    fig.legend(handles=handles, loc="outside right upper", fontsize=8.5, frameon=False)
    cell_m = terrain.cell_km * 1000
    ax.set_title(
        title
        or f"Makhmour and Mount Qarachogh: {terrain.gap_width_km:g} km gap between the Peshmerga "
        f"and Iraqi lines\n(terrain '{terrain.name}', {cell_m:g} m cells, shaded relief, [EST] geometry)",
        fontsize=11,
    )
    _save(fig, path)
    return fig


def plot_incident_density(
    terrain: Terrain,
    incidents: pd.DataFrame,
    path: str | Path | None = None,
    title: str | None = None,
    *,
    bin_km: float = 2.0,
    replicates: int | None = None,
) -> Figure:
    """Incidents per km^2 on a ``bin_km`` grid over a faint terrain backdrop with the lines.

    The density is averaged over ``replicates`` (default: the replicates that appear in a
    ``replicate`` column, which undercounts when some replicates had no incident: pass the
    run's replicate count). Several scenarios side by side: ``sim.analysis.density``.

    Args:
        terrain: the terrain the incidents happened on.
        incidents: table with ``x_km``, ``y_km``, ``type`` (and optionally ``replicate``).
        replicates: how many replicates produced ``incidents``.
        path: if given, save a PNG there (parent folders are created).
        title: figure title.
        bin_km: side of the histogram bins.

    Returns:
        The matplotlib figure.
    """
    incidents = _check_incidents(incidents)
    fig, ax = _new_figure((9.5, 10.5))
    _hillshade(ax, terrain, faint=True)
    x0, x1, y0, y1 = terrain.extent_km
    xe = np.arange(x0, x1 + bin_km * 0.999, bin_km)
    ye = np.arange(y0, y1 + bin_km * 0.999, bin_km)
    counts, _, _ = np.histogram2d(
        incidents["x_km"].to_numpy(float), incidents["y_km"].to_numpy(float), bins=[xe, ye]
    )
    n_rep = replicates or (
        int(incidents["replicate"].nunique())
        if "replicate" in incidents.columns and len(incidents)
        else 1
    )
    density = counts / (bin_km * bin_km) / max(n_rep, 1)
    masked = np.ma.masked_equal(density.T, 0.0)
    mesh = ax.pcolormesh(
        xe,
        ye,
        masked,
        cmap="YlOrRd",
        alpha=0.85,
        zorder=1,
        shading="flat",
        vmin=0.0,
        vmax=float(density.max()) if density.max() > 0 else 1.0,
    )
    unit = "incidents per km² per replicate" if n_rep > 1 else "incidents per km²"
    fig.colorbar(mesh, ax=ax, shrink=0.6, label=f"{unit} ({bin_km:g} km bins)")
    _gap_band(ax, terrain, filled=False)
    _lines(ax, terrain)
    for line in terrain.rivers_km.values():
        if len(line) >= 2:
            ax.plot(*line.T, color=RIVER_COLOUR, lw=2.0, zorder=4)
    for s in terrain.settlements:
        ax.scatter(
            [s.x_km],
            [s.y_km],
            s=_marker_size(s.pop) * 0.5,
            marker="s" if s.kind == "camp" else "o",
            c="white",
            edgecolors="black",
            linewidths=0.7,
            zorder=8,
        )
    _axes_style(ax, terrain)
    if not len(incidents):
        ax.text(
            0.5,
            0.5,
            "no incidents",
            transform=ax.transAxes,
            ha="center",
            fontsize=14,
            path_effects=HALO,
        )
    _place_labels(fig, ax, _label_items(terrain, minimal=True), _obstacles(terrain, scale=0.5))
    handles = [
        Line2D([], [], color=PESH_COLOUR, lw=2.4, label="Peshmerga line"),
        Line2D([], [], color=IRAQI_COLOUR, lw=2.4, ls=(0, (6, 2)), label="Iraqi line"),
    ]
    if terrain.gap_width_km > 0:
        handles.append(Patch(facecolor="none", edgecolor=GAP_COLOUR, hatch="///", label="gap band"))
    ax.legend(handles=handles, loc="lower left", fontsize=8.5, framealpha=0.9)
    total = len(incidents)
    ax.set_title(
        title
        or f"Incident density ({total:,} incidents"
        + (f", {n_rep} replicates)" if n_rep > 1 else ")")
        + f", gap {terrain.gap_width_km:g} km",
        fontsize=11,
    )
    _save(fig, path)
    return fig
