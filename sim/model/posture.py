"""Force posture: who holds which cells, where posts and patrol routes are, how fast help arrives.

Why a separate, cached module: everything here is a pure function of the terrain, the posture
(which force holds ridge, gap and plain) and the coordination level. It is computed with numpy and
scipy.ndimage distance transforms once per process and configuration, and reused by every
replicate and by every posture change inside a run (the 2017 withdrawal switches between two
cached postures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from sim.model.params import FORCES, ModelParams, at_level

if TYPE_CHECKING:
    from sim.terrain.builder import Terrain

PESH, IA, PMF, JOINT = range(4)
NONE = -1
#: terrain zone codes (sim.terrain.builder.Zone)
Z_GAP, Z_RIDGE, Z_PLAIN, Z_CAMP = 0, 1, 2, 3
ZONE_NAMES = ("GAP", "RIDGE", "PLAIN", "CAMP")

#: Distance to a post within which insurgents do not move by day [EST].
NEAR_POST_KM = 1.0

#: Response time meaning "no force can come" (hours).
NEVER_H = 1e6


@dataclass(frozen=True)
class Route:
    """An ordered chain of cells a patrol walks back and forth along."""

    force: int
    kind: str  # "foot" | "vehicle" | "gap"
    cells: np.ndarray  # (k, 2) int


@dataclass(frozen=True)
class Posture:
    """Static security picture for one (terrain, posture, coordination) combination.

    Attributes:
        holders: force index holding ridge, gap, plain and the PMF sector (-1: nobody).
        holder: (W, H) int8, force index holding each cell, -1 where nobody does.
        post_xy_km: (P, 2) post positions; post_force: (P,) force; post_range_gain: (P,) multiplier
            of detection range from elevation; post_thermal: (P,) bool.
        post_cover: (W, H) bool, within daylight detection range of a post.
        post_near: (W, H) bool, within ``NEAR_POST_KM`` of a post (where nobody moves by day
            unseen).
        response_h: (W, H) float32, hours until a quick-reaction force can be on site.
        routes: patrol routes per force.
        gap_route: a route along the middle of the gap band (None without a gap).
        fake_cp_cells: (k, 2) road cells in or beside the gap, far from posts (fake-checkpoint sites).
    """

    holders: tuple[int, int, int, int]
    level: float
    holder: np.ndarray
    post_xy_km: np.ndarray
    post_force: np.ndarray
    post_range_gain: np.ndarray
    post_thermal: np.ndarray
    post_cover: np.ndarray
    post_near: np.ndarray
    response_h: np.ndarray
    routes: tuple[Route, ...]
    gap_route: Route | None
    fake_cp_cells: np.ndarray

    def holder_at(self, ix: np.ndarray | int, iy: np.ndarray | int) -> np.ndarray | int:
        """Force index holding the given cells (-1 for none)."""
        return self.holder[ix, iy]


def force_index(name: str) -> int:
    """Force name -> index, 'none' -> -1."""
    return NONE if name == "none" else FORCES.index(name)


def posture_key(posture: dict[str, str]) -> tuple[int, int, int, int]:
    """Holders tuple (ridge, gap, plain, pmf_sector) from a posture mapping."""
    return tuple(force_index(posture[z]) for z in ("ridge", "gap", "plain", "pmf_sector"))  # type: ignore[return-value]


def build_posture(
    terrain: Terrain, holders: tuple[int, int, int, int], level: float, params: ModelParams
) -> Posture:
    """Compute the posture (see the class docstring); cached through ``get_posture``."""
    key = (id(terrain), holders, float(level), _posture_params(params))
    hit = _CACHE.get(key)
    if hit is None or hit[0] is not terrain:
        if len(_CACHE) > 32:
            _CACHE.clear()
        hit = (terrain, _build(terrain, holders, float(level), key[3]))
        _CACHE[key] = hit
    return hit[1]


#: Per-process cache: (id(terrain), holders, level, params) -> (terrain, posture). The terrain is
#: kept in the value so its id cannot be reused while the entry lives.
_CACHE: dict[tuple, tuple[object, Posture]] = {}


def _posture_params(params: ModelParams) -> tuple[float, ...]:
    """The parameters the posture depends on, as a hashable tuple (the cache key)."""
    return (
        params.pesh_post_spacing_km,
        params.checkpoint_spacing_km,
        params.garrison_spacing_km,
        params.detect_range_day_km,
        params.elevation_bonus_per_100m,
        params.mobilise_h_pesh,
        params.mobilise_h_ia,
        params.mobilise_h_pmf,
        params.qrf_speed_kmh,
        tuple(params.gap_entry_delay_h),
        tuple(params.gap_garrison),
    )


def _build(
    terrain: Terrain, holders: tuple[int, int, int, int], level: float, pp: tuple
) -> Posture:
    (pesh_spacing, cp_spacing, garrison_spacing, range_day, elev_bonus, mob_pesh, mob_ia, mob_pmf,
     qrf_speed, gap_delays, garrison_levels) = pp
    zone = terrain.layers["zone"]
    pmf_sector = terrain.layers["pmf_sector"]
    ridge_h, gap_h, plain_h, pmf_h = holders

    holder = np.full(zone.shape, NONE, dtype=np.int8)
    holder[zone == Z_RIDGE] = ridge_h
    holder[zone == Z_GAP] = gap_h
    plain = (zone == Z_PLAIN) | (zone == Z_CAMP)
    holder[plain] = plain_h
    holder[plain & pmf_sector] = pmf_h

    cell_km = terrain.cell_km
    posts_xy: list[np.ndarray] = []
    posts_force: list[np.ndarray] = []
    posts_thermal: list[np.ndarray] = []

    def add_posts(xy: np.ndarray, force: int, thermal: bool) -> None:
        if len(xy) and force != NONE:
            posts_xy.append(xy)
            posts_force.append(np.full(len(xy), force, dtype=np.int8))
            posts_thermal.append(np.full(len(xy), thermal, dtype=bool))

    # Ridge holder: elevated posts along the Peshmerga line (thermal optics, rudaw 201220191).
    line = _clip_polyline(np.asarray(terrain.pesh_line_km, dtype=float), terrain)
    add_posts(_points_along(line, pesh_spacing), ridge_h, True)

    # Plain and PMF-sector holders: checkpoints along roads in their cells, plus the market town.
    for road in terrain.roads:
        cells = np.asarray(road.cells)
        if len(cells) == 0:
            continue
        h = holder[cells[:, 0], cells[:, 1]]
        for force in {int(x) for x in np.unique(h)} - {NONE}:
            if force == ridge_h and force != plain_h and force != pmf_h:
                continue  # the ridge pass road is covered by the line posts
            sel = cells[h == force]
            xy = np.column_stack(terrain.to_km(sel[:, 0], sel[:, 1]))
            add_posts(_points_along(xy, cp_spacing, ordered=True), force, False)
    for s in terrain.settlements:
        if s.kind == "town":
            add_posts(np.array([[s.x_km, s.y_km]]), int(holder[s.ix, s.iy]), False)

    # Gap holder (pre-2017 Peshmerga, joint brigades): posts along the middle of the gap.
    mid = _gap_midline(terrain)
    garrison = at_level(list(garrison_levels), level) >= 0.5
    if gap_h != NONE and mid is not None:
        add_posts(_points_along(mid, garrison_spacing), gap_h, gap_h in (PESH, JOINT))
    elif garrison and mid is not None:
        add_posts(_points_along(mid, garrison_spacing), JOINT, True)

    if posts_xy:
        post_xy = np.vstack(posts_xy)
        post_force = np.concatenate(posts_force)
        post_thermal = np.concatenate(posts_thermal)
    else:
        post_xy = np.zeros((0, 2))
        post_force = np.zeros(0, dtype=np.int8)
        post_thermal = np.zeros(0, dtype=bool)

    elev = terrain.layers["elevation_m"]
    pix, piy = terrain.to_cell(post_xy[:, 0], post_xy[:, 1]) if len(post_xy) else ([], [])
    pix = np.asarray(pix, dtype=int)
    piy = np.asarray(piy, dtype=int)
    base_elev = float(np.percentile(elev, 20))
    height = elev[pix, piy] - base_elev if len(pix) else np.zeros(0)
    post_gain = 1.0 + elev_bonus * np.clip(height, 0, None) / 100.0

    post_cover = np.zeros(zone.shape, dtype=bool)
    post_near = np.zeros(zone.shape, dtype=bool)
    if len(pix):
        post_cover[pix, piy] = True
        dist = ndimage.distance_transform_edt(~post_cover) * cell_km
        post_cover = dist <= range_day
        post_near = dist <= NEAR_POST_KM

    response = _response_field(terrain, holder, pix, piy, post_force, holders, level,
                               (mob_pesh, mob_ia, mob_pmf, min(mob_pesh, mob_ia)), qrf_speed,
                               list(gap_delays))

    routes = _routes(terrain, holder, line, holders)
    gap_route = None
    if mid is not None and len(mid) >= 2:
        gix, giy = terrain.to_cell(mid[:, 0], mid[:, 1])
        gap_route = Route(JOINT if gap_h in (NONE, JOINT) else gap_h, "gap",
                          _dedupe(np.column_stack([gix, giy])))

    fake_cp = _fake_checkpoint_cells(terrain, post_cover)
    return Posture(holders, level, holder, post_xy, post_force, post_gain, post_thermal,
                   post_cover, post_near, response, tuple(routes), gap_route, fake_cp)


def _response_field(terrain, holder, pix, piy, post_force, holders, level, mobilise, speed,
                    gap_delays) -> np.ndarray:
    """Hours until a quick-reaction force of the holding force (or, in an unheld gap, the nearest
    force allowed in) reaches each cell: mobilisation + distance from its nearest post / speed."""
    cell_km = terrain.cell_km
    response = np.full(holder.shape, NEVER_H, dtype=np.float32)
    per_force: dict[int, np.ndarray] = {}
    for force in range(len(FORCES)):
        mask = np.zeros(holder.shape, dtype=bool)
        sel = post_force == force
        if not sel.any():
            continue
        mask[pix[sel], piy[sel]] = True
        dist_km = ndimage.distance_transform_edt(~mask) * cell_km
        per_force[force] = (mobilise[force] + dist_km / speed).astype(np.float32)
    for force, field_h in per_force.items():
        own = holder == force
        response[own] = np.minimum(response[own], field_h[own])
    gap_unheld = (terrain.layers["zone"] == Z_GAP) & (holder == NONE)
    if gap_unheld.any() and per_force:
        nearest = np.minimum.reduce([f for f in per_force.values()])
        delay = at_level(gap_delays, level)
        response[gap_unheld] = nearest[gap_unheld] + delay
    # The camp has its own security force (kirkuknow 61365).
    camp = terrain.layers["zone"] == Z_CAMP
    response[camp] = np.minimum(response[camp], 0.25)
    return response


def _routes(terrain, holder, line, holders) -> list[Route]:
    """Patrol routes: foot patrols along the ridge line; vehicle patrols on roads each force holds."""
    routes: list[Route] = []
    ridge_h = holders[0]
    if ridge_h != NONE and len(line) >= 2:
        lx, ly = terrain.to_cell(line[:, 0], line[:, 1])
        routes.append(Route(ridge_h, "foot", _dedupe(np.column_stack([lx, ly]))))
    for road in terrain.roads:
        cells = np.asarray(road.cells)
        if len(cells) < 4:
            continue
        h = holder[cells[:, 0], cells[:, 1]]
        for force in {int(x) for x in np.unique(h)} - {NONE}:
            for seg in _runs(h == force):
                if seg[1] - seg[0] >= 8:
                    routes.append(Route(force, "vehicle", cells[seg[0]:seg[1]]))
    return routes


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start/stop indices of consecutive True runs."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _fake_checkpoint_cells(terrain, post_cover) -> np.ndarray:
    """Road cells in the gap or within 1 km of it and out of sight of every post."""
    road = terrain.layers["road"]
    near_gap = terrain.layers["zone"] == Z_GAP
    if near_gap.any():
        dist = ndimage.distance_transform_edt(~near_gap) * terrain.cell_km
        near_gap = dist <= 1.0
    ok = road & near_gap & ~post_cover
    return np.argwhere(ok)


def _gap_midline(terrain) -> np.ndarray | None:
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


def _clip_polyline(line: np.ndarray, terrain) -> np.ndarray:
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


def _points_along(xy: np.ndarray, spacing_km: float, ordered: bool = True) -> np.ndarray:
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


def _dedupe(cells: np.ndarray) -> np.ndarray:
    """Drop consecutive duplicate cells from a chain."""
    if len(cells) < 2:
        return cells.astype(int)
    keep = np.concatenate([[True], np.any(np.diff(cells, axis=0) != 0, axis=1)])
    return cells[keep].astype(int)
