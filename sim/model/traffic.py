"""Traffic: drivers and traders on the roads between villages, market towns and the world outside.

Why: a fake checkpoint stops the vehicles that pass it (rudaw 12082021: nine people stopped at night on
the Erbil-Makhmour road, five abducted, three hurt fleeing), so its victims must be people who were
really travelling past it. Each driver household makes trips on a schedule drawn from the exogenous
``traffic`` stream (keyed by the driver and the day: identical in every scenario), along the shortest
road path to a market town or off the map. A trip's position is a function of time, so the moment a
vehicle reaches any road point is known exactly. With ``traffic`` switched off nobody drives.

The road graph joins the cells of every road; roads that meet (within ``JOIN_KM``) are connected.
:attr:`Traffic.node_weight` -- how many drivers' usual routes pass a road point -- is what a cell knows
about where traffic runs (the roads and the towns they join are common knowledge).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from sim.model.clock import DUSK_H
from sim.model.villagers import DRIVER
from sim.rng import entity_key

if TYPE_CHECKING:
    from sim.model.incidents import Incident
    from sim.model.model import SecurityGapModel

#: Road points of different roads closer than this are one junction (km).
JOIN_KM = 0.3
#: A road point within this distance of a place counts as passing it (km).
PASS_KM = 0.3


@dataclass
class Trip:
    """One vehicle's journey: driver household, departure, path of road nodes, people aboard."""

    key: int
    driver: int
    depart: float
    nodes: np.ndarray
    cum_km: np.ndarray
    speed_kmh: float
    occupants: int

    def time_at(self, j: int) -> float:
        return self.depart + self.cum_km[j] / self.speed_kmh


class Traffic:
    """The road graph, the drivers' trips, and the questions tasks ask of them."""

    def __init__(self, model: SecurityGapModel) -> None:
        self.model = model
        terrain = model.terrain
        pts, road_id = [], []
        for r, road in enumerate(terrain.roads):
            cells = np.asarray(road.cells)
            if len(cells) == 0:
                continue
            pts.append(np.column_stack(terrain.to_km(cells[:, 0], cells[:, 1])))
            road_id.append(np.full(len(cells), r))
        self.node_xy = np.vstack(pts) if pts else np.zeros((0, 2))
        rid = np.concatenate(road_id) if road_id else np.zeros(0, dtype=int)
        n = len(self.node_xy)
        rows, cols, w = [], [], []
        for a in range(n - 1):
            if rid[a] == rid[a + 1]:
                rows.append(a)
                cols.append(a + 1)
                w.append(float(np.hypot(*(self.node_xy[a + 1] - self.node_xy[a]))))
        d = np.hypot(self.node_xy[:, None, 0] - self.node_xy[None, :, 0],
                     self.node_xy[:, None, 1] - self.node_xy[None, :, 1]) if n else np.zeros((0, 0))
        ja, jb = np.nonzero((d < JOIN_KM) & (rid[:, None] != rid[None, :]))
        rows += ja.tolist()
        cols += jb.tolist()
        w += np.maximum(d[ja, jb], 1e-3).tolist()
        self.graph = sparse.csr_matrix((w, (rows, cols)), shape=(n, n))
        self.graph = self.graph.maximum(self.graph.T)
        self.destinations = self._destinations()
        self.drivers = np.flatnonzero(model.villagers.role == DRIVER)
        self._home_node = {int(i): self._nearest(model.villagers.home_xy[i]) for i in self.drivers}
        self._paths: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._pred: dict[int, np.ndarray] = {}
        self._days: dict[int, list[Trip]] = {}
        self._flats: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.node_weight = self._usual_traffic()

    # -- structure ----------------------------------------------------------------------------
    def _nearest(self, xy: np.ndarray) -> int:
        return int(np.argmin(np.hypot(*(self.node_xy - xy).T)))

    def _destinations(self) -> np.ndarray:
        """Road nodes of market towns and where roads leave the map (the world outside)."""
        terrain = self.model.terrain
        dest = [self._nearest(np.array([s.x_km, s.y_km])) for s in terrain.settlements if s.market]
        x0, x1, y0, y1 = terrain.extent_km
        edge = ((self.node_xy[:, 0] - x0 < 0.5) | (x1 - self.node_xy[:, 0] < 0.5)
                | (self.node_xy[:, 1] - y0 < 0.5) | (y1 - self.node_xy[:, 1] < 0.5))
        dest += np.flatnonzero(edge).tolist()
        return np.array(sorted(set(dest)), dtype=np.int64)

    def _path(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        hit = self._paths.get((a, b))
        if hit is None:
            pred = self._pred.get(a)
            if pred is None:
                _, pred = dijkstra(self.graph, indices=a, return_predecessors=True)
                self._pred[a] = pred
            nodes = [b]
            while nodes[-1] != a and pred[nodes[-1]] >= 0:
                nodes.append(int(pred[nodes[-1]]))
            nodes = np.array(nodes[::-1], dtype=np.int64)
            if nodes[0] != a:  # unreachable: stay put
                nodes = np.array([a], dtype=np.int64)
            seg = np.hypot(*np.diff(self.node_xy[nodes], axis=0).T) if len(nodes) > 1 else np.zeros(0)
            hit = (nodes, np.concatenate([[0.0], np.cumsum(seg)]))
            self._paths[(a, b)] = hit
        return hit

    def _usual_traffic(self) -> np.ndarray:
        """How many drivers' routes to each destination pass each road node (plus one)."""
        w = np.ones(len(self.node_xy))
        for i in self.drivers:
            for dnode in self.destinations:
                nodes, _ = self._path(self._home_node[int(i)], int(dnode))
                w[nodes] += 1.0 / max(len(self.destinations), 1)
        return w

    # -- trips (exogenous) ---------------------------------------------------------------------
    def trips(self, day: int) -> list[Trip]:
        """Every trip of a day (keyed by driver and day; none with ``traffic`` switched off)."""
        hit = self._days.get(day)
        if hit is not None:
            return hit
        model = self.model
        p = model.params
        rnd = model.rand
        out: list[Trip] = []
        if model.on("traffic") and len(self.destinations) and len(self.drivers):
            keys = model.villagers.keys[self.drivers]
            counts = np.atleast_1d(rnd.poisson("traffic", p.trips_per_day, keys, day))
            d_idx = np.repeat(np.arange(len(self.drivers)), counts)
            m = np.arange(len(d_idx)) - np.repeat(np.cumsum(counts) - counts, counts)
            if len(d_idx):
                k = keys[d_idx]
                u = rnd.uniform("traffic", k[:, None], day, m[:, None], np.arange(4)[None, :])
                occupants = 1 + np.atleast_1d(rnd.poisson("traffic", p.occupants - 1.0, k, day, m, 1))
                night = u[:, 0] < p.night_trip_share
                hour = np.where(night, DUSK_H + (24.0 - DUSK_H) * u[:, 1],
                                p.work_start_h + (DUSK_H - p.work_start_h) * u[:, 1])
                dest = self.destinations[np.minimum((u[:, 2] * len(self.destinations)).astype(int),
                                                    len(self.destinations) - 1)]
                for j in range(len(d_idx)):
                    i = int(self.drivers[d_idx[j]])
                    kj, mj = int(k[j]), int(m[j])
                    nodes, cum = self._path(self._home_node[i], int(dest[j]))
                    t0 = 24.0 * day + float(hour[j])
                    out.append(Trip(entity_key(kj, day, mj, 0), i, t0, nodes, cum, p.road_speed_kmh,
                                    int(occupants[j])))
                    back = t0 + cum[-1] / p.road_speed_kmh + p.trip_dwell_h * (0.5 + float(u[j, 3]))
                    out.append(Trip(entity_key(kj, day, mj, 1), i, back, nodes[::-1], cum[-1] - cum[::-1],
                                    p.road_speed_kmh, int(occupants[j])))
        if len(self._days) > 4:
            self._days.pop(min(self._days))
        self._days[day] = out
        return out

    def trips_passing(self, xy: np.ndarray, t0: float, t1: float) -> list[tuple[float, Trip]]:
        """Vehicles that reach a road point during [t0, t1], in time order."""
        if not len(self.node_xy):
            return []
        close = np.flatnonzero(np.hypot(*(self.node_xy - xy).T) <= PASS_KM)
        if not len(close):
            return []
        found = []
        for day in range(max(int(math.floor(t0 / 24.0)) - 1, 0), int(math.floor(t1 / 24.0)) + 1):
            trips = self.trips(day)
            if not trips:
                continue
            flat = self._flat(day, trips)
            nodes, trip_id, pos = flat
            hit = np.isin(nodes, close)
            if not hit.any():
                continue
            ids, first = np.unique(trip_id[hit], return_index=True)
            for tid, j in zip(ids.tolist(), pos[hit][first].tolist(), strict=True):
                t = trips[tid].time_at(j)
                if t0 <= t <= t1:
                    found.append((t, trips[tid]))
        found.sort(key=lambda x: (x[0], x[1].key))
        return found

    def _flat(self, day: int, trips: list[Trip]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every trip's road nodes flattened: (node, trip index, position along the trip)."""
        hit = self._flats.get(day)
        if hit is None:
            hit = (np.concatenate([t.nodes for t in trips]),
                   np.concatenate([np.full(len(t.nodes), k) for k, t in enumerate(trips)]),
                   np.concatenate([np.arange(len(t.nodes)) for t in trips]))
            self._flats[day] = hit
            for old in [d for d in self._flats if d < day - 3]:
                del self._flats[old]
        return hit

    def road_points_near(self, xy: np.ndarray, radius_km: float) -> np.ndarray:
        """Road nodes within reach of a point (candidate fake-checkpoint sites)."""
        return np.flatnonzero(np.hypot(*(self.node_xy - xy).T) <= radius_km)

    # -- after a stop ---------------------------------------------------------------------------
    def escape(self, trip: Trip, xy: np.ndarray, incident: Incident) -> None:
        """A vehicle that fled drives on and raises the alarm at the next post on its way (or by
        phone when it gets to where it was going)."""
        model = self.model
        post = model.posture
        here = int(np.argmin(np.hypot(*(self.node_xy[trip.nodes] - xy).T)))
        t_here = trip.time_at(here)
        ahead = trip.nodes[here:]
        if len(post.post_xy_km) and len(ahead):
            d = np.hypot(self.node_xy[ahead][:, None, 0] - post.post_xy_km[None, :, 0],
                         self.node_xy[ahead][:, None, 1] - post.post_xy_km[None, :, 1])
            hit = np.argwhere(d <= 0.5)
            if len(hit):
                j, k = hit[np.argmin(hit[:, 0])]
                t = trip.time_at(here + int(j))
                model.command.alert(int(post.post_force[k]), xy, max(t, t_here), incident, cause="escape")
                return
        model.villagers.call_for_help(trip.driver, xy, incident, 0.0)
