"""Insurgent operations: where each can happen, how risky it looks, and how it resolves.

Why here and not in the cell class: each operation touches villagers, forces, intelligence and
the incident log, so its rules read best side by side -- target choice, perceived risk and outcome
-- with the sources that shaped them (DOMAIN 4.7 items 2-5 and 10).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from sim.model.clock import DAWN, DAY, DUSK, NIGHT
from sim.model.forces import UNIT_STRENGTH
from sim.model.insurgents import (
    AMBUSH,
    ARSON,
    ATTACK,
    EXTORT,
    FAKE_CP,
    KIDNAP,
    RELOCATE,
    RESUPPLY,
    kidnap_candidates,
)
from sim.model.posture import NONE, PMF
from sim.model.villagers import DRIVER, KURD, TRUFFLE

if TYPE_CHECKING:
    from sim.model.model import SecurityGapModel

Target = tuple[int, np.ndarray, int, float, float]  # action, xy, aux, value, wait hours

#: How long each operation keeps a cell on site (h) [EST]; a quick-reaction force that can arrive
#: within about this time is likely to interrupt it.
DURATION_H = {KIDNAP: 1.0, FAKE_CP: 3.0, AMBUSH: 0.5, ARSON: 1.0, EXTORT: 2.0, ATTACK: 1.5}


def interrupt_prob(model: SecurityGapModel, xy: np.ndarray, action: int) -> float:
    """Chance a quick-reaction force reaches the site before the operation is over."""
    ix, iy = model.cell_of(float(xy[0]), float(xy[1]))
    response = float(model.posture.response_h[ix, iy])
    return float(np.exp(-response / DURATION_H.get(action, 1.0)))


def candidate_targets(model: SecurityGapModel, s: int, home: np.ndarray,
                      rng: np.random.Generator) -> Iterator[Target]:
    """Every option open to cell ``s`` now, each valued by its payoff times the chance it is
    not interrupted by a quick-reaction force."""
    for action, xy, aux, value, wait_h in _raw_targets(model, s, home, rng):
        yield action, xy, aux, value * (1.0 - interrupt_prob(model, xy, action)), wait_h


def _raw_targets(model: SecurityGapModel, s: int, home: np.ndarray,
                 rng: np.random.Generator) -> Iterator[Target]:
    """Every option open to cell ``s`` now, each with its best-looking target."""
    p = model.params
    ins = model.insurgents
    radius = p.operation_radius_km
    fighters = int(ins.fighters[s])
    clock = model.clock
    v = model.villagers
    # Kidnap a remote work party (truffle hunters in season, shepherds): seeds 002/003.
    for i in kidnap_candidates(model, home, radius, rng, k=4):
        value = p.payoff_kidnap * (1.2 if v.community[i] == KURD else 0.6)
        value *= 2.0 if v.role[i] == TRUFFLE else 0.5  # hunters: remote, in groups, in season
        yield KIDNAP, v.work_xy[i].copy(), i, value, 9.0
    # Fake checkpoint on a road in or beside the gap, at night (rudaw 12082021).
    cells = model.posture.fake_cp_cells
    if len(cells) and clock.phase in (DUSK, NIGHT, DAY):
        pick = cells[rng.integers(len(cells), size=min(3, len(cells)))]
        for c in pick:
            xy = np.asarray(model.terrain.to_km(int(c[0]), int(c[1])), dtype=float)
            if np.hypot(*(xy - home)) <= radius:
                yield FAKE_CP, xy, -1, p.payoff_fake_checkpoint, 12.0
    # Ambush a patrol route the cell has learned (predictable patrols, S12).
    forces = model.forces
    if len(forces.routes) and fighters >= 4:
        k = int(rng.integers(len(forces.routes)))
        route = forces.routes[k]
        picks = route.cells[rng.integers(len(route.cells), size=8)]
        hidden = ~model.posture.post_cover[picks[:, 0], picks[:, 1]]
        c = picks[int(np.argmax(hidden))]
        xy = np.asarray(model.terrain.to_km(int(c[0]), int(c[1])), dtype=float)
        if hidden.any() and np.hypot(*(xy - home)) <= radius:
            bonus = 1.3 if route.force == PMF else 1.0  # Shia militia targeted (seed 002, S11)
            yield AMBUSH, xy, k, p.payoff_ambush * bonus, 24.0
    # Village operations: arson in harvest season, extortion of Sunni villages, attacks.
    for st in model.settlements_near(home, radius):
        xy = np.array([st.x_km, st.y_km])
        if st.kind == "camp" or st.kind == "town":
            continue
        kurdish = st.kurd >= st.sunni_arab
        if clock.harvest_season and kurdish:
            yield ARSON, xy + rng.normal(0, 0.8, 2), st.id, p.payoff_arson, 12.0
        if not kurdish:
            yield EXTORT, xy, st.id, p.payoff_extortion, 6.0
        elif fighters >= 6:
            yield ATTACK, xy, st.id, p.payoff_village_attack, 6.0


def perceived_risk(model: SecurityGapModel, xy: np.ndarray, action: int = 0) -> float:
    """How dangerous a target looks: posts in view, recent patrols, informants, fast response.
    An ambush seeks the patrol out, so patrols and response do not deter it."""
    ix, iy = model.cell_of(float(xy[0]), float(xy[1]))
    post = model.posture
    risk = 1.0 if post.post_cover[ix, iy] else 0.0
    if action != AMBUSH:
        if model.forces.last_visit_h[ix, iy] >= model.clock.hours - 48.0:
            risk += 0.5
        resp = float(post.response_h[ix, iy])
        risk += 0.8 if resp < 1.0 else (0.3 if resp < 3.0 else 0.0)
    risk += 2.0 * model.informant_density(xy)
    return risk


def resolve(model: SecurityGapModel, s: int) -> None:
    """A cell at its target tries to act; it goes home when done or when its wait runs out.
    A quick-reaction force may arrive while it acts and engage it."""
    ins = model.insurgents
    action = int(ins.action[s])
    before = len(model.recorder.inc["type"])
    done = _RESOLVERS[action](model, s) if action in _RESOLVERS else True
    if len(model.recorder.inc["type"]) > before and ins.active[s]:
        xy = ins.xy[s]
        if model.streams["combat"].random() < interrupt_prob(model, xy, action):
            actor = model.actor_at(xy)
            if actor != NONE:
                model.engage(s, actor)
    if ins.active[s] and (done or model.clock.hours >= ins.wait_until[s]):
        ins.go_home(s)


def _kidnap(model: SecurityGapModel, s: int) -> bool:
    clock = model.clock
    if clock.phase not in (DAWN, DAY):
        return False
    v = model.villagers
    ins = model.insurgents
    xy = ins.xy[s]
    near = np.flatnonzero(v.out & (v.role != DRIVER)
                          & (np.hypot(v.xy[:, 0] - xy[0], v.xy[:, 1] - xy[1]) < 1.5))
    if not len(near):
        return False
    ix, iy = model.cell_of(float(xy[0]), float(xy[1]))
    if model.posture.response_h[ix, iy] < model.params.kidnap_window_h:
        return True  # a force could arrive in time: abort
    rng = model.streams["insurgents"]
    victim = int(rng.choice(near))
    hostages = 1 + int(rng.binomial(2, 0.3))
    ins.cash[s] += hostages * (1.0 if v.community[victim] == KURD else 0.5)
    model.record_incident("kidnapping", xy, victims=hostages, casualties=0, group=s,
                          settlement=int(v.home[victim]))
    return True


def _fake_checkpoint(model: SecurityGapModel, s: int) -> bool:
    if model.clock.phase != NIGHT:
        return False
    v = model.villagers
    ins = model.insurgents
    rng = model.streams["insurgents"]
    xy = ins.xy[s]
    drivers = v.out & (v.role == DRIVER)
    passing = int((np.hypot(v.xy[drivers, 0] - xy[0], v.xy[drivers, 1] - xy[1]) < 4.0).sum())
    mean = model.params.victims_per_fake_checkpoint * (1.0 if passing else 0.4)
    abducted = int(rng.poisson(mean))
    if abducted == 0:
        return True
    injured = int(rng.binomial(abducted, 0.3))
    ins.cash[s] += abducted * 0.8
    model.record_incident("fake_checkpoint", xy, victims=abducted, casualties=injured, group=s,
                          settlement=-1)
    return True


def _ambush(model: SecurityGapModel, s: int) -> bool:
    ins = model.insurgents
    forces = model.forces
    near = forces.patrols_near(ins.xy[s, 0], ins.xy[s, 1], 1.0)
    if not len(near):
        return False
    rng = model.streams["combat"]
    k = int(rng.choice(near))
    force = int(forces.patrol_force[k])
    p_hit = 0.25 if force == PMF else 0.15  # Shia militia are killed, not captured (S11)
    casualties = int(rng.binomial(UNIT_STRENGTH, p_hit))
    model.record_incident("ambush", ins.xy[s], victims=0, casualties=casualties, group=s,
                          settlement=-1, target_force=force)
    model.casualties_security += casualties
    losses = int(rng.binomial(int(ins.fighters[s]), 0.05))
    model.kill(s, losses, by="ground")
    if ins.active[s]:
        ins.heat[s] = min(1.0, ins.heat[s] + 0.2)
    return True


def _arson(model: SecurityGapModel, s: int) -> bool:
    if model.clock.phase != NIGHT:
        return False
    st = model.terrain.settlements[int(model.insurgents.target_aux[s])]
    model.record_incident("arson", model.insurgents.xy[s], victims=0, casualties=0, group=s,
                          settlement=st.id)
    return True


def _extort(model: SecurityGapModel, s: int) -> bool:
    ins = model.insurgents
    st = model.terrain.settlements[int(ins.target_aux[s])]
    ins.cash[s] += 0.5
    ins.supplies[s] = max(ins.supplies[s], model.params.supplies_days * 0.5)  # zakat in sheep
    model.record_incident("extortion", ins.xy[s], victims=0, casualties=0, group=s,
                          settlement=st.id)
    return True


def _attack(model: SecurityGapModel, s: int) -> bool:
    if model.clock.phase not in (NIGHT, DUSK):
        return False
    ins = model.insurgents
    rng = model.streams["combat"]
    st = model.terrain.settlements[int(ins.target_aux[s])]
    ix, iy = model.cell_of(st.x_km, st.y_km)
    fast_help = model.posture.response_h[ix, iy] <= 0.5
    defenders = st.self_defence + (UNIT_STRENGTH if fast_help else 0)
    attackers = int(ins.fighters[s])
    share = attackers / max(attackers + defenders, 1)
    casualties = int(rng.binomial(max(defenders, 4), 0.15 * share + 0.05))
    model.record_incident("village_attack", ins.xy[s], victims=0, casualties=casualties, group=s,
                          settlement=st.id)
    model.casualties_civilian += casualties
    losses = int(rng.binomial(attackers, 0.2 * (1 - share) + 0.02))
    model.kill(s, losses, by="ground")
    return True


def _resupply(model: SecurityGapModel, s: int) -> bool:
    """Buying in the Makhmour market (S15): town checkpoints and informants may catch them."""
    ins = model.insurgents
    rng = model.streams["insurgents"]
    risk = perceived_risk(model, ins.xy[s])
    p_caught = 1.0 - np.exp(-0.03 * risk)
    model.resupply_trips += 1
    if rng.random() < p_caught:
        arrested = int(min(ins.fighters[s], 1 + rng.binomial(2, 0.3)))
        model.arrests += arrested
        model.kill(s, arrested, by="arrest")
    if ins.active[s]:
        ins.supplies[s] = model.params.supplies_days
    return True


_RESOLVERS = {
    KIDNAP: _kidnap,
    FAKE_CP: _fake_checkpoint,
    AMBUSH: _ambush,
    ARSON: _arson,
    EXTORT: _extort,
    ATTACK: _attack,
    RESUPPLY: _resupply,
    RELOCATE: lambda model, s: True,
}
