"""Build the model terrain (numpy layers plus named features) from the terrain config.

Why: every replicate of a run needs the same grid of elevation, cover, caves, roads, river,
settlements and control zones. :func:`build_terrain` makes it deterministically from the YAML
(``relief.noise_seed`` is the only source of randomness) in well under a second, and
:func:`get_terrain` caches it per process so replicates build it once. The result is an immutable
:class:`Terrain` whose arrays are read-only (Mesa's ``PropertyLayer.from_data`` copies them);
:meth:`Terrain.save_npz` writes what a run used next to its results.

Grid convention (Mesa's ``PropertyLayer``): every layer has shape ``(width, height)`` and is indexed
``[ix, iy]``, ``ix`` along x (east), ``iy`` along y (north); cell ``(0, 0)`` is the SW corner.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sim.errors import ConfigError
from sim.terrain import layers as L
from sim.terrain.dem import dem_digest, load_dem
from sim.terrain.geometry import (
    Grid,
    as_points,
    clip_polyline,
    disc_mask,
    offset_polyline,
    polygon_mask,
    polyline_field,
    rasterize_chains,
)
from sim.terrain.relief import CAVE_KEY, build_relief, detect_ravines, rng_for
from sim.terrain.schema import TerrainConfig
from sim.terrain.validate import (
    check_resolved,
    grid_of,
    pesh_line_polyline,
    resolve_config,
)

#: Bump when the builder's output changes for the same config (invalidates terrain keys).
BUILDER_VERSION = 1
NPZ_FORMAT = 1
CACHE_SIZE = 8

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
        key: :func:`terrain_key` of the config and gap width it was built from.
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

    @property
    def grid(self) -> Grid:
        """The cell geometry."""
        return Grid(self.x_min_km, self.y_min_km, self.cell_km, self.width, self.height)

    @property
    def shape(self) -> tuple[int, int]:
        """``(width, height)``."""
        return (self.width, self.height)

    @property
    def extent_km(self) -> tuple[float, float, float, float]:
        """``(x0, x1, y0, y1)`` of the grid's outer edges, km."""
        return (
            self.x_min_km,
            self.x_min_km + self.width * self.cell_km,
            self.y_min_km,
            self.y_min_km + self.height * self.cell_km,
        )

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
# Public entry points


def terrain_key(tcfg: Any, gap_width_km: float) -> str:
    """Stable hash of the resolved terrain config, the gap width and the DEM file's content."""
    return _key(resolve_config(tcfg), gap_width_km)


def _key(cfg: dict[str, Any], gap_width_km: float) -> str:
    payload = {
        "builder": BUILDER_VERSION,
        "terrain": cfg,
        "gap_width_km": repr(float(gap_width_km)),
        "dem_sha256": dem_digest(cfg.get("dem") or {}),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


_CACHE: OrderedDict[str, Terrain] = OrderedDict()


def get_terrain(tcfg: Any, gap_width_km: float) -> Terrain:
    """The terrain for a config and gap width, built once per process (LRU of 8 entries)."""
    cfg = resolve_config(tcfg)
    key = _key(cfg, gap_width_km)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    check_resolved(cfg, gap_width_km)
    terrain = _build(cfg, float(gap_width_km), key)
    _CACHE[key] = terrain
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return terrain


def clear_terrain_cache() -> None:
    """Forget cached terrains (tests, or after editing a DEM file in place)."""
    _CACHE.clear()


def load_terrain_config(path: str | Path) -> DictConfig:
    """Load a terrain YAML without Hydra, honouring a simple ``defaults`` list.

    ``defaults`` entries name other files in the same folder (without ``.yaml``) and may include
    ``_self_``; without ``_self_`` the file's own keys come last, as in Hydra 1.3.

    Returns:
        A ``DictConfig`` merged over the :class:`TerrainConfig` schema.
    """
    return OmegaConf.merge(OmegaConf.structured(TerrainConfig), _load_with_defaults(Path(path)))


def _load_with_defaults(path: Path, depth: int = 0) -> DictConfig:
    if depth > 8:
        raise ConfigError("terrain.defaults", str(path), "defaults nest too deep (a cycle?)")
    if not path.is_file():
        raise ConfigError("terrain", str(path), "terrain YAML not found")
    raw = OmegaConf.load(path)
    assert isinstance(raw, DictConfig)
    defaults = list(raw.pop("defaults", []) or [])
    if "_self_" not in defaults:
        defaults.append("_self_")
    parts = []
    for entry in defaults:
        if entry == "_self_":
            parts.append(raw)
        elif isinstance(entry, str):
            parts.append(_load_with_defaults(path.parent / f"{entry}.yaml", depth + 1))
        else:
            raise ConfigError("terrain.defaults", entry, "names of files in the same folder")
    merged = OmegaConf.merge(*parts)
    assert isinstance(merged, DictConfig)
    return merged


def build_terrain(tcfg: Any, gap_width_km: float) -> Terrain:
    """Build the terrain layers for a config and a gap width.

    Args:
        tcfg: ``cfg.terrain`` (``DictConfig``), a :class:`TerrainConfig` or a dict.
        gap_width_km: perpendicular distance from the Peshmerga line to the Iraqi line (>= 0).

    Returns:
        An immutable :class:`Terrain`.

    Raises:
        ConfigError: for invalid configuration values or DEM files.
    """
    cfg = resolve_config(tcfg)
    check_resolved(cfg, gap_width_km)
    gap = float(gap_width_km)
    return _build(cfg, gap, _key(cfg, gap))


# --------------------------------------------------------------------------------------------
# Build steps


def _build(cfg: dict[str, Any], gap: float, key: str) -> Terrain:
    grid = grid_of(cfg)
    x, y = grid.mesh_km()
    cell_m = grid.cell_km * 1000.0
    relief = build_relief(grid, x, y, cfg)
    dem = load_dem(cfg.get("dem") or {}, grid, cfg.get("frame") or {})
    elev = relief.elevation_m if dem is None else dem
    ravine = (
        relief.ravine_mask if dem is None else detect_ravines(elev, relief.ridge_frac, grid.cell_km)
    )
    slope = L.slope_deg(elev, cell_m)
    rugged = L.ruggedness_m(elev)

    river, water, rivers_km = _rivers(cfg, grid, x, y)
    roads, road_mask = _roads(cfg, grid)
    settlements, settle_id, camp = _settlements(cfg, grid, x, y)
    settle_id[river] = -1
    urban = (settle_id >= 0) & ~water
    truffle = np.zeros(grid.shape, dtype=bool)
    polygons: dict[str, np.ndarray] = {}
    for t in cfg.get("truffle_grounds") or []:
        poly = as_points(t["polygon_km"], min_points=3)
        polygons[str(t["name"])] = poly
        truffle |= polygon_mask(poly, x, y)
    truffle &= ~water & ~urban
    land = L.landuse(
        slope=slope,
        ridge_frac=relief.ridge_frac,
        truffle=truffle,
        urban=urban,
        water=water,
        land=cfg.get("land") or {},
    )
    caves = _caves(cfg, grid, relief, slope, water | urban)
    cave_mask = np.zeros(grid.shape, dtype=bool)
    cave_mask[caves[:, 0], caves[:, 1]] = True
    cover = L.cover(
        rugged_m=rugged,
        cell_m=cell_m,
        ravine=ravine,
        cave_mask=cave_mask,
        urban=urban,
        land_use=land,
        cell_km=grid.cell_km,
    )

    x0, x1, y0, y1 = _extent(grid)
    ext = 2.0 * math.hypot(x1 - x0, y1 - y0)
    pesh = pesh_line_polyline(cfg, ext)
    pesh_field = polyline_field(x, y, pesh)
    signed = pesh_field.signed_km
    iraqi = offset_polyline(pesh, -gap)
    dist_iraqi = pesh_field.dist_km if gap == 0 else polyline_field(x, y, iraqi).dist_km
    zone, gap_mask = L.zones(signed, gap, camp)
    pmf = np.zeros(grid.shape, dtype=bool)
    pmf_cfg = (cfg.get("lines") or {}).get("pmf_sector")
    if pmf_cfg:
        poly = as_points(pmf_cfg["polygon_km"], min_points=3)
        polygons["pmf_sector"] = poly
        pmf = polygon_mask(poly, x, y) & (zone == L.Zone.PLAIN)

    layers = {
        "elevation_m": elev.astype(np.float32),
        "slope_deg": slope.astype(np.float32),
        "ruggedness_m": rugged.astype(np.float32),
        "cover": cover.astype(np.float32),
        "cave": cave_mask,
        "landuse": land,
        "truffle": truffle,
        "road": road_mask,
        "river": river,
        "settlement_id": settle_id.astype(np.int16),
        "zone": zone,
        "gap": gap_mask,
        "pmf_sector": pmf,
        "dist_pesh_line_km": pesh_field.dist_km.astype(np.float32),
        "dist_iraqi_line_km": dist_iraqi.astype(np.float32),
        "signed_dist_km": signed.astype(np.float32),
    }
    for arr in layers.values():
        arr.setflags(write=False)
    return Terrain(
        cell_km=grid.cell_km,
        x_min_km=grid.x_min_km,
        y_min_km=grid.y_min_km,
        width=grid.width,
        height=grid.height,
        layers=layers,
        settlements=settlements,
        places=_places(cfg, settlements),
        caves=caves,
        roads=roads,
        pesh_line_km=_longest_piece(pesh, (x0, x1, y0, y1)),
        iraqi_line_km=_longest_piece(iraqi, (x0, x1, y0, y1)),
        gap_width_km=gap,
        polygons_km=polygons,
        rivers_km=rivers_km,
        name=str(cfg.get("name", "terrain")),
        key=key,
    )


def _extent(grid: Grid) -> tuple[float, float, float, float]:
    return (
        grid.x_min_km,
        grid.x_min_km + grid.width * grid.cell_km,
        grid.y_min_km,
        grid.y_min_km + grid.height * grid.cell_km,
    )


def _longest_piece(pts: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    pieces = clip_polyline(pts, box)
    if not pieces:
        return np.zeros((0, 2))
    return max(pieces, key=lambda p: float(np.hypot(*np.diff(p, axis=0).T).sum()))


def _rivers(
    cfg: dict[str, Any], grid: Grid, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """River barrier (crossings open), water surface and the clipped polylines."""
    water = np.zeros(grid.shape, dtype=bool)
    crossing = np.zeros(grid.shape, dtype=bool)
    lines: dict[str, np.ndarray] = {}
    extent = _extent(grid)
    for river in cfg.get("rivers") or []:
        pts = as_points(river["polyline_km"], min_points=2)
        lines[str(river["name"])] = _longest_piece(pts, extent)
        for chain in rasterize_chains(pts, grid, four_connected=True):
            water[chain[:, 0], chain[:, 1]] = True
        half = float(river.get("width_km", 0.2)) / 2.0
        water |= polyline_field(x, y, pts).dist_km <= half
        for c in river.get("crossings") or []:
            cx, cy = (float(v) for v in c["at_km"])
            crossing |= disc_mask(x, y, cx, cy, half + grid.cell_km)
    return water & ~crossing, water, lines


def _roads(cfg: dict[str, Any], grid: Grid) -> tuple[tuple[Road, ...], np.ndarray]:
    """Roads as ordered, 8-connected cell chains (split where a road leaves the grid)."""
    mask = np.zeros(grid.shape, dtype=bool)
    roads = []
    for r in cfg.get("roads") or []:
        pts = as_points(r["polyline_km"], min_points=2)
        chains = rasterize_chains(pts, grid)
        for i, chain in enumerate(chains):
            name = str(r["name"]) if len(chains) == 1 else f"{r['name']}#{i + 1}"
            chain.setflags(write=False)
            roads.append(Road(name, chain, pts))
            mask[chain[:, 0], chain[:, 1]] = True
    return tuple(roads), mask


def _settlement_radius_km(s: dict[str, Any], land: dict[str, Any]) -> float:
    if s.get("radius_km") is not None:
        return float(s["radius_km"])
    density = float(
        land.get("town_people_per_km2", 10000.0)
        if s.get("kind") == "town"
        else land.get("village_people_per_km2", 3000.0)
    )
    return math.sqrt(max(float(s["pop"]), 0.0) / density / math.pi)


def _settlements(
    cfg: dict[str, Any], grid: Grid, x: np.ndarray, y: np.ndarray
) -> tuple[tuple[Settlement, ...], np.ndarray, np.ndarray]:
    """Settlement records, the id layer (discs; larger first so small ones stay visible), camp."""
    land = cfg.get("land") or {}
    ids = np.full(grid.shape, -1, dtype=np.int32)
    camp = np.zeros(grid.shape, dtype=bool)
    out = []
    for i, s in enumerate(cfg.get("settlements") or []):
        sx, sy = (float(v) for v in s["at_km"])
        ix, iy = grid.to_cell(sx, sy)
        out.append(
            Settlement(
                id=i,
                name=str(s["name"]),
                x_km=sx,
                y_km=sy,
                ix=ix,
                iy=iy,
                pop=int(s["pop"]),
                kurd=float(s.get("kurd", 0.0)),
                sunni_arab=float(s.get("sunni_arab", 0.0)),
                kind=str(s.get("kind", "village")),
                market=bool(s.get("market", False)),
                own_security=bool(s.get("own_security", False)),
                self_defence=int(s.get("self_defence", 0) or 0),
                radius_km=_settlement_radius_km(s, land),
                group=str(s.get("group", "") or ""),
            )
        )
    for s in sorted(out, key=lambda s: -s.pop):
        disc = disc_mask(x, y, s.x_km, s.y_km, s.radius_km)
        ids[disc] = s.id
        if s.kind == "camp":
            camp |= disc
    for s in sorted(out, key=lambda s: -s.pop):
        ids[s.ix, s.iy] = s.id
        if s.kind == "camp":
            camp[s.ix, s.iy] = True
    camp &= np.isin(ids, [s.id for s in out if s.kind == "camp"])
    return tuple(out), ids, camp


def _caves(
    cfg: dict[str, Any], grid: Grid, relief: Any, slope: np.ndarray, blocked: np.ndarray
) -> np.ndarray:
    """Cave cells of every ridge (sampled) plus explicit ``extra_at_km`` caves."""
    seed = int(cfg["relief"].get("noise_seed", 0))
    heads = np.zeros(grid.shape, dtype=bool)
    if len(relief.ravine_heads_km):
        hx, hy = grid.to_cell(relief.ravine_heads_km[:, 0], relief.ravine_heads_km[:, 1])
        heads[hx, hy] = True
    found = []
    for i, ridge in enumerate(cfg["relief"]["ridges"]):
        spec = ridge.get("caves") or {}
        found.append(
            L.sample_caves(
                rng=rng_for(seed, CAVE_KEY, i),
                count=int(spec.get("count", 0)),
                ridge_frac=relief.ridge_frac,
                ridge_signed_km=relief.ridge_signed_km,
                slope=slope,
                ravine_heads=heads,
                cell_km=grid.cell_km,
                blocked=blocked,
                spec=spec,
            )
        )
        extra = spec.get("extra_at_km") or []
        if extra:
            pts = as_points(extra)
            ex, ey = grid.to_cell(pts[:, 0], pts[:, 1])
            found.append(np.stack([ex, ey], axis=1))
    caves = np.unique(np.vstack(found).astype(np.int64).reshape(-1, 2), axis=0)
    caves.setflags(write=False)
    return caves


def _places(
    cfg: dict[str, Any], settlements: tuple[Settlement, ...]
) -> dict[str, tuple[float, float]]:
    """Every named point for labels: settlements, places, river crossings, domes."""
    out = {s.name: (s.x_km, s.y_km) for s in settlements}
    for p in cfg.get("places") or []:
        out[str(p["name"])] = (float(p["at_km"][0]), float(p["at_km"][1]))
    for r in cfg.get("rivers") or []:
        for c in r.get("crossings") or []:
            out[str(c["name"])] = (float(c["at_km"][0]), float(c["at_km"][1]))
    for ridge in cfg["relief"]["ridges"]:
        for d in ridge.get("domes") or []:
            out[str(d["name"])] = (float(d["at_km"][0]), float(d["at_km"][1]))
    return out


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
    if int(d.get("format_version", -1)) != NPZ_FORMAT:
        raise ConfigError("terrain.npz", int(d.get("format_version", -1)), f"format {NPZ_FORMAT}")
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
    )
