"""Security forces: outposts and checkpoints, patrols on routes, gap patrols, detection.

Why arrays again: a few dozen posts and patrols observe every tick. Their positions and optics
live in arrays so detection of all exposed insurgent groups by all observers is one distance
matrix; the Mesa agents (``Outpost``, ``Patrol``) are views that keep the grid picture true for
the dashboard and for agent queries.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import CellAgent, FixedAgent

from sim.model.params import FORCES, ModelParams
from sim.model.posture import JOINT, NONE, Posture, Route

if TYPE_CHECKING:
    from sim.model.model import SecurityGapModel

#: Men in a patrol / at a post when engaged (for casualties) [EST].
UNIT_STRENGTH = 12
#: Duration of one gap patrol sortie (ticks are counted from the tick length).
GAP_SORTIE_H = 6.0


class Outpost(FixedAgent):
    """A static post or checkpoint of one force."""

    def __init__(self, model: SecurityGapModel, force: int, thermal: bool, cell) -> None:
        super().__init__(model)
        self.force = FORCES[force]
        self.thermal = thermal
        self.cell = cell


class Patrol(CellAgent):
    """A patrol walking or driving back and forth along a route."""

    def __init__(self, model: SecurityGapModel, idx: int, force: int, kind: str) -> None:
        super().__init__(model)
        self.idx = idx
        self.force = FORCES[force]
        self.kind = kind

    @property
    def out(self) -> bool:
        return bool(self.model.forces.patrol_out[self.idx])


class Forces:
    """Posts, patrols and their detection of insurgent groups under the current posture."""

    def __init__(self, model: SecurityGapModel, params: ModelParams) -> None:
        self.model = model
        self.p = params
        self.posts: list[Outpost] = []
        self.patrols: list[Patrol] = []
        self.posture: Posture | None = None
        self.gap_sorties: list[tuple[int, int]] = []  # (start tick, end tick) today

    # -- posture -------------------------------------------------------------------------
    def deploy(self, posture: Posture) -> None:
        """(Re)create posts and patrols for a posture (at start and on timeline changes)."""
        for agent in self.posts + self.patrols:
            agent.remove()
        self.posture = posture
        model = self.model
        terrain = model.terrain
        grid = model.grid
        self.posts = []
        if len(posture.post_xy_km):
            ix, iy = terrain.to_cell(posture.post_xy_km[:, 0], posture.post_xy_km[:, 1])
            for k, (a, b) in enumerate(zip(np.atleast_1d(ix), np.atleast_1d(iy), strict=True)):
                self.posts.append(Outpost(model, int(posture.post_force[k]),
                                          bool(posture.post_thermal[k]), grid[(int(a), int(b))]))
        p = self.p
        counts = {0: p.patrols_pesh, 1: p.patrols_ia, 2: p.patrols_pmf, JOINT: 0}
        assign: list[tuple[Route, float]] = []
        for force, n in counts.items():
            routes = [r for r in posture.routes if r.force == force]
            if not routes:
                continue
            routes.sort(key=lambda r: -len(r.cells))
            for k in range(n):
                route = routes[k % len(routes)]
                speed = p.foot_speed_kmh if route.kind == "foot" else p.vehicle_speed_kmh
                assign.append((route, speed))
        self.n_regular = len(assign)
        if posture.gap_route is not None:
            for _ in range(8):  # sortie slots (gap_patrols_per_day is at most 8)
                assign.append((posture.gap_route, p.foot_speed_kmh * 2))
        self.routes = [r for r, _ in assign]
        n = len(assign)
        self.patrol_force = np.array([r.force for r, _ in assign], dtype=np.int8)
        self.patrol_step = np.array(
            [s * p.tick_hours / terrain.cell_km for _, s in assign], dtype=float)
        self.route_len = np.array([len(r.cells) for r in self.routes], dtype=float)
        rng = model.streams["init"]
        self.patrol_pos = rng.random(n) * np.maximum(self.route_len - 1, 1)
        tpd = model.clock.ticks_per_day
        self.patrol_offset = rng.integers(0, tpd, n)
        self.patrol_out = np.zeros(n, dtype=bool)
        self.patrol_xy = np.zeros((n, 2))
        self.patrols = []
        for k, route in enumerate(self.routes):
            agent = Patrol(model, k, int(self.patrol_force[k]), route.kind)
            c = route.cells[0]
            agent.cell = grid[(int(c[0]), int(c[1]))]
            self.patrols.append(agent)
        self._route_xy = [np.column_stack(terrain.to_km(r.cells[:, 0], r.cells[:, 1]))
                          for r in self.routes]
        self.last_visit_h = np.full(terrain.layers["zone"].shape, -1e9, dtype=np.float32)
        self._disc = _disc_offsets(max(1, round(1.0 / terrain.cell_km)))

    # -- per day / tick ------------------------------------------------------------------
    def plan_gap_sorties(self, per_day: float) -> None:
        """Draw today's gap-patrol sorties (Poisson around the coordination level's rate)."""
        rng = self.model.streams["movement"]
        tpd = self.model.clock.ticks_per_day
        n = int(rng.poisson(per_day)) if per_day > 0 else 0
        if self.posture is not None and self.posture.holders[1] not in (NONE,):
            n = max(n, 2)  # a force holding the gap patrols it every day
        n = min(n, len(self.routes) - self.n_regular)
        length = max(1, round(GAP_SORTIE_H / self.p.tick_hours))
        starts = rng.integers(0, tpd, n)
        self.gap_sorties = [(int(s), int(s) + length) for s in starts]

    def move(self) -> None:
        """Advance patrols along their routes; mark the cells they see as visited."""
        if not len(self.routes):
            return
        clock = self.model.clock
        p = self.p
        tpd = clock.ticks_per_day
        duty = max(1, round(p.patrol_duty_share * tpd))
        out = ((clock.tick_of_day + self.patrol_offset) % tpd) < duty
        out[self.n_regular:] = False
        for k, (s, e) in enumerate(self.gap_sorties):
            idx = self.n_regular + k
            out[idx] = s <= clock.tick_of_day < e
        self.patrol_out = out
        # Back and forth along the route: reflect the position into [0, L-1].
        span = np.maximum(self.route_len - 1, 1)
        self.patrol_pos = np.where(out, (self.patrol_pos + self.patrol_step) % (2 * span),
                                   self.patrol_pos)
        pos = np.where(self.patrol_pos > span, 2 * span - self.patrol_pos, self.patrol_pos)
        idx = pos.astype(int)
        grid = self.model.grid
        now = clock.hours
        for k in np.flatnonzero(out):
            c = self.routes[k].cells[idx[k]]
            cx, cy = int(c[0]), int(c[1])
            self.patrol_xy[k] = self._route_xy[k][idx[k]]
            agent = self.patrols[k]
            if agent.cell.coordinate != (cx, cy):
                agent.cell = grid[(cx, cy)]
            self._mark(cx, cy, now)

    def _mark(self, cx: int, cy: int, now: float) -> None:
        r = self._disc
        w, h = self.last_visit_h.shape
        x0, x1 = max(cx - r, 0), min(cx + r + 1, w)
        y0, y1 = max(cy - r, 0), min(cy + r + 1, h)
        self.last_visit_h[x0:x1, y0:y1] = now

    def observers(self, night: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions (k, 2), force (k,), detection range (k,) of posts and patrols out now."""
        p = self.p
        post = self.posture
        pr = np.where(post.post_thermal, p.detect_range_thermal_km, p.detect_range_night_km) \
            if night else np.full(len(post.post_force), p.detect_range_day_km)
        pr = pr * post.post_range_gain
        sel = self.patrol_out
        patrol_range = np.full(int(sel.sum()), p.detect_range_night_km if night else p.detect_range_day_km)
        xy = np.vstack([post.post_xy_km, self.patrol_xy[sel]]) if sel.any() else post.post_xy_km
        force = np.concatenate([post.post_force, self.patrol_force[sel]])
        rng_km = np.concatenate([pr, patrol_range])
        return xy, force, rng_km

    def detection_probabilities(self, group_xy: np.ndarray, cover: np.ndarray, night: bool
                                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per force, the probability of detecting each group this tick, and distances.

        p_f = 1 - exp(-lambda * tick_h * (1 - cover) * sum over observers o of force f of
        exp(-(d_o / range_o)^2)), where range_o depends on day or night, thermal optics and the
        observer's height above the plain (DOMAIN 4.7 item 1).

        Returns:
            prob: (n_forces, n_groups); dist: (n_observers, n_groups) km; force: (n_observers,).
        """
        xy, force, rng_km = self.observers(night)
        n = len(group_xy)
        prob = np.zeros((len(FORCES), n))
        if len(xy) == 0 or n == 0:
            return prob, np.zeros((0, n)), force
        d = np.hypot(xy[:, None, 0] - group_xy[None, :, 0], xy[:, None, 1] - group_xy[None, :, 1])
        w = np.exp(-((d / rng_km[:, None]) ** 2))
        lam = self.p.detect_rate_per_h * self.p.tick_hours * (1.0 - cover)
        for f in range(len(FORCES)):
            sel = force == f
            if sel.any():
                prob[f] = 1.0 - np.exp(-lam * w[sel].sum(axis=0))
        return prob, d, force

    def detect(self, group_xy: np.ndarray, cover: np.ndarray, night: bool
               ) -> tuple[np.ndarray, np.ndarray]:
        """Which force detects each exposed group, and how far its nearest observer is.

        Returns:
            detected_by: (n_groups,) force index of the detecting force (-1 if none; forces are
                tried in index order);
            distance: (n_groups,) km to the nearest observer of that force.
        """
        rng = self.model.streams["detection"]
        prob, d, force = self.detection_probabilities(group_xy, cover, night)
        n = len(group_xy)
        by = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.inf)
        if d.shape[0] == 0 or n == 0:
            return by, dist
        u = rng.random((len(FORCES), n))
        for f in range(len(FORCES)):
            hit = (u[f] < prob[f]) & (by < 0)
            if hit.any():
                by[hit] = f
                dist[hit] = d[force == f][:, hit].min(axis=0)
        return by, dist

    def gap_control_share(self, now_h: float) -> float:
        """Share of gap cells seen by a post or visited by a patrol in the last 24 h."""
        gap = self.model.terrain.layers["gap"]
        if not gap.any():
            return 1.0
        seen = self.posture.post_cover | (self.last_visit_h >= now_h - 24.0)
        return float((seen & gap).sum() / gap.sum())

    def patrols_near(self, x_km: float, y_km: float, radius_km: float) -> np.ndarray:
        """Indices of patrols out now within ``radius_km`` of a point."""
        out = np.flatnonzero(self.patrol_out)
        if not len(out):
            return out
        d = np.hypot(self.patrol_xy[out, 0] - x_km, self.patrol_xy[out, 1] - y_km)
        return out[d <= radius_km]


def _disc_offsets(radius_cells: int) -> int:
    """Half-width of the square a patrol marks as visited (a cheap stand-in for a disc)."""
    return int(math.ceil(radius_cells))
