"""SecurityGapModel: the Mesa model that wires terrain, forces, insurgents, villagers and air.

Why it reads as a schedule: each tick runs the stages of the ODD process overview in order
(environment, villagers, insurgents, forces and detection, intelligence and air, social updates,
observation; docs/ODD.md). The submodels own their state; this class owns time, the posture
timeline and the outcome counters. It knows nothing of files or executors.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from sim.engine.seeds import Streams
from sim.model import actions
from sim.model.air import AirSupport
from sim.model.clock import NIGHT, Clock
from sim.model.forces import UNIT_STRENGTH, Forces
from sim.model.grid import attach_grid
from sim.model.insurgents import RESUPPLY, Insurgents
from sim.model.intel import IntelPicture
from sim.model.params import FORCES, at_level, coordination_value, interval_at_level
from sim.model.posture import JOINT, NONE, PESH, Posture, build_posture, posture_key
from sim.model.recorder import Recorder
from sim.model.villagers import N_TRUST, VillagerPopulation

if TYPE_CHECKING:
    from sim.config.schema import Config
    from sim.terrain.builder import Terrain


#: Terrain per Config object (the runner keeps one Config per configuration and process), so a
#: warm construction skips resolving the terrain config just to find the terrain cache key.
_TERRAIN_BY_CONFIG: dict[tuple[int, float], tuple[object, Terrain]] = {}


def _terrain_for(config: Config) -> Terrain:
    key = (id(config.terrain), float(config.gap_width_km))
    hit = _TERRAIN_BY_CONFIG.get(key)
    if hit is None or hit[0] is not config.terrain:
        from sim.terrain.builder import get_terrain

        if len(_TERRAIN_BY_CONFIG) > 64:
            _TERRAIN_BY_CONFIG.clear()
        hit = (config.terrain, get_terrain(config.terrain, config.gap_width_km))
        _TERRAIN_BY_CONFIG[key] = hit
    return hit[1]


class SecurityGapModel(mesa.Model):
    """One replicate of the Makhmour security-gap model.

    Args:
        config: a validated ``sim.config.schema.Config`` (None: the schema defaults).
        replicate: replicate id; with the config's seed it fixes every random stream.
        terrain: a prebuilt terrain (None: built or taken from the per-process cache).
        private_grid: give this model a Mesa grid of its own. By default models in one process
            take turns on one shared grid per terrain (building it costs more than a replicate);
            several models alive at once (dashboard sessions) need private grids.
    """

    def __init__(self, config: Config | None = None, replicate: int = 0,
                 terrain: Terrain | None = None, private_grid: bool = False) -> None:
        if config is None:
            from sim.config.schema import Config

            config = Config()
        self.config = config
        self.params = p = config.model
        self.replicate = replicate
        self.streams = Streams(config.seed, replicate, config.scenario.name, config.crn)
        mesa_seed = int(self.streams.seed_sequence("mesa").generate_state(1, np.uint32)[0])
        super().__init__(rng=mesa_seed)

        if terrain is None:
            terrain = _terrain_for(config)
        self.terrain = terrain
        self.grid = attach_grid(self, terrain, private=private_grid)
        self._x0, self._y0 = terrain.x_min_km, terrain.y_min_km
        self._inv_cell = 1.0 / terrain.cell_km
        self._wmax, self._hmax = terrain.width - 1, terrain.height - 1

        start = dt.date.fromisoformat(config.scenario.start_date)
        self.clock = Clock(start, p.tick_hours)
        self.days = config.days
        self.level = coordination_value(config.coordination)
        self.posture_spec = {
            "ridge": config.scenario.posture.ridge, "gap": config.scenario.posture.gap,
            "plain": config.scenario.posture.plain, "pmf_sector": config.scenario.posture.pmf_sector,
        }
        self.timeline = sorted(
            ((dt.date.fromisoformat(ev.date) - start).days, ev) for ev in config.scenario.timeline
        )
        self.posture: Posture = self._build_posture()
        self.local_knowledge = np.array(
            [p.local_knowledge_pesh, p.local_knowledge_iraqi, p.local_knowledge_iraqi,
             0.5 * (p.local_knowledge_pesh + p.local_knowledge_iraqi)])
        self.market_xy = self._market()
        self._settlement_xy = np.array([[s.x_km, s.y_km] for s in terrain.settlements])

        self.recorder = Recorder(self)
        self.casualties_security = 0
        self.casualties_civilian = 0
        self.killed = {"air": 0, "ground": 0, "arrest": 0}
        self.arrests = 0
        self.resupply_trips = 0
        self.clearing_ops = 0
        self.joint_ops = 0
        self.displacements = 0
        self.collateral_events = 0
        self.detections = 0
        self.clashes = 0

        self.villagers = VillagerPopulation(self, p)
        self.forces = Forces(self, p)
        self.forces.deploy(self.posture)
        from sim.model.insurgents import CAPACITY

        self.intel = IntelPicture(CAPACITY, p.intel_half_life_h, p.hideout_half_life_h)
        self.insurgents = Insurgents(self, p)
        self.air = AirSupport(p.strike_budget_per_month)
        self._update_access()
        if config.scenario.links_intact:
            self._seed_links()
        self.rainfall = 1.0
        self._next_clearing = {f: float(self.streams["init"].uniform(0, p.clearing_every_days))
                               for f in range(3)}
        self._next_joint = None

    # -- set-up helpers -------------------------------------------------------------------
    def _build_posture(self) -> Posture:
        return build_posture(self.terrain, posture_key(self.posture_spec), self.level, self.params)

    def _market(self) -> np.ndarray:
        towns = [s for s in self.terrain.settlements if s.market] or list(self.terrain.settlements)
        return np.array([towns[0].x_km, towns[0].y_km])

    def _update_access(self) -> None:
        """Which forces each villager can reach: a post of that force within ``access_km``."""
        v = self.villagers
        post = self.posture
        access = np.zeros((v.n, N_TRUST), dtype=bool)
        for f in range(N_TRUST):
            sel = (post.post_force == f) | (post.post_force == JOINT)
            if not sel.any():
                continue
            pxy = post.post_xy_km[sel]
            d = np.hypot(v.home_xy[:, None, 0] - pxy[None, :, 0], v.home_xy[:, None, 1] - pxy[None, :, 1])
            access[:, f] = d.min(axis=1) <= self.params.access_km
        self.access = access
        # Handlers recruit informants only where their force holds the ground (S6).
        home_holder = post.holder[v.home_ix, v.home_iy]
        self._home_held = home_holder[:, None] == np.arange(N_TRUST)[None, :]

    def _seed_links(self) -> None:
        """An intact network: the holder of each home's zone has handlers in a share of homes."""
        v = self.villagers
        rng = self.streams["init"]
        holder = self.posture.holder[v.home_ix, v.home_iy]
        for f in range(N_TRUST):
            sel = (holder == f) & (rng.random(v.n) < self.params.informant_share)
            v.linked[sel, f] = True

    # -- queries used by submodels ---------------------------------------------------------
    def cell_of(self, x_km: float, y_km: float) -> tuple[int, int]:
        """Grid cell of one point (a fast scalar path; arrays use ``terrain.to_cell``)."""
        ix = math.floor((x_km - self._x0) * self._inv_cell)
        iy = math.floor((y_km - self._y0) * self._inv_cell)
        return min(max(ix, 0), self._wmax), min(max(iy, 0), self._hmax)

    def cells_of(self, x_km: np.ndarray, y_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid cells of many points (the hot-path twin of ``terrain.to_cell``)."""
        ix = ((x_km - self._x0) * self._inv_cell).astype(np.int64)
        iy = ((y_km - self._y0) * self._inv_cell).astype(np.int64)
        np.maximum(ix, 0, out=ix)
        np.minimum(ix, self._wmax, out=ix)
        np.maximum(iy, 0, out=iy)
        np.minimum(iy, self._hmax, out=iy)
        return ix, iy

    def sync_grid(self) -> None:
        """Bring every villager's Mesa cell up to date (the dashboard calls this per frame)."""
        self.villagers.sync_all()

    def insurgent_agents(self, mask: np.ndarray) -> mesa.agent.AgentSet:
        """The Mesa agents of the insurgent cells selected by a slot mask."""
        chosen = [self.insurgents.cells[int(s)] for s in np.flatnonzero(mask)
                  if int(s) in self.insurgents.cells]
        return mesa.agent.AgentSet(chosen, random=self.random)

    def candidate_targets(self, s, home, rng):
        return actions.candidate_targets(self, s, home, rng)

    def perceived_risk(self, xy: np.ndarray, action: int = 0) -> float:
        return actions.perceived_risk(self, xy, action)

    def resolve_action(self, s: int) -> None:
        actions.resolve(self, s)

    def settlements_near(self, xy: np.ndarray, radius_km: float):
        d = np.hypot(self._settlement_xy[:, 0] - xy[0], self._settlement_xy[:, 1] - xy[1])
        return [self.terrain.settlements[i] for i in np.flatnonzero(d <= radius_km)]

    def informant_density(self, xy: np.ndarray) -> float:
        """Share of linked households in the settlement nearest to a point (within 3 km)."""
        d = np.hypot(self._settlement_xy[:, 0] - xy[0], self._settlement_xy[:, 1] - xy[1])
        i = int(np.argmin(d))
        if d[i] > 3.0:
            return 0.0
        sel = self.villagers.home == self.terrain.settlements[i].id
        return float(self.villagers.linked[sel].any(axis=1).mean()) if sel.any() else 0.0

    def actor_at(self, xy: np.ndarray) -> int:
        """The force able to act at a point: its holder, or in an unheld gap the nearer line's force."""
        ix, iy = self.cell_of(float(xy[0]), float(xy[1]))
        h = int(self.posture.holder[ix, iy])
        if h != NONE:
            return h
        sd = float(self.terrain.layers["signed_dist_km"][ix, iy])
        ridge_h, _, plain_h, _ = self.posture.holders
        return ridge_h if sd > -0.5 * self.terrain.gap_width_km else plain_h

    # -- the tick ---------------------------------------------------------------------------
    def step(self) -> None:
        """One tick: environment, villagers, insurgents, forces, intelligence and air, social."""
        clock = self.clock
        if clock.is_day_start:
            self._new_day()
        phase = clock.phase
        self.villagers.place(phase, clock.tick_of_day)
        self.forces.move()
        self.insurgents.step()
        self._detect(phase == NIGHT)
        self.intel.decay(self.params.tick_hours)
        self.intel.deliver(clock.hours)
        self._act_on_intel()
        self._air()
        clock.tick += 1
        if clock.tick_of_day == 0:
            self.recorder.end_of_day(clock.day - 1)
            if clock.day >= self.days:
                self.running = False

    def run(self) -> None:
        """Run to the configured horizon."""
        while self.running:
            self.step()

    # -- daily ------------------------------------------------------------------------------
    def _new_day(self) -> None:
        clock = self.clock
        p = self.params
        day = clock.day
        self.streams.set_day(day)
        self.random.seed(int(self.streams["mesa"].integers(2**63)))  # decision order, per day
        date = clock.date
        while self.timeline and self.timeline[0][0] <= day:
            _, ev = self.timeline.pop(0)
            self._apply_event(ev)
        if date.month == 10 and date.day == 1 or day == 0:
            self.rainfall = max(0.1, p.rainfall_index + p.rainfall_sd * self.streams["weather"].normal())
        self.air.new_month((date.year, date.month))
        self.villagers.new_day(clock.truffle_season, self.rainfall)
        self.villagers.rebuild_links(self.access & self._home_held, self.local_knowledge)
        self.insurgents.new_day()
        self.forces.plan_gap_sorties(at_level(p.gap_patrols_per_day, self.level))
        self._recruit_and_inflow()
        self._surveillance()
        self._clearing(day)

    def _surveillance(self) -> None:
        """Coalition ISR now and then locates a cell's hideout and tells the force able to act."""
        ins = self.insurgents
        rng = self.streams["air"]
        act = np.flatnonzero(ins.active)
        found = act[rng.random(len(act)) < self.params.isr_locate_per_day]
        for s in found:
            xy = ins.cave_xy[ins.cave[s]]
            actor = self.actor_at(xy)
            if actor != NONE:
                self.intel.learn(actor, int(s), float(xy[0]), float(xy[1]), 0.7, hideout=True)

    def _apply_event(self, ev) -> None:
        """A timeline change: new posture and/or coordination; a force leaving ground loses its
        informant links there (S6) and the newcomers start with little local knowledge (S8)."""
        old_holder = self.posture.holder
        self.posture_spec.update(dict(ev.posture))
        if ev.coordination is not None:
            self.level = coordination_value(ev.coordination)
        self.posture = self._build_posture()
        v = self.villagers
        hx, hy = v.home_ix, v.home_iy
        lost = old_holder[hx, hy] != self.posture.holder[hx, hy]
        for f in range(N_TRUST):
            gone = lost & (old_holder[hx, hy] == f)
            v.linked[gone, f] = False
        self.forces.deploy(self.posture)
        self._update_access()
        self.recorder.event(ev.label or "posture change")

    def _recruit_and_inflow(self) -> None:
        """Recruits from aggrieved villagers near cells (Bennett 2008) and outside inflow."""
        p = self.params
        ins = self.insurgents
        v = self.villagers
        rng = self.streams["insurgents"]
        act = np.flatnonzero(ins.active)
        if len(act):
            aggrieved = np.flatnonzero(v.grievance > p.recruit_grievance)
            if len(aggrieved):
                d = np.hypot(v.home_xy[aggrieved, None, 0] - ins.xy[None, act, 0],
                             v.home_xy[aggrieved, None, 1] - ins.xy[None, act, 1]).min(axis=1)
                near = aggrieved[d <= p.operation_radius_km]
                joins = near[rng.random(len(near)) < p.recruit_prob_per_day]
                for i in joins:
                    ins.add_fighters(1, v.home_xy[i])
                    v.grievance[i] -= 0.1  # one recruit from a party of many people
                    ins.recruits += 1
        n_in = int(rng.poisson(p.inflow_per_month / 30.44))
        if n_in:
            x0, _, y0, y1 = self.terrain.extent_km
            entry = np.array([x0, 0.5 * (y0 + y1)])  # from the west, via the Great Zab (WSJ)
            ins.add_fighters(n_in, entry)
            ins.inflow += n_in
        ins.split_large()

    def _clearing(self, day: int) -> None:
        """Each force's own clearing ops in its zone; joint clearing of the gap when coordinated."""
        p = self.params
        for f in range(3):
            if f not in self.posture.holders:
                continue
            if day >= self._next_clearing[f]:
                self._next_clearing[f] = day + p.clearing_every_days
                self._clear(f, joint=False)
        every = interval_at_level(p.joint_clearing_every_days, self.level)
        if every > 0:
            if self._next_joint is None:
                self._next_joint = float(self.streams["init"].uniform(0, every))
            if day >= self._next_joint:
                self._next_joint = day + every
                self._clear(JOINT, joint=True)

    def _clear(self, force: int, joint: bool) -> None:
        """Sweep the area around the best intelligence (or the most recent incident) for a day:
        cells inside are found with ``clearing_detect_prob``; the rest move to the nearest cave
        outside the area (displacement, S23); air support strikes one located cell (S21)."""
        p = self.params
        rng = self.streams["combat"]
        ins = self.insurgents
        zone_gap = self.terrain.layers["gap"]
        if joint:  # pooled picture: each group's best report, whichever force holds it
            best_force = np.argmax(self.intel.conf, axis=0)
            cols = np.arange(self.intel.conf.shape[1])
            conf = self.intel.conf[best_force, cols]
            loc = self.intel.loc[best_force, cols]
            hideout = self.intel.hideout[best_force, cols]
        else:
            conf = self.intel.conf[force]
            loc = self.intel.loc[force]
            hideout = self.intel.hideout[force]
        centre = None
        order = np.argsort(-conf)
        for g in order[:8]:
            if conf[g] <= 0.05:
                break
            xy = loc[g]
            ix, iy = self.cell_of(float(xy[0]), float(xy[1]))
            if (joint and zone_gap[ix, iy]) or (not joint and self.posture.holder[ix, iy] == force):
                centre = xy.copy()
                break
        if centre is None:
            centre = self.recorder.last_incident_xy(gap_only=joint, holder=None if joint else force,
                                                    posture=self.posture)
        if centre is None:
            return
        if joint:
            self.joint_ops += 1
        else:
            self.clearing_ops += 1
        radius = p.clearing_radius_km
        act = np.flatnonzero(ins.active)
        d = np.hypot(ins.xy[act, 0] - centre[0], ins.xy[act, 1] - centre[1])
        for s in act[d <= radius]:
            s = int(s)
            if rng.random() < p.clearing_detect_prob:
                losses = int(rng.binomial(int(ins.fighters[s]), p.engage_kill_prob * 2))
                self.kill(s, losses, by="ground")
                self.casualties_security += int(rng.binomial(UNIT_STRENGTH, 0.03))
            if ins.active[s]:
                ins.relocate(s, centre, radius)
                ins.heat[s] = min(1.0, ins.heat[s] + 0.3)
                self.displacements += 1
        # Word of the operation spreads: every cell within twice the radius lies low for a while.
        near = act[(d <= 2 * radius) & ins.active[act]]
        ins.heat[near] = np.minimum(1.0, ins.heat[near] + 0.2)
        self.forces.last_visit_h[self._disc(centre, radius)] = self.clock.hours + 24.0 * 7
        if joint and self.air.remaining >= 1.0:
            # Air support for the operation (S21): the best-known hideout inside the swept area.
            near = np.hypot(loc[:, 0] - centre[0], loc[:, 1] - centre[1]) <= radius
            cand = np.flatnonzero(near & hideout & ins.active & (conf >= 0.5 * p.strike_confidence))
            if len(cand):
                best = int(cand[np.argmax(conf[cand])])
                self.air.request(self.clock.hours, 0.0, PESH, best, *loc[best])
        self.recorder.event("joint clearing" if joint else f"{FORCES[force]} clearing")

    def _disc(self, centre: np.ndarray, radius_km: float) -> tuple[slice, slice]:
        t = self.terrain
        ix, iy = t.to_cell(float(centre[0]), float(centre[1]))
        r = int(math.ceil(radius_km / t.cell_km))
        w, h = t.width, t.height
        return slice(max(ix - r, 0), min(ix + r + 1, w)), slice(max(iy - r, 0), min(iy + r + 1, h))

    # -- detection, tips, engagements ---------------------------------------------------------
    def _detect(self, night: bool) -> None:
        ins = self.insurgents
        exposed = np.flatnonzero(ins.exposed())
        if not len(exposed):
            return
        xy = ins.xy[exposed]
        ix, iy = self.cells_of(xy[:, 0], xy[:, 1])
        lying_up = ins.lying_up[exposed]
        # A cell lying up by day has picked its cover (a ravine, a ruin): hard to see. Fighters
        # going to market travel as civilians (S15: "they come to Makhmour and buy what they
        # need"); the market itself is where they risk arrest (actions._resupply).
        blend = lying_up | (ins.action[exposed] == RESUPPLY)
        cover = np.where(blend, np.maximum(self.terrain.layers["cover"][ix, iy], 0.9),
                         self.terrain.layers["cover"][ix, iy])
        by, dist = self.forces.detect(xy, cover, night)
        p = self.params
        rng_intel = self.streams["intel"]
        for j in np.flatnonzero(by >= 0):
            s = int(exposed[j])
            force = int(by[j])
            # A group seen near its cave gives its hideout away (posts overlook the SW flank).
            cave = ins.cave_xy[ins.cave[s]]
            near_home = float(np.hypot(*(xy[j] - cave))) < 2.0
            where = cave if near_home else xy[j]
            actor = self.actor_at(where)
            self.intel.route(self.clock.hours, force, actor, s, float(where[0]), float(where[1]),
                             quality=0.8, share_prob=at_level(p.share_prob, self.level),
                             share_delay_h=at_level(p.share_delay_h, self.level),
                             u=float(rng_intel.random()), villager_tip=False, hideout=near_home)
            self.detections += 1
            ins.heat[s] = min(1.0, ins.heat[s] + p.heat_per_sighting)  # seen: perceived risk up
            # Fighters travelling as civilians are noted, not fought (no grounds to open fire).
            if (dist[j] <= p.engage_range_km and ins.action[s] != RESUPPLY
                    and self._may_engage(force, ix[j], iy[j])):
                self.engage(s, force)
        # Villagers who see a group may tell a force they trust and can reach.
        seen = self.villagers.observe(xy, night)
        seen[:, lying_up] = False
        if seen.any():
            self._villager_tips(seen, exposed)


    def _may_engage(self, force: int, ix: int, iy: int) -> bool:
        holder = int(self.posture.holder[ix, iy])
        if holder == force or force == JOINT:
            return True
        u = self.streams["combat"].random()
        return u < at_level(self.params.hot_pursuit_prob, self.level)

    def engage(self, s: int, force: int) -> None:
        """A clash: fighters killed or captured, some casualties, and the cell flees home."""
        rng = self.streams["combat"]
        ins = self.insurgents
        losses = int(rng.binomial(int(ins.fighters[s]), self.params.engage_kill_prob))
        self.casualties_security += int(rng.binomial(UNIT_STRENGTH, self.params.engage_force_casualty_prob))
        self.clashes += 1
        self.kill(s, losses, by="ground")
        if ins.active[s]:
            ins.go_home(s)


    def _villager_tips(self, seen: np.ndarray, exposed: np.ndarray) -> None:
        v = self.villagers
        who_idx, grp_idx = np.nonzero(seen)
        # Each villager reports at most once per tick (about the first group they noticed).
        who_idx, first = np.unique(who_idx, return_index=True)
        grp_idx = grp_idx[first]
        tell, linked = v.report_choice(who_idx, self.access)
        p = self.params
        rng_intel = self.streams["intel"]
        ins = self.insurgents
        share_prob = at_level(p.share_prob, self.level)
        share_delay = at_level(p.share_delay_h, self.level)
        for k in np.flatnonzero(tell >= 0):
            s = int(exposed[grp_idx[k]])
            force = int(tell[k])
            # Locals often know where a group lives: linked informants more so (S7, S20).
            knows_home = rng_intel.random() < (0.5 if linked[k] else 0.2)
            xy = ins.cave_xy[ins.cave[s]] if knows_home else ins.xy[s]
            actor = self.actor_at(xy)
            self.intel.route(self.clock.hours, force, actor, s, float(xy[0]), float(xy[1]),
                             quality=0.5 if linked[k] else 0.35, share_prob=share_prob,
                             share_delay_h=share_delay, u=float(rng_intel.random()),
                             villager_tip=True, hideout=bool(knows_home))
            self.local_knowledge[force] = min(1.0, self.local_knowledge[force]
                                              + p.local_knowledge_gain_per_tip)
            self.recorder.tip(force, actor)

    def _act_on_intel(self) -> None:
        """Request strikes on confidently located groups (deconfliction delay by coordination)."""
        intel = self.intel
        p = self.params
        ready = (intel.conf >= p.strike_confidence) & intel.hideout & ~intel.requested
        if not ready.any():
            return
        delay = at_level(p.air_delay_h, self.level)
        for f, g in zip(*np.nonzero(ready), strict=True):
            if not self.insurgents.active[g]:
                continue
            intel.requested[f, g] = True
            self.air.request(self.clock.hours, delay, int(f), int(g), *intel.loc[f, g])

    def _air(self) -> None:
        flown, dropped = self.air.due(self.clock.hours)
        for req in dropped:  # no budget left: the target may be requested again later
            self.intel.requested[req.force, req.group] = False
        for req in flown:
            self._strike(req)

    def _strike(self, req) -> None:
        """A strike at the reported location kills fighters found within 1 km (seed 004)."""
        rng = self.streams["air"]
        ins = self.insurgents
        p = self.params
        xy = np.array([req.x_km, req.y_km])
        act = np.flatnonzero(ins.active)
        d = np.hypot(ins.xy[act, 0] - xy[0], ins.xy[act, 1] - xy[1])
        killed = 0
        for s in act[d <= 1.0]:
            s = int(s)
            n = int(rng.binomial(int(ins.fighters[s]), p.strike_kill_prob))
            killed += self.kill(s, n, by="air")
            if ins.active[s]:
                ins.relocate(s, xy, 2.0)
                self._retribution(s)
        self.recorder.strike(xy, killed)
        near = act[d <= 5.0]  # a strike nearby frightens every cell that hears it
        ins.heat[near] = np.minimum(1.0, ins.heat[near] + p.heat_per_sighting)
        for f in range(len(FORCES)):
            self.intel.conf[f, req.group] *= 0.3
        if rng.random() < p.collateral_prob:
            self.collateral_events += 1
            dist = np.hypot(*(self._settlement_xy - xy).T)
            i = int(np.argmin(dist))
            if dist[i] <= 3.0:  # civilians are harmed only where they live near the target
                sid = self.terrain.settlements[i].id
                self.villagers.shock(sid, fear=0.2, grievance=p.grievance_per_harm,
                                     trust_delta=np.full(N_TRUST, -p.trust_fail))

    def _retribution(self, s: int) -> None:
        """After a loss, insurgents may punish a suspected informant near their hideout (S11, Q13)."""
        rng = self.streams["insurgents"]
        if rng.random() >= self.params.retribution_prob:
            return
        v = self.villagers
        ins = self.insurgents
        home = ins.cave_xy[ins.cave[s]]
        d = np.hypot(v.home_xy[:, 0] - home[0], v.home_xy[:, 1] - home[1])
        suspects = np.flatnonzero(v.linked.any(axis=1) & (d <= self.params.operation_radius_km))
        if not len(suspects):
            return
        i = int(rng.choice(suspects))
        v.linked[i] = False
        self.record_incident("retribution", v.home_xy[i], victims=1, casualties=1, group=s,
                             settlement=int(v.home[i]))

    def kill(self, s: int, n: int, by: str) -> int:
        """Remove fighters from a cell and count them by cause."""
        if n <= 0 or not self.insurgents.active[s]:
            return 0
        n = self.insurgents.lose(s, n)
        self.killed[by] += n
        if by != "air" and self.insurgents.active[s]:
            self._retribution(s)  # after air strikes it is called once the cell has moved
        return n

    # -- incidents ---------------------------------------------------------------------------
    def record_incident(self, kind: str, xy: np.ndarray, *, victims: int, casualties: int,
                        group: int, settlement: int, target_force: int = NONE) -> None:
        """Log an insurgent incident and its effects on the local population.

        Unanswered incidents cost the zone holder trust; all raise fear in the victims'
        settlement; the holder (or nearer line's force) gets an alarm report of the site.
        """
        p = self.params
        ix, iy = self.cell_of(float(xy[0]), float(xy[1]))
        holder = int(self.posture.holder[ix, iy])
        response = float(self.posture.response_h[ix, iy])
        self.recorder.incident(kind, xy, ix, iy, holder, victims, casualties, group, settlement,
                               response, target_force)
        if kind in ("kidnapping", "fake_checkpoint", "retribution", "village_attack"):
            self.casualties_civilian += casualties if kind != "village_attack" else 0
        if settlement >= 0:
            delta = np.zeros(N_TRUST)
            answered = response <= 1.0
            for f in range(N_TRUST):
                if f == holder or (holder == NONE and f in self.posture.holders):
                    delta[f] = p.trust_protect if answered else -p.trust_fail
            self.villagers.shock(settlement, fear=p.fear_per_incident, trust_delta=delta)
        actor = self.actor_at(xy)
        if actor != NONE and self.insurgents.active[group]:
            alarm_to = holder if holder != NONE else actor
            self.intel.learn(alarm_to, group, float(xy[0]), float(xy[1]), 0.3)

    # -- outputs -----------------------------------------------------------------------------
    def outcomes(self) -> dict[str, Any]:
        """One row of ``runs.parquet``."""
        return self.recorder.outcomes()
