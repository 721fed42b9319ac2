"""Insurgent cells: hideouts in caves, supplies, heat and the choice of what to do next.

Why this shape: a cell spends most ticks hiding; now and then (``action_rate_per_day``) it weighs
its options -- kidnap at a remote work site, a night fake checkpoint, an ambush on a predictable
patrol route, arson in harvest season, extortion of a Sunni village, an attack on a village --
by payoff against perceived capture risk (Epstein-style ``U = payoff - R * heat * P_capture``),
and only where no force can respond in time for kidnappings. Movement exposes it to detection;
it moves in daylight only while its heat is low (the 2018 -> 2019 shift, seed 002).
The per-tick work (movement, exposure) is vectorised over cells; the rare decisions run per cell.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import CellAgent

from sim.model.clock import DAWN, DAY, DUSK, NIGHT
from sim.model.params import ModelParams
from sim.model.villagers import SHEPHERD, TRUFFLE

if TYPE_CHECKING:
    from sim.model.model import SecurityGapModel

HIDE, TRAVEL, ACT, RETURN = range(4)
MODE_NAMES = ("hide", "travel", "act", "return")

(NOTHING, KIDNAP, FAKE_CP, AMBUSH, ARSON, EXTORT, ATTACK, RESUPPLY, RELOCATE) = range(9)
ACTION_NAMES = ("nothing", "kidnapping", "fake_checkpoint", "ambush", "arson", "extortion",
                "village_attack", "resupply", "relocate")

CAPACITY = 128


class InsurgentCell(CellAgent):
    """One insurgent cell (a few to a dozen fighters); its state is a row of ``Insurgents``."""

    def __init__(self, model: SecurityGapModel, slot: int) -> None:
        super().__init__(model)
        self.slot = slot

    @property
    def fighters(self) -> int:
        return int(self.model.insurgents.fighters[self.slot])

    @property
    def mode(self) -> str:
        return MODE_NAMES[self.model.insurgents.mode[self.slot]]

    @property
    def action(self) -> str:
        return ACTION_NAMES[self.model.insurgents.action[self.slot]]

    @property
    def heat(self) -> float:
        return float(self.model.insurgents.heat[self.slot])

    def decide(self) -> None:
        """Weigh the options and maybe set out (called through ``AgentSet.shuffle_do``)."""
        self.model.insurgents.decide(self.slot)


class Insurgents:
    """All insurgent cells as arrays, plus their Mesa agents."""

    def __init__(self, model: SecurityGapModel, params: ModelParams) -> None:
        self.model = model
        self.p = params
        terrain = model.terrain
        self.cave_xy = np.column_stack(terrain.to_km(terrain.caves[:, 0], terrain.caves[:, 1]))
        n = CAPACITY
        self.active = np.zeros(n, dtype=bool)
        self.fighters = np.zeros(n, dtype=np.int64)
        self.xy = np.zeros((n, 2))
        self.cave = np.zeros(n, dtype=np.int64)
        self.supplies = np.zeros(n)
        self.cash = np.zeros(n)
        self.heat = np.zeros(n)
        self.mode = np.zeros(n, dtype=np.int8)
        self.action = np.zeros(n, dtype=np.int8)
        self.target = np.zeros((n, 2))
        self.target_aux = np.zeros(n, dtype=np.int64)
        self.wait_until = np.zeros(n)
        self.cells: dict[int, InsurgentCell] = {}
        self.day_moves = 0
        self.night_moves = 0
        self.recruits = 0
        self.inflow = 0
        self.lying_up = np.zeros(n, dtype=bool)
        self.cix = np.full(n, -1, dtype=np.int64)
        self.ciy = np.full(n, -1, dtype=np.int64)
        rng = model.streams["init"]
        total = params.n_fighters
        weights = self._cave_weights()
        while total > 0:
            size = int(min(total, max(2, rng.poisson(params.cell_size))))
            cave = int(rng.choice(len(self.cave_xy), p=weights))
            low = min(5.0, params.supplies_days)  # supplies_days may be as low as 3
            self.spawn(size, cave, supplies=rng.uniform(low, params.supplies_days))
            total -= size

    def _cave_weights(self) -> np.ndarray:
        """Prefer caves in or near the gap and under good cover (S16)."""
        terrain = self.model.terrain
        c = terrain.caves
        w = 1.0 + 2.0 * terrain.layers["gap"][c[:, 0], c[:, 1]] + terrain.layers["cover"][c[:, 0], c[:, 1]]
        return w / w.sum()

    # -- life cycle ------------------------------------------------------------------------
    def spawn(self, fighters: int, cave: int, supplies: float) -> int:
        """Create a cell at a cave; returns its slot. At capacity the fighters join the cell
        nearest the cave instead (no fighter is ever dropped)."""
        if fighters <= 0:
            return -1
        free = np.flatnonzero(~self.active)
        if not len(free):
            act = np.flatnonzero(self.active)
            s = int(act[np.argmin(np.hypot(*(self.xy[act] - self.cave_xy[cave]).T))])
            self.fighters[s] += fighters
            return s
        s = int(free[0])
        self.active[s] = True
        self.fighters[s] = fighters
        self.cave[s] = cave
        self.xy[s] = self.cave_xy[cave]
        self.supplies[s] = supplies
        self.cash[s] = 0.0
        self.heat[s] = 0.2
        self.mode[s] = HIDE
        self.action[s] = NOTHING
        agent = InsurgentCell(self.model, s)
        cell = self.model.cell_of(self.xy[s, 0], self.xy[s, 1])
        agent.cell = self.model.grid[cell]
        self.cells[s] = agent
        self.cix[s], self.ciy[s] = cell
        return s

    def lose(self, s: int, n: int) -> int:
        """Remove up to ``n`` fighters from cell ``s``; dissolve it when none are left."""
        n = int(min(n, self.fighters[s]))
        if n <= 0:
            return 0
        self.fighters[s] -= n
        self.heat[s] = min(1.0, self.heat[s] + self.p.heat_per_loss * n)
        if self.fighters[s] <= 0:
            self.active[s] = False
            self.cells.pop(s).remove()
            self.model.intel.forget(s)
        return n

    def add_fighters(self, n: int, near_xy: np.ndarray | None = None) -> None:
        """Recruits or inflow join the nearest cell with room, or found a new one."""
        if n <= 0:
            return
        act = np.flatnonzero(self.active & (self.fighters < self.p.max_cell_size))
        if len(act) and near_xy is not None:
            d = np.hypot(*(self.xy[act] - near_xy).T)
            s = int(act[np.argmin(d)])
        elif len(act):
            s = int(act[self.model.streams["insurgents"].integers(len(act))])
        else:
            s = -1
        if s >= 0:
            self.fighters[s] += n
        else:
            ref = near_xy if near_xy is not None else self.cave_xy.mean(axis=0)
            cave = int(np.argmin(np.hypot(*(self.cave_xy - ref).T)))
            self.spawn(n, cave, self.p.supplies_days)

    def split_large(self) -> None:
        """A cell grown past ``max_cell_size`` splits; the new cell takes a nearby cave."""
        if self.active.all():
            return  # no free slot: cells stay large rather than lose fighters
        for s in np.flatnonzero(self.active & (self.fighters > self.p.max_cell_size)):
            half = int(self.fighters[s] // 2)
            self.fighters[s] -= half
            d = np.hypot(*(self.cave_xy - self.cave_xy[self.cave[s]]).T)
            d[self.cave[s]] = np.inf
            cave = int(np.argmin(d))
            self.spawn(half, cave, self.supplies[s])

    @property
    def total_fighters(self) -> int:
        return int(self.fighters[self.active].sum())

    # -- per day -------------------------------------------------------------------------
    def new_day(self) -> None:
        """Consume supplies, let heat decay."""
        a = self.active
        self.supplies[a] -= 1.0
        self.heat[a] *= 1.0 - self.p.heat_decay_per_day
        starving = a & (self.supplies < -10)
        for s in np.flatnonzero(starving):  # a cell cut off from supplies loses a fighter
            self.lose(int(s), 1)
            self.supplies[s] = 0.0

    # -- per tick ------------------------------------------------------------------------
    def step(self) -> None:
        """Decide (rarely), move, act."""
        model = self.model
        clock = model.clock
        p = self.p
        rng = model.streams["insurgents"]
        idle = self.active & (self.mode == HIDE)
        can_move = self._may_move(clock.phase)
        # Resupply is a need, not an option (S15).
        need = idle & (self.supplies < 3.0) & can_move
        for s in np.flatnonzero(need):
            self._set_out(int(s), RESUPPLY, model.market_xy, aux=-1, wait_h=3.0)
        idle &= ~need
        p_consider = 1.0 - math.exp(-p.action_rate_per_day * p.tick_hours / 24.0)
        # Hot cells lie low: the hotter, the rarer they consider an operation (S13; a lull after
        # clearing ops and strikes, diyaruna Dec 2019).
        considering = idle & can_move & (rng.random(CAPACITY) < p_consider * (1.0 - self.heat))
        if considering.any():
            model.insurgent_agents(considering).shuffle_do("decide")
        self._move()
        for s in np.flatnonzero(self.active & (self.mode == ACT)):
            model.resolve_action(int(s))
        self._sync_cells()

    def _may_move(self, phase: int) -> np.ndarray:
        """Cells with low heat move any time; hot cells only at night and dusk (S14)."""
        if phase in (NIGHT, DUSK):
            return np.ones(CAPACITY, dtype=bool)
        return self.heat < self.p.day_move_heat

    def _set_out(self, s: int, action: int, target: np.ndarray, aux: int, wait_h: float) -> None:
        self.mode[s] = TRAVEL
        self.action[s] = action
        self.target[s] = target
        self.target_aux[s] = aux
        self.wait_until[s] = wait_h  # hours to wait at the target; made absolute on arrival

    def _move(self) -> None:
        moving = self.active & ((self.mode == TRAVEL) | (self.mode == RETURN))
        clock = self.model.clock
        if clock.phase in (DAY, DAWN):
            # Hot cells lie up in cover by day and move on at dusk (S14: daylight roaming only
            # while perceived risk is low).
            # ... or close to a post, or on ground a patrol covered in the last day.
            ix, iy = self.model.cells_of(self.xy[:, 0], self.xy[:, 1])
            watched = self.model.posture.post_near[ix, iy] | (
                self.model.forces.last_visit_h[ix, iy] >= clock.hours - 24.0)
            self.lying_up = moving & ((self.heat >= self.p.day_move_heat) | watched)
            moving &= ~self.lying_up
        else:
            self.lying_up[:] = False
        if not moving.any():
            return
        step_km = self.p.fighter_speed_kmh * self.p.tick_hours
        idx = np.flatnonzero(moving)
        dest = np.where((self.mode[idx] == TRAVEL)[:, None], self.target[idx],
                        self.cave_xy[self.cave[idx]])
        delta = dest - self.xy[idx]
        dist = np.hypot(delta[:, 0], delta[:, 1])
        arrive = dist <= step_km
        frac = np.where(arrive, 1.0, step_km / np.maximum(dist, 1e-9))
        self.xy[idx] = self.xy[idx] + delta * frac[:, None]
        if clock.phase in (DAY, DAWN):
            self.day_moves += len(idx)
        else:
            self.night_moves += len(idx)
        for s in idx[arrive]:
            if self.mode[s] == TRAVEL:
                self.mode[s] = ACT
                self.wait_until[s] = clock.hours + self.wait_until[s]
            else:
                self.mode[s] = HIDE
                self.action[s] = NOTHING

    def go_home(self, s: int) -> None:
        """Head back to the hideout; the action label stays until arrival (a cell coming back
        from market still travels as civilians)."""
        self.mode[s] = RETURN

    def relocate(self, s: int, away_from: np.ndarray, radius_km: float) -> None:
        """Move to the nearest cave outside a struck or cleared area (displacement, S23)."""
        d_area = np.hypot(*(self.cave_xy - away_from).T)
        d_here = np.hypot(*(self.cave_xy - self.xy[s]).T)
        d_here[d_area <= radius_km] = np.inf
        if np.isfinite(d_here).any():
            self.cave[s] = int(np.argmin(d_here))
        self.mode[s] = RETURN
        self.action[s] = RELOCATE

    def exposed(self) -> np.ndarray:
        """Cells outside their caves (travelling, acting or returning)."""
        return self.active & (self.mode != HIDE)

    def _sync_cells(self) -> None:
        """Move the Mesa agents of cells that changed grid cell this tick (vectorised check)."""
        model = self.model
        act = np.flatnonzero(self.active)
        ix, iy = model.cells_of(self.xy[act, 0], self.xy[act, 1])
        for j in np.flatnonzero((ix != self.cix[act]) | (iy != self.ciy[act])):
            s = int(act[j])
            cell = (int(ix[j]), int(iy[j]))
            self.cells[s].cell = model.grid[cell]
            self.cix[s], self.ciy[s] = cell

    # -- decisions -----------------------------------------------------------------------
    def decide(self, s: int) -> None:
        """Pick the best option by payoff against perceived risk, or keep hiding."""
        model = self.model
        p = self.p
        rng = model.streams["insurgents"]
        home = self.cave_xy[self.cave[s]]
        options: list[tuple[float, int, np.ndarray, int, float]] = []
        for action, target, aux, value, wait_h in model.candidate_targets(s, home, rng):
            risk = model.perceived_risk(target, action)
            p_capture = 1.0 - math.exp(-p.capture_k * risk)
            utility = value - p.risk_aversion * (0.5 + self.heat[s]) * p_capture * 6.0
            options.append((utility + rng.gumbel(0, 0.5), action, target, aux, wait_h))
        if not options:
            return
        best = max(options, key=lambda o: o[0])
        if best[0] <= 0:
            return
        self._set_out(s, best[1], best[2], best[3], best[4])


def kidnap_candidates(model: SecurityGapModel, home: np.ndarray, radius_km: float,
                      rng: np.random.Generator, k: int = 8) -> list[int]:
    """Villager parties whose work sites are within reach and where no force can respond in time
    (seed 003: hunters kidnapped where no force is present)."""
    v = model.villagers
    roles = v.role == SHEPHERD
    if model.clock.truffle_season:
        roles |= v.role == TRUFFLE
    roles &= v.goes_today
    d = np.hypot(v.work_xy[:, 0] - home[0], v.work_xy[:, 1] - home[1])
    cand = np.flatnonzero(roles & (d <= radius_km))
    if not len(cand):
        return []
    ix, iy = model.terrain.to_cell(v.work_xy[cand, 0], v.work_xy[cand, 1])
    resp = model.posture.response_h[ix, iy]
    cand = cand[resp >= model.params.kidnap_window_h]
    if len(cand) > k:
        cand = rng.choice(cand, k, replace=False)
    return [int(c) for c in cand]
