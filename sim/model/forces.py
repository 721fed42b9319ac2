"""Security forces on the ground: outposts and checkpoints, and patrols on their routes.

Why agents with positions in time: a patrol is where its sortie has taken it along its route, at any
moment, so the sensing process can ask where every patrol is at its sample times, an ambush can find
the first patrol that really walks past, and a patrol's contacts with villages are real. Sorties are
drawn each day from the ``patrol`` stream keyed by the patrol and the day. Whether a force patrols
the unheld gap at all is coordination (``gap_patrols_per_day``); a force that holds the gap patrols it
like its other ground. With ``patrols`` switched off there are no patrols; posts remain.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import CellAgent, FixedAgent
from scipy import ndimage

from sim.model.params import FORCES, at_level
from sim.model.posture import NONE, TABLE_KM, Posture, Route
from sim.rng import entity_key

if TYPE_CHECKING:
    from sim.model.model import SecurityGapModel

#: Gap patrol units available for coordination sorties (gap_patrols_per_day is at most 8).
GAP_UNITS = 8
#: Most sorties a patrol draws for a day (patrol_sorties_per_day is at most 6).
_MAX_SORTIES = 7
#: Patrol units a force that holds the gap keeps on the gap route [EST].
GAP_HOLDER_UNITS = 2


class Outpost(FixedAgent):
    """A static post, checkpoint or base of one force (its position, optics and key come from the
    posture; bases also host a quick-reaction unit and the force's informant handlers)."""

    def __init__(self, model: SecurityGapModel, index: int, posture: Posture) -> None:
        super().__init__(model)
        self.index = index
        self.force = int(posture.post_force[index])
        self.thermal = bool(posture.post_thermal[index])
        self.base = bool(posture.post_base[index])
        self.key = int(posture.post_key[index])
        self.xy = posture.post_xy_km[index]
        self.cell = model.grid[model.frame.cell_of(*self.xy)]

    @property
    def force_name(self) -> str:
        return FORCES[self.force]


class Patrol(CellAgent):
    """A patrol walking or driving back and forth along a route during its sorties.

    Args:
        model: the model.
        route: the route it patrols.
        speed_kmh: its speed.
        key: stable entity key.
        sorties_per_day: mean sorties a day (None: gap sorties assigned by the day's draw).
    """

    def __init__(self, model: SecurityGapModel, route: Route, speed_kmh: float, key: int,
                 sorties_per_day: float | None) -> None:
        super().__init__(model)
        self.route = route
        self.force = route.force
        self.kind = route.kind
        self.speed = speed_kmh
        self.key = key
        self.sorties_per_day = sorties_per_day
        self.sorties: dict[int, list[tuple[float, float, float]]] = {}  # day -> [(t0, t1, s0)]
        self.index = -1  # row in the force's track window (set by Forces.deploy)
        self.cell = model.grid[model.frame.cell_of(*route.xy[0])]

    def set_day(self, day: int, sorties: list[tuple[float, float, float]]) -> None:
        """Take a day's sorties (drawn by ``Forces.plan_day``, which also lays out their tracks)."""
        self.sorties[day] = sorties
        for old in [d for d in self.sorties if d < day - 1]:
            del self.sorties[old]

    def _at(self, t: np.ndarray, t0: float, s0: float) -> np.ndarray:
        length = self.route.length_km
        s = np.mod(s0 + self.speed * (t - t0), 2.0 * length) if length > 0 else np.zeros(len(t))
        return self.route.at_arc(np.where(s > length, 2.0 * length - s, s))

    def positions_on_grid(self, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (k, 2) and out mask (k,) at grid times ``ks * dt`` (from the precomputed track)."""
        xy, out = self.model.forces.tracks_at(ks, np.array([self.index]))
        return xy[0], out[0]

    def positions(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (k, 2) and out-on-sortie mask (k,) at sample times."""
        xy = np.repeat(self.route.xy[:1], len(ts), axis=0).astype(float)
        out = np.zeros(len(ts), dtype=bool)
        for day_sorties in self.sorties.values():
            for t0, t1, s0 in day_sorties:
                sel = (ts >= t0) & (ts < t1)
                if sel.any():
                    xy[sel] = self._at(ts[sel], t0, s0)
                    out |= sel
        return xy, out

    def sync_cell(self, t: float, xy: np.ndarray | None = None) -> None:
        """Move the Mesa agent to the cell it is in at time t (from its track on the sensing grid;
        ``xy`` when the caller has already looked it up, as ``Forces.sync_cells`` does for all)."""
        if xy is None:
            pos, _ = self.positions_on_grid(np.array([math.ceil(t / self.model.sensing.dt - 1e-9)]))
            xy = pos[0]  # the route's start while not out
        coord = self.model.frame.cell_of(float(xy[0]), float(xy[1]))
        if self.cell is None or self.cell.coordinate != coord:
            self.cell = self.model.grid[coord]

    @property
    def force_name(self) -> str:
        return FORCES[self.force]


class Forces:
    """The posts and patrols of the current posture, and questions about them."""

    def __init__(self, model: SecurityGapModel) -> None:
        self.model = model
        self.posts: list[Outpost] = []
        self.patrols: list[Patrol] = []
        self.gap_units: list[Patrol] = []
        self.post_cover = np.zeros(model.terrain.layers["zone"].shape, dtype=bool)
        self._gap_cells: np.ndarray | None = None
        # Every patrol's track on the sensing grid for the days planned (yesterday or today, and
        # tomorrow), kept as one dense window: rows are patrols, columns grid times k * dt from
        # ``_k0``. Positions where a patrol is not out are its route's start (where it waits).
        self._day_tracks: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._k0 = 0
        self._win_xy = np.zeros((0, 0, 2))
        self._win_out = np.zeros((0, 0), dtype=bool)

    def deploy(self, posture: Posture) -> None:
        """(Re)create the posts and patrols of a posture (at the start and on timeline events)."""
        model = self.model
        p = model.params
        for agent in self.posts + self.patrols:
            agent.remove()
        self.posts = [Outpost(model, k, posture) for k in range(len(posture.post_xy_km))]
        self.patrols, self.gap_units = [], []
        self._day_tracks = {}
        self._win_xy, self._win_out = np.zeros((0, 0, 2)), np.zeros((0, 0), dtype=bool)
        if model.on("patrols"):
            counts = {0: p.patrols_pesh, 1: p.patrols_ia, 2: p.patrols_pmf}
            for force, n in counts.items():
                routes = sorted((r for r in posture.routes if r.force == force), key=lambda r: -r.length_km)
                for k in range(n if routes else 0):
                    route = routes[k % len(routes)]
                    speed = p.foot_speed_kmh if route.kind == "foot" else p.vehicle_speed_kmh
                    self.patrols.append(Patrol(model, route, speed, entity_key("patrol", route.name, k),
                                               p.patrol_sorties_per_day))
            gap = posture.gap_route
            if gap is not None:
                if posture.holders[1] != NONE:
                    for k in range(GAP_HOLDER_UNITS):
                        self.patrols.append(Patrol(model, gap, p.foot_speed_kmh,
                                                   entity_key("patrol", "gap_holder", gap.force, k),
                                                   p.patrol_sorties_per_day))
                elif at_level(list(p.gap_patrols_per_day), posture.level) > 0:
                    for k in range(GAP_UNITS):
                        unit = Patrol(model, gap, 2 * p.foot_speed_kmh, entity_key("patrol", "gap_sortie", k), None)
                        self.patrols.append(unit)
                        self.gap_units.append(unit)
        for j, patrol in enumerate(self.patrols):
            patrol.index = j
        self._home = np.array([pt.route.xy[0] for pt in self.patrols], dtype=float).reshape(-1, 2)
        self.post_cover = self._post_cover(posture)
        gap = model.terrain.layers["gap"]
        self._block = b = max(1, round(1.0 / model.terrain.cell_km))
        shape = (-(-gap.shape[0] // b), -(-gap.shape[1] // b))
        self._gap_cells = np.zeros(shape)
        self._gap_watched = np.zeros(shape)
        gx, gy = np.nonzero(gap)
        np.add.at(self._gap_cells, (gx // b, gy // b), 1.0)
        wx, wy = np.nonzero(gap & self.post_cover)
        np.add.at(self._gap_watched, (wx // b, wy // b), 1.0)
        tables = [pt.route.table for pt in self.patrols]
        self._table = np.vstack(tables) if tables else np.zeros((1, 2))
        self._table_n = np.array([len(tb) for tb in tables], dtype=np.int64)
        self._offset = np.concatenate([[0], np.cumsum(self._table_n)[:-1]]).astype(np.int64) \
            if tables else np.zeros(0, dtype=np.int64)
        self._length = np.array([pt.route.length_km for pt in self.patrols])
        self._speed = np.array([pt.speed for pt in self.patrols])
        day = model.calendar.day(model.time)
        self.plan_day(day)
        self.plan_day(day + 1)

    def _post_cover(self, posture: Posture) -> np.ndarray:
        """Cells within daylight detection range of a post (for the gap-control output)."""
        terrain = self.model.terrain
        mask = np.zeros(terrain.layers["zone"].shape, dtype=bool)
        if len(posture.post_xy_km):
            ix, iy = self.model.frame.cells_of(posture.post_xy_km[:, 0], posture.post_xy_km[:, 1])
            mask[ix, iy] = True
            dist = ndimage.distance_transform_edt(~mask) * terrain.cell_km
            mask = dist <= self.model.params.detect_range_day_km
        return mask

    def plan_day(self, day: int) -> None:
        """Draw every patrol's sorties for a day (how many, when, from where along the route; gap
        sorties: a Poisson number by coordination) and lay them out on the sensing grid. Vectorised
        over all patrols: it runs every day."""
        model = self.model
        p = model.params
        pats = self.patrols
        if not pats:
            return
        keys = np.array([pt.key for pt in pats], dtype=np.uint64)
        u = model.rand.uniform("patrol", keys[:, None], day, np.arange(1 + 2 * _MAX_SORTIES)[None, :])
        mean = np.array([pt.sorties_per_day or 0.0 for pt in pats])
        n = np.minimum(np.floor(mean).astype(int) + (u[:, 0] < mean - np.floor(mean)), _MAX_SORTIES)
        if self.gap_units:
            g = model.rand.poisson("patrol", at_level(list(p.gap_patrols_per_day), model.posture.level),
                                   entity_key("gap_sorties"), day)
            for k, unit in enumerate(self.gap_units):
                n[pats.index(unit)] = 1 if k < g else 0
        # A patrol cannot be out twice at once: the day is cut into one slot per sortie and each
        # sortie starts at a random time that lets it end within its slot.
        n = np.minimum(n, max(1, int(24.0 // p.patrol_sortie_h)))
        pi, kk = np.nonzero(np.arange(_MAX_SORTIES)[None, :] < n[:, None])
        slot = 24.0 / np.maximum(n[pi], 1)
        t0 = 24.0 * day + kk * slot + np.maximum(slot - p.patrol_sortie_h, 0.0) * u[pi, 1 + 2 * kk]
        t1 = t0 + p.patrol_sortie_h
        s0 = 2.0 * self._length[pi] * u[pi, 2 + 2 * kk]
        dt = model.sensing.dt
        # Tracks on the sensing grid.
        k0 = np.ceil(t0 / dt).astype(np.int64)
        lens = np.ceil(t1 / dt).astype(np.int64) - k0
        sortie = np.repeat(np.arange(len(pi)), lens)
        ks = k0[sortie] + np.arange(len(sortie)) - np.repeat(np.cumsum(lens) - lens, lens)
        xy = self._positions(pi[sortie], ks * dt, t0[sortie], s0[sortie])
        owner = pi[sortie]
        for j, patrol in enumerate(pats):
            mine = np.flatnonzero(pi == j)
            patrol.set_day(day, [(float(t0[m]), float(t1[m]), float(s0[m])) for m in mine])
        self._day_tracks[day] = (owner, ks, xy)
        for old in [d for d in self._day_tracks if d < day - 1]:
            del self._day_tracks[old]
        self._build_window()

    def _build_window(self) -> None:
        """Lay the planned days' tracks out as one dense (patrol, grid time) window."""
        dt = self.model.sensing.dt
        days = sorted(self._day_tracks)
        ks = [tr[1] for tr in self._day_tracks.values() if len(tr[1])]
        k0 = min([math.ceil(24.0 * days[0] / dt), *(int(k.min()) for k in ks)])
        k1 = max([math.ceil(24.0 * (days[-1] + 1) / dt), *(int(k.max()) + 1 for k in ks)])
        n = len(self.patrols)
        xy = np.empty((n, k1 - k0, 2))
        xy[:] = self._home[:, None, :]
        out = np.zeros((n, k1 - k0), dtype=bool)
        for day in reversed(days):  # an earlier day's point wins where two days' tracks meet
            owner, ks, pts = self._day_tracks[day]
            xy[owner, ks - k0] = pts
            out[owner, ks - k0] = True
        self._k0, self._win_xy, self._win_out = k0, xy, out

    def tracks_at(self, ks: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positions (m, k, 2) and out mask (m, k) of patrols ``rows`` (default: all) at grid
        times ``ks * dt``; outside the planned days a patrol waits at its route's start."""
        every = rows is None
        rows = np.arange(len(self.patrols)) if rows is None else rows
        cols = np.asarray(ks, dtype=np.int64) - self._k0
        width = self._win_out.shape[1]
        inside = (cols >= 0) & (cols < width)
        if not width:
            return np.repeat(self._home[rows][:, None, :], len(cols), axis=1), \
                np.zeros((len(rows), len(cols)), dtype=bool)
        if every and len(cols) and inside.all() and cols[-1] - cols[0] == len(cols) - 1:
            # The usual question (every patrol, a run of consecutive grid times inside the window):
            # slices of the window -- views, which callers must not write to.
            return self._win_xy[:, cols[0]:cols[-1] + 1], self._win_out[:, cols[0]:cols[-1] + 1]
        c = np.minimum(np.maximum(cols, 0), width - 1)
        xy = self._win_xy[rows[:, None], c[None, :]]
        out = self._win_out[rows[:, None], c[None, :]] & inside[None, :]
        if not inside.all():
            xy[:, ~inside] = self._home[rows][:, None, :]
        return xy, out

    def _positions(self, pidx: np.ndarray, t: np.ndarray, t0: np.ndarray, s0: np.ndarray) -> np.ndarray:
        """Positions of patrols ``pidx`` at times t on sorties that started at t0 from arc s0."""
        length = self._length[pidx]
        s = np.mod(s0 + self._speed[pidx] * (t - t0), 2.0 * np.maximum(length, 1e-9))
        s = np.where(s > length, 2.0 * length - s, s)
        j = np.minimum(np.rint(s * (1.0 / TABLE_KM)).astype(np.int64), self._table_n[pidx] - 1)
        return self._table[self._offset[pidx] + j]

    def sync_cells(self, t: float) -> None:
        """Every patrol's Mesa cell at time t (one look-up of the track window for all)."""
        if not self.patrols:
            return
        xy, _ = self.tracks_at(np.array([math.ceil(t / self.model.sensing.dt - 1e-9)]))
        for patrol, pos in zip(self.patrols, xy[:, 0], strict=True):
            patrol.sync_cell(t, pos)

    def observers(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Positions (m, k, 2), out mask (m, k), force (m,), key (m,) of the patrols out at some
        of the sample times (``ts`` on the sensing grid)."""
        ks = np.rint(ts / self.model.sensing.dt).astype(np.int64)
        xy, out = self.tracks_at(ks)
        busy = np.flatnonzero(out.any(axis=1))
        force = np.array([self.patrols[j].force for j in busy], dtype=np.int64)
        keys = np.array([self.patrols[j].key for j in busy], dtype=np.uint64)
        return xy[busy], out[busy], force, keys

    def patrol_passing(self, xy: np.ndarray, t0: float, t1: float, radius_km: float
                       ) -> tuple[float, Patrol] | None:
        """The first patrol that comes within ``radius_km`` of a point during [t0, t1]."""
        best = None
        for patrol in self.patrols:
            if float(np.min(np.hypot(*(patrol.route.xy - xy).T))) > radius_km:
                continue
            step = 0.5 * radius_km / patrol.speed
            ts = np.arange(t0, t1, step)
            if not len(ts):
                continue
            pos, out = patrol.positions(ts)
            hit = np.flatnonzero(out & (np.hypot(*(pos - xy).T) <= radius_km))
            if len(hit) and (best is None or ts[hit[0]] < best[0]):
                best = (float(ts[hit[0]]), patrol)
        return best

    def day_track(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Where patrols were during a day (their tracks on the sensing grid): points (n, 2) and
        times (n,)."""
        dt = self.model.sensing.dt
        lo, hi = math.ceil(24.0 * day / dt), math.ceil(24.0 * (day + 1) / dt)
        if day not in self._day_tracks and day - 1 not in self._day_tracks:
            return np.zeros((0, 2)), np.zeros(0)
        a, b = max(lo - self._k0, 0), max(min(hi - self._k0, self._win_out.shape[1]), 0)
        pi, kc = np.nonzero(self._win_out[:, a:b])
        return self._win_xy[pi, a + kc], (self._k0 + a + kc) * dt

    def mark_day(self, day: int) -> float:
        """Share of gap cells a post watches by day or a patrol passed close to during the day.

        Counted on blocks of about 1 km: a block a patrol's track entered, and its eight
        neighbours, count as patrolled (so "close" means within one to two kilometres)."""
        if self._gap_cells is None or not self._gap_cells.sum():
            return 1.0
        b = self._block
        pos, _ = self.day_track(day)
        visited = np.zeros(self._gap_cells.shape, dtype=bool)
        if len(pos):
            ix, iy = self.model.frame.cells_of(pos[:, 0], pos[:, 1])
            visited[ix // b, iy // b] = True
            visited = ndimage.maximum_filter(visited, size=3, mode="constant")
        covered = np.where(visited, self._gap_cells, self._gap_watched)
        return float(covered.sum() / self._gap_cells.sum())


