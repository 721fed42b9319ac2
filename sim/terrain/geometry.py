"""Vector geometry of the terrain on shapely 2: step two of building a terrain.

Why: the Peshmerga line, the Iraqi line, the gap between them, the control zones, roads, the
river and the truffle grounds are geometric objects before they are cells. Built here as exact
shapely geometries in the local km frame (:mod:`sim.terrain.frame`), they serve the rasters
(:mod:`sim.terrain.raster` samples them at cell centres) and leave the project as they are
(``gapsim export`` writes them to a GeoPackage). This module reads only the validated
:class:`~sim.terrain.spec.TerrainSpec` and the :class:`~sim.terrain.grid.Grid`; it raises a
:class:`~sim.errors.ConfigError` for what only geometry can tell (a gap so wide that the Iraqi
line leaves the map, no road on the map).

Conventions: lines that define zones are *oriented so that NE is on their left* and extended
straight past both ends far beyond the map, so every cell sees the same two sides; the ridge
side of the Peshmerga line is its left. Round joins and buffers use :data:`QUAD_SEGS` segments a
quarter circle, so an arc of radius 6 km is off by less than 0.5 m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import LineString, MultiLineString, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import split

from sim.errors import ConfigError
from sim.terrain.grid import Grid
from sim.terrain.spec import TerrainSpec

#: Segments per quarter circle of round joins and buffers (chord error r * 3e-4).
QUAD_SEGS = 64
#: Width of the probe strips that tell the two sides of a line apart (km).
SIDE_PROBE_KM = 1e-3


@dataclass(frozen=True, eq=False)
class TerrainGeometry:
    """The terrain's vector geometry in km of the local frame.

    Attributes:
        extent: the grid's outer edges.
        pesh_line, iraqi_line: the two lines, extended far beyond the extent (NE on the left).
        ridge_zone, gap_zone, plain_zone: the parts of the extent NE of the Peshmerga line,
            between the lines, and SW of the Iraqi line (exact; ``gap_zone`` is empty at 0 km).
        ridge_axes: each ridge's axis as configured, oriented NE-left, keyed by name.
        roads, rivers: polylines as configured (they may leave the extent).
        truffle_grounds: polygons by name; ``pmf_sector`` the PMF sector outline (or None).
        gap_width_km: distance between the lines.
    """

    extent: Polygon
    pesh_line: LineString
    iraqi_line: LineString
    ridge_zone: BaseGeometry
    gap_zone: BaseGeometry
    plain_zone: BaseGeometry
    ridge_axes: dict[str, LineString]
    roads: dict[str, LineString]
    rivers: dict[str, LineString]
    truffle_grounds: dict[str, Polygon]
    pmf_sector: Polygon | None
    gap_width_km: float

    @property
    def reach_km(self) -> float:
        """How far lines are extended past their ends: twice the extent's diagonal."""
        x0, y0, x1, y1 = self.extent.bounds
        return 2.0 * math.hypot(x1 - x0, y1 - y0)


def build_geometry(spec: TerrainSpec, grid: Grid, gap_width_km: float) -> TerrainGeometry:
    """Lines, zones and features of a validated terrain spec for a gap width.

    Raises:
        ConfigError: a negative or non-finite gap, a gap wide enough to push the Iraqi line off
            the map, a Peshmerga line that misses the map, self-crossing polygons, or no road
            crossing the map.
    """
    gap = _check_gap(gap_width_km)
    x0, x1, y0, y1 = grid.extent_km
    extent = shapely.box(x0, y0, x1, y1)
    reach = 2.0 * math.hypot(x1 - x0, y1 - y0)
    axes = {
        (r.name or f"ridge{i}"): orient_ne_left(LineString(r.axis_km))
        for i, r in enumerate(spec.relief.ridges)
    }
    follow = spec.lines.peshmerga.follow or next(iter(axes))
    pesh = _offset(extend(axes[follow], reach), spec.lines.peshmerga.offset_km)
    if extent.intersection(pesh).length <= 0:
        raise ConfigError(
            "terrain.lines.peshmerga.offset_km",
            spec.lines.peshmerga.offset_km,
            "the Peshmerga line must cross the map (it misses the extent)",
        )
    ridge, rest = sides(extent, pesh)
    iraqi, gap_zone, plain = _iraqi_side(pesh, rest, gap)
    if plain.is_empty:
        limit = max_gap_width_km(pesh, rest)
        raise ConfigError(
            "gap_width_km",
            gap_width_km,
            f"must be below {limit:.1f} km here (wider, the Iraqi line leaves the map)",
        )
    roads = {r.name: LineString(r.polyline_km) for r in spec.roads}
    if not any(extent.intersection(line).length > 0 for line in roads.values()):
        raise ConfigError(
            "terrain.roads",
            list(roads),
            "at least one road must cross the map (drivers and vehicle patrols use roads)",
        )
    truffle = {
        t.name: _polygon(t.polygon_km, f"terrain.truffle_grounds[{i}].polygon_km")
        for i, t in enumerate(spec.truffle_grounds)
    }
    sector = spec.lines.pmf_sector
    return TerrainGeometry(
        extent=extent,
        pesh_line=pesh,
        iraqi_line=iraqi,
        ridge_zone=ridge,
        gap_zone=gap_zone,
        plain_zone=plain,
        ridge_axes=axes,
        roads=roads,
        rivers={r.name: LineString(r.polyline_km) for r in spec.rivers},
        truffle_grounds=truffle,
        pmf_sector=None
        if sector is None
        else _polygon(sector.polygon_km, "terrain.lines.pmf_sector.polygon_km"),
        gap_width_km=gap,
    )


def _check_gap(gap_width_km: float) -> float:
    allowed = "a finite number of km >= 0"
    try:
        gap = float(gap_width_km)
    except (TypeError, ValueError):
        raise ConfigError("gap_width_km", gap_width_km, allowed) from None
    if not math.isfinite(gap):
        raise ConfigError("gap_width_km", gap_width_km, allowed)
    if gap < 0:
        raise ConfigError("gap_width_km", gap_width_km, "must be >= 0 (km)")
    return gap


def orient_ne_left(line: LineString) -> LineString:
    """The line, reversed if needed so that its left normals point (on average) toward NE.

    The sum of the segments' left normals dotted with NE telescopes to ``dx - dy`` between the
    two ends.
    """
    (xa, ya), (xb, yb) = line.coords[0], line.coords[-1]
    return line if (xb - xa) - (yb - ya) >= 0 else line.reverse()


def extend(line: LineString, length_km: float) -> LineString:
    """The line with both end segments continued straight by ``length_km``."""
    pts = np.asarray(line.coords)
    head = pts[0] - _unit(pts[1] - pts[0]) * length_km
    tail = pts[-1] + _unit(pts[-1] - pts[-2]) * length_km
    return LineString(np.vstack([head, pts, tail]))


#: Narrowest gap drawn as a band (km): 1 m, a thousandth of the finest cell.
MIN_GAP_KM = 1e-3


def _unit(v: np.ndarray) -> np.ndarray:
    return v / float(np.hypot(*v))


def _offset(line: LineString, distance_km: float) -> LineString:
    """Parallel line at a signed distance (left positive), round joins, same direction."""
    if distance_km == 0:
        return line
    out = line.offset_curve(distance_km, quad_segs=QUAD_SEGS, join_style="round")
    if isinstance(out, MultiLineString):  # pieces of a trimmed inner corner: keep the longest
        merged = shapely.line_merge(out, directed=True)
        out = merged if isinstance(merged, LineString) else max(merged.geoms, key=_length)
    return out


def _length(g: BaseGeometry) -> float:
    return float(g.length)


def sides(area: Polygon, line: LineString) -> tuple[BaseGeometry, BaseGeometry]:
    """The parts of ``area`` left and right of a line that crosses it (left includes the line).

    Each piece of ``area`` cut by the line is told apart by which thin strip along the line
    (left or right, :data:`SIDE_PROBE_KM` wide) it overlaps.

    A line that misses ``area`` leaves it whole on the side nearer to its representative point.
    """
    left_strip = line.buffer(SIDE_PROBE_KM, single_sided=True)
    right_strip = line.buffer(-SIDE_PROBE_KM, single_sided=True)
    if area.intersection(line).length <= 0:
        p = area.representative_point()
        whole_left = p.distance(left_strip) <= p.distance(right_strip)
        return (area, Polygon()) if whole_left else (Polygon(), area)
    left, right = [], []
    for piece in split(area, line).geoms:
        on_left = piece.intersection(left_strip).area >= piece.intersection(right_strip).area
        (left if on_left else right).append(piece)
    return shapely.union_all(left), shapely.union_all(right)


def _iraqi_side(
    pesh: LineString, sw_side: BaseGeometry, gap: float
) -> tuple[LineString, BaseGeometry, BaseGeometry]:
    """The Iraqi line (``gap`` SW of the Peshmerga line), the gap band and the plain beyond.

    A gap narrower than :data:`MIN_GAP_KM` is no gap: far below a cell, and GEOS cannot buffer by
    distances near the floating-point floor (1e-300 km failed with a vector-size error).
    """
    if gap < MIN_GAP_KM:
        return pesh, Polygon(), sw_side
    band = pesh.buffer(gap, quad_segs=QUAD_SEGS)
    return _offset(pesh, -gap), sw_side.intersection(band), sw_side.difference(band)


def max_gap_width_km(pesh: LineString, sw_side: BaseGeometry, tol_km: float = 0.01) -> float:
    """Largest gap width that keeps part of the plain (behind the Iraqi line) on the map.

    Bisection on whether the SW side reaches farther than the gap from the Peshmerga line; the
    side touches the line, so no point of it lies farther than its bounding box's diagonal.
    """
    if sw_side.is_empty:
        return 0.0
    x0, y0, x1, y1 = sw_side.bounds
    lo, hi = 0.0, math.hypot(x1 - x0, y1 - y0)

    def reaches(g: float) -> bool:
        return not sw_side.difference(pesh.buffer(g, quad_segs=QUAD_SEGS)).is_empty

    while hi - lo > tol_km:
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if reaches(mid) else (lo, mid)
    return lo


def _polygon(corners: list[list[float]], key: str) -> Polygon:
    poly = Polygon(corners)
    if not poly.is_valid or poly.area <= 0:
        reason = shapely.is_valid_reason(poly)
        raise ConfigError(key, corners, f"a simple polygon: edges must not cross ({reason})")
    return poly


def clipped(line: LineString, area: Polygon) -> list[LineString]:
    """The pieces of ``line`` inside ``area``, in the line's own order (empty if none)."""
    part = line.intersection(area)
    if isinstance(part, MultiLineString):
        part = shapely.line_merge(part, directed=True)
    pieces = [g for g in getattr(part, "geoms", [part]) if isinstance(g, LineString)]
    pieces = [p for p in pieces if p.length > 0]
    return sorted(pieces, key=lambda p: line.project(shapely.Point(p.coords[0])))


def longest_piece(line: LineString, area: Polygon) -> np.ndarray:
    """Coordinates ``(n, 2)`` of the longest piece of ``line`` inside ``area`` (``(0, 2)``)."""
    pieces = clipped(line, area)
    if not pieces:
        return np.zeros((0, 2))
    return np.asarray(max(pieces, key=_length).coords)
