"""SecurityGapModel: the Mesa model that wires terrain, forces, insurgents, villagers and air power.

Why it only wires: every behaviour lives in the agents and submodels it creates (sim/model/*); this
class owns time, the scenario's timeline and the model-wide queries the agents share (who holds a
place, how much cover it gives). Time runs in hours on Mesa's event clock: what happens at a moment is
a scheduled event (a decision, an arrival, a message delivered, a strike approved, the end of a
checkpoint's night). One ``step()`` is a day: like Mesa's own discrete-event simulator, the model
stops Mesa's default one-step-per-time-unit schedule, and a midnight event closes the day's row,
brings every agent's grid cell up to date and starts the next day (plans, tasking, inflow).
``run()`` runs to the horizon; ``run_for(hours)`` and ``run_until(hour)`` work as in every Mesa model.

Randomness: every draw is keyed by (seed, replicate, purpose, entity, counter) (sim/rng.py); the
engine hands the model a seed and a replicate id and nothing else. The model knows nothing of files
or executors.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
from mesa.time import Priority, Schedule

from sim.model.air import AirSupport, Surveillance
from sim.model.clearing import Clearing
from sim.model.clock import Calendar
from sim.model.command import Commands
from sim.model.forces import Forces
from sim.model.incidents import IncidentLog
from sim.model.insurgents import (
    InsurgentCell,
    Network,
    add_fighters,
    daily_upkeep,
    network_reports,
    spawn_initial,
    split_large,
)
from sim.model.params import coordination_value
from sim.model.posture import build_posture, posture_key
from sim.model.qrf import QuickReaction
from sim.model.recorder import Recorder
from sim.model.sensing import Sensing
from sim.model.space import Frame, build_grid
from sim.model.traffic import Traffic
from sim.model.villagers import VillagerPopulation
from sim.rng import KeyedRandom, entity_key, scenario_salt

if TYPE_CHECKING:
    from sim.config.schema import Config
    from sim.terrain.builder import Terrain


def default_config(**words: Any) -> Config:
    """The shipped default configuration (configs/), with top-level words as overrides."""
    from sim.config.load import compose_config, config_from_dict

    overrides = []
    for k, v in words.items():
        text = "[" + ",".join(map(str, v)) + "]" if isinstance(v, list | tuple) else str(v).lower() \
            if isinstance(v, bool) else str(v)
        overrides.append(f"{k}={text}")
    return config_from_dict(compose_config(overrides))


class SecurityGapModel(mesa.Model):
    """One replicate of the Makhmour security-gap model.

    Args:
        config: a validated ``sim.config.schema.Config`` (None: the shipped defaults, with ``words``
            as overrides, e.g. ``SecurityGapModel(gap_width_km=6, coordination="jcc")``).
        replicate: replicate id; with the config's seed it fixes every random draw.
        rng: an integer root seed (Mesa's convention); it replaces the config's ``seed``.
        terrain: a prebuilt terrain for this config (None: built, or taken from the per-process
            terrain cache).
        **words: top-level configuration words when ``config`` is None.
    """

    def __init__(self, config: Config | None = None, replicate: int = 0, *, rng: Any = None,
                 terrain: Terrain | None = None, **words: Any) -> None:
        if config is None:
            config = default_config(**words)
        elif words:
            raise TypeError("pass either a config or configuration words, not both")
        seed = config.seed if rng is None else _root_seed(rng)
        salt = 0 if config.crn else scenario_salt(config.scenario.name)
        self.rand = KeyedRandom(seed, replicate, salt)
        super().__init__(rng=self.rand.python_seed("mesa"))
        # Time is in hours and a step is a day: stop Mesa's hourly default step (as Mesa's own
        # DEVS simulator does) and use the class's step() (one day) instead of Mesa's wrapper.
        self._default_schedule.stop()
        del self.step
        self.config = config
        self.params = p = config.model
        self.replicate = replicate
        self.seed = seed
        self.ablated = frozenset(p.ablate)
        if terrain is None:
            from sim.terrain.builder import get_terrain

            terrain = get_terrain(config.terrain, config.gap_width_km)
        self.terrain = terrain
        self.frame = Frame(terrain)
        self.grid = build_grid(terrain, self.random)
        self.calendar = Calendar(dt.date.fromisoformat(config.scenario.start_date))
        self.days = config.days
        self.horizon_h = 24.0 * config.days
        self.caves_xy = np.column_stack(terrain.to_km(terrain.caves[:, 0], terrain.caves[:, 1]))
        self.settlement_xy = np.array([[s.x_km, s.y_km] for s in terrain.settlements])
        towns = [s for s in terrain.settlements if s.market] or list(terrain.settlements)
        self.market_xy = np.array([towns[0].x_km, towns[0].y_km])
        self.entry_xy = np.array([terrain.extent_km[0], 0.5 * (terrain.extent_km[2] + terrain.extent_km[3])])
        self.posture_spec = {k: getattr(config.scenario.posture, k) for k in ("ridge", "gap", "plain", "pmf_sector")}
        self.level = coordination_value(config.coordination)
        start = self.calendar.start
        self.timeline = sorted(((dt.date.fromisoformat(ev.date) - start).days, i, ev)
                               for i, ev in enumerate(config.scenario.timeline))
        self.posture = build_posture(terrain, posture_key(self.posture_spec), self.level, p)
        self.cell_by_uid: dict[int, InsurgentCell] = {}
        self.insurgency = Network()
        self.rainfall = self._rainfall(0)

        self.recorder = Recorder(self)
        self.incidents = IncidentLog(self)
        self.villagers = VillagerPopulation(self, p)
        self.command = Commands(self)
        self.sensing = Sensing(self)
        self.forces = Forces(self)
        self.qrf = QuickReaction(self)
        self.air = AirSupport(self)
        self.isr = Surveillance(self)
        self.clearing = Clearing(self)
        self._deploy()
        if config.scenario.links_intact:
            self.villagers.seed_links(self.posture)
        self.traffic = Traffic(self)
        spawn_initial(self)
        self._midnight_events = self.schedule_recurring(self._midnight, Schedule(interval=24.0, start=0.0),
                                                        priority=Priority.HIGH)
        self.sensing.start()

    # -- shared queries ---------------------------------------------------------------------------
    def on(self, mechanism: str) -> bool:
        """Whether a named mechanism is switched on (``model.ablate`` lists the ones that are off)."""
        return mechanism not in self.ablated

    def cells(self) -> list[InsurgentCell]:
        """The living insurgent cells, in order of creation."""
        return list(self.cell_by_uid.values())

    def holder_at(self, xy: np.ndarray) -> int:
        ix, iy = self.frame.cell_of(float(xy[0]), float(xy[1]))
        return int(self.posture.holder[ix, iy])

    def cover_at(self, pts: np.ndarray) -> np.ndarray:
        ix, iy = self.frame.cells_of(pts[:, 0], pts[:, 1])
        return self.terrain.layers["cover"][ix, iy]

    def settlements_near(self, xy: np.ndarray, radius_km: float):
        d = np.hypot(*(self.settlement_xy - xy).T)
        return [self.terrain.settlements[i] for i in np.flatnonzero(d <= radius_km)]

    @property
    def date(self) -> dt.date:
        return self.calendar.date(self.time)

    # -- time -----------------------------------------------------------------------------------
    def step(self) -> None:
        """One step: one day (time runs in hours; ``run_for(hours)`` for other spans)."""
        self.run_for(24.0)

    def sync_cells(self) -> None:
        """Bring the grid cell of every moving agent up to date (at each midnight; viewers may call
        it at any time). Households stay at home; their work parties' places are positions."""
        for cell in self.cells():
            if cell.plan or cell._home_cell != cell.cave:
                cell.sync_cell()
        self.forces.sync_cells(self.time)
        for unit in sorted(self.qrf.busy, key=lambda u: u.unique_id):
            unit.sync_cell()

    def run(self) -> None:
        """Run to the configured horizon (``days`` whole days)."""
        if self.time < self.horizon_h:
            self.run_until(self.horizon_h)
        self.running = False

    def _midnight(self) -> None:
        """Close yesterday's row; start the day: timeline, weather, plans for tomorrow, arrivals."""
        day = int(round(self.time / 24.0))
        if day > 0:
            self.steps += 1
            self.sync_cells()
        self.recorder.end_of_day(day - 1)
        if day >= self.days:
            self.running = False
            return
        while self.timeline and self.timeline[0][0] <= day:
            self._apply_event(self.timeline.pop(0)[2])
        date = self.calendar.date_of_day(day)
        if date.month == 10 and date.day == 1:
            self.rainfall = self._rainfall(date.year)
        self.air.new_month((date.year, date.month))
        self.villagers.new_day(day, self.command.local_knowledge, self.posture)
        if day == 0:
            self.villagers.plans(0)
            self.isr.plan_day(0)
        if day > 0:  # before tomorrow's patrols are planned, which drops yesterday's tracks
            network_reports(self, day - 1)
        self.villagers.plans(day + 1)
        if day > 0:  # deploy() planned days 0 and 1
            self.forces.plan_day(day + 1)
        self.isr.plan_day(day + 1)
        self._inflow_and_recruitment(day)
        daily_upkeep(self, day)
        split_large(self)
        self.clearing.daily(day)

    def _rainfall(self, season: int) -> float:
        """The season's rainfall index (exogenous, keyed by the season's year)."""
        p = self.params
        return max(0.1, self.rand.normal("weather", season, loc=p.rainfall_index, scale=p.rainfall_sd))

    def _apply_event(self, ev) -> None:
        """A timeline change: a new posture and/or coordination level. Forces redeploy; a force
        that leaves ground takes its handlers with it, and their informants' links end (S6)."""
        self.posture_spec.update(dict(ev.posture))
        if ev.coordination is not None:
            self.level = coordination_value(ev.coordination)
        self.posture = build_posture(self.terrain, posture_key(self.posture_spec), self.level, self.params)
        self._deploy()
        self.recorder.event(ev.label or "posture change")

    def _deploy(self) -> None:
        self.forces.deploy(self.posture)
        self.qrf.deploy(self.posture)
        self.recorder.links_cut += self.villagers.set_posture(self.posture)
        self.sensing.plans_changed()

    def _inflow_and_recruitment(self, day: int) -> None:
        """Fighters arriving from outside (exogenous: keyed by the day only) and recruits from
        aggrieved supporters near the cells (Bennett 2008)."""
        p = self.params
        n_in = self.rand.poisson("inflow", p.inflow_per_month / 30.44, entity_key("inflow"), day)
        if n_in:
            add_fighters(self, n_in, self.entry_xy, entity_key("inflow", day))
            self.recorder.add_inflow(n_in)
        v = self.villagers
        cells = self.cells()
        if not cells or p.recruit_prob_per_day <= 0:
            return
        ok = v.supporter & (v.grievance > p.recruit_grievance) & (v.people > 1)
        if not ok.any():
            return
        homes = np.array([c.home_xy for c in cells])
        cand = np.flatnonzero(ok)  # only these need the distance to the nearest cell
        ok[cand] = _min_dist(v.home_xy[cand], homes) <= p.home_range_km
        if not ok.any():
            return
        joins = ok & (self.rand.uniform("social", v.keys, day, 99) < p.recruit_prob_per_day)
        for i in np.flatnonzero(joins):
            v.people[i] -= 1
            add_fighters(self, 1, v.home_xy[i], entity_key("recruit", int(v.keys[i]), day))
            self.recorder.recruits += 1

    # -- outputs --------------------------------------------------------------------------------
    def outcomes(self) -> dict[str, Any]:
        """One row of ``runs.parquet``."""
        return self.recorder.outcomes()


def _root_seed(rng: Any) -> int:
    """An integer root seed from Mesa's ``rng`` argument (an int, or a Generator to draw one from)."""
    if isinstance(rng, int | np.integer):
        return int(rng)
    return int(np.random.default_rng(rng).integers(2**63))


def _min_dist(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    d = np.hypot(points[:, None, 0] - targets[None, :, 0], points[:, None, 1] - targets[None, :, 1])
    return d.min(axis=1)

