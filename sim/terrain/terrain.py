"""The built terrain: numpy layers on the grid, named features, vector zones and the frame.

Why: every replicate of a run reads the same immutable :class:`Terrain` (layers are read-only;
Mesa's ``PropertyLayer.from_data`` copies them). :meth:`Terrain.save_npz` writes what a run used
next to its results and :meth:`Terrain.load_npz` reads it back without pickles, so maps and
``gapsim export`` work from a run directory alone. The terrain carries its geographic frame, so
any km position (a cell, an incident, an agent) converts to longitude/latitude.

Grid convention (Mesa's ``PropertyLayer``): every layer has shape ``(width, height)`` and is indexed
``[ix, iy]``, ``ix`` along x (east), ``iy`` along y (north); cell ``(0, 0)`` is the SW corner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from sim.errors import ConfigError
from sim.terrain.frame import Frame
from sim.terrain.grid import Grid
from sim.terrain.spec import MAKHMOUR_LATLON

#: Format of ``terrain.npz``: 2 adds the frame (CRS) and the exact zone polygons.
NPZ_FORMAT = 2
READABLE_FORMATS = (1, 2)

LAYER_NAMES = (
    "elevation_m",
    "slope_deg",
    "ruggedness_m",
    "cover",
    "cave",
    "landuse",
    "truffle",
    "road",
    "river",
    "settlement_id",
    "zone",
    "gap",
    "pmf_sector",
    "dist_pesh_line_km",
    "dist_iraqi_line_km",
    "signed_dist_km",
)


@dataclass(frozen=True)
class Settlement:
    """A settlement from the YAML, with its grid cell.

    Attributes:
        id: index in ``Terrain.settlements`` and value in the ``settlement_id`` layer.
        name, x_km, y_km, ix, iy: identity and location (centre).
        pop: inhabitants.
        kurd, sunni_arab: population shares (the rest: other communities).
        kind: ``town``, ``village`` or ``camp``.
        market: has a market where insurgents can resupply.
        own_security: has its own armed guard (the camp).
        self_defence: number of armed village guards (0 if none).
        radius_km: radius of the settlement disc.
        group: optional group label (e.g. ``qaraj`` for the Qaraj plain villages).
    """

    id: int
    name: str
    x_km: float
    y_km: float
    ix: int
    iy: int
    pop: int
    kurd: float
    sunni_arab: float
    kind: str
    market: bool = False
    own_security: bool = False
    self_defence: int = 0
    radius_km: float = 0.0
    group: str = ""


@dataclass(frozen=True, eq=False)
class Road:
    """A road as an ordered chain of 8-connected cells and its source polyline (km)."""

    name: str
    cells: np.ndarray
    polyline_km: np.ndarray


@dataclass(frozen=True, eq=False)
class Terrain:
    """The model terrain: layers on the grid plus named features.

    Attributes:
        cell_km, x_min_km, y_min_km, width, height: grid geometry (shape ``(width, height)``).
        layers: the per-cell arrays listed in :data:`LAYER_NAMES` (read-only).
        settlements: settlements, ``id`` = position.
        places: every named place (settlements, places, crossings, domes) in km, for labels.
        caves: cave cells, int array ``(n, 2)`` of ``(ix, iy)``.
        roads: roads as connected cell chains.
        pesh_line_km, iraqi_line_km: the two lines clipped to the extent, ``(n, 2)`` km.
        gap_width_km: distance between the two lines.
        polygons_km: truffle grounds and the PMF sector outline (``pmf_sector``), km.
        rivers_km: river polylines (km, clipped to the extent).
        name: terrain preset name.
        key: :func:`~sim.terrain.builder.terrain_key` of the config and gap width it was built
            from.
        crs_wkt: the local km frame's coordinate reference system (WKT; see :attr:`frame`).
        zones_km: exact zone polygons in km, clipped to the extent: ``ridge``, ``gap`` (empty
            at 0 km), ``plain`` (empty dict for terrains saved before format 2).
    """

    cell_km: float
    x_min_km: float
    y_min_km: float
    width: int
    height: int
    layers: dict[str, np.ndarray]
    settlements: tuple[Settlement, ...]
    places: dict[str, tuple[float, float]]
    caves: np.ndarray
    roads: tuple[Road, ...]
    pesh_line_km: np.ndarray
    iraqi_line_km: np.ndarray
    gap_width_km: float
    polygons_km: dict[str, np.ndarray] = field(default_factory=dict)
    rivers_km: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "terrain"
    key: str = ""
    crs_wkt: str = ""
    zones_km: dict[str, BaseGeometry] = field(default_factory=dict)

    @cached_property
    def frame(self) -> Frame:
        """The geographic frame (the default Makhmour frame if none was recorded)."""
        return Frame(self.crs_wkt) if self.crs_wkt else Frame.at(MAKHMOUR_LATLON)

    def to_lonlat(self, x_km: Any, y_km: Any) -> tuple[Any, Any]:
        """Longitude and latitude (degrees, WGS84) of km positions (scalars or arrays)."""
        return self.frame.to_lonlat(x_km, y_km)

    def cell_lonlat(self, ix: Any, iy: Any) -> tuple[Any, Any]:
        """Longitude and latitude of cell centres."""
        return self.to_lonlat(*self.to_km(ix, iy))

    @property
    def grid(self) -> Grid:
        """The cell geometry."""
        return Grid(self.x_min_km, self.y_min_km, self.cell_km, self.width, self.height)

    @property
    def cells_lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude of every cell centre, arrays of the grid's shape."""
        x, y = self.grid.mesh_km()
        return self.to_lonlat(x, y)

    @property
    def shape(self) -> tuple[int, int]:
        """``(width, height)``."""
        return (self.width, self.height)

    @property
    def extent_km(self) -> tuple[float, float, float, float]:
        """``(x0, x1, y0, y1)`` of the grid's outer edges, km."""
        return self.grid.extent_km

    @property
    def cell_area_km2(self) -> float:
        """Area of one cell."""
        return self.cell_km * self.cell_km

    def to_cell(self, x_km: Any, y_km: Any) -> tuple[Any, Any]:
        """Cell indices ``(ix, iy)`` containing points in km (scalars or arrays; clipped)."""
        return self.grid.to_cell(x_km, y_km)

    def to_km(self, ix: Any, iy: Any) -> tuple[Any, Any]:
        """Cell-centre coordinates in km of cell indices (scalars or arrays)."""
        x = self.x_min_km + (np.asarray(ix, dtype=float) + 0.5) * self.cell_km
        y = self.y_min_km + (np.asarray(iy, dtype=float) + 0.5) * self.cell_km
        if x.ndim == 0:
            return float(x), float(y)
        return x, y

    def contains_km(self, x_km: Any, y_km: Any) -> Any:
        """Whether points lie inside the grid's extent."""
        x0, x1, y0, y1 = self.extent_km
        x, y = np.asarray(x_km), np.asarray(y_km)
        return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)

    def area_km2(self, mask: np.ndarray) -> float:
        """Area of the cells where ``mask`` is true."""
        return float(np.count_nonzero(mask)) * self.cell_area_km2

    def save_npz(self, path: str | Path) -> Path:
        """Write every layer and the metadata to a compressed ``.npz`` (no pickles)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **_to_arrays(self))
        return path

    @classmethod
    def load_npz(cls, path: str | Path) -> Terrain:
        """Read a terrain written by :meth:`save_npz`."""
        with np.load(Path(path), allow_pickle=False) as data:
            return _from_arrays({k: data[k] for k in data.files})


# --------------------------------------------------------------------------------------------
# npz (de)serialisation: plain arrays only, so files load with allow_pickle=False


def _pack_list(
    prefix: str, items: dict[str, np.ndarray], dtype: Any = float
) -> dict[str, np.ndarray]:
    names = list(items)
    arrays = [np.asarray(items[n], dtype=dtype).reshape(-1, 2) for n in names]
    offsets = np.cumsum([0] + [len(a) for a in arrays]).astype(np.int64)
    data = np.vstack(arrays) if arrays else np.zeros((0, 2), dtype=dtype)
    return {
        f"{prefix}_names": np.array(names, dtype=str),
        f"{prefix}_data": data,
        f"{prefix}_offsets": offsets,
    }


def _unpack_list(prefix: str, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names, arr, off = data[f"{prefix}_names"], data[f"{prefix}_data"], data[f"{prefix}_offsets"]
    return {str(n): arr[off[i] : off[i + 1]] for i, n in enumerate(names)}


SETTLEMENT_FIELDS = tuple(Settlement.__dataclass_fields__)


def _to_arrays(t: Terrain) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {f"layer__{k}": v for k, v in t.layers.items()}
    out.update(
        format_version=np.array(NPZ_FORMAT),
        cell_km=np.array(t.cell_km),
        x_min_km=np.array(t.x_min_km),
        y_min_km=np.array(t.y_min_km),
        width=np.array(t.width),
        height=np.array(t.height),
        gap_width_km=np.array(t.gap_width_km),
        name=np.array(t.name),
        key=np.array(t.key),
        crs_wkt=np.array(t.frame.crs_wkt),
        zone_names=np.array(list(t.zones_km), dtype=str),
        zone_wkb=np.array([shapely.to_wkb(g, hex=True) for g in t.zones_km.values()], dtype=str),
        pesh_line_km=t.pesh_line_km,
        iraqi_line_km=t.iraqi_line_km,
        caves=t.caves,
        place_names=np.array(list(t.places), dtype=str),
        place_xy=np.array(list(t.places.values()), dtype=float).reshape(-1, 2),
    )
    for f in SETTLEMENT_FIELDS:
        out[f"settlement__{f}"] = np.array([getattr(s, f) for s in t.settlements])
    out.update(_pack_list("road_cells", {r.name: r.cells for r in t.roads}, np.int64))
    out.update(_pack_list("road_poly", {r.name: r.polyline_km for r in t.roads}))
    out.update(_pack_list("polygon", t.polygons_km))
    out.update(_pack_list("river", t.rivers_km))
    return out


def _from_arrays(d: dict[str, np.ndarray]) -> Terrain:
    version = int(d.get("format_version", -1))
    if version not in READABLE_FORMATS:
        raise ConfigError(
            "terrain.npz", version, f"format {' or '.join(map(str, READABLE_FORMATS))}"
        )
    layers = {k.removeprefix("layer__"): v for k, v in d.items() if k.startswith("layer__")}
    for arr in layers.values():
        arr.setflags(write=False)
    n = len(d["settlement__id"])
    settlements = tuple(
        Settlement(**{f: d[f"settlement__{f}"][i].item() for f in SETTLEMENT_FIELDS})
        for i in range(n)
    )
    cells, polys = _unpack_list("road_cells", d), _unpack_list("road_poly", d)
    return Terrain(
        cell_km=float(d["cell_km"]),
        x_min_km=float(d["x_min_km"]),
        y_min_km=float(d["y_min_km"]),
        width=int(d["width"]),
        height=int(d["height"]),
        layers=layers,
        settlements=settlements,
        places={
            str(k): (float(v[0]), float(v[1]))
            for k, v in zip(d["place_names"], d["place_xy"], strict=True)
        },
        caves=d["caves"],
        roads=tuple(Road(k, cells[k], polys[k]) for k in cells),
        pesh_line_km=d["pesh_line_km"],
        iraqi_line_km=d["iraqi_line_km"],
        gap_width_km=float(d["gap_width_km"]),
        polygons_km=_unpack_list("polygon", d),
        rivers_km=_unpack_list("river", d),
        name=str(d["name"]),
        key=str(d["key"]),
        crs_wkt=str(d["crs_wkt"]) if "crs_wkt" in d else "",
        zones_km={
            str(n): shapely.from_wkb(str(w))
            for n, w in zip(d.get("zone_names", []), d.get("zone_wkb", []), strict=True)
        },
    )
