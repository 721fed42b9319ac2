"""The terrain and a run's incidents as GeoDataFrames in longitude/latitude (WGS84).

Why: researchers lay simulated incidents over satellite images, district maps and their own
data in QGIS or geopandas. This module turns a :class:`~sim.terrain.terrain.Terrain` (built or
loaded from a run's ``terrain.npz``) and an incidents table into named GeoDataFrames --
``incidents``, ``lines``, ``gap_band``, ``zones``, ``settlements``, ``places``, ``caves``,
``roads``, ``rivers``, ``areas``, ``extent`` -- each in EPSG:4326, which ``gapsim export`` writes
to a GeoPackage. Notebooks can call :func:`terrain_frames` and :func:`incidents_frame` directly.

Geometries are built in the local km frame and then reprojected; straight edges are first cut
into pieces of at most :data:`SEGMENT_KM` so that they stay where they were after reprojection.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import LineString, Point, Polygon

from sim.terrain.frame import WGS84
from sim.terrain.layers import Zone
from sim.terrain.terrain import Terrain

#: Longest straight edge before reprojection (km); lines stay within millimetres of their path.
SEGMENT_KM = 0.1


def incidents_frame(terrain: Terrain, incidents: pd.DataFrame) -> gpd.GeoDataFrame:
    """Incidents as points in WGS84, every column kept, plus ``lon``/``lat`` columns.

    Raises:
        ValueError: when the table has no ``x_km``/``y_km`` columns.
    """
    if not {"x_km", "y_km"} <= set(incidents.columns):
        raise ValueError("the incidents table needs x_km and y_km columns")
    table = _writable(incidents.reset_index(drop=True))
    lon, lat = terrain.to_lonlat(table["x_km"].to_numpy(float), table["y_km"].to_numpy(float))
    table["lon"], table["lat"] = np.atleast_1d(lon), np.atleast_1d(lat)
    return gpd.GeoDataFrame(
        table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=WGS84
    )


def terrain_frames(
    terrain: Terrain, zones: dict[str, Any] | None = None
) -> dict[str, gpd.GeoDataFrame]:
    """The terrain's features as named GeoDataFrames in WGS84.

    Args:
        terrain: the terrain.
        zones: exact zone polygons (``ridge``, ``gap``, ``plain``) in km, when the terrain does
            not carry them (a ``terrain.npz`` written before format 2).
    """
    zones = terrain.zones_km or (zones or {})
    frames = {
        "lines": _lines(terrain),
        "gap_band": _frame(
            [{"gap_width_km": terrain.gap_width_km, "area_km2": _area(zones.get("gap"))}],
            [zones.get("gap") or Polygon()],
        ),
        "zones": _zones(terrain, zones),
        "settlements": _settlements(terrain),
        "places": _frame(
            [{"name": n, "x_km": x, "y_km": y} for n, (x, y) in terrain.places.items()],
            [Point(x, y) for x, y in terrain.places.values()],
        ),
        "caves": _caves(terrain),
        "roads": _roads(terrain),
        "rivers": _frame(
            [{"name": n} for n in terrain.rivers_km],
            [_line(c) for c in terrain.rivers_km.values()],
        ),
        "areas": _frame(
            [
                {"name": n, "kind": "pmf_sector" if n == "pmf_sector" else "truffle_ground"}
                for n in terrain.polygons_km
            ],
            [Polygon(c) for c in terrain.polygons_km.values()],
        ),  # fmt: skip
        "extent": _frame([{"name": terrain.name, "key": terrain.key}], [_box(terrain)]),
    }
    return {name: _to_wgs84(frame, terrain) for name, frame in frames.items()}


def _frame(rows: list[dict[str, Any]], geoms: list[Any]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=list(geoms))


def _to_wgs84(frame: gpd.GeoDataFrame, terrain: Terrain) -> gpd.GeoDataFrame:
    frame = frame.set_crs(terrain.frame.crs, allow_override=True)
    frame = frame.set_geometry(shapely.segmentize(frame.geometry.values, SEGMENT_KM), crs=frame.crs)
    return frame.to_crs(WGS84)


def _area(geom: Any) -> float:
    return float(geom.area) if geom is not None else 0.0


def _box(terrain: Terrain) -> Polygon:
    x0, x1, y0, y1 = terrain.extent_km
    return shapely.box(x0, y0, x1, y1)


def _line(coords: np.ndarray) -> LineString:
    return LineString(coords) if len(coords) >= 2 else LineString()


def _lines(terrain: Terrain) -> gpd.GeoDataFrame:
    rows = [
        {"name": "peshmerga_line", "force": "PESH", "gap_width_km": terrain.gap_width_km},
        {"name": "iraqi_line", "force": "IA", "gap_width_km": terrain.gap_width_km},
    ]
    return _frame(rows, [_line(terrain.pesh_line_km), _line(terrain.iraqi_line_km)])


def _zones(terrain: Terrain, zones: dict[str, Any]) -> gpd.GeoDataFrame:
    """Ridge, gap and plain (exact), the camp (its disc) and the PMF sector (within the plain).

    Zones are named as in the ``zone`` column of the incidents (:class:`Zone` names), so the
    two join directly.
    """
    rows, geoms = [], []
    for name in ("ridge", "gap", "plain"):
        if name in zones:
            rows.append({"zone": Zone[name.upper()].name})
            geoms.append(zones[name])
    camps = [Point(s.x_km, s.y_km).buffer(s.radius_km, quad_segs=32)
             for s in terrain.settlements if s.kind == "camp"]  # fmt: skip
    if camps:
        rows.append({"zone": Zone.CAMP.name})
        geoms.append(shapely.union_all(camps))
    if "pmf_sector" in terrain.polygons_km and "plain" in zones:
        rows.append({"zone": "PMF_SECTOR"})
        geoms.append(Polygon(terrain.polygons_km["pmf_sector"]).intersection(zones["plain"]))
    for row, geom in zip(rows, geoms, strict=True):
        row["area_km2"] = float(geom.area)
    return _frame(rows, geoms)


def _settlements(terrain: Terrain) -> gpd.GeoDataFrame:
    rows = [{f: getattr(s, f) for f in s.__dataclass_fields__} for s in terrain.settlements]
    return _frame(rows, [Point(s.x_km, s.y_km) for s in terrain.settlements])


def _caves(terrain: Terrain) -> gpd.GeoDataFrame:
    ix, iy = terrain.caves[:, 0], terrain.caves[:, 1]
    x, y = terrain.to_km(ix, iy)
    x, y = np.atleast_1d(x), np.atleast_1d(y)
    rows = [
        {"ix": int(a), "iy": int(b), "x_km": float(c), "y_km": float(d)}
        for a, b, c, d in zip(ix, iy, x, y, strict=True)
    ]
    return _frame(rows, [Point(a, b) for a, b in zip(x, y, strict=True)])


def _roads(terrain: Terrain) -> gpd.GeoDataFrame:
    """One feature per configured road: its course inside the extent, and its cell count."""
    box = _box(terrain)
    rows, geoms, seen = [], [], {}
    for road in terrain.roads:
        base = road.name.split("#")[0]
        if base in seen:
            rows[seen[base]]["cells"] += len(road.cells)
            continue
        seen[base] = len(rows)
        rows.append({"name": base, "cells": len(road.cells)})
        geoms.append(LineString(road.polyline_km).intersection(box))
    return _frame(rows, geoms)


def _writable(table: pd.DataFrame) -> pd.DataFrame:
    """Columns a GeoPackage can hold: categories and objects become text."""
    out = table.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype) or out[col].dtype == object:
            out[col] = out[col].astype(str)
    return out
