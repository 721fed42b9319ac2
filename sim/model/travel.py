"""How long a vehicle takes from a base to any place: least-time paths over roads and open ground.

Why: a quick-reaction unit's response time is an output of the model, not an input. It is the time
the alert takes to reach the unit (sim/model/qrf.py), plus mobilisation, plus this travel time,
which depends on where the roads run, how steep the ground is and whether it is night. Nothing in
the model reads these fields except the units themselves when they are sent somewhere.

The field is computed on blocks of about 1 km (a 250 m terrain has 16 cells per block): a block with
a road is crossed at road speed, other blocks at the off-road speed, halved where the mean slope is
steep; blocks of river without a road are impassable (the Great Zab is crossed at the Gwer bridge).
One Dijkstra search per base (scipy.sparse.csgraph) over ~3,000 blocks takes about a millisecond;
fields are computed when a base first sends a unit and kept by the model that asked.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

if TYPE_CHECKING:
    from sim.terrain.builder import Terrain

#: Target block edge in km (rounded to whole cells).
BLOCK_KM = 1.0
#: Mean slope above which off-road speed halves [EST].
STEEP_DEG = 10.0
_GRAPHS: OrderedDict[tuple, TravelGraph] = OrderedDict()


class TravelGraph:
    """Block graph of one terrain at given road and off-road speeds (day)."""

    def __init__(self, terrain: Terrain, road_kmh: float, offroad_kmh: float) -> None:
        cell = terrain.cell_km
        self.factor = f = max(1, round(BLOCK_KM / cell))
        w, h = terrain.width, terrain.height
        self.bw, self.bh = bw, bh = -(-w // f), -(-h // f)
        self.block_km = f * cell
        self.x0, self.y0 = terrain.x_min_km, terrain.y_min_km

        def blocked(layer: np.ndarray, how: str) -> np.ndarray:
            pad = np.zeros((bw * f, bh * f), dtype=float)
            pad[:w, :h] = layer
            v = pad.reshape(bw, f, bh, f)
            return v.max(axis=(1, 3)) if how == "max" else v.mean(axis=(1, 3))

        road = blocked(terrain.layers["road"].astype(float), "max") > 0
        river = blocked(terrain.layers["river"].astype(float), "mean") > 0.2
        slope = blocked(terrain.layers["slope_deg"], "mean")
        speed = np.where(slope > STEEP_DEG, 0.5 * offroad_kmh, offroad_kmh)
        speed = np.where(road, road_kmh, speed)
        speed = np.where(river & ~road, 1e-3, speed)
        self.speed = speed
        n = bw * bh
        idx = np.arange(n).reshape(bw, bh)
        rows, cols, costs = [], [], []
        for dx, dy in ((1, 0), (0, 1), (1, 1), (1, -1)):
            a = idx[max(0, -dx):bw - max(0, dx), max(0, -dy):bh - max(0, dy)]
            b = idx[max(0, dx):bw - max(0, -dx) or None, max(0, dy):bh - max(0, -dy) or None]
            a, b = a.ravel(), b.ravel()
            dist = self.block_km * np.hypot(dx, dy)
            sa, sb = speed.ravel()[a], speed.ravel()[b]
            cost = 0.5 * dist * (1.0 / sa + 1.0 / sb)
            rows += [a, b]
            cols += [b, a]
            costs += [cost, cost]
        self.graph = sparse.csr_matrix((np.concatenate(costs), (np.concatenate(rows), np.concatenate(cols))),
                                       shape=(n, n))

    def block_of(self, x_km: float, y_km: float) -> int:
        bx = int(np.clip((x_km - self.x0) // self.block_km, 0, self.bw - 1))
        by = int(np.clip((y_km - self.y0) // self.block_km, 0, self.bh - 1))
        return bx * self.bh + by

    def hours_from(self, x_km: float, y_km: float) -> np.ndarray:
        """Day travel time (h) from a point to every block, flat array indexed by ``block_of``."""
        return dijkstra(self.graph, indices=self.block_of(x_km, y_km))


def travel_graph(terrain: Terrain, road_kmh: float, offroad_kmh: float) -> TravelGraph:
    """The block graph for a terrain and speeds (a small per-process cache keyed by content)."""
    key = (terrain.key, terrain.gap_width_km, float(road_kmh), float(offroad_kmh))
    hit = _GRAPHS.get(key) if terrain.key else None
    if hit is None:
        hit = TravelGraph(terrain, road_kmh, offroad_kmh)
        if terrain.key:
            _GRAPHS[key] = hit
            while len(_GRAPHS) > 8:
                _GRAPHS.popitem(last=False)
    return hit


class TravelTimes:
    """Travel-time fields from bases, computed on first use (one per model)."""

    def __init__(self, graph: TravelGraph, night_factor: float) -> None:
        self.graph = graph
        self.night_factor = night_factor
        self._fields: dict[tuple[float, float], np.ndarray] = {}

    def hours(self, origin_xy: np.ndarray, dest_xy: np.ndarray, night: bool) -> float:
        """Travel time from an origin (a base) to a destination, by day or at night."""
        key = (round(float(origin_xy[0]), 4), round(float(origin_xy[1]), 4))
        field = self._fields.get(key)
        if field is None:
            field = self._fields[key] = self.graph.hours_from(*key)
        t = float(field[self.graph.block_of(float(dest_xy[0]), float(dest_xy[1]))])
        return t / self.night_factor if night else t
