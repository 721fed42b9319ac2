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
from mesa.visualization.components import AgentPortrayalStyle

from sim.analysis import maps
from sim.app import view
from sim.app.view import INCIDENT_TYPES, IncidentMark, Mark

if TYPE_CHECKING:
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

#: Width of the background picture (inches; the height follows the terrain) and its resolution:
#: 430 px: a map column on a 1280 x 720 projector, so it is shown unscaled and fits the height.
FIG_WIDTH_IN = 4.3
DPI = 100
#: Place names are drawn this much larger than on the report's maps (read from 3 m).
LABEL_SCALE = 1.35


# -- portrayal ---------------------------------------------------------------------------------
def agent_portrayal(mark: Mark) -> AgentPortrayalStyle | None:
    """How each mark is drawn (x, y in km).

    Posts always show; patrols only while out on a route; quick-reaction units only while away
    from their base (triangles); villagers only while out working or driving (at home they sit in
    their village's marker); insurgent cells always, larger with more fighters and faint while
    hiding in their cave.
    """
    common = {"x": mark.x_km, "y": mark.y_km}
    if mark.kind == "villager":
        return AgentPortrayalStyle(**common, color=COMMUNITY_COLOURS.get(mark.community, "#777777"),
                                   marker="o", size=12, zorder=3, alpha=0.9, edgecolors="#333333",
                                   linewidths=0.5, tooltip={"villager": mark.detail})  # fmt: skip
    if mark.kind == "patrol":
        return AgentPortrayalStyle(**common, color=FORCE_COLOURS.get(mark.force, "#444444"),
                                   marker="o", size=55, zorder=5, edgecolors="white",
                                   linewidths=1.2, tooltip={"patrol": f"{FORCE_LABELS.get(
                                       mark.force, mark.force)} {mark.detail}"})  # fmt: skip
    if mark.kind == "quick reaction unit":
        return AgentPortrayalStyle(**common, color=FORCE_COLOURS.get(mark.force, "#444444"),
                                   marker="^", size=70, zorder=5, edgecolors="black",
                                   linewidths=1.0, tooltip={"quick reaction unit": f"{FORCE_LABELS.get(
                                       mark.force, mark.force)} {mark.detail}"})  # fmt: skip
    if mark.kind == "post":
        return AgentPortrayalStyle(**common, color=FORCE_COLOURS.get(mark.force, "#444444"),
                                   marker="s", size=26, zorder=4, edgecolors="white",
                                   linewidths=0.8, tooltip={"post": f"{FORCE_LABELS.get(
                                       mark.force, mark.force)} {mark.detail}"})  # fmt: skip
    if mark.kind == "insurgent cell":
        return AgentPortrayalStyle(**common, color=INSURGENT_COLOUR, marker="X",
                                   size=float(40 + 10 * min(mark.fighters, 20)), zorder=6,
                                   alpha=0.45 if mark.hiding else 1.0, edgecolors="white",
                                   linewidths=1.0, tooltip={"insurgent cell": mark.detail})  # fmt: skip
    return None


def incident_styles(incidents: Sequence[IncidentMark], today: int) -> list[AgentPortrayalStyle]:
    """Incidents of the last ``RECENT_DAYS`` days (up to ``today``), fading with age."""
    out = []
    for inc in incidents:
        colour, marker = INCIDENT_STYLE.get(inc.type, ("#000000", "o"))
        age = today - inc.day
        out.append(
            AgentPortrayalStyle(
                x=inc.x_km, y=inc.y_km, color=colour, marker=marker, size=90, zorder=7,
                alpha=1.0 - 0.6 * age / max(RECENT_DAYS - 1, 1), edgecolors="white",
                linewidths=1.0,
                tooltip={
                    "incident": inc.type.replace("_", " "),
                    "when": f"day {inc.day + 1}, {inc.hour:02d}:00",
                    "where": f"{inc.zone.lower()} zone, held by {inc.holder}",
                    "victims": str(inc.victims),
                },
            )
        )  # fmt: skip
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


def legend_items(terrain: Terrain) -> list[tuple[str, str, str, float]]:
    """(label, colour, marker, opacity) of everything on the map, for the page's own legend
    (HTML text stays readable on a projector, unlike a legend drawn into the picture)."""
    items = [(f"{FORCE_LABELS[f]} post (square) / patrol (circle)", c, "s", 1.0)
             for f, c in FORCE_COLOURS.items()]  # fmt: skip
    items += [("quick-reaction unit on its way (triangle, its force's colour)", "#777777", "^", 1.0),
              ("insurgent cell (larger: more fighters)", INSURGENT_COLOUR, "X", 1.0),
              ("... hiding in its cave", INSURGENT_COLOUR, "X", 0.45),
              ("Kurdish villagers out working or driving", COMMUNITY_COLOURS["kurd"], "o", 1.0),
              ("Arab villagers out working or driving", COMMUNITY_COLOURS["sunni_arab"], "o", 1.0)]  # fmt: skip
    items += [(f"{kind.replace('_', ' ')} (last {RECENT_DAYS} days)", colour, marker, 1.0)
              for kind, (colour, marker) in INCIDENT_STYLE.items()]  # fmt: skip
    line = [("Peshmerga line", maps.PESH_COLOUR, "line", 1.0),
            ("Iraqi line", maps.IRAQI_COLOUR, "dash", 1.0)]
    if terrain.gap_width_km > 0:
        line.append((f"the gap ({terrain.gap_width_km:g} km)", maps.GAP_COLOUR, "hatch", 1.0))
    return line + items


def legend_html(terrain: Terrain) -> str:
    """The legend as HTML: a small SVG symbol and plain words per item."""
    parts = []
    for label, colour, marker, alpha in legend_items(terrain):
        if marker == "line":
            sym = f'<line x1="1" y1="9" x2="17" y2="9" stroke="{colour}" stroke-width="3"/>'
        elif marker == "dash":
            sym = (f'<line x1="1" y1="9" x2="17" y2="9" stroke="{colour}" stroke-width="3" '
                   'stroke-dasharray="5 2"/>')  # fmt: skip
        elif marker == "hatch":
            sym = (f'<rect x="1" y="3" width="16" height="12" fill="{colour}" fill-opacity="0.25" '
                   f'stroke="{colour}"/>')  # fmt: skip
        else:
            style = AgentPortrayalStyle(x=0, y=0, color=colour, marker=marker, size=70,
                                        alpha=alpha, edgecolors="white", linewidths=1.0)
            sym = _shape(style, 9.0, 9.0, 1.0)
        parts.append(f'<span class="gapsim-legend-item"><svg width="18" height="18" '
                     f'viewBox="0 0 18 18">{sym}</svg> {html.escape(label)}</span>')  # fmt: skip
    return "".join(parts)


def render_background(terrain: Terrain, key: str = "") -> Background:
    """Draw the terrain, gap band, lines, features and place names once, as a PNG sized to be
    shown without scaling (``FIG_WIDTH_IN`` x ``DPI`` pixels wide), labels at projector size."""
    x0, x1, y0, y1 = terrain.extent_km
    aspect = (y1 - y0) / (x1 - x0)
    fig = Figure(figsize=(FIG_WIDTH_IN, FIG_WIDTH_IN * aspect), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    maps._hillshade(ax, terrain)
    maps._gap_band(ax, terrain)
    maps._features(ax, terrain)
    maps._lines(ax, terrain)
    maps._settlements(ax, terrain)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    items = [(text, x, y, {**style, "fontsize": style.get("fontsize", 9) * LABEL_SCALE})
             for text, x, y, style in maps._label_items(terrain, minimal=True)]  # fmt: skip
    maps._place_labels(fig, ax, items, maps._obstacles(terrain))
    bar_x, bar_y = x0 + 0.05 * (x1 - x0), y0 + 0.03 * (y1 - y0)
    ax.plot([bar_x, bar_x + 10], [bar_y, bar_y], color="black", lw=3, solid_capstyle="butt")
    ax.text(bar_x + 5, bar_y + 0.012 * (y1 - y0), "10 km", ha="center", va="bottom",
            fontsize=12, path_effects=maps.HALO)  # fmt: skip
    ax.annotate("N", xy=(0.94, 0.97), xytext=(0.94, 0.90), xycoords="axes fraction",
                ha="center", va="center", fontsize=14, fontweight="bold",
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5})  # fmt: skip
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


def frame_styles(model: Any) -> list[AgentPortrayalStyle]:
    """Every style of one frame: the model's marks and its recent incidents (via ``view``)."""
    styles = [st for st in (agent_portrayal(m) for m in view.marks(model)) if st is not None]
    styles.extend(incident_styles(view.recent_incidents(model, RECENT_DAYS), view.day_shown(model)))
    return styles


def count_kinds(styles: Sequence[AgentPortrayalStyle]) -> dict[str, int]:
    """How many markers of each kind a frame holds (keys of the tooltips)."""
    out: dict[str, int] = {}
    for s in styles:
        kind = next(iter(s.tooltip)) if s.tooltip else "other"
        out[kind] = out.get(kind, 0) + 1
    return out
