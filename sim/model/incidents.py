"""The incident log: what happened where, to whom, and whether anyone came.

Why its own module: every task, clash and punishment records incidents the same way, and two things
follow from an incident for the people who live with it (DOMAIN 4.7 item 7): fear in the victims'
settlement at once, and, ``answered_within_h`` later, trust -- gained by the force whose unit arrived
in time, lost by the force that holds the ground if nobody did. The response time is measured, not
assumed: it is set when the first unit sent to the incident arrives (sim/model/qrf.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sim.model.params import FORCES
from sim.model.posture import NONE, ZONE_NAMES
from sim.model.villagers import N_FORCES
from sim.rng import entity_key

if TYPE_CHECKING:
    from sim.model.insurgents import InsurgentCell
    from sim.model.model import SecurityGapModel

INCIDENT_TYPES: tuple[str, ...] = (
    "kidnapping", "fake_checkpoint", "ambush", "arson", "extortion", "village_attack", "retribution",
)
#: Column name in runs.parquet for each incident type.
TYPE_COLUMNS: dict[str, str] = {
    "kidnapping": "kidnappings", "fake_checkpoint": "fake_checkpoints", "ambush": "ambushes",
    "arson": "arsons", "extortion": "extortions", "village_attack": "village_attacks",
    "retribution": "retributions",
}
HOLDER_NAMES = (*FORCES, "none")


@dataclass
class Incident:
    """One insurgent incident (mutable while it unfolds: victims at a checkpoint, the response)."""

    id: int
    key: int
    kind: str
    t: float
    xy: np.ndarray
    zone: int
    holder: int
    victims: int
    casualties: int
    cell_uid: int
    settlement: int
    target_force: int
    victim_agents: list[int] = field(default_factory=list)
    response_h: float = math.nan
    responder: int = NONE

    def responded(self, force: int, t: float) -> None:
        """A unit sent to this incident is on site (the first one sets the response time)."""
        if math.isnan(self.response_h):
            self.response_h = max(t - self.t, 0.0)
            self.responder = force


class TrustCheck:
    """Judges an incident ``answered_within_h`` after it happened (an event)."""

    def __init__(self, log: IncidentLog, incident: Incident) -> None:
        self.log, self.incident = log, incident

    def judge(self) -> None:
        self.log.pending.discard(self)
        self.log.judge(self.incident)


class IncidentLog:
    """Every incident of a replicate, in order."""

    def __init__(self, model: SecurityGapModel) -> None:
        self.model = model
        self.items: list[Incident] = []
        self.pending: set[TrustCheck] = set()

    def record(self, kind: str, xy: np.ndarray, *, victims: int, casualties: int,
               cell: InsurgentCell, settlement: int, target_force: int = NONE,
               victim_agent: int = -1) -> Incident:
        model = self.model
        p = model.params
        xy = np.asarray(xy, dtype=float).copy()
        ix, iy = model.frame.cell_of(float(xy[0]), float(xy[1]))
        inc = Incident(len(self.items), entity_key("incident", cell.key, kind, len(self.items)), kind,
                       model.time, xy, int(model.terrain.layers["zone"][ix, iy]),
                       int(model.posture.holder[ix, iy]), int(victims), int(casualties), cell.unique_id,
                       int(settlement), int(target_force), [victim_agent] if victim_agent >= 0 else [])
        self.items.append(inc)
        model.recorder.incident(kind)
        if settlement >= 0:
            model.villagers.shock(settlement, fear=p.fear_per_incident)
            check = TrustCheck(self, inc)
            self.pending.add(check)
            model.schedule_event(check.judge, after=p.answered_within_h)
        return inc

    def judge(self, inc: Incident) -> None:
        """Trust after an incident: the responder gains if it came in time, the holder loses if
        nobody did (in the unheld gap, the forces on either side)."""
        model = self.model
        p = model.params
        delta = np.zeros(N_FORCES)
        if not math.isnan(inc.response_h) and inc.response_h <= p.answered_within_h:
            delta[inc.responder] = p.trust_protect
        elif inc.holder != NONE:
            delta[inc.holder] = -p.trust_fail
        else:
            for f in {model.posture.holders[0], model.posture.holders[2]} - {NONE}:
                delta[f] = -p.trust_fail
        model.villagers.shock(inc.settlement, trust_delta=delta)

    # -- queries -----------------------------------------------------------------------------
    def recent_centre(self, now: float, window_h: float) -> np.ndarray | None:
        """Where the latest incident of the last ``window_h`` hours happened (public knowledge)."""
        for inc in reversed(self.items):
            if inc.t < now - window_h:
                break
            return inc.xy
        return None

    def latest_where(self, accept) -> np.ndarray | None:
        """The latest incident among the last 50 whose place ``accept(xy)`` takes."""
        for inc in reversed(self.items[-50:]):
            if accept(inc.xy):
                return inc.xy
        return None

    def table(self) -> dict[str, np.ndarray]:
        """Equal-length columns, one row per incident (``incidents.parquet``)."""
        model = self.model
        cal = model.calendar
        items = self.items
        phases = np.array(["night", "dawn", "day", "dusk"])
        out = {
            "t_hours": np.array([i.t for i in items], dtype=np.float64),
            "day": np.array([cal.day(i.t) for i in items], dtype=np.int64),
            "phase": phases[np.array([cal.phase(i.t) for i in items], dtype=np.int64)] if items
            else np.zeros(0, dtype=str),
            "x_km": np.array([i.xy[0] for i in items], dtype=np.float64),
            "y_km": np.array([i.xy[1] for i in items], dtype=np.float64),
            "zone": np.array([ZONE_NAMES[i.zone] for i in items], dtype=str),
            "holder": np.array([HOLDER_NAMES[i.holder] for i in items], dtype=str),
            "type": np.array([i.kind for i in items], dtype=str),
            "victims": np.array([i.victims for i in items], dtype=np.int64),
            "casualties": np.array([i.casualties for i in items], dtype=np.int64),
            "group": np.array([i.cell_uid for i in items], dtype=np.int64),
            "settlement": np.array([i.settlement for i in items], dtype=np.int64),
            "response_h": np.array([i.response_h for i in items], dtype=np.float64),
            "responder": np.array([HOLDER_NAMES[i.responder] for i in items], dtype=str),
            "target_force": np.array([FORCES[i.target_force] if i.target_force != NONE else ""
                                      for i in items], dtype=str),
            "victim_agents": np.array([len(i.victim_agents) for i in items], dtype=np.int64),
        }
        return out
