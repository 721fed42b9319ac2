"""Villagers: household work parties who farm, herd, hunt truffles and drive, see insurgents,
and decide whether and whom to tell.

Why arrays: a few hundred work parties act in bulk every tick (who is out, where, who saw what),
so their state lives in numpy arrays owned by ``VillagerPopulation`` and each ``Villager`` Mesa
agent is a thin view on its row. Mesa cells are updated only for the parties whose place changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import CellAgent

from sim.model.clock import DAWN, DAY, DUSK, NIGHT
from sim.model.params import ModelParams

if TYPE_CHECKING:
    from sim.model.model import SecurityGapModel

FARMER, SHEPHERD, TRUFFLE, DRIVER = range(4)
ROLE_NAMES = ("farmer", "shepherd", "truffle_hunter", "driver")
KURD, ARAB = 0, 1
COMMUNITY_NAMES = ("kurd", "sunni_arab")
N_TRUST = 3  # PESH, IA, PMF (a joint unit draws on the better of PESH and IA)


class Villager(CellAgent):
    """A household work party (one agent stands for ``people_per_agent`` people).

    Its position lives in the population arrays; the Mesa cell is brought up to date when it is
    read (``agent.cell``) or by ``model.sync_grid()``, not on every tick: moving a few hundred
    parties out and home twice a day through Mesa's cell lists would cost a third of a year's run.
    """

    def __init__(self, model: SecurityGapModel, idx: int) -> None:
        super().__init__(model)
        self.idx = idx

    @property
    def cell(self):  # noqa: D102 - the Mesa cell, synced on read
        pop = self.model.villagers
        current = CellAgent.cell.fget(self)
        if current is not None and pop.agents and pop.agents[self.idx] is self:
            want = (int(pop.ix[self.idx]), int(pop.iy[self.idx]))
            if current.coordinate != want:
                CellAgent.cell.fset(self, self.model.grid[want])
        return CellAgent.cell.fget(self)

    @cell.setter
    def cell(self, value) -> None:
        CellAgent.cell.fset(self, value)

    @property
    def role(self) -> str:
        return ROLE_NAMES[self.model.villagers.role[self.idx]]

    @property
    def community(self) -> str:
        return COMMUNITY_NAMES[self.model.villagers.community[self.idx]]

    @property
    def out(self) -> bool:
        return bool(self.model.villagers.out[self.idx])

    @property
    def trust(self) -> np.ndarray:
        return self.model.villagers.trust[self.idx]


class VillagerPopulation:
    """State of every work party as arrays, and the bulk updates of the villager stage."""

    def __init__(self, model: SecurityGapModel, params: ModelParams) -> None:
        self.model = model
        self.p = params
        terrain = model.terrain
        rng = model.streams["init"]
        homes, comm = [], []
        for s in terrain.settlements:
            if s.kind == "camp":
                continue  # camp residents are refugees under their own security (kirkuknow 61365)
            n = int(np.clip(round(s.pop / params.people_per_agent), 2, params.max_agents_per_settlement))
            homes += [s.id] * n
            kurd_share = s.kurd / max(s.kurd + s.sunni_arab, 1e-9)
            comm += list(np.where(rng.random(n) < kurd_share, KURD, ARAB))
        self.n = n_total = len(homes)
        self.home = np.asarray(homes, dtype=np.int32)
        self.community = np.asarray(comm, dtype=np.int8)
        by_id = {s.id: s for s in terrain.settlements}
        self.home_xy = np.array([[by_id[h].x_km, by_id[h].y_km] for h in homes], dtype=float)
        draws = rng.random(n_total)
        p = params
        self.role = np.full(n_total, FARMER, dtype=np.int8)
        self.role[draws < p.share_shepherd + p.share_truffle + p.share_driver] = DRIVER
        self.role[draws < p.share_shepherd + p.share_truffle] = TRUFFLE
        self.role[draws < p.share_shepherd] = SHEPHERD
        self.work_xy = self._work_sites(rng)
        self.driver_road = rng.integers(0, max(len(terrain.roads), 1), n_total)
        road_xy = [np.column_stack(terrain.to_km(r.cells[:, 0], r.cells[:, 1])) for r in terrain.roads]
        self._road_len = np.array([len(r) for r in road_xy], dtype=np.int64)
        self._road_off = np.concatenate([[0], np.cumsum(self._road_len)[:-1]]).astype(np.int64)
        self._road_xy = np.vstack(road_xy) if road_xy else np.zeros((1, 2))

        base = np.array(
            [[p.trust_kurd_pesh, p.trust_kurd_ia, p.trust_kurd_pmf],
             [p.trust_arab_pesh, p.trust_arab_ia, p.trust_arab_pmf]]
        )
        self.trust_base = base[self.community]
        self.trust = np.clip(self.trust_base + rng.normal(0, 0.05, (n_total, N_TRUST)), 0, 1)
        self.fear = np.clip(rng.normal(0.3, 0.1, n_total), 0, 1)
        self.grievance_base = np.where(self.community == KURD, p.grievance_kurd, p.grievance_arab)
        self.grievance = np.clip(self.grievance_base + rng.normal(0, 0.15, n_total), 0, 1)
        self.linked = np.zeros((n_total, N_TRUST), dtype=bool)
        self.out = np.zeros(n_total, dtype=bool)
        self.xy = self.home_xy.copy()
        self.goes_today = np.zeros(n_total, dtype=bool)
        hx, hy = terrain.to_cell(self.home_xy[:, 0], self.home_xy[:, 1])
        self.home_ix, self.home_iy = np.asarray(hx), np.asarray(hy)
        self.ix, self.iy = self.home_ix.copy(), self.home_iy.copy()
        self.agents: list[Villager] = []
        self.agents = [Villager(model, i) for i in range(n_total)]
        grid = model.grid
        for agent, ix, iy in zip(self.agents, self.ix, self.iy, strict=True):
            agent.cell = grid[(int(ix), int(iy))]

    # -- set-up ---------------------------------------------------------------------------
    def _work_sites(self, rng: np.random.Generator) -> np.ndarray:
        """Fields near home, pastures toward the ridge, truffle grounds; drivers use roads."""
        terrain = self.model.terrain
        work = self.home_xy.copy()
        n = self.n
        ang = rng.uniform(0, 2 * np.pi, n)
        dist = rng.uniform(0.5, 2.5, n)
        work += np.column_stack([np.cos(ang), np.sin(ang)]) * dist[:, None]
        # Shepherds graze the slopes: pick the nearest of a few pasture cells (seed 002, S20).
        slope = terrain.layers["slope_deg"]
        pasture = np.argwhere((slope > np.percentile(slope, 60)) & (terrain.layers["zone"] != 3))
        sel = self.role == SHEPHERD
        work[sel] = self._nearest_sites(pasture, self.home_xy[sel], rng, k=6, max_km=8.0)
        truffle = np.argwhere(terrain.layers["truffle"])
        sel = self.role == TRUFFLE
        if len(truffle):
            work[sel] = self._nearest_sites(truffle, self.home_xy[sel], rng, k=25, max_km=30.0)
        x0, x1, y0, y1 = terrain.extent_km
        work[:, 0] = np.clip(work[:, 0], x0 + 0.01, x1 - 0.01)
        work[:, 1] = np.clip(work[:, 1], y0 + 0.01, y1 - 0.01)
        return work

    def _nearest_sites(self, cells: np.ndarray, origins: np.ndarray, rng: np.random.Generator,
                       k: int, max_km: float) -> np.ndarray:
        """For each origin, one of the k nearest candidate cells (km), else the origin itself."""
        if len(cells) == 0 or len(origins) == 0:
            return origins.copy()
        terrain = self.model.terrain
        if len(cells) > 4000:
            cells = cells[rng.choice(len(cells), 4000, replace=False)]
        cx, cy = terrain.to_km(cells[:, 0], cells[:, 1])
        cand = np.column_stack([cx, cy])
        d = np.hypot(origins[:, None, 0] - cand[None, :, 0], origins[:, None, 1] - cand[None, :, 1])
        kk = min(k, len(cand))
        nearest = np.argpartition(d, kk - 1, axis=1)[:, :kk]
        pick = nearest[np.arange(len(origins)), rng.integers(0, kk, len(origins))]
        out = cand[pick]
        too_far = d[np.arange(len(origins)), pick] > max_km
        out[too_far] = origins[too_far]
        return out

    # -- daily ------------------------------------------------------------------------------
    def new_day(self, truffle_season: bool, rainfall: float, truffle_ban: bool = False) -> None:
        """Draw who goes out today; relax trust and fear; rebuild informant links."""
        p = self.p
        rng = self.model.streams["villagers"]
        u = rng.random(self.n)
        goes = np.ones(self.n, dtype=bool)
        hunters = self.role == TRUFFLE
        p_go = min(1.0, p.truffle_go_prob * rainfall) if truffle_season and not truffle_ban else 0.0
        goes[hunters] = u[hunters] < p_go
        # Fear keeps people home (seed 003: civilians told to avoid unsecured areas).
        goes &= rng.random(self.n) > 0.5 * self.fear
        self.goes_today = goes
        self.trust += p.trust_relax_per_day * (self.trust_base - self.trust)
        self.fear *= 1.0 - p.fear_decay_per_day
        self.grievance += p.trust_relax_per_day * (self.grievance_base - self.grievance)

    def rebuild_links(self, access: np.ndarray, local_knowledge: np.ndarray) -> None:
        """New informant links at rate ``link_rebuild x trust x local knowledge`` (S6, S8)."""
        rng = self.model.streams["villagers"]
        rate = self.p.link_rebuild_per_day * self.trust * local_knowledge[None, :N_TRUST]
        new = access & ~self.linked & (rng.random(self.linked.shape) < rate)
        self.linked |= new

    # -- per tick ----------------------------------------------------------------------------
    def place(self, phase: int, tick_of_day: int) -> None:
        """Who is out this tick and where; sync Mesa cells for parties that moved."""
        role = self.role
        out = np.zeros(self.n, dtype=bool)
        if phase in (DAWN, DAY):
            out |= (role == FARMER) | (role == SHEPHERD)
            out |= role == DRIVER
        if phase == DAWN or (phase == DAY and self.model.clock.hour < 13):
            out |= role == TRUFFLE  # early morning (seed 003)
        if phase == DUSK:
            out |= role == DRIVER
        if phase == NIGHT:
            # A share of drivers travel at night (the Aug 2021 fake checkpoint stopped 9 people).
            out |= (role == DRIVER) & ((np.arange(self.n) + tick_of_day) % 3 == 0)
        out &= self.goes_today
        xy = np.where(out[:, None], self.work_xy, self.home_xy)
        drivers = out & (role == DRIVER)
        if drivers.any():
            xy[drivers] = self._driver_positions(np.flatnonzero(drivers))
        self.out = out
        self.xy = xy
        self._sync_cells()

    def _driver_positions(self, idx: np.ndarray) -> np.ndarray:
        """Drivers sit somewhere on their road this tick."""
        rng = self.model.streams["movement"]
        road = self.driver_road[idx]
        pos = (rng.random(len(idx)) * self._road_len[road]).astype(np.int64)
        return self._road_xy[self._road_off[road] + pos]

    def _sync_cells(self) -> None:
        """Record each party's cell (Mesa's cell lists are updated lazily, see ``Villager``)."""
        self.ix, self.iy = self.model.cells_of(self.xy[:, 0], self.xy[:, 1])

    def sync_all(self) -> None:
        """Move every party's Mesa agent to its current cell."""
        for agent in self.agents:
            _ = agent.cell

    def observe(self, group_xy: np.ndarray, night: bool) -> np.ndarray:
        """Which villagers notice each exposed group: bool (n_villagers, n_groups)."""
        rng = self.model.streams["villagers"]
        rng_km = self.p.sight_range_day_km * (0.25 if night else 1.0)
        d = np.hypot(self.xy[:, None, 0] - group_xy[None, :, 0], self.xy[:, None, 1] - group_xy[None, :, 1])
        near = d < rng_km
        if not near.any():
            return near
        return near & (rng.random(near.shape) < self.p.see_prob)

    def report_choice(self, who: np.ndarray, access: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For villagers ``who`` who saw something: which force they tell (or -1).

        p_report = base x trust x access x (1 - fear) x (1 + handler_bonus if linked), per force;
        a villager tells at most the one force they are most likely to tell (DOMAIN 4.7 item 6).
        """
        rng = self.model.streams["villagers"]
        p = self.p
        acc = access[who] | self.linked[who]
        prob = (p.report_base * self.trust[who] * acc * (1.0 - self.fear[who])[:, None]
                * (1.0 + p.handler_bonus * self.linked[who]))
        prob = np.clip(prob, 0.0, 1.0)
        best = np.argmax(prob, axis=1)
        pbest = prob[np.arange(len(who)), best]
        tells = rng.random(len(who)) < pbest
        return np.where(tells, best, -1), self.linked[who, best] & tells

    # -- events ------------------------------------------------------------------------------
    def in_settlement(self, settlement_id: int) -> np.ndarray:
        return self.home == settlement_id

    def shock(self, settlement_id: int, fear: float = 0.0, grievance: float = 0.0,
              trust_delta: np.ndarray | None = None) -> None:
        """Apply an event's effect to every party of a settlement."""
        sel = self.home == settlement_id
        if not sel.any():
            return
        if fear:
            self.fear[sel] = np.clip(self.fear[sel] + fear * (1 - self.fear[sel]), 0, 1)
        if grievance:
            self.grievance[sel] = np.clip(self.grievance[sel] + grievance, 0, 1)
        if trust_delta is not None:
            self.trust[sel] = np.clip(self.trust[sel] + trust_delta[None, :], 0, 1)

    def mean_trust(self) -> np.ndarray:
        """(2 communities, 3 forces) mean trust."""
        out = np.full((2, N_TRUST), np.nan)
        for c in (KURD, ARAB):
            sel = self.community == c
            if sel.any():
                out[c] = self.trust[sel].mean(axis=0)
        return out
