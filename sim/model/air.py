"""Coalition air power: strikes on hideouts a force is sure of, and a surveillance sensor (ISR).

Why separate: the air campaign is the one outcome with a documented rate (82 strikes killing 56
militants in about 13 months, seed 004). Strikes are requested by a force's command when its
confidence in a cell's hideout passes ``strike_confidence`` (or by the coalition on a hideout its
sensor tracked); approval takes ``air_delay_h`` for a force's request (deconfliction between the
forces and the coalition, by coordination level); a monthly budget caps them. A strike hits the
place it was aimed at: the cell may have left.

Surveillance is a sensor, not a coin flip per cell: on a share of days (``isr_days_share``, the
coalition's tasking, an exogenous draw keyed by the day) an orbit of ``isr_hours`` watches a disc
around the district's most recent incident; it sees moving groups day and night, and may follow one
home (``isr_track_prob``), which gives the coalition the hideout to strike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.model.combat import after_loss
from sim.model.memory import TRANSIENT
from sim.model.villagers import N_FORCES
from sim.rng import entity_key

if TYPE_CHECKING:
    from sim.model.model import SecurityGapModel


class StrikeRequest:
    """A requested strike waiting for approval (an event at its approval time)."""

    def __init__(self, air: AirSupport, force: int, uid: int, xy: np.ndarray, key: int) -> None:
        self.air, self.force, self.uid, self.xy, self.key = air, force, uid, np.asarray(xy, float), key

    def approved(self) -> None:
        self.air.pending.discard(self)
        self.air.execute(self)


class AirSupport:
    """Strike requests, the monthly budget, and the strikes themselves."""

    def __init__(self, model: SecurityGapModel) -> None:
        self.model = model
        self.remaining = 0.0
        self.month: tuple[int, int] | None = None
        self.pending: set[StrikeRequest] = set()
        self.requested = 0
        self.executed = 0
        self.dropped = 0
        self.killed = 0
        self.collateral = 0

    def new_month(self, key: tuple[int, int]) -> None:
        """The month's budget (at most one unused strike carries over)."""
        if key != self.month:
            self.month = key
            self.remaining = min(self.remaining, 1.0) + self.model.params.strike_budget_per_month

    def request(self, force: int, uid: int, xy: np.ndarray, delay_h: float, key: int) -> None:
        """Ask for a strike on ``xy``. ``key`` is the entity key of what caused the request (the
        report, the sensor's detection, the sweep), so the strike's draws are paired across
        scenarios; ``uid`` only names the target in the force's picture."""
        model = self.model
        if not model.on("air"):
            return
        self.requested += 1
        req = StrikeRequest(self, force, uid, xy, entity_key("strike", key))
        self.pending.add(req)
        model.schedule_event(req.approved, after=delay_h)

    def execute(self, req: StrikeRequest) -> None:
        """Fly the strike if the budget allows: fighters within ``strike_radius_km`` of the aim point
        are killed with ``strike_kill_prob`` each; survivors move cave; civilians near may be hurt."""
        model = self.model
        p = model.params
        if self.remaining < 1.0:
            self.dropped += 1
            return
        self.remaining -= 1.0
        self.executed += 1
        rnd = model.rand
        now = model.time
        killed = 0
        for cell in list(model.cells()):
            d = float(np.hypot(*(cell.position(now) - req.xy)))
            if d <= p.strike_radius_km:
                n = rnd.binomial("combat", cell.fighters, p.strike_kill_prob, req.key, cell.key)
                killed += cell.lose(n, "air")
                if cell.alive:
                    cell.remember(req.xy, now, 2.0, TRANSIENT)
                    cell.relocate(req.xy, 2.0)
                    after_loss(model, cell, n)
            elif d <= 5.0 and cell.alive:  # every cell that hears it grows warier
                cell.heat = min(1.0, cell.heat + p.heat_per_sighting)
                cell.remember(req.xy, now, 0.5, TRANSIENT)
        self.killed += killed
        model.recorder.strike(req.xy, killed)
        for pic in model.command.intel:
            r = pic.reports.get(req.uid)
            if r is not None:
                r.cave_conf *= 0.3
        if rnd.uniform("combat", req.key, 3) < p.collateral_prob:
            self._collateral(req.xy)

    def _collateral(self, xy: np.ndarray) -> None:
        model = self.model
        p = model.params
        sxy = model.settlement_xy
        d = np.hypot(*(sxy - xy).T)
        i = int(np.argmin(d))
        if d[i] <= 3.0:  # civilians are harmed only where they live near the target
            self.collateral += 1
            sid = model.terrain.settlements[i].id
            model.villagers.shock(sid, fear=0.2, grievance=p.grievance_per_harm,
                                  trust_delta=np.full(N_FORCES, -p.trust_fail))


class Surveillance:
    """The coalition's ISR orbit over the district: when, where, and what it sees."""

    def __init__(self, model: SecurityGapModel) -> None:
        self.model = model
        #: Orbits by day, (start h, end h, centre km): today's and tomorrow's (tomorrow's is tasked
        #: at midnight, so a look that crosses midnight sees both).
        self.orbits: dict[int, tuple[float, float, np.ndarray]] = {}
        self.hours = 0.0
        self.detections = 0
        self.tracks = 0

    def plan_day(self, day: int) -> None:
        """The day's tasking (exogenous: keyed by the day only), made the day before; orbits of
        days before yesterday are dropped."""
        model = self.model
        p = model.params
        for old in [d for d in self.orbits if d < day - 1]:
            del self.orbits[old]
        if not model.on("isr"):
            return
        u_on, u_start = model.rand.uniforms("tasking", 2, entity_key("isr"), day)
        if u_on >= p.isr_days_share:
            return
        start = 24.0 * day + (24.0 - p.isr_hours) * u_start
        centre = model.incidents.recent_centre(model.time, 30 * 24.0)
        if centre is None:
            centre = model.caves_xy.mean(axis=0)
        self.orbits[day] = (start, start + p.isr_hours, centre)
        self.hours += p.isr_hours

    def footprint(self, ts: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Centre (2,) and active mask over the sample times of every orbit flown during ``ts``."""
        out = []
        for day in sorted(self.orbits):
            a, b, c = self.orbits[day]
            active = (ts >= a) & (ts < b)
            if active.any():
                out.append((c, active))
        return out

    def detected(self, cell, xy: np.ndarray, key: int) -> None:
        """The orbit saw a group: the coalition notes it and may follow it home."""
        model = self.model
        p = model.params
        self.detections += 1
        cmd = model.command
        from sim.model.command import COALITION

        cmd.intel[COALITION].learn(cell.unique_id, xy, model.time, 0.6)
        if model.rand.uniform("combat", key, 5) < p.isr_track_prob:
            self.tracks += 1
            cmd.intel[COALITION].learn(cell.unique_id, cell.home_xy, model.time, 0.9, cell.cave, 0.9)
            model.air.request(COALITION, cell.unique_id, cell.home_xy, p.isr_strike_delay_h,
                              entity_key(key, "track"))
