"""Insurgent cells: Mesa agents that hide in caves, weigh operations, travel, act and learn.

Why agents with their own methods: a cell's life is a sequence of decisions and events (consider an
operation, set out, arrive, act, come home, flee a clash, move to another cave after a strike), each
a method of the cell scheduled on Mesa's event list, and everything a cell decides comes from its own
state: fighters, supplies, cash, heat, and a threat memory of what it has seen (sim/model/memory.py).

Entity keys: a cell's random numbers are keyed by ``key``, a stable hash of its lineage (the initial
cell's index, or its parent's key and split number, or the day and index of an inflow group), never
by Mesa's creation-order ``unique_id``, so a cell has the same numbers in every scenario of a paired
comparison. Mesa's ``unique_id`` (never reused) names the cell in the forces' intelligence pictures,
so a report or a strike in flight can never hit a successor cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import CellAgent

from sim.model import operations
from sim.model.memory import PATROL, POST, TRANSIENT, ThreatMemory
from sim.model.plans import Plan, route_legs
from sim.model.tasks import make_task
from sim.rng import entity_key

if TYPE_CHECKING:
    from mesa.time import Event

    from sim.model.model import SecurityGapModel


class InsurgentCell(CellAgent):
    """One insurgent cell (a few to a dozen fighters and their hideout).

    Args:
        model: the model.
        key: the cell's stable entity key (random numbers).
        fighters: fighters in the cell.
        cave: index of its hideout in ``model.caves_xy``.
        supplies: days of supplies it carries.
        cash: cash units (ransom and zakat in, market purchases out).
    """

    def __init__(self, model: SecurityGapModel, key: int, fighters: int, cave: int, supplies: float,
                 cash: float) -> None:
        super().__init__(model)
        p = model.params
        self.key = key
        self.fighters = int(fighters)
        self.cave = int(cave)
        self.supplies = float(supplies)
        self.cash = float(cash)
        self.heat = 0.2
        self.hostages = 0
        self.hostage_value = 0.0
        self.decisions = 0
        self.splits = 0
        self.engagements = 0
        self.losses = 0
        self.alive = True
        self.last_lie_up = False
        self.plan = Plan()
        self._home_cell = self.cave
        self.task = None
        self._trip_events: list[Event] = []  # arrival and homecoming of the current trip
        self._next_consider: Event | None = None
        self.memory = ThreatMemory(model.terrain.extent_km, p.memory_block_km,
                                   24.0 * p.memory_half_life_days, 24.0 * p.post_memory_half_life_days,
                                   p.threat_spread_km)
        self.cell = model.grid[model.frame.cell_of(*self.home_xy)]
        model.cell_by_uid[self.unique_id] = self
        self._schedule_consider()

    # -- where it is ----------------------------------------------------------------------
    @property
    def home_xy(self) -> np.ndarray:
        return self.model.caves_xy[self.cave]

    @property
    def busy(self) -> bool:
        return bool(self.plan) and self.plan.end > self.model.time

    def position(self, t: float | None = None) -> np.ndarray:
        """Where the cell is at time t (its hideout outside a trip)."""
        t = self.model.time if t is None else t
        pos = self.plan.position(t)
        return pos[0] if pos is not None else self.home_xy.copy()

    def exposed(self, t: float | None = None) -> bool:
        t = self.model.time if t is None else t
        return self.plan.position(t) is not None

    def sync_cell(self) -> None:
        """Move the Mesa agent to the grid cell it is in now."""
        if not self.plan and self._home_cell == self.cave:
            return
        self._home_cell = self.cave if not self.plan else -1
        coord = self.model.frame.cell_of(*self.position())
        if self.cell is None or self.cell.coordinate != coord:
            self.cell = self.model.grid[coord]

    # -- deciding -------------------------------------------------------------------------
    def _schedule_consider(self) -> None:
        p = self.model.params
        rate_h = p.action_rate_per_day / 24.0
        gap = self.model.rand.exponential("decide", self.key, self.decisions, 99, scale=1.0 / rate_h)
        self._next_consider = self.model.schedule_event(self.consider, after=gap)

    def consider(self) -> None:
        """Now and then a cell weighs what to do (a Poisson process per cell); the hotter it is, the
        more often it lets the moment pass and lies low (S13)."""
        if not self.alive:
            return
        self.decisions += 1
        calm = self.model.rand.uniform("decide", self.key, self.decisions, 98) >= self.heat
        if calm:
            self.decide()
        self._schedule_consider()

    def hungry(self) -> None:
        """Supplies are short: the cell goes for supplies now -- the market or a village's zakat --
        instead of waiting for its next consideration (resupply is a need, S15)."""
        if self.alive and not self.busy:
            self.decisions += 1
            self.decide(needs_only=True)

    def decide(self, needs_only: bool = False) -> None:
        """Pick the best option by payoff against perceived risk, or keep hiding."""
        model = self.model
        if self.busy:
            return
        model.sensing.sync()
        choice = operations.choose(model, self, model.time, needs_only)
        if choice is not None:
            self.set_out(*choice)

    def set_out(self, opt: operations.Option, legs: list, depart: float, arrive: float, end: float,
                lie_up: bool) -> None:
        """Adopt a trip: the plan, the arrival and homecoming events, and the task."""
        model = self.model
        self._cancel_trip_events()
        self.last_lie_up = lie_up
        self.plan = Plan(legs)
        self.task = make_task(model, self, opt, arrive, end)
        self._trip_events = [model.schedule_event(self.arrive, at=arrive),
                             model.schedule_event(self.come_home, at=self.plan.end)]
        model.recorder.trip(opt.kind, lie_up)
        model.sensing.plans_changed(from_t=depart)

    # -- trip events ----------------------------------------------------------------------
    def arrive(self) -> None:
        if self.alive and self.task is not None:
            self.task.start()

    def come_home(self) -> None:
        """Back in the hideout: hostages are ransomed through the network, the trip is over."""
        if not self.alive:
            return
        if self.hostages:
            self.cash += self.hostage_value
            self.hostages, self.hostage_value = 0, 0.0
        if self.task is not None:
            self.task.close()
        self.task = None
        self.model.recorder.movement(self.plan.legs, self.model.time)
        self.plan = Plan()

    def leave_now(self) -> None:
        """Cut the stay short and walk home from here (a task done or a danger seen)."""
        model = self.model
        t = model.time
        here = self.position(t)
        self.plan.truncate(t)
        back, home_at = route_legs(t, here, self.home_xy, model.params.fighter_speed_kmh,
                                   self.last_lie_up)
        self.plan.legs += back
        self._cancel_trip_events()
        self._trip_events = [model.schedule_event(self.come_home, at=max(home_at, t))]
        model.sensing.plans_changed()

    def flee(self) -> None:
        """Break off whatever it was doing and run for the hideout at once (after a clash)."""
        if self.task is not None:
            self.task.abort()
        self.last_lie_up = False
        self.leave_now()

    def relocate(self, away_from: np.ndarray, radius_km: float) -> None:
        """Move to the cave it believes safest outside a struck or swept area (displacement, S23)."""
        model = self.model
        t = model.time
        caves = model.caves_xy
        far = np.hypot(*(caves - away_from).T) > radius_km
        near = np.hypot(*(caves - self.position(t)).T) <= model.params.home_range_km
        cand = np.flatnonzero(far & near)
        if not len(cand):
            cand = np.flatnonzero(far)
        if not len(cand):
            return
        threat = self.memory.threat(caves[cand], t)
        dist = np.hypot(*(caves[cand] - self.position(t)).T)
        self.cave = int(cand[np.argmin(threat * 10.0 + dist / 10.0)])
        if self.task is not None:
            self.task.abort()
        self.leave_now()
        model.recorder.displacements += 1

    def _cancel_trip_events(self) -> None:
        for e in self._trip_events:
            e.cancel()
        self._trip_events = []

    # -- losses ---------------------------------------------------------------------------
    def lose(self, n: int, cause: str) -> int:
        """Remove up to n fighters (killed in air or ground action, arrested, deserted)."""
        n = int(min(n, self.fighters))
        if n <= 0:
            return 0
        model = self.model
        self.fighters -= n
        self.losses += n
        self.heat = min(1.0, self.heat + model.params.heat_per_loss * n)
        model.recorder.loss(n, cause)
        if self.fighters <= 0:
            self.dissolve()
        return n

    def dissolve(self) -> None:
        """The last fighter is gone: the cell leaves the model (its id is never reused)."""
        self.alive = False
        self._cancel_trip_events()
        if self._next_consider is not None:
            self._next_consider.cancel()
        if self.task is not None:
            self.task.abort()
        self.model.recorder.movement(self.plan.legs, self.model.time)
        self.plan = Plan()
        self.model.cell_by_uid.pop(self.unique_id, None)
        self.model.command.forget(self.unique_id)
        self.remove()
        self.model.sensing.plans_changed()

    # -- learning -------------------------------------------------------------------------
    def remember(self, xy: np.ndarray, t: float, weight: float, kind: int) -> None:
        """Add what the cell saw or heard to its memory (unless learning is switched off)."""
        if self.model.on("insurgent_learning"):
            self.memory.add(xy, t, weight, kind)

    def seen(self, by_xy: np.ndarray, t: float) -> None:
        """The cell knows it was seen: heat rises and the place of the watcher is remembered."""
        self.heat = min(1.0, self.heat + self.model.params.heat_per_sighting)
        self.remember(by_xy, t, 1.0, TRANSIENT)


class Network:
    """What the cells share through their network of supporters (S12): when each village last
    paid zakat, so that cells do not ask a village that has just paid."""

    def __init__(self) -> None:
        self.last_extorted: dict[int, float] = {}


# ------------------------------------------------------------------------------ population
def spawn_initial(model: SecurityGapModel) -> None:
    """The initial cells: ``n_fighters`` split into cells of about ``cell_size`` in caves that favour
    the gap and good cover (S16), each knowing the standing posts of its home range."""
    p = model.params
    rnd = model.rand
    terrain = model.terrain
    c = terrain.caves
    weights = 1.0 + 2.0 * terrain.layers["gap"][c[:, 0], c[:, 1]] + terrain.layers["cover"][c[:, 0], c[:, 1]]
    total = p.n_fighters
    i = 0
    while total > 0:
        size = int(min(total, max(2, rnd.poisson("init", p.cell_size, entity_key("cell_size"), i))))
        cave = rnd.choice("init", weights, entity_key("cell_cave"), i)
        low = min(5.0, p.supplies_days)
        supplies = low + (p.supplies_days - low) * rnd.uniform("init", entity_key("cell_supplies"), i)
        cell = InsurgentCell(model, entity_key("cell", i), size, cave, supplies, p.cash_start)
        seed_memory(model, cell)
        total -= size
        i += 1


def seed_memory(model: SecurityGapModel, cell: InsurgentCell) -> None:
    """What a cell knows when it comes into being: standing posts in its home range that it has
    seen over the years (``prior_post_knowledge``), nothing of patrol habits or new postures."""
    post = model.posture
    if not len(post.post_xy_km):
        return
    near = np.hypot(*(post.post_xy_km - cell.home_xy).T) <= model.params.home_range_km
    known = model.rand.uniform("init", cell.key, post.post_key) < model.params.prior_post_knowledge
    for xy in post.post_xy_km[near & known]:
        cell.memory.add(xy, model.time, 1.0, POST)


def add_fighters(model: SecurityGapModel, n: int, near_xy: np.ndarray, key: int) -> None:
    """Recruits or newcomers join the nearest cell with room, or found a new one at the nearest cave."""
    if n <= 0:
        return
    p = model.params
    cells = [c for c in model.cells() if c.fighters < p.max_cell_size]
    if cells:
        d = [float(np.hypot(*(c.home_xy - near_xy))) for c in cells]
        cells[int(np.argmin(d))].fighters += n
        return
    cave = int(np.argmin(np.hypot(*(model.caves_xy - near_xy).T)))
    cell = InsurgentCell(model, key, n, cave, p.supplies_days, p.cash_start)
    seed_memory(model, cell)


def split_large(model: SecurityGapModel) -> None:
    """A cell grown past ``max_cell_size`` splits; the new cell takes the nearest other cave and
    starts with a copy of the parent's memory."""
    p = model.params
    for cell in list(model.cells()):
        if cell.fighters <= p.max_cell_size or cell.busy:
            continue
        half = cell.fighters // 2
        cell.fighters -= half
        d = np.hypot(*(model.caves_xy - cell.home_xy).T)
        d[cell.cave] = np.inf
        cell.splits += 1
        child = InsurgentCell(model, entity_key(cell.key, "split", cell.splits), half, int(np.argmin(d)),
                              cell.supplies, 0.5 * cell.cash)
        cell.cash *= 0.5
        child.memory.evidence[:] = cell.memory.evidence
        child.memory.stamp[:] = cell.memory.stamp
        child.heat = cell.heat


def network_reports(model: SecurityGapModel, day: int) -> None:
    """Supporters tell the cells of the patrols they saw near their village that day (S12: "Those
    Daesh guys have strong intelligence"); each cell in range hears with ``network_report_rate``."""
    p = model.params
    if not model.on("insurgent_learning") or p.network_report_rate <= 0:
        return
    v = model.villagers
    villages = np.unique(v.home[v.supporter])
    if not len(villages):
        return
    pos, times = model.forces.day_track(day)
    if not len(pos):
        return
    cells = model.cells()
    if not cells:
        return
    sxy = model.settlement_xy[villages]  # (v, 2)
    near = np.hypot(pos[None, :, 0] - sxy[:, None, 0], pos[None, :, 1] - sxy[:, None, 1]) <= p.contact_km
    homes = np.array([c.home_xy for c in cells])  # (c, 2)
    in_range = np.hypot(homes[:, None, 0] - sxy[None, :, 0], homes[:, None, 1] - sxy[None, :, 1]) \
        <= p.home_range_km
    keys = np.array([c.key for c in cells], dtype=np.uint64)
    hears = in_range & (model.rand.uniform("social", keys[:, None], day, villages[None, :], 5)
                        < p.network_report_rate)
    for vi in np.flatnonzero(near.any(axis=1) & hears.any(axis=0)).tolist():
        seen = near[vi]
        seen_xy, t_last = pos[seen][::8], float(times[seen][-1])
        for c in np.flatnonzero(hears[:, vi]).tolist():
            cells[c].memory.add(seen_xy, t_last, 1.0, PATROL)


def daily_upkeep(model: SecurityGapModel, day: int) -> None:
    """Supplies are eaten, heat fades, and fighters without supplies drift away."""
    p = model.params
    for cell in list(model.cells()):
        cell.supplies -= 1.0
        cell.heat *= 1.0 - p.heat_decay_per_day
        if cell.supplies <= 0 and cell.fighters:
            gone = model.rand.binomial("social", cell.fighters, p.desertion_per_day, cell.key, day, 7)
            if gone:
                cell.lose(gone, "deserted")
        if cell.alive and cell.supplies < p.resupply_below_days and not cell.busy:
            cell.hungry()

