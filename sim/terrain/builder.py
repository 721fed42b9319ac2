"""Build the model terrain from its configuration, one way: spec -> geometry -> rasters -> layers.

Why: every replicate of a run needs the same grid of elevation, cover, caves, roads, river,
settlements and control zones. :func:`build_terrain` makes it deterministically from the YAML
(``relief.noise_seed`` is the only source of randomness) in well under a second, each step using
only the ones before it:

1. :mod:`sim.terrain.spec` -- the validated configuration (:class:`TerrainSpec`);
2. :mod:`sim.terrain.geometry` -- lines, zones, roads, river and areas as shapely geometries;
3. :mod:`sim.terrain.raster` -- those geometries sampled at cell centres (:class:`Cells`), and
   :mod:`sim.terrain.relief` / :mod:`sim.terrain.dem` -- the elevation;
4. :mod:`sim.terrain.layers` -- slope, land use, caves, cover and zones, assembled here into an
   immutable :class:`~sim.terrain.terrain.Terrain`.

:func:`get_terrain` caches terrains per process (by :func:`terrain_key`) so replicates build once.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sim.errors import ConfigError
from sim.terrain import layers as L
from sim.terrain.dem import dem_digest, load_dem
from sim.terrain.frame import Frame
from sim.terrain.geometry import TerrainGeometry, build_geometry, longest_piece
from sim.terrain.grid import Grid
from sim.terrain.raster import Cells, cell_chains
from sim.terrain.relief import CAVE_KEY, Relief, build_relief, detect_ravines, rng_for
from sim.terrain.schema import TerrainConfig
from sim.terrain.spec import TerrainSpec, parse_terrain
from sim.terrain.terrain import LAYER_NAMES, Road, Settlement, Terrain

#: Bump when the builder's output changes for the same config (invalidates terrain keys).
#: 2: geometry on shapely (exact road/river cells, exact Iraqi line), the geographic frame.
BUILDER_VERSION = 2
CACHE_SIZE = 8


# --------------------------------------------------------------------------------------------
# Public entry points


def terrain_key(tcfg: Any, gap_width_km: float) -> str:
    """Stable hash of the validated terrain config, the gap width and the DEM file's content."""
    return _key(parse_terrain(tcfg), gap_width_km)


def _key(spec: TerrainSpec, gap_width_km: float) -> str:
    payload = {
        "builder": BUILDER_VERSION,
        "terrain": spec.model_dump(mode="json"),
        "gap_width_km": repr(float(gap_width_km)),
        "dem_sha256": dem_digest(spec.dem),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


_CACHE: OrderedDict[str, Terrain] = OrderedDict()


def get_terrain(tcfg: Any, gap_width_km: float) -> Terrain:
    """The terrain for a config and gap width, built once per process (LRU of 8 entries)."""
    spec = parse_terrain(tcfg)
    key = _key(spec, gap_width_km)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    terrain = _build(spec, gap_width_km, key)
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
        tcfg: ``cfg.terrain`` (``DictConfig``), a :class:`TerrainConfig`, a dict or a
            :class:`TerrainSpec`.
        gap_width_km: perpendicular distance from the Peshmerga line to the Iraqi line (>= 0).

    Returns:
        An immutable :class:`Terrain`.

    Raises:
        ConfigError: for invalid configuration values or DEM files.
    """
    spec = parse_terrain(tcfg)
    return _build(spec, gap_width_km, _key(spec, gap_width_km))


# --------------------------------------------------------------------------------------------
# Build steps


def _build(spec: TerrainSpec, gap_width_km: float, key: str) -> Terrain:
    grid = Grid.of(spec)
    frame = Frame.at(spec.frame.origin_latlon)
    geo = build_geometry(spec, grid, gap_width_km)  # raises for a gap that leaves the map
    cells = Cells(grid)
    cell_m = grid.cell_km * 1000.0
    relief = build_relief(cells, spec, geo)
    dem = load_dem(spec.dem, grid, frame)
    elev = relief.elevation_m if dem is None else dem
    ravine = (
        relief.ravine_mask if dem is None else detect_ravines(elev, relief.ridge_frac, grid.cell_km)
    )
    slope = L.slope_deg(elev, cell_m)
    rugged = L.ruggedness_m(elev)

    river, water = _rivers(spec, geo, cells)
    roads, road_mask = _roads(spec, geo, grid)
    settlements, settle_id, camp = _settlements(spec, cells)
    settle_id[river] = -1
    urban = (settle_id >= 0) & ~water
    truffle = np.zeros(grid.shape, dtype=bool)
    for poly in geo.truffle_grounds.values():
        truffle |= cells.mask(poly)
    truffle &= ~water & ~urban
    land = L.landuse(
        slope=slope,
        ridge_frac=relief.ridge_frac,
        truffle=truffle,
        urban=urban,
        water=water,
        land=spec.land,
    )
    caves = _caves(spec, grid, relief, slope, water | urban)
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

    signed = cells.signed_distance(geo.pesh_line, geo.ridge_zone)
    dist_pesh = np.abs(signed)
    dist_iraqi = dist_pesh if geo.gap_width_km == 0 else cells.distance(geo.iraqi_line)
    zone, gap_mask = L.zones(signed, geo.gap_width_km, camp)
    pmf = cells.mask(geo.pmf_sector) & (zone == L.Zone.PLAIN)

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
        "dist_pesh_line_km": dist_pesh.astype(np.float32),
        "dist_iraqi_line_km": dist_iraqi.astype(np.float32),
        "signed_dist_km": signed.astype(np.float32),
    }
    assert tuple(layers) == LAYER_NAMES
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
        places=_places(spec, settlements),
        caves=caves,
        roads=roads,
        pesh_line_km=longest_piece(geo.pesh_line, geo.extent),
        iraqi_line_km=longest_piece(geo.iraqi_line, geo.extent),
        gap_width_km=geo.gap_width_km,
        polygons_km=_polygons(geo),
        rivers_km={n: longest_piece(line, geo.extent) for n, line in geo.rivers.items()},
        name=spec.name,
        key=key,
        crs_wkt=frame.crs_wkt,
        zones_km={"ridge": geo.ridge_zone, "gap": geo.gap_zone, "plain": geo.plain_zone},
    )


def _polygons(geo: TerrainGeometry) -> dict[str, np.ndarray]:
    """Truffle grounds and the PMF sector outline as ``(n, 2)`` km corner arrays."""
    out = {n: np.asarray(p.exterior.coords)[:-1] for n, p in geo.truffle_grounds.items()}
    if geo.pmf_sector is not None:
        out["pmf_sector"] = np.asarray(geo.pmf_sector.exterior.coords)[:-1]
    return out


def _rivers(spec: TerrainSpec, geo: TerrainGeometry, cells: Cells) -> tuple[np.ndarray, np.ndarray]:
    """River barrier (crossings open) and water surface."""
    water = np.zeros(cells.grid.shape, dtype=bool)
    crossing = np.zeros(cells.grid.shape, dtype=bool)
    for river in spec.rivers:
        line = geo.rivers[river.name]
        for chain in cell_chains(line, cells.grid, four_connected=True):
            water[chain[:, 0], chain[:, 1]] = True
        half = river.width_km / 2.0
        water |= cells.distance(line) <= half
        for c in river.crossings:
            crossing |= cells.within(*c.at_km, half + cells.grid.cell_km)
    return water & ~crossing, water


def _roads(
    spec: TerrainSpec, geo: TerrainGeometry, grid: Grid
) -> tuple[tuple[Road, ...], np.ndarray]:
    """Roads as ordered, 8-connected cell chains (split where a road leaves the grid)."""
    mask = np.zeros(grid.shape, dtype=bool)
    roads = []
    for r in spec.roads:
        chains = cell_chains(geo.roads[r.name], grid)
        pts = np.asarray(r.polyline_km, dtype=float)
        for i, chain in enumerate(chains):
            name = r.name if len(chains) == 1 else f"{r.name}#{i + 1}"
            chain.setflags(write=False)
            roads.append(Road(name, chain, pts))
            mask[chain[:, 0], chain[:, 1]] = True
    return tuple(roads), mask


def _settlement_radius_km(s: Any, land: Any) -> float:
    if s.radius_km is not None:
        return float(s.radius_km)
    density = land.town_people_per_km2 if s.kind == "town" else land.village_people_per_km2
    return math.sqrt(max(s.pop, 0.0) / density / math.pi)


def _settlements(
    spec: TerrainSpec, cells: Cells
) -> tuple[tuple[Settlement, ...], np.ndarray, np.ndarray]:
    """Settlement records, the id layer (discs; larger first so small ones stay visible), camp."""
    grid = cells.grid
    ids = np.full(grid.shape, -1, dtype=np.int32)
    camp = np.zeros(grid.shape, dtype=bool)
    out = []
    for i, s in enumerate(spec.settlements):
        sx, sy = (float(v) for v in s.at_km)
        ix, iy = grid.to_cell(sx, sy)
        out.append(
            Settlement(
                id=i,
                name=s.name,
                x_km=sx,
                y_km=sy,
                ix=ix,
                iy=iy,
                pop=int(s.pop),
                kurd=s.kurd,
                sunni_arab=s.sunni_arab,
                kind=s.kind,
                market=s.market,
                own_security=s.own_security,
                self_defence=int(s.self_defence or 0),
                radius_km=_settlement_radius_km(s, spec.land),
                group=s.group,
            )
        )
    for s in sorted(out, key=lambda s: -s.pop):
        disc = cells.within(s.x_km, s.y_km, s.radius_km)
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
    spec: TerrainSpec, grid: Grid, relief: Relief, slope: np.ndarray, blocked: np.ndarray
) -> np.ndarray:
    """Cave cells of every ridge (sampled) plus explicit ``extra_at_km`` caves."""
    seed = spec.relief.noise_seed
    heads = np.zeros(grid.shape, dtype=bool)
    if len(relief.ravine_heads_km):
        hx, hy = grid.to_cell(relief.ravine_heads_km[:, 0], relief.ravine_heads_km[:, 1])
        heads[hx, hy] = True
    found = []
    for i, ridge in enumerate(spec.relief.ridges):
        found.append(
            L.sample_caves(
                rng=rng_for(seed, CAVE_KEY, i),
                count=ridge.caves.count,
                ridge_frac=relief.ridge_frac,
                ridge_signed_km=relief.ridge_signed_km,
                slope=slope,
                ravine_heads=heads,
                cell_km=grid.cell_km,
                blocked=blocked,
                spec=ridge.caves,
            )
        )
        if ridge.caves.extra_at_km:
            pts = np.asarray(ridge.caves.extra_at_km, dtype=float)
            ex, ey = grid.to_cell(pts[:, 0], pts[:, 1])
            found.append(np.stack([ex, ey], axis=1))
    caves = np.unique(np.vstack(found).astype(np.int64).reshape(-1, 2), axis=0)
    caves.setflags(write=False)
    return caves


def _places(
    spec: TerrainSpec, settlements: tuple[Settlement, ...]
) -> dict[str, tuple[float, float]]:
    """Every named point for labels: settlements, places, river crossings, domes."""
    out = {s.name: (s.x_km, s.y_km) for s in settlements}
    for p in spec.places:
        out[p.name] = (float(p.at_km[0]), float(p.at_km[1]))
    for r in spec.rivers:
        for c in r.crossings:
            out[c.name] = (float(c.at_km[0]), float(c.at_km[1]))
    for ridge in spec.relief.ridges:
        for d in ridge.domes:
            out[d.name] = (float(d.at_km[0]), float(d.at_km[1]))
    return out
