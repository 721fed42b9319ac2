"""Quick-reaction units: Mesa agents that wait at their bases, are sent, travel, search and engage.

Why agents: the response time of an incident is what the sources measure ("the Iraqi army arrived
within 15 minutes", rudaw 201220191) and what coordination changes, so it must come out of the model,
not go into it. A unit is sent by its force's command (sim/model/command.py) when an alert or a fresh
report reaches it and it may go there; it mobilises, travels by road and open ground at its own speed
(slower at night; sim/model/travel.py), and on arrival searches the place for ``qrf_search_h``: it
engages a group still within reach, raids a hideout it was sent to, and is an observer for the sensing
process while it searches. Then it drives home. A busy unit cannot be sent again; a force with no idle
unit does not respond. Insurgents never read any of this: they see units arrive, and remember.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import CellAgent

from sim.model import combat
from sim.model.clock import light_at
from sim.model.params import FORCES
from sim.model.plans import Plan
from sim.model.posture import Posture
from sim.model.travel import TravelTimes, travel_graph
from sim.rng import entity_key

if TYPE_CHECKING:
    from sim.model.incidents import Incident
    from sim.model.model import SecurityGapModel


class QuickReactionUnit(CellAgent):
    """A force's quick-reaction unit at one base."""

    def __init__(self, model: SecurityGapModel, force: int, base_xy: np.ndarray, key: int) -> None:
        super().__init__(model)
        self.force = force
        self.base_xy = np.asarray(base_xy, dtype=float)
        self.key = key
        self.busy_until = -np.inf
        self.site: np.ndarray | None = None
        self.search = (np.inf, -np.inf)  # (start, end) of the current search
        self.target_uid = -1
        self.raid_cave = -1
        self.incident: Incident | None = None
        self.route = Plan()
        self.events: list = []
        self.cell = model.grid[model.frame.cell_of(*self.base_xy)]

    @property
    def force_name(self) -> str:
        return FORCES[self.force]

    def idle(self, t: float) -> bool:
        return t >= self.busy_until

    def position(self, t: float) -> np.ndarray:
        pos = self.route.position(t)
        return pos[0] if pos is not None else self.base_xy

    def searching(self, t: float) -> bool:
        return self.search[0] <= t < self.search[1]

    def go(self, site: np.ndarray, depart: float, travel_h: float, incident: Incident | None,
           uid: int, raid_cave: int) -> float:
        """Set off for a site; returns the arrival time."""
        model = self.model
        p = model.params
        arrive = depart + travel_h
        back_h = travel_h
        self.site = np.asarray(site, dtype=float)
        self.incident, self.target_uid, self.raid_cave = incident, uid, raid_cave
        self.search = (arrive, arrive + p.qrf_search_h)
        home = self.search[1] + back_h
        self.busy_until = home
        self.route = Plan([(depart, arrive, *self.base_xy, *self.site, 0),
                           (arrive, self.search[1], *self.site, *self.site, 2),
                           (self.search[1], home, *self.site, *self.base_xy, 0)])
        self.events = [model.schedule_event(self.arrive, at=arrive)]
        model.qrf.busy.add(self)
        model.sensing.plans_changed(from_t=arrive)
        return arrive

    def arrive(self) -> None:
        """On site: the response is recorded; a group still in reach is engaged; a hideout raided."""
        model = self.model
        p = model.params
        now = model.time
        if self.incident is not None:
            self.incident.responded(self.force, now)
        cell = model.cell_by_uid.get(self.target_uid)
        if self.raid_cave >= 0:
            model.recorder.raids += 1
            if cell is not None and cell.alive and not cell.exposed(now) and cell.cave == self.raid_cave:
                combat.engage(model, self.force, cell, model.caves_xy[self.raid_cave],
                              surprise=p.raid_surprise, in_cave=True)
            else:
                r = model.command.intel[self.force].reports.get(self.target_uid)
                if r is not None:
                    r.cave_conf *= 0.3  # found it empty
            return
        # Any group still within reach of the site is engaged.
        for c in list(model.cells()):
            if c.alive and c.exposed(now):
                d = float(np.hypot(*(c.position(now) - self.site)))
                if d <= p.engage_range_km:
                    combat.engage(model, self.force, c, self.site)

    def sync_cell(self) -> None:
        coord = self.model.frame.cell_of(*self.position(self.model.time))
        if self.model.time >= self.busy_until:
            self.route = Plan()
            self.model.qrf.busy.discard(self)
        if self.cell is None or self.cell.coordinate != coord:
            self.cell = self.model.grid[coord]


class QuickReaction:
    """Every force's quick-reaction units and how one is chosen and sent."""

    def __init__(self, model: SecurityGapModel) -> None:
        self.model = model
        p = model.params
        graph = travel_graph(model.terrain, p.qrf_road_speed_kmh, p.qrf_offroad_speed_kmh)
        self.travel = TravelTimes(graph, p.qrf_night_factor)
        self.units: list[QuickReactionUnit] = []
        self.busy: set[QuickReactionUnit] = set()  # units away from their base (hourly cell updates)
        self.dispatches = 0
        self.no_unit = 0

    def deploy(self, posture: Posture) -> None:
        """One unit at every base of the posture (re-created on posture changes)."""
        for u in self.units:
            u.remove()
        self.units = []
        self.busy = set()
        if not self.model.on("qrf"):
            return
        for j in posture.bases:
            self.units.append(QuickReactionUnit(self.model, int(posture.post_force[j]),
                                                posture.post_xy_km[j],
                                                entity_key("qrf", int(posture.post_key[j]))))

    def mobilise_h(self, force: int) -> float:
        p = self.model.params
        return (p.mobilise_h_pesh, p.mobilise_h_ia, p.mobilise_h_pmf, p.mobilise_h_joint)[force]

    def dispatch(self, force: int, site: np.ndarray, ready: float, incident: Incident | None, uid: int,
                 raid_cave: int) -> bool:
        """Send the force's idle unit that would arrive first; False if it has none (or none can
        get there: a site behind a river without a bridge)."""
        best = None
        depart = ready + self.mobilise_h(force)
        night = not bool(light_at(depart))
        for u in self.units:
            if u.force != force or not u.idle(ready):
                continue
            t = self.travel.hours(u.base_xy, site, night)
            if best is None or t < best[0]:
                best = (t, u)
        if best is None or not np.isfinite(best[0]) or best[0] > 1e3:
            self.no_unit += 1
            return False
        self.dispatches += 1
        best[1].go(site, depart, best[0], incident, uid, raid_cave)
        return True

    def searchers(self, ts: np.ndarray) -> list[tuple[QuickReactionUnit, np.ndarray]]:
        """Units searching at some sample time, with the mask of those times."""
        out = []
        for u in self.units:
            a, b = u.search
            if b > ts[0] and a <= ts[-1]:
                out.append((u, (ts >= a) & (ts < b)))
        return out
