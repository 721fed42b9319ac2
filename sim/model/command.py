"""The forces' commands: what each force knows, what it does about it, and what it passes on.

Why here: this is where coordination acts, and only through messages and permissions. A report (a
villager's tip, a post's sighting, a coalition track) or an alert (a call for help, a patrol's radio,
a vehicle escaping a fake checkpoint) reaches one force. That force acts if the place is its own
ground; for another force's ground or the unheld gap it needs clearance to cross (``cross_prob``,
after ``cross_delay_h``), and otherwise it passes the message to the force able to act, which arrives
with probability ``share_prob`` after ``share_delay_h``. Acting means sending a quick-reaction unit to
a fresh sighting or an incident, raiding a hideout it is confident of, or asking for an air strike.

Every message is an object scheduled on Mesa's event list for the moment it arrives; its draws are
keyed by the message's own key, so whether a message gets through does not depend on how many others
were sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.model.params import FORCES, at_level
from sim.model.posture import JOINT, NONE
from sim.rng import entity_key

if TYPE_CHECKING:
    from sim.model.incidents import Incident
    from sim.model.model import SecurityGapModel

COALITION = len(FORCES)  # the coalition keeps a picture of its own (ISR tracks)
N_PICTURES = len(FORCES) + 1


@dataclass
class Report:
    """What a force believes about one cell: where it was seen, when, and maybe its hideout."""

    xy: np.ndarray
    t: float
    conf: float
    cave: int = -1
    cave_conf: float = 0.0
    cave_t: float = 0.0
    strike_t: float = -math.inf
    raid_t: float = -math.inf


class Intel:
    """One force's picture of the insurgent cells it has heard of (keyed by Mesa unique_id)."""

    def __init__(self, half_life_h: float, hideout_half_life_h: float) -> None:
        self.rate = math.log(2.0) / half_life_h
        self.cave_rate = math.log(2.0) / hideout_half_life_h
        self.reports: dict[int, Report] = {}

    def learn(self, uid: int, xy: np.ndarray, t: float, quality: float, cave: int = -1,
              cave_quality: float = 0.0) -> Report:
        r = self.reports.get(uid)
        if r is None:
            r = self.reports[uid] = Report(np.asarray(xy, dtype=float).copy(), t, quality)
        elif t >= r.t:
            old = r.conf * math.exp(-self.rate * (t - r.t))
            same = float(np.hypot(*(r.xy - xy))) < 1.0
            r.conf = 1.0 - (1.0 - old) * (1.0 - quality) if same else max(quality, 0.5 * old)
            r.xy, r.t = np.asarray(xy, dtype=float).copy(), t
        if cave >= 0:
            old = self.cave_conf(uid, t) if r.cave == cave else 0.0
            r.cave, r.cave_t = cave, t
            r.cave_conf = 1.0 - (1.0 - old) * (1.0 - cave_quality)
        return r

    def cave_conf(self, uid: int, now: float) -> float:
        r = self.reports.get(uid)
        if r is None or r.cave < 0:
            return 0.0
        return r.cave_conf * math.exp(-self.cave_rate * max(now - r.cave_t, 0.0))

    def forget(self, uid: int) -> None:
        self.reports.pop(uid, None)


class Message:
    """A report or alert on its way to a force (an event at its arrival time)."""

    def __init__(self, command: Commands, force: int, kind: str, key: int, payload: dict) -> None:
        self.command, self.force, self.kind, self.key, self.payload = command, force, kind, key, payload
        self.event = None
        self.passed_to: set[int] = set()  # forces this report was passed on to (once each)

    def deliver(self) -> None:
        self.command.pending.discard(self)
        self.command.receive(self)


class Commands:
    """Every force's command: pictures, messages in flight, decisions."""

    def __init__(self, model: SecurityGapModel) -> None:
        self.model = model
        p = model.params
        self.intel = [Intel(p.intel_half_life_h, p.hideout_half_life_h) for _ in range(N_PICTURES)]
        self.pending: set[Message] = set()
        self.counter = 0
        # Caves each force knows of: a fixed keyed draw per (force, cave) against its local knowledge,
        # so a force that learns the ground (local knowledge grows with tips) knows more caves.
        n_caves = len(model.caves_xy)
        self.cave_u = np.array([model.rand.uniform("init", entity_key("cave_known", f), np.arange(n_caves))
                                for f in range(len(FORCES))])
        self.local_knowledge = np.array([p.local_knowledge_pesh, p.local_knowledge_iraqi,
                                         p.local_knowledge_iraqi, p.local_knowledge_joint])
        self.tips_received = np.zeros(len(FORCES), dtype=np.int64)
        self.tips_reaching_actor = 0
        self.shared_sent = 0
        self.shared_arrived = 0
        self.alerts = 0
        self.alerts_unanswerable = 0

    # -- geometry of authority ------------------------------------------------------------------
    def actor_at(self, xy: np.ndarray) -> int:
        """The force able to act at a place: its holder or, in the unheld gap, the force whose line
        is nearer."""
        model = self.model
        h = model.holder_at(xy)
        if h != NONE:
            return h
        ix, iy = model.frame.cell_of(float(xy[0]), float(xy[1]))
        sd = float(model.terrain.layers["signed_dist_km"][ix, iy])
        ridge_h, _, plain_h, _ = model.posture.holders
        return ridge_h if sd > -0.5 * model.terrain.gap_width_km else plain_h

    def clearance(self, force: int, xy: np.ndarray, key: int) -> float | None:
        """Hours until ``force`` may act at a place (0 on its own ground), or None if not cleared."""
        h = self.model.holder_at(xy)
        if h == force or force == JOINT:
            return 0.0
        level = self.model.posture.level
        p = self.model.params
        if self.model.rand.uniform("share", key, 1) < at_level(list(p.cross_prob), level):
            return at_level(list(p.cross_delay_h), level)
        return None

    def knows_cave(self, force: int, cave: int) -> bool:
        return force < len(FORCES) and self.cave_u[force, cave] < self.local_knowledge[force]

    # -- messages ---------------------------------------------------------------------------------
    def _send(self, force: int, kind: str, at: float, key: int, payload: dict) -> None:
        msg = Message(self, force, kind, key, payload)
        self.pending.add(msg)
        msg.event = self.model.schedule_event(msg.deliver, at=max(at, self.model.time))

    def tip(self, force: int, cell_uid: int, xy: np.ndarray, t_seen: float, cave: int, delay_h: float,
            key: int, linked: bool) -> None:
        """A villager's report on its way to a force."""
        self._send(force, "tip", self.model.time + delay_h, key,
                   {"uid": cell_uid, "xy": xy, "t": t_seen, "cave": cave, "quality": 0.5 if linked else 0.35})

    def alert(self, force: int, xy: np.ndarray, at: float, incident: Incident | None, cause: str,
              cell_uid: int = -1) -> None:
        """A call for help, a radio call or an escaped driver's alarm reaching a force at ``at``."""
        self.counter += 1
        key = entity_key("alert", incident.key if incident is not None else self.counter, cause, force)
        self._send(force, "alert", at, key, {"uid": cell_uid, "xy": xy, "t": at, "incident": incident,
                                             "cause": cause})

    def sighting(self, force: int, cell_uid: int, xy: np.ndarray, t: float, cave: int, key: int) -> None:
        """A force's own post, patrol or unit saw a group: the report is in hand at once."""
        payload = {"uid": cell_uid, "xy": xy, "t": t, "cave": cave, "quality": 0.8}
        self.receive(Message(self, force, "sighting", key, payload))

    def forward(self, msg: Message, to: int) -> None:
        """Pass a message to another force: it arrives with the coordination level's probability,
        after its delay (DOMAIN 4.7 item 6)."""
        p = self.model.params
        level = self.model.posture.level
        if to == msg.force or to == NONE or msg.payload.get("forwarded") or to in msg.passed_to:
            return
        msg.passed_to.add(to)
        self.shared_sent += 1
        if self.model.rand.uniform("share", msg.key, 2) >= at_level(list(p.share_prob), level):
            return
        payload = dict(msg.payload, forwarded=True)
        self._send(to, msg.kind, self.model.time + at_level(list(p.share_delay_h), level),
                   entity_key(msg.key, "fwd", to), payload)

    # -- deciding -------------------------------------------------------------------------------
    def receive(self, msg: Message) -> None:
        """A message arrives at a force: update the picture, act if it may, else pass it on."""
        model = self.model
        f = msg.force
        pl = msg.payload
        uid = pl.get("uid", -1)
        xy = np.asarray(pl["xy"], dtype=float)
        cave = int(pl.get("cave", -1))
        if pl.get("forwarded"):
            self.shared_arrived += 1
        if msg.kind == "tip":
            if not pl.get("forwarded"):
                self.tips_received[f] += 1
                model.recorder.tip(f)
                lk = self.local_knowledge
                lk[f] = min(1.0, lk[f] + model.params.local_knowledge_gain_per_tip)
            if f == self.actor_at(model.caves_xy[cave] if cave >= 0 else xy):
                self.tips_reaching_actor += 1
        if uid >= 0 and uid in model.cell_by_uid:
            near_cave = -1
            if cave < 0:
                d = np.hypot(*(model.caves_xy - xy).T)
                j = int(np.argmin(d))
                if d[j] <= model.params.cave_assoc_km and self.knows_cave(f, j):
                    near_cave = j  # seen close to a cave this force knows: it may be the hideout
            c = cave if cave >= 0 else near_cave
            self.intel[f].learn(uid, xy, pl["t"], pl.get("quality", 0.5), c,
                                0.8 if cave >= 0 else (0.4 if c >= 0 else 0.0))
        if msg.kind == "alert":
            self.alerts += 1
            self._respond(msg, xy, pl.get("incident"), uid)
            return
        if uid >= 0 and uid in model.cell_by_uid:
            self._act_on(msg, uid, xy, pl["t"])

    def _respond(self, msg: Message, xy: np.ndarray, incident: Incident | None, uid: int) -> None:
        """Send a unit to an incident or a fresh sighting, if this force may go there."""
        model = self.model
        f = msg.force
        delay = self.clearance(f, xy, msg.key)
        if delay is None:
            actor = self.actor_at(xy)
            if actor != f:
                self.forward(msg, actor)
            else:
                self.alerts_unanswerable += 1
            return
        if model.on("qrf"):
            model.qrf.dispatch(f, xy, model.time + delay, incident, uid, raid_cave=-1)

    def _act_on(self, msg: Message, uid: int, xy: np.ndarray, t_seen: float) -> None:
        """Doctrine for a report on a known cell: chase a fresh sighting, raid a hideout it is sure
        of, ask for a strike on it; pass on what it may not act on."""
        model = self.model
        p = model.params
        f = msg.force
        now = model.time
        pic = self.intel[f]
        r = pic.reports[uid]
        if now - t_seen <= p.alert_fresh_h and msg.kind != "alert":
            self._respond(msg, xy, None, uid)
        cconf = pic.cave_conf(uid, now)
        if r.cave < 0:
            return
        cave_xy = model.caves_xy[r.cave]
        if cconf >= p.strike_confidence and now - r.strike_t > 24.0 * 7 and model.on("air"):
            r.strike_t = now
            model.air.request(f, uid, cave_xy, at_level(list(p.air_delay_h), model.posture.level),
                              entity_key(msg.key, "strike"))
        if cconf >= p.cave_raid_confidence and now - r.raid_t > 24.0 * 7:
            delay = self.clearance(f, cave_xy, entity_key(msg.key, "raid"))
            if delay is None:
                self.forward(msg, self.actor_at(cave_xy))
            elif model.on("qrf"):
                r.raid_t = now
                model.qrf.dispatch(f, cave_xy, now + delay, None, uid, raid_cave=r.cave)

    def forget(self, uid: int) -> None:
        for pic in self.intel:
            pic.forget(uid)

    def best_report(self, forces: tuple[int, ...], region_mask_fn, now: float
                    ) -> tuple[np.ndarray, int, bool] | None:
        """(place, cell uid, is a hideout) of the most confident report held by any of ``forces``
        that ``region_mask_fn(place)`` accepts (a joint operation pools the forces' pictures)."""
        best, out = 0.05, None
        for f in forces:
            pic = self.intel[f]
            for uid, r in pic.reports.items():
                if uid not in self.model.cell_by_uid:
                    continue
                seen = r.conf * math.exp(-pic.rate * max(now - r.t, 0.0))
                hide = pic.cave_conf(uid, now)
                c = max(seen, hide)
                xy = self.model.caves_xy[r.cave] if r.cave >= 0 and hide >= seen else r.xy
                if c > best and region_mask_fn(xy):
                    best, out = c, (xy, uid, r.cave >= 0 and hide >= seen)
        return out
