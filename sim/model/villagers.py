"""Villagers: households who farm, herd, hunt truffles and drive; who see insurgents, decide whom to
tell, call for help, and become informants of a handler they can reach and trust.

Why arrays behind thin agents: a few hundred household agents are out at their work sites or at home
by their daily plans, and the sensing process asks where all of them are at many sample times at once,
so their state lives in numpy arrays owned by :class:`VillagerPopulation`; each :class:`Villager` Mesa
agent is a view on its row whose methods make the individual decisions (reporting a sighting).

The informant network (S6, S7) has structure: a link joins a villager to a handler at one of a
force's bases. Links form through contact -- a base or a patrol route of that force within reach of
the village -- at a rate that grows with trust, the force's local knowledge and falls with fear; a
link ends when its handler's base is gone (the October 2017 withdrawal takes the Peshmerga handlers
off the plain, so their links end because the handlers leave, not because a rule zeroes them) or when
insurgents punish the informant. Daily plans (who goes out, how many in a party) are exogenous draws
keyed by the villager and the day, identical in every scenario.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import FixedAgent

from sim.model.clock import TRUFFLE_MONTHS
from sim.model.params import FORCES, ModelParams
from sim.model.posture import NONE
from sim.rng import entity_key

if TYPE_CHECKING:
    from sim.model.incidents import Incident
    from sim.model.model import SecurityGapModel

FARMER, SHEPHERD, TRUFFLE, DRIVER = range(4)
ROLE_NAMES = ("farmer", "shepherd", "truffle_hunter", "driver")
KURD, ARAB = 0, 1
COMMUNITY_NAMES = ("kurd", "sunni_arab")
N_FORCES = len(FORCES)  # trust and links per force, JOINT included


class Villager(FixedAgent):
    """A household group (``people_per_agent`` people) of one settlement; a view on its array row.

    The household stays at home (a Mesa ``FixedAgent`` in its home's cell); its work party goes out
    by the day's plan to its field, pasture, truffle ground or the road, and the sensing process and
    the insurgents' tasks ask where that party is (``VillagerPopulation.out_at``).
    """

    def __init__(self, model: SecurityGapModel, idx: int, key: int) -> None:
        super().__init__(model)
        self.idx = idx
        self.key = key

    @property
    def role(self) -> str:
        return ROLE_NAMES[self.model.villagers.role[self.idx]]

    @property
    def community(self) -> str:
        return COMMUNITY_NAMES[self.model.villagers.community[self.idx]]

    @property
    def trust(self) -> np.ndarray:
        return self.model.villagers.trust[self.idx]

    @property
    def informant_of(self) -> str | None:
        f = int(self.model.villagers.link_force[self.idx])
        return FORCES[f] if f >= 0 else None

    def consider_report(self, sighting: Sighting) -> None:
        """Saw a group: tell a force (a handler by phone, or walk in to a post), or say nothing.

        p_f = report_base * trust_f * (1 - fear) * (1 + handler_bonus if linked to f) for each force
        f this household can reach (its handler, or a post within ``access_km``); it tells at most
        the force it is most likely to tell (DOMAIN 4.7 item 6). Supporters of the cells never tell.
        """
        model = self.model
        pop = model.villagers
        p = model.params
        i = self.idx
        if not model.on("informants") or pop.supporter[i]:
            return
        linked = np.zeros(N_FORCES, dtype=bool)
        if pop.link_force[i] >= 0:
            linked[pop.link_force[i]] = True
        reach = linked | pop.access[i]
        prob = (p.report_base * pop.trust[i] * (1.0 - pop.fear[i]) * (1.0 + p.handler_bonus * linked) * reach)
        prob = np.clip(prob, 0.0, 1.0)
        f = int(np.argmax(prob))
        if model.rand.uniform("report", self.key, sighting.key) >= prob[f]:
            return
        knows = p.tip_hideout_prob_linked if linked[f] else p.tip_hideout_prob_walkin
        cave = sighting.cave if model.rand.uniform("report", self.key, sighting.key, 1) < knows else -1
        delay = p.phone_delay_h if linked[f] else p.walk_in_delay_h
        model.command.tip(f, sighting.cell_uid, sighting.xy, sighting.t, cave, delay,
                          key=int(model.rand.key("report", self.key, sighting.key, 2)),
                          linked=bool(linked[f]))


class Sighting:
    """A villager noticing a group at a moment (scheduled by the sensing process)."""

    def __init__(self, model: SecurityGapModel, villager: int, cell_uid: int, cave: int,
                 xy: np.ndarray, t: float, key: int) -> None:
        self.model, self.villager, self.cell_uid, self.cave = model, villager, cell_uid, cave
        self.xy, self.t, self.key = xy, t, key

    def fire(self) -> None:
        model = self.model
        model.villagers.pending.discard(self)
        model.sensing.record_sight(self)
        model.villagers.agents[self.villager].consider_report(self)


class VillagerPopulation:
    """State of every household agent as arrays, their plans, and the bulk updates."""

    def __init__(self, model: SecurityGapModel, params: ModelParams) -> None:
        self.model = model
        self.p = p = params
        terrain = model.terrain
        rnd = model.rand
        homes, comm, keys = [], [], []
        for s in terrain.settlements:
            if s.kind == "camp":
                continue  # camp residents are refugees under their own security (kirkuknow 61365)
            n = int(np.clip(round(s.pop / p.people_per_agent), 2, p.max_agents_per_settlement))
            for j in range(n):
                key = entity_key("villager", s.name, j)
                keys.append(key)
                homes.append(s.id)
                kurd_share = s.kurd / max(s.kurd + s.sunni_arab, 1e-9)
                comm.append(KURD if rnd.uniform("init", key, 1) < kurd_share else ARAB)
        self.n = n = len(homes)
        self.keys = np.array(keys, dtype=np.uint64)
        self.home = np.asarray(homes, dtype=np.int32)
        self.community = np.asarray(comm, dtype=np.int8)
        by_id = {s.id: s for s in terrain.settlements}
        centre = np.array([[by_id[h].x_km, by_id[h].y_km] for h in homes], dtype=float).reshape(n, 2)
        radius = np.array([by_id[h].radius_km for h in homes], dtype=float)
        # Households live across their settlement's built-up disc (uniform over its area).
        ang = 2 * np.pi * rnd.uniform("init", self.keys, 11)
        rad = radius * np.sqrt(rnd.uniform("init", self.keys, 12))
        self.home_xy = centre + np.column_stack([np.cos(ang), np.sin(ang)]) * rad[:, None]
        u = rnd.uniform("init", self.keys, 2)
        self.role = np.full(n, FARMER, dtype=np.int8)
        self.role[u < p.share_shepherd + p.share_truffle + p.share_driver] = DRIVER
        self.role[u < p.share_shepherd + p.share_truffle] = TRUFFLE
        self.role[u < p.share_shepherd] = SHEPHERD
        self.work_xy = self._work_sites()
        base = np.array([[p.trust_kurd_pesh, p.trust_kurd_ia, p.trust_kurd_pmf, p.trust_kurd_joint],
                         [p.trust_arab_pesh, p.trust_arab_ia, p.trust_arab_pmf, p.trust_arab_joint]])
        self.trust_base = base[self.community]
        noise = rnd.normal("init", self.keys[:, None], 3, np.arange(N_FORCES)[None, :], scale=0.05)
        self.trust = np.clip(self.trust_base + noise, 0, 1)
        self.fear = np.clip(rnd.normal("init", self.keys, 4, loc=0.3, scale=0.1), 0, 1)
        # Each household's own baseline grievance (its community's, plus its own history).
        self.grievance_base = np.clip(np.where(self.community == KURD, p.grievance_kurd, p.grievance_arab)
                                      + rnd.normal("init", self.keys, 5, scale=p.grievance_sd), 0, 1)
        self.grievance = self.grievance_base.copy()
        self.supporter = (self.community == ARAB) & (rnd.uniform("init", self.keys, 6) < p.kin_link_share)
        self.link_force = np.full(n, NONE, dtype=np.int8)
        self.link_post = np.zeros(n, dtype=np.uint64)
        self.access = np.zeros((n, N_FORCES), dtype=bool)
        self.contact = np.zeros((n, N_FORCES), dtype=bool)
        self.people = np.full(n, int(p.people_per_agent), dtype=np.int64)
        self._plans: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.start_h = np.where(self.role == TRUFFLE, p.truffle_start_h, p.work_start_h)
        self.end_h = np.where(self.role == TRUFFLE, p.truffle_end_h, p.work_end_h)
        self.pending: set[Sighting] = set()
        self.last_seen: dict[tuple[int, int], float] = {}
        self.agents = [Villager(model, i, int(self.keys[i])) for i in range(n)]
        fr = model.frame
        self.ix, self.iy = fr.cells_of(self.home_xy[:, 0], self.home_xy[:, 1])
        for agent, ix, iy in zip(self.agents, self.ix, self.iy, strict=True):
            agent.cell = model.grid[(int(ix), int(iy))]

    # -- set-up ---------------------------------------------------------------------------
    def _work_sites(self) -> np.ndarray:
        """Fields near home, pastures on the slopes, truffle grounds; drivers work on the roads."""
        terrain = self.model.terrain
        rnd = self.model.rand
        ang = 2 * np.pi * rnd.uniform("init", self.keys, 7)
        dist = 0.5 + 2.0 * rnd.uniform("init", self.keys, 8)
        work = self.home_xy + np.column_stack([np.cos(ang), np.sin(ang)]) * dist[:, None]
        slope = terrain.layers["slope_deg"]
        pasture = np.argwhere((slope > np.percentile(slope, 60)) & (terrain.layers["zone"] != 3))
        sel = self.role == SHEPHERD
        work[sel] = self._nearest_sites(pasture, np.flatnonzero(sel), k=6, max_km=8.0)
        truffle = np.argwhere(terrain.layers["truffle"])
        sel = self.role == TRUFFLE
        if len(truffle):
            work[sel] = self._nearest_sites(truffle, np.flatnonzero(sel), k=25, max_km=30.0)
        x0, x1, y0, y1 = terrain.extent_km
        work[:, 0] = np.clip(work[:, 0], x0 + 0.01, x1 - 0.01)
        work[:, 1] = np.clip(work[:, 1], y0 + 0.01, y1 - 0.01)
        return work

    def _nearest_sites(self, cells: np.ndarray, idx: np.ndarray, k: int, max_km: float) -> np.ndarray:
        """For each household in ``idx``, one of the k nearest candidate cells (km), else home."""
        origins = self.home_xy[idx]
        if len(cells) == 0 or len(idx) == 0:
            return origins.copy()
        terrain = self.model.terrain
        step = max(1, len(cells) // 4000)
        cells = cells[::step]
        cx, cy = terrain.to_km(cells[:, 0], cells[:, 1])
        cand = np.column_stack([cx, cy])
        d = np.hypot(origins[:, None, 0] - cand[None, :, 0], origins[:, None, 1] - cand[None, :, 1])
        kk = min(k, len(cand))
        nearest = np.argsort(d, axis=1, kind="stable")[:, :kk]
        pick_u = self.model.rand.uniform("init", self.keys[idx], 9)
        pick = nearest[np.arange(len(idx)), np.minimum((pick_u * kk).astype(int), kk - 1)]
        out = cand[pick]
        too_far = d[np.arange(len(idx)), pick] > max_km
        out[too_far] = origins[too_far]
        return out

    def set_posture(self, posture) -> None:
        """Who can reach which force (walk-in posts, contact with bases and patrols); links whose
        handler's base is gone end (S6)."""
        p = self.p
        access = np.zeros((self.n, N_FORCES), dtype=bool)
        contact = np.zeros((self.n, N_FORCES), dtype=bool)
        for f in range(N_FORCES):
            sel = posture.post_force == f
            if sel.any():
                d = _min_dist(self.home_xy, posture.post_xy_km[sel])
                access[:, f] = d <= p.access_km
                bases = sel & posture.post_base
                if bases.any():
                    contact[:, f] |= _min_dist(self.home_xy, posture.post_xy_km[bases]) <= p.contact_km
            if self.model.on("patrols"):
                for r in posture.routes:
                    if r.force == f:
                        contact[:, f] |= _min_dist(self.home_xy, r.xy) <= p.contact_km
        self.access, self.contact = access, contact
        valid = set(int(k) for k in posture.post_key[posture.post_base])
        linked = np.flatnonzero(self.link_force >= 0)
        gone = [i for i in linked if int(self.link_post[i]) not in valid]
        self.link_force[gone] = NONE
        self.link_post[gone] = 0
        return len(gone)

    def seed_links(self, posture) -> None:
        """An intact network at the start: a share of households linked to the nearest base of the
        force holding their home."""
        holder = posture.holder[self.ix, self.iy]
        u = self.model.rand.uniform("init", self.keys, 10)
        for i in np.flatnonzero((holder >= 0) & (u < self.p.informant_share)):
            self._link(int(i), int(holder[i]), posture)

    def _link(self, i: int, f: int, posture) -> None:
        bases = np.flatnonzero((posture.post_force == f) & posture.post_base)
        if not len(bases):
            return
        j = bases[int(np.argmin(np.hypot(*(posture.post_xy_km[bases] - self.home_xy[i]).T)))]
        self.link_force[i] = f
        self.link_post[i] = posture.post_key[j]

    # -- daily plans (exogenous) --------------------------------------------------------------
    def plans(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """(goes out, people in the party) for a day; keyed by household and day, so identical in
        every scenario except through fear (which keeps people home)."""
        hit = self._plans.get(day)
        if hit is not None:
            return hit
        p = self.p
        model = self.model
        date = model.calendar.date_of_day(day)
        u = model.rand.uniform("plans", self.keys, day, 1)
        p_go = np.ones(self.n)
        hunters = self.role == TRUFFLE
        season = date.month in TRUFFLE_MONTHS
        p_go[hunters] = min(1.0, p.truffle_go_prob * model.rainfall) if season else 0.0
        p_go *= 1.0 - p.fear_stay_home * self.fear
        goes = u < p_go
        goes &= self.role != DRIVER  # drivers are on the roads (sim/model/traffic.py)
        people = 1 + model.rand.poisson("plans", max(p.party_size - 1.0, 0.0), self.keys, day, 2)
        people = np.minimum(people, self.people)
        if len(self._plans) > 4:
            self._plans.pop(min(self._plans))
        self._plans[day] = (goes, people)
        return goes, people

    def out_at(self, ts: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """Whether households (all, or the ones in ``idx``) are out at work at sample times
        ``ts`` (sorted): (n, k)."""
        idx = np.arange(self.n) if idx is None else idx
        out = np.zeros((len(idx), len(ts)), dtype=bool)
        if not len(ts):
            return out
        days = np.floor(ts / 24.0).astype(np.int64)
        hours = ts - 24.0 * days
        start, end = self.start_h[idx][:, None], self.end_h[idx][:, None]
        for d in range(int(days[0]), int(days[-1]) + 1):
            cols = np.flatnonzero(days == d)
            if not len(cols):
                continue
            goes, _ = self.plans(d)
            h = hours[cols][None, :]
            out[:, cols] = goes[idx][:, None] & (h >= start) & (h < end)
        return out

    def parties_out_at(self, t: float) -> np.ndarray:
        """Households whose work party is out at time ``t`` (indices; empty while that day's plans
        are not drawn yet). Read-only, for viewers (sim/app/view.py): unlike :meth:`plans` it never
        draws a day's plans, because drawing them early would fix them with today's fear and change
        the run."""
        day = int(math.floor(t / 24.0))
        drawn = self._plans.get(day)
        if drawn is None:
            return np.zeros(0, dtype=np.int64)
        hour = t - 24.0 * day
        return np.flatnonzero(drawn[0] & (hour >= self.start_h) & (hour < self.end_h))

    # -- what insurgents can know and find ---------------------------------------------------
    def known_work_sites(self, home: np.ndarray, radius_km: float, truffle_season: bool) -> np.ndarray:
        """Households whose work sites are targets a cell knows of: truffle grounds in season,
        pastures all year (the land everyone knows; seeds 002/003)."""
        roles = self.role == SHEPHERD
        if truffle_season:
            roles |= self.role == TRUFFLE
        d = np.hypot(self.work_xy[:, 0] - home[0], self.work_xy[:, 1] - home[1])
        return np.flatnonzero(roles & (d <= radius_km))

    def parties_at(self, xy: np.ndarray, t0: float, t1: float, radius_km: float) -> list[tuple[int, float]]:
        """Parties out at work within ``radius_km`` of a point during [t0, t1], with the first moment
        each is there, earliest first."""
        near = np.flatnonzero((np.hypot(*(self.work_xy - xy).T) <= radius_km) & (self.role != DRIVER))
        found = []
        for d in range(int(math.floor(t0 / 24.0)), int(math.floor(t1 / 24.0)) + 1):
            goes, _ = self.plans(d)
            for i in near[goes[near]]:
                a = max(t0, 24.0 * d + self.start_h[i])
                b = min(t1, 24.0 * d + self.end_h[i])
                if a < b:
                    found.append((int(i), float(a)))
        found.sort(key=lambda x: (x[1], x[0]))
        return found

    def people_out(self, i: int) -> int:
        _, people = self.plans(self.model.calendar.day(self.model.time))
        return int(max(1, people[i]))

    def is_kurd(self, i: int) -> bool:
        return bool(self.community[i] == KURD)

    def is_hunter(self, i: int) -> bool:
        return bool(self.role[i] == TRUFFLE)

    # -- calls for help ----------------------------------------------------------------------
    def call_for_help(self, i: int, xy: np.ndarray, incident: Incident, u: float) -> None:
        """Victims or witnesses phone the force they trust most among those present near them."""
        model = self.model
        if u >= model.params.call_prob:
            return
        near = self.access[i]
        if not near.any():
            return
        f = int(np.argmax(np.where(near, self.trust[i], -1.0)))
        model.command.alert(f, xy, model.time + model.params.call_delay_h, incident, cause="call")

    def settlement_calls(self, settlement: int, xy: np.ndarray, incident: Incident, u: float) -> None:
        """A village under attack (or burning) calls for help through one of its households."""
        members = np.flatnonzero(self.home == settlement)
        if len(members):
            self.call_for_help(int(members[int(u * len(members)) % len(members)]), xy, incident, u)

    # -- daily social updates ----------------------------------------------------------------
    def new_day(self, day: int, local_knowledge: np.ndarray, posture) -> None:
        """Trust and fear relax toward their baselines; new informant links form through contact."""
        p = self.p
        self.trust += p.trust_relax_per_day * (self.trust_base - self.trust)
        self.fear *= 1.0 - p.fear_decay_per_day
        self.grievance += p.trust_relax_per_day * (self.grievance_base - self.grievance)
        if not self.model.on("informants"):
            return
        free = (self.link_force < 0) & ~self.supporter
        rate = p.link_rate_per_day * self.trust * local_knowledge[None, :] * (1.0 - self.fear)[:, None]
        # Draws only for the (household, force) pairs that could link: keyed by the pair, the same
        # numbers as drawing for all.
        ii, ff = np.nonzero(free[:, None] & self.contact)
        new = np.zeros_like(self.contact)
        new[ii, ff] = self.model.rand.uniform("social", self.keys[ii], day, ff) < rate[ii, ff]
        for i in np.flatnonzero(new.any(axis=1)):
            f = int(np.argmax(np.where(new[i], rate[i], -1.0)))
            self._link(int(i), f, posture)

    def shock(self, settlement: int, fear: float = 0.0, grievance: float = 0.0,
              trust_delta: np.ndarray | None = None) -> None:
        """An event's effect on every household of a settlement."""
        sel = self.home == settlement
        if not sel.any():
            return
        if fear:
            self.fear[sel] = np.clip(self.fear[sel] + fear * (1 - self.fear[sel]), 0, 1)
        if grievance:
            self.grievance[sel] = np.clip(self.grievance[sel] + grievance, 0, 1)
        if trust_delta is not None:
            self.trust[sel] = np.clip(self.trust[sel] + trust_delta[None, :], 0, 1)

    def mean_trust(self) -> np.ndarray:
        """(2 communities, 4 forces) mean trust."""
        out = np.full((2, N_FORCES), np.nan)
        for c in (KURD, ARAB):
            sel = self.community == c
            if sel.any():
                out[c] = self.trust[sel].mean(axis=0)
        return out

    def links(self) -> np.ndarray:
        """Informant links per force."""
        return np.bincount(self.link_force[self.link_force >= 0], minlength=N_FORCES)


def _min_dist(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest target."""
    if len(targets) == 0:
        return np.full(len(points), np.inf)
    d = np.hypot(points[:, None, 0] - targets[None, :, 0], points[:, None, 1] - targets[None, :, 1])
    return d.min(axis=1)

