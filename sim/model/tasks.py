"""What happens when a cell reaches its target: tasks that find real victims and raise real alarms.

Why tasks: an operation takes time on site, and who suffers from it depends on who is really there
then -- a work party by its schedule (seed 003: hunters out early in the morning), a vehicle on its
trip (rudaw 12082021: nine people stopped at night on the Erbil road), a patrol on its sortie. A task
is started by the cell's arrival, schedules its own moments (a vehicle reaching the checkpoint, a
party coming into view, a patrol walking into the ambush) as Mesa events, records incidents through
the incident log and raises the alarm the way the victims would: by a call to a force they trust or,
for a patrol, by radio. Nothing here decides whether help comes: the forces' commands and their
quick-reaction units do (sim/model/command.py, sim/model/qrf.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.model.operations import AMBUSH, ARSON, ATTACK, EXTORT, FAKE_CP, KIDNAP, RESUPPLY, Option
from sim.model.posture import NONE

if TYPE_CHECKING:
    from sim.model.insurgents import InsurgentCell
    from sim.model.model import SecurityGapModel

#: Distance (km) within which a party at its work site is within a cell's reach on arrival [EST].
REACH_KM = 1.0


class Task:
    """An operation in progress (base class): started on arrival, closed at homecoming."""

    kind = -1

    def __init__(self, model: SecurityGapModel, cell: InsurgentCell, opt: Option, arrive: float,
                 end: float) -> None:
        self.model = model
        self.cell = cell
        self.opt = opt
        self.arrive_t = arrive
        self.end_t = end
        self.active = False
        self.events: list = []
        self.n = cell.decisions  # the decision's number keys this task's draws

    def u(self, *words: int) -> float:
        return float(self.model.rand.uniform("act", self.cell.key, self.n, self.kind, *words))

    def start(self) -> None:
        self.active = True
        self.on_arrival()

    def on_arrival(self) -> None:  # pragma: no cover - overridden
        pass

    def at(self, t: float, method) -> None:
        """Schedule one of this task's methods (kept alive by the cell's reference to the task)."""
        self.events.append(self.model.schedule_event(method, at=max(t, self.model.time)))

    def abort(self) -> None:
        self.active = False
        for e in self.events:
            e.cancel()
        self.events = []

    def close(self) -> None:
        self.abort()

    def done(self) -> None:
        """The cell has what it came for (or gives up): it leaves now."""
        if self.active:
            self.abort()
            self.cell.leave_now()


class Kidnap(Task):
    """Seize people from a work party at its site (seeds 002/003)."""

    kind = KIDNAP

    def on_arrival(self) -> None:
        t = self.model.time
        found = self.model.villagers.parties_at(self.opt.xy, t, self.end_t, REACH_KM)
        if found:
            self.victim, t_seen = found[0]
            self.at(t_seen, self.seize)

    def seize(self) -> None:
        if not self.active:
            return
        model, cell, p = self.model, self.cell, self.model.params
        v = model.villagers
        i = self.victim
        people = v.people_out(i)
        taken = max(1, model.rand.binomial("act", people, p.kidnap_take_share, cell.key, self.n, self.kind, 1))
        taken = min(taken, people)
        cell.hostages += taken
        cell.hostage_value += taken * p.ransom_cash * (1.0 if v.is_kurd(i) else 0.5)
        inc = model.incidents.record("kidnapping", self.opt.xy, victims=taken, casualties=0,
                                     cell=cell, settlement=int(v.home[i]), victim_agent=i)
        v.call_for_help(i, self.opt.xy, inc, self.u(2))
        self.done()


class FakeCheckpoint(Task):
    """Stop the vehicles that pass a road point at night (rudaw 12082021)."""

    kind = FAKE_CP

    def on_arrival(self) -> None:
        self.incident = None
        self.stopped = 0
        self.stops = [_Stop(self, trip, t) for t, trip in
                      self.model.traffic.trips_passing(self.opt.xy, self.model.time, self.end_t)]
        for stop in self.stops:  # the task keeps the stops alive (events hold weak references)
            self.at(stop.t, stop.fire)

    def stop(self, trip) -> None:
        if not self.active:
            return
        model, cell, p = self.model, self.cell, self.model.params
        self.stopped += 1
        if self.incident is None:
            self.incident = model.incidents.record("fake_checkpoint", self.opt.xy, victims=0,
                                                   casualties=0, cell=cell, settlement=-1)
        if model.rand.uniform("act", trip.key, 1) < p.flee_prob:
            hurt = model.rand.binomial("act", trip.occupants, p.flee_injury_prob, trip.key, 2)
            self.incident.casualties += hurt
            model.recorder.casualties_civilian += hurt
            model.traffic.escape(trip, self.opt.xy, self.incident)
            self.done()  # the alarm is out: pack up
            return
        taken = trip.occupants
        self.incident.victims += taken
        self.incident.victim_agents.append(trip.driver)
        cell.hostages += taken
        cell.hostage_value += taken * p.ransom_cash * (1.0 if model.villagers.is_kurd(trip.driver) else 0.5)


class _Stop:
    """One vehicle reaching a fake checkpoint (an object, so its event has a live bound method)."""

    def __init__(self, task: FakeCheckpoint, trip, t: float) -> None:
        self.task, self.trip, self.t = task, trip, t

    def fire(self) -> None:
        self.task.stop(self.trip)


class Ambush(Task):
    """Wait by a remembered patrol route and hit the first patrol that comes (seed 002, Q7)."""

    kind = AMBUSH

    def on_arrival(self) -> None:
        hit = self.model.forces.patrol_passing(self.opt.xy, self.model.time, self.end_t, 0.3)
        if hit is not None:
            self.patrol = hit[1]
            self.at(hit[0], self.spring)

    def spring(self) -> None:
        if not self.active:
            return
        model, cell, p = self.model, self.cell, self.model.params
        patrol = self.patrol
        hurt = model.rand.binomial("act", p.unit_strength, p.ambush_hit_prob, cell.key, self.n, self.kind, 1)
        model.recorder.casualties_security += hurt
        inc = model.incidents.record("ambush", self.opt.xy, victims=0, casualties=hurt, cell=cell,
                                     settlement=-1, target_force=patrol.force)
        lost = model.rand.binomial("act", cell.fighters, p.ambush_loss_prob, cell.key, self.n, self.kind, 2)
        if lost:
            cell.lose(lost, "ground")
        if cell.alive:
            model.command.alert(patrol.force, self.opt.xy, model.time, inc, cause="radio")
            self.done()


class Arson(Task):
    """Burn a Kurdish village's dry crop at night (shafaaq May 2020)."""

    kind = ARSON

    def on_arrival(self) -> None:
        model = self.model
        inc = model.incidents.record("arson", self.opt.xy, victims=0, casualties=0, cell=self.cell,
                                     settlement=self.opt.aux)
        model.villagers.settlement_calls(self.opt.aux, self.opt.xy, inc, self.u(1))
        self.done()


class Extort(Task):
    """Collect zakat from a Sunni village, in cash and in kind (rudaw 070420192)."""

    kind = EXTORT

    def on_arrival(self) -> None:
        model, cell, p = self.model, self.cell, self.model.params
        cell.cash += p.zakat_cash
        cell.supplies = min(p.supplies_days, cell.supplies + p.extortion_supplies_days)
        model.insurgency.last_extorted[self.opt.aux] = model.time
        model.incidents.record("extortion", self.opt.xy, victims=0, casualties=0, cell=cell,
                               settlement=self.opt.aux)


class VillageAttack(Task):
    """Attack a Kurdish village at night; its guards fight back and call for help (rudaw 201220191)."""

    kind = ATTACK

    def on_arrival(self) -> None:
        model, cell, p = self.model, self.cell, self.model.params
        st = model.terrain.settlements[self.opt.aux]
        defenders = max(int(st.self_defence), 4)
        share = cell.fighters / (cell.fighters + defenders)
        hurt = model.rand.binomial("act", defenders, p.village_fight_hit_prob * (0.5 + share),
                                   cell.key, self.n, self.kind, 1)
        model.recorder.casualties_civilian += hurt
        inc = model.incidents.record("village_attack", self.opt.xy, victims=0, casualties=hurt, cell=cell,
                                     settlement=st.id)
        lost = model.rand.binomial("act", cell.fighters, p.village_fight_hit_prob * (1.5 - share),
                                   cell.key, self.n, self.kind, 2)
        model.villagers.settlement_calls(st.id, self.opt.xy, inc, self.u(3))
        if lost:
            cell.lose(lost, "ground")
        if cell.alive:
            self.done()


class Resupply(Task):
    """Buy what the cell needs in the market town, travelling as civilians (S15)."""

    kind = RESUPPLY

    def on_arrival(self) -> None:
        model, cell, p = self.model, self.cell, self.model.params
        model.recorder.resupply_trips += 1
        town_held = model.holder_at(self.opt.xy) != NONE
        if model.on("checkpoints") and town_held and self.u(1) < p.checkpoint_arrest_prob:
            party = min(cell.fighters, p.market_party)
            model.recorder.arrests += party
            cell.lose(party, "arrest")
            if cell.alive:
                cell.flee()
            return
        self.at(self.end_t, self.paid)

    def paid(self) -> None:
        if self.active:
            p = self.model.params
            self.cell.supplies = p.supplies_days
            self.cell.cash -= p.market_cost


_TASKS = {KIDNAP: Kidnap, FAKE_CP: FakeCheckpoint, AMBUSH: Ambush, ARSON: Arson, EXTORT: Extort,
          ATTACK: VillageAttack, RESUPPLY: Resupply}


def make_task(model: SecurityGapModel, cell: InsurgentCell, opt: Option, arrive: float, end: float) -> Task:
    """The task object for an option."""
    return _TASKS[opt.kind](model, cell, opt, arrive, end)

