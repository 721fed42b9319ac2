"""The dashboard map: a static terrain picture drawn once, live agents drawn over it as SVG.

Why two layers: the shaded relief, contours, labels and legend take a second or more to draw with
matplotlib, and they depend only on the terrain and the gap width. So they are rendered once per
terrain (cached in this process, reused by every session) and sent to the browser once. Each frame
then sends only a small SVG with the agents and recent incidents, placed over the picture in the
picture's own pixel coordinates, so the two layers line up at any display size. Redrawing a large
matplotlib figure per step is what makes Mesa dashboards slow (Mesa #1806, #2701); here a frame is
one Python pass over a few hundred agents and a few string joins, never a loop over grid cells.

Agents are styled with Mesa's ``AgentPortrayalStyle`` (``agent_portrayal``); the SVG writer turns
those styles into shapes, so the look stays declared in the Mesa way.
"""

from __future__ import annotations

import base64
import html
import io
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from mesa.visualization.components import AgentPortrayalStyle

from sim.analysis import maps
from sim.model.forces import Outpost, Patrol
from sim.model.insurgents import MODE_NAMES, InsurgentCell
from sim.model.recorder import INCIDENT_TYPES
from sim.model.villagers import Villager

if TYPE_CHECKING:
    from sim.model.model import SecurityGapModel
    from sim.terrain.builder import Terrain

#: Colour of each force's posts and patrols (the first two match the lines on the map).
FORCE_COLOURS: dict[str, str] = {
    "PESH": maps.PESH_COLOUR,
    "IA": maps.IRAQI_COLOUR,
    "PMF": maps.PMF_COLOUR,
    "JOINT": "#6A3D9A",
}
FORCE_LABELS: dict[str, str] = {
    "PESH": "Peshmerga",
    "IA": "Iraqi Army",
    "PMF": "PMF",
    "JOINT": "joint unit",
}
COMMUNITY_COLOURS: dict[str, str] = {"kurd": maps.KURD_COLOUR, "sunni_arab": maps.ARAB_COLOUR}
INSURGENT_COLOUR = "#111111"
#: Incidents stay on the map this many days (today included), fading with age.
RECENT_DAYS = 7
#: Marker and colour of each incident type (fixed order, so the legend can be static).
_INCIDENT_MARKERS = tuple(m for m in maps.INCIDENT_MARKERS if m != "X")  # X marks insurgent cells
INCIDENT_STYLE: dict[str, tuple[str, str]] = {
    kind: (
        maps.INCIDENT_COLOURS[i % len(maps.INCIDENT_COLOURS)],
        _INCIDENT_MARKERS[i % len(_INCIDENT_MARKERS)],
    )
    for i, kind in enumerate(INCIDENT_TYPES)
}

#: Size of the background picture (inches) and its resolution.
FIG_HEIGHT_IN = 6.8
FIG_WIDTH_IN = 8.5
DPI = 100


# -- portrayal ---------------------------------------------------------------------------------
def _cell_km(agent: Any) -> tuple[float, float] | None:
    cell = agent.cell
    if cell is None:
        return None
    x, y = agent.model.terrain.to_km(*cell.coordinate)
    return float(x), float(y)


def agent_portrayal(agent: Any) -> AgentPortrayalStyle | None:
    """How each agent is drawn (x, y in km); None leaves it off the map.

    Outposts always show; patrols only while out on a route; villagers only while out working
    (at home they sit in their village's marker); insurgent cells always, larger with more
    fighters and faint while hiding in their cave.
    """
    if isinstance(agent, Villager):
        if not agent.out:
            return None
        pos = _cell_km(agent)
        if pos is None:
            return None
        return AgentPortrayalStyle(
            x=pos[0],
            y=pos[1],
            color=COMMUNITY_COLOURS[agent.community],
            marker="o",
            size=9,
            zorder=3,
            alpha=0.9,
            edgecolors="#333333",
            linewidths=0.5,
            tooltip={
                "villager": f"{agent.community.replace('_', ' ')} {agent.role.replace('_', ' ')}"
            },
        )
    if isinstance(agent, Patrol):
        if not agent.out:
            return None
        pos = _cell_km(agent)
        if pos is None:
            return None
        return AgentPortrayalStyle(
            x=pos[0],
            y=pos[1],
            color=FORCE_COLOURS.get(agent.force, "#444444"),
            marker="o",
            size=42,
            zorder=5,
            edgecolors="white",
            linewidths=1.2,
            tooltip={"patrol": f"{FORCE_LABELS.get(agent.force, agent.force)} ({agent.kind})"},
        )
    if isinstance(agent, Outpost):
        pos = _cell_km(agent)
        if pos is None:
            return None
        return AgentPortrayalStyle(
            x=pos[0],
            y=pos[1],
            color=FORCE_COLOURS.get(agent.force, "#444444"),
            marker="s",
            size=20,
            zorder=4,
            edgecolors="white",
            linewidths=0.8,
            tooltip={
                "post": FORCE_LABELS.get(agent.force, agent.force)
                + (" (thermal optics)" if agent.thermal else "")
            },
        )
    if isinstance(agent, InsurgentCell):
        pos = _cell_km(agent)
        if pos is None:
            return None
        fighters = agent.fighters
        hiding = agent.mode == MODE_NAMES[0]
        return AgentPortrayalStyle(
            x=pos[0],
            y=pos[1],
            color=INSURGENT_COLOUR,
            marker="X",
            size=float(30 + 9 * min(fighters, 20)),
            zorder=6,
            alpha=0.45 if hiding else 1.0,
            edgecolors="white",
            linewidths=1.0,
            tooltip={
                "insurgent cell": f"{fighters} fighters, {agent.mode}"
                + (f" ({agent.action.replace('_', ' ')})" if not hiding else "")
            },
        )
    return None


def incident_styles(model: SecurityGapModel, today: int) -> list[AgentPortrayalStyle]:
    """Incidents of the last ``RECENT_DAYS`` days (up to ``today``), fading with age."""
    inc = model.recorder.inc
    if not inc["day"]:
        return []
    day = np.asarray(inc["day"], dtype=np.int64)
    recent = np.flatnonzero((day > today - RECENT_DAYS) & (day <= today))
    out = []
    for i in recent:
        kind = inc["type"][i]
        colour, marker = INCIDENT_STYLE.get(kind, ("#000000", "o"))
        age = today - int(day[i])
        hour = int(inc["t_hours"][i] % 24)
        out.append(
            AgentPortrayalStyle(
                x=float(inc["x_km"][i]),
                y=float(inc["y_km"][i]),
                color=colour,
                marker=marker,
                size=70,
                zorder=7,
                alpha=1.0 - 0.6 * age / max(RECENT_DAYS - 1, 1),
                edgecolors="white",
                linewidths=1.0,
                tooltip={
                    "incident": kind.replace("_", " "),
                    "when": f"day {int(day[i])}, {hour:02d}:00",
                    "where": f"{inc['zone'][i]} zone, held by {inc['holder'][i]}",
                    "victims": str(inc["victims"][i]),
                },
            )
        )
    return out


# -- static background ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Background:
    """A rendered terrain picture and how km map onto its pixels (origin top left)."""

    key: str
    gap_width_km: float
    png: bytes
    width_px: int
    height_px: int
    scale_x: float
    offset_x: float
    scale_y: float
    offset_y: float
    axes_px: tuple[float, float, float, float]  # left, top, width, height

    def to_px(self, x_km: Any, y_km: Any) -> tuple[Any, Any]:
        """Image pixel coordinates of points in km."""
        return self.offset_x + self.scale_x * np.asarray(
            x_km
        ), self.offset_y + self.scale_y * np.asarray(y_km)

    @property
    def data_url(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


_CACHE: OrderedDict[str, Background] = OrderedDict()
_CACHE_SIZE = 8
_LOCK = threading.Lock()


def background(terrain: Terrain) -> Background:
    """The cached background of a terrain (one per terrain and gap width, LRU of 8)."""
    key = terrain.key or f"{terrain.name}:{terrain.gap_width_km:g}"
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
        bg = render_background(terrain, key)
        _CACHE[key] = bg
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        return bg


def _feature_handles(terrain: Terrain) -> list[Any]:
    skip = ("pop.", "100 m contours", "ridge pass road")
    return [h for h in maps._legend_handles(terrain) if not str(h.get_label()).startswith(skip)]


def _marker_handle(
    colour: str, marker: str, label: str, ms: float, alpha: float = 1.0, edge: str = "white"
) -> Line2D:
    return Line2D(
        [],
        [],
        marker=marker,
        ls="",
        markerfacecolor=colour,
        markeredgecolor=edge,
        ms=ms,
        alpha=alpha,
        label=label,
    )


def _live_handles() -> list[Any]:
    h: list[Any] = [
        Patch(facecolor=c, edgecolor="white", label=FORCE_LABELS[f])
        for f, c in FORCE_COLOURS.items()
    ]
    grey = "#777777"
    h += [
        _marker_handle(grey, "s", "post (colour = force)", 5.5),
        _marker_handle(grey, "o", "patrol out (colour = force)", 7.5),
        _marker_handle(INSURGENT_COLOUR, "X", "insurgent cell (size = fighters)", 9),
        _marker_handle(INSURGENT_COLOUR, "X", "... hiding in its cave", 9, alpha=0.45),
        _marker_handle(
            COMMUNITY_COLOURS["kurd"], "o", "villagers out working, Kurdish", 4.5, edge="#333333"
        ),
        _marker_handle(
            COMMUNITY_COLOURS["sunni_arab"],
            "o",
            "villagers out working, Sunni Arab",
            4.5,
            edge="#333333",
        ),
    ]
    for kind, (colour, marker) in INCIDENT_STYLE.items():
        h.append(_marker_handle(colour, marker, kind.replace("_", " "), 7.5))
    return h


def render_background(terrain: Terrain, key: str = "") -> Background:
    """Draw the terrain, gap band, lines, features, labels and legends once, as a PNG."""
    fig = Figure(figsize=(FIG_WIDTH_IN, FIG_HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    x0, x1, y0, y1 = terrain.extent_km
    aspect = (x1 - x0) / (y1 - y0)
    bottom, top = 0.07, 0.95
    height = top - bottom
    width = height * FIG_HEIGHT_IN * aspect / FIG_WIDTH_IN
    left = 0.075
    ax = fig.add_axes((left, bottom, width, height))
    maps._hillshade(ax, terrain)
    maps._gap_band(ax, terrain)
    maps._features(ax, terrain)
    maps._lines(ax, terrain)
    maps._settlements(ax, terrain)
    maps._axes_style(ax, terrain)
    ax.tick_params(labelsize=8)
    ax.xaxis.label.set_size(8.5)
    ax.yaxis.label.set_size(8.5)
    cell_m = terrain.cell_km * 1000
    ax.set_title(
        f"gap {terrain.gap_width_km:g} km between the lines  |  terrain '{terrain.name}', "
        f"{cell_m:g} m cells",
        fontsize=9.5,
    )
    maps._place_labels(fig, ax, maps._label_items(terrain), maps._obstacles(terrain))
    legend_x = left + width + 0.02
    first = fig.legend(
        handles=_feature_handles(terrain),
        loc="upper left",
        bbox_to_anchor=(legend_x, top + 0.01),
        fontsize=7.5,
        frameon=False,
        title="Terrain",
        title_fontsize=8.5,
        alignment="left",
    )
    fig.canvas.draw()
    box = first.get_window_extent()
    live_top = box.y0 / fig.bbox.height - 0.01
    fig.legend(
        handles=_live_handles(),
        loc="upper left",
        bbox_to_anchor=(legend_x, live_top),
        fontsize=7.5,
        frameon=False,
        alignment="left",
        title=f"Live (incidents: last {RECENT_DAYS} days)",
        title_fontsize=8.5,
    )
    fig.canvas.draw()
    height_px = int(round(fig.bbox.height))
    width_px = int(round(fig.bbox.width))
    (ax0, ay0), (ax1, ay1) = ax.transData.transform([(x0, y0), (x1, y1)])
    scale_x = (ax1 - ax0) / (x1 - x0)
    scale_y = -(ay1 - ay0) / (y1 - y0)  # image rows grow downwards
    offset_x = ax0 - scale_x * x0
    offset_y = (height_px - ay0) - scale_y * y0
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return Background(
        key=key,
        gap_width_km=float(terrain.gap_width_km),
        png=buf.getvalue(),
        width_px=width_px,
        height_px=height_px,
        scale_x=float(scale_x),
        offset_x=float(offset_x),
        scale_y=float(scale_y),
        offset_y=float(offset_y),
        axes_px=(float(ax0), float(height_px - ay1), float(ax1 - ax0), float(ay1 - ay0)),
    )


# -- SVG overlay ---------------------------------------------------------------------------------
def _star(points: int, inner: float) -> np.ndarray:
    ang = np.pi / 2 + np.arange(2 * points) * np.pi / points
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.column_stack([r * np.cos(ang), -r * np.sin(ang)])


def _plus(arm: float) -> np.ndarray:
    a = arm
    return np.array(
        [
            (-a, -1),
            (a, -1),
            (a, -a),
            (1, -a),
            (1, a),
            (a, a),
            (a, 1),
            (-a, 1),
            (-a, a),
            (-1, a),
            (-1, -a),
            (-a, -a),
        ],
        dtype=float,
    )


def _rotate(pts: np.ndarray, deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return pts @ rot.T


#: Unit outlines (radius about 1, SVG y axis pointing down) of matplotlib's marker codes.
MARKER_SHAPES: dict[str, np.ndarray] = {
    "s": np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], dtype=float) * 0.85,
    "^": np.array([(0, -1.15), (1.05, 0.75), (-1.05, 0.75)]),
    "v": np.array([(0, 1.15), (1.05, -0.75), (-1.05, -0.75)]),
    "D": np.array([(0, -1.1), (1.1, 0), (0, 1.1), (-1.1, 0)]) * 0.9,
    "P": _plus(0.36),
    "X": _rotate(_plus(0.36), 45) * 1.1,
    "*": _star(5, 0.42) * 1.15,
    "h": _rotate(_star(3, 1.0), 0) * 1.0,
}


@lru_cache(maxsize=256)
def _paint(colour: Any) -> tuple[str, float]:
    """(hex colour, its own alpha) of a matplotlib colour spec."""
    rgba = to_rgba(colour)
    return to_hex(rgba, keep_alpha=False), float(rgba[3])


def _tooltip(tip: dict | None) -> str:
    if not tip:
        return ""
    text = "\n".join(f"{k}: {v}" for k, v in tip.items())
    return f"<title>{html.escape(text)}</title>"


def _shape(style: AgentPortrayalStyle, px: float, py: float, pt: float) -> str:
    """One marker as an SVG element (sizes follow matplotlib: ``size`` is the area in pt^2)."""
    r = 0.5 * float(np.sqrt(max(float(style.size or 0.0), 0.0))) * pt
    fill, own_alpha = _paint(style.color if style.color is not None else "tab:blue")
    opacity = own_alpha * (1.0 if style.alpha is None else float(style.alpha))
    attrs = f'fill="{fill}" fill-opacity="{opacity:.2f}"'
    if style.edgecolors is not None and (style.linewidths or 0) > 0:
        edge, _ = _paint(style.edgecolors)
        attrs += (
            f' stroke="{edge}" stroke-opacity="{min(1.0, opacity + 0.2):.2f}"'
            f' stroke-width="{float(style.linewidths) * pt:.2f}"'
        )
    marker = style.marker or "o"
    unit = MARKER_SHAPES.get(marker)
    if unit is None:  # "o" and anything unknown
        body = f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{r:.2f}" {attrs}>'
        return body + _tooltip(style.tooltip) + "</circle>"
    pts = unit * r + (px, py)
    d = "M" + "L".join(f"{a:.1f},{b:.1f}" for a, b in pts) + "Z"
    return f'<path d="{d}" {attrs}>' + _tooltip(style.tooltip) + "</path>"


def overlay_svg(
    bg: Background,
    styles: Iterable[AgentPortrayalStyle],
    *,
    night: bool = False,
    attributes: dict[str, str] | None = None,
) -> str:
    """The live layer as one SVG in the background's pixel frame (scales with the picture).

    Args:
        bg: the background the overlay goes on.
        styles: what to draw; ``x``/``y`` in km.
        night: shade the map area (the forces' and villagers' night).
        attributes: extra attributes on the ``<svg>`` element (e.g. ``data-*`` for tests).
    """
    pt = DPI / 72.0
    items = sorted(
        (s for s in styles if s is not None and s.x is not None and s.y is not None),
        key=lambda s: s.zorder or 0,
    )
    left, top, width, height = bg.axes_px
    parts: list[str] = []
    if night:
        parts.append(
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" '
            f'height="{height:.1f}" fill="#0b1a3a" fill-opacity="0.22"/>'
        )
    if items:
        xs, ys = bg.to_px([s.x for s in items], [s.y for s in items])
        parts.extend(
            _shape(s, float(px), float(py), pt) for s, px, py in zip(items, xs, ys, strict=True)
        )
    extra = "".join(
        f' {k}="{html.escape(str(v), quote=True)}"' for k, v in (attributes or {}).items()
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {bg.width_px} {bg.height_px}" '
        f'preserveAspectRatio="none" style="position:absolute;left:0;top:0;width:100%;'
        f'height:100%" class="gapsim-overlay"{extra}>'
        f'<defs><clipPath id="gapsim-clip"><rect x="{left:.1f}" y="{top:.1f}" '
        f'width="{width:.1f}" height="{height:.1f}"/></clipPath></defs>'
        f'<g clip-path="url(#gapsim-clip)">{"".join(parts)}</g></svg>'
    )


def frame_styles(model: SecurityGapModel, today: int) -> list[AgentPortrayalStyle]:
    """Every style of one frame: agents (Mesa cells brought up to date first) and incidents."""
    model.sync_grid()
    styles: list[AgentPortrayalStyle] = []
    for agent in model.agents:
        style = agent_portrayal(agent)
        if style is not None:
            styles.append(style)
    styles.extend(incident_styles(model, today))
    return styles


def count_kinds(styles: Sequence[AgentPortrayalStyle]) -> dict[str, int]:
    """How many markers of each kind a frame holds (keys of the tooltips)."""
    out: dict[str, int] = {}
    for s in styles:
        kind = next(iter(s.tooltip)) if s.tooltip else "other"
        out[kind] = out.get(kind, 0) + 1
    return out
