"""Force posture: who holds which ground, where posts, bases and patrol routes are.

Why a separate module: the posture is what a scenario or a timeline event *decides* (the October
2017 withdrawal, a joint garrison in the gap), and everything here is a pure function of the terrain,
the holders of each zone and the coordination level. It says where the forces are, never how fast
help arrives or how dangerous a place is: those follow from what the units do (quick-reaction units
travel, patrols walk their routes) and from what insurgents have seen.

A small per-process cache keyed by the terrain's content key, the holders, the level and the
parameters it depends on lets every replicate (and the withdrawal event inside a run) reuse a
posture; the cached object is immutable.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.model.params import ModelParams, at_level
from sim.rng import entity_key

if TYPE_CHECKING:
    from sim.terrain.builder import Terrain

PESH, IA, PMF, JOINT = range(4)
NONE = -1
#: terrain zone codes (sim.terrain.layers.Zone)
Z_GAP, Z_RIDGE, Z_PLAIN, Z_CAMP = 0, 1, 2, 3
ZONE_NAMES = ("GAP", "RIDGE", "PLAIN", "CAMP")

_CACHE_SIZE = 16
#: Spacing of a route's position table (km); far below a grid cell.
TABLE_KM = 0.05


@dataclass(frozen=True, eq=False)
class Route:
    """A polyline (km) a patrol walks or drives back and forth along.

    Attributes:
        force: force index; kind: ``foot``, ``vehicle`` or ``gap``; name: stable label (entity keys).
        xy: (n, 2) km vertices; cum: (n,) cumulative length km; length_km: total length.
    """

    force: int
    kind: str
    name: str
    xy: np.ndarray
    cum: np.ndarray
    length_km: float

    table: np.ndarray  # (m, 2) points every TABLE_KM along the route (fast lookups)

    @classmethod
    def from_points(cls, force: int, kind: str, name: str, xy: np.ndarray) -> Route:
        seg = np.hypot(*np.diff(xy, axis=0).T) if len(xy) > 1 else np.zeros(0)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        s = np.arange(0.0, cum[-1] + TABLE_KM, TABLE_KM)
        table = np.column_stack([np.interp(s, cum, xy[:, 0]), np.interp(s, cum, xy[:, 1])])
        return cls(force, kind, name, xy, cum, float(cum[-1]), table)

    def at_arc(self, s_km: np.ndarray) -> np.ndarray:
        """Points at arc lengths (to within TABLE_KM; clipped to the route)."""
        j = np.clip(np.rint(np.asarray(s_km) * (1.0 / TABLE_KM)).astype(np.int64), 0, len(self.table) - 1)
        return self.table[j]


@dataclass(frozen=True, eq=False)
class Posture:
    """Static security picture for one (terrain, holders, coordination level) combination.

    Attributes:
        holders: force index holding ridge, gap, plain and the PMF sector (-1: nobody).
        level: coordination level (0..4).
        holder: (W, H) int8, force index holding each cell, -1 where nobody does.
        post_xy_km: (P, 2) posts and checkpoints; post_force: (P,); post_thermal: (P,) bool;
            post_gain: (P,) detection-range multiplier from elevation; post_base: (P,) bool, hosts a
            quick-reaction unit and the force's informant handlers; post_key: (P,) uint64 entity keys.
        routes: patrol routes (regular ones first, then the gap route when there is a gap).
    """

    holders: tuple[int, int, int, int]
    level: float
    holder: np.ndarray
    post_xy_km: np.ndarray
    post_force: np.ndarray
    post_thermal: np.ndarray
    post_gain: np.ndarray
    post_base: np.ndarray
    post_key: np.ndarray
    routes: tuple[Route, ...]
    gap_route: Route | None

    @property
    def bases(self) -> np.ndarray:
        """Indices of the posts that host a quick-reaction unit and handlers."""
        return np.flatnonzero(self.post_base)


def force_index(name: str) -> int:
    """Force name -> index, 'none' -> -1."""
    from sim.model.params import FORCES

    return NONE if name == "none" else FORCES.index(name)


def posture_key(posture: dict[str, str]) -> tuple[int, int, int, int]:
    """Holders tuple (ridge, gap, plain, pmf_sector) from a posture mapping."""
    return tuple(force_index(posture[z]) for z in ("ridge", "gap", "plain", "pmf_sector"))  # type: ignore[return-value]


_CACHE: OrderedDict[tuple, Posture] = OrderedDict()


def _posture_params(params: ModelParams) -> tuple:
    """The parameters a posture depends on, as a hashable tuple (part of the cache key)."""
    return (params.pesh_post_spacing_km, params.checkpoint_spacing_km, params.garrison_spacing_km,
            params.elevation_bonus_per_100m, params.qrf_base_spacing_km, tuple(params.gap_garrison))


def build_posture(terrain: Terrain, holders: tuple[int, int, int, int], level: float,
                  params: ModelParams) -> Posture:
    """The posture for a terrain, holders and level (cached by content, see the module docstring)."""
    key = (terrain.key, terrain.gap_width_km, holders, float(level), _posture_params(params))
    hit = _CACHE.get(key) if terrain.key else None
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    posture = _build(terrain, holders, float(level), params)
    if terrain.key:
        _CACHE[key] = posture
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return posture


def _build(terrain: Terrain, holders: tuple[int, int, int, int], level: float,
           params: ModelParams) -> Posture:
    zone = terrain.layers["zone"]
    ridge_h, gap_h, plain_h, pmf_h = holders
    holder = np.full(zone.shape, NONE, dtype=np.int8)
    holder[zone == Z_RIDGE] = ridge_h
    holder[zone == Z_GAP] = gap_h
    plain = (zone == Z_PLAIN) | (zone == Z_CAMP)
    holder[plain] = plain_h
    holder[plain & terrain.layers["pmf_sector"]] = pmf_h

    posts: list[tuple[np.ndarray, int, bool, bool]] = []  # (xy, force, thermal, town)

    def add(xy: np.ndarray, force: int, thermal: bool, town: bool = False) -> None:
        if force != NONE:
            for pt in np.atleast_2d(xy):
                posts.append((np.asarray(pt, dtype=float), force, thermal, town))

    # Ridge holder: elevated posts along the Peshmerga line (thermal optics, rudaw 201220191).
    line = _densify(np.asarray(terrain.pesh_line_km, dtype=float), terrain)
    add(_points_along(line, params.pesh_post_spacing_km), ridge_h, True)
    # Plain and PMF-sector holders: checkpoints along the roads they hold, and the towns.
    for road in terrain.roads:
        cells = np.asarray(road.cells)
        if len(cells) == 0:
            continue
        h = holder[cells[:, 0], cells[:, 1]]
        for force in sorted({int(x) for x in np.unique(h)} - {NONE}):
            if force == ridge_h and force not in (plain_h, pmf_h):
                continue  # the ridge pass road is watched from the line posts
            sel = cells[h == force]
            xy = np.column_stack(terrain.to_km(sel[:, 0], sel[:, 1]))
            add(_points_along(xy, params.checkpoint_spacing_km), force, False)
    for s in terrain.settlements:
        if s.kind == "town":
            add(np.array([s.x_km, s.y_km]), int(holder[s.ix, s.iy]), False, town=True)
    # Gap holder (pre-2017 Peshmerga, Peshmerga return) or the joint garrison (joint brigades).
    mid = gap_midline(terrain)
    garrison = at_level(list(params.gap_garrison), level) >= 0.5
    if mid is not None:
        if gap_h != NONE:
            add(_points_along(mid, params.garrison_spacing_km), gap_h, gap_h in (PESH, JOINT))
        elif garrison:
            add(_points_along(mid, params.garrison_spacing_km), JOINT, True)

    n = len(posts)
    post_xy = np.array([q[0] for q in posts]).reshape(n, 2)
    post_force = np.array([q[1] for q in posts], dtype=np.int8)
    post_thermal = np.array([q[2] for q in posts], dtype=bool)
    town = np.array([q[3] for q in posts], dtype=bool)
    elev = terrain.layers["elevation_m"]
    if n:
        pix, piy = terrain.to_cell(post_xy[:, 0], post_xy[:, 1])
        pix, piy = np.atleast_1d(pix), np.atleast_1d(piy)
        height = elev[pix, piy] - float(np.percentile(elev, 20))
        gain = 1.0 + params.elevation_bonus_per_100m * np.clip(height, 0, None) / 100.0
        keys = np.array([entity_key("post", int(f), int(a), int(b))
                         for f, a, b in zip(post_force, pix, piy, strict=True)], dtype=np.uint64)
    else:
        gain = np.zeros(0)
        keys = np.zeros(0, dtype=np.uint64)
    base = _choose_bases(post_xy, post_force, town, params.qrf_base_spacing_km)
    routes = _routes(terrain, holder, line, holders)
    gap_route = None
    if mid is not None and len(mid) >= 2:
        gap_route = Route.from_points(JOINT if gap_h in (NONE, JOINT) else gap_h, "gap", "gap_midline", mid)
    return Posture(holders, level, holder, post_xy, post_force, post_thermal, gain, base, keys,
                   tuple(routes), gap_route)


def _choose_bases(xy: np.ndarray, force: np.ndarray, town: np.ndarray, spacing_km: float) -> np.ndarray:
    """Posts that host a quick-reaction unit: every town post, then greedily one post per
    ``spacing_km`` of each force's posts (so every post has a base within about half the spacing)."""
    base = town.copy()
    for f in np.unique(force):
        idx = np.flatnonzero(force == f)
        covered = np.zeros(len(idx), dtype=bool)
        for i in idx:
            if base[i]:
                covered |= np.hypot(*(xy[idx] - xy[i]).T) <= spacing_km / 2
        for j, i in enumerate(idx):
            if not covered[j]:
                base[i] = True
                covered |= np.hypot(*(xy[idx] - xy[i]).T) <= spacing_km / 2
    return base


def _routes(terrain: Terrain, holder: np.ndarray, line: np.ndarray,
            holders: tuple[int, int, int, int]) -> list[Route]:
    """Foot patrols along the ridge line; vehicle patrols on each stretch of road a force holds."""
    routes: list[Route] = []
    ridge_h = holders[0]
    if ridge_h != NONE and len(line) >= 2:
        routes.append(Route.from_points(ridge_h, "foot", "pesh_line", line))
    for road in terrain.roads:
        cells = np.asarray(road.cells)
        if len(cells) < 4:
            continue
        h = holder[cells[:, 0], cells[:, 1]]
        for force in sorted({int(x) for x in np.unique(h)} - {NONE}):
            for k, (a, b) in enumerate(_runs(h == force)):
                if b - a >= 8:
                    xy = np.column_stack(terrain.to_km(cells[a:b, 0], cells[a:b, 1]))
                    routes.append(Route.from_points(force, "vehicle", f"{road.name}:{force}:{k}", xy))
    return routes


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start/stop indices of consecutive True runs."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def gap_midline(terrain: Terrain) -> np.ndarray | None:
    """Points (km) along the middle of the gap band, ordered along the band's long axis."""
    if terrain.gap_width_km <= 0:
        return None
    sd = terrain.layers["signed_dist_km"]
    band = terrain.layers["gap"] & (np.abs(sd + 0.5 * terrain.gap_width_km) <= 0.75 * terrain.cell_km)
    cells = np.argwhere(band)
    if len(cells) < 2:
        return None
    x, y = terrain.to_km(cells[:, 0], cells[:, 1])
    xy = np.column_stack([x, y])
    centred = xy - xy.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    return xy[np.argsort(centred @ axis)]


def _densify(line: np.ndarray, terrain: Terrain) -> np.ndarray:
    """Densify a polyline (every 0.25 cell) and keep the points inside the extent."""
    if len(line) < 2:
        return line
    step = terrain.cell_km * 0.25
    pts = [line[0:1]]
    for a, b in zip(line[:-1], line[1:], strict=True):
        n = max(1, int(math.ceil(np.hypot(*(b - a)) / step)))
        t = np.linspace(0, 1, n + 1)[1:, None]
        pts.append(a + t * (b - a))
    dense = np.vstack(pts)
    x0, x1, y0, y1 = terrain.extent_km
    inside = (dense[:, 0] > x0) & (dense[:, 0] < x1) & (dense[:, 1] > y0) & (dense[:, 1] < y1)
    return dense[inside]


def _points_along(xy: np.ndarray, spacing_km: float) -> np.ndarray:
    """Points every ``spacing_km`` along an ordered point chain (by cumulative length)."""
    if len(xy) == 0:
        return np.zeros((0, 2))
    if len(xy) == 1:
        return xy.copy()
    seg = np.hypot(*np.diff(xy, axis=0).T)
    seg = np.where(seg > 3 * spacing_km, 0.0, seg)  # jumps between separate pieces
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return xy[:1].copy()
    targets = np.arange(spacing_km / 2, s[-1], spacing_km)
    idx = np.clip(np.searchsorted(s, targets), 0, len(xy) - 1)
    return xy[idx]
