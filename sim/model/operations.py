"""Insurgent operations: what a cell can do, how it weighs it, and how it plays out on the ground.

Why one module: the option set (DOMAIN 4.7 items 2-5 and 10) reads best side by side with how each
option resolves. A cell weighs options only with what it knows: the terrain (roads, villages, truffle
grounds and pastures everyone knows), the season, its own supplies and cash, and its threat memory
(sim/model/memory.py). It never reads a force's response time or a posture field: whether help comes
in time is decided later, by the units that are alerted and travel.

An option's utility is ``payoff - risk_aversion * risk_cost * P(capture) + noise`` (Epstein 2002
style), with ``P(capture) = 1 - exp(-capture_k * exposure * (0.5 + heat))`` and the exposure summed
from remembered threat along the route and at the target, discounted at night by the cell's belief
``night_risk_factor``. The noise is a fixed-size vector of Gumbel draws keyed by the cell and the
decision's number (common random numbers hold whatever the options are).

A chosen option becomes a trip (sim/model/plans.py) and a :class:`Task` that starts on arrival: it
looks for victims who are really there (work parties by their schedules, vehicles on their trips,
patrols on their sorties) and records incidents through the model's incident log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.model.clock import DAWN_H, HARVEST_MONTHS, TRUFFLE_MONTHS, light_at, next_time_at_hour
from sim.model.plans import CIVILIAN, MOVE, ON_SITE, route_legs

if TYPE_CHECKING:
    from sim.model.insurgents import InsurgentCell
    from sim.model.model import SecurityGapModel

KIDNAP, FAKE_CP, AMBUSH, ARSON, EXTORT, ATTACK, RESUPPLY = range(7)
OPTION_NAMES = ("kidnapping", "fake_checkpoint", "ambush", "arson", "extortion", "village_attack",
                "resupply")
#: Fixed number of option slots per decision (the Gumbel vector's length).
SLOTS = 16
#: Clock hour at which each operation wants to be on site (None: as soon as it gets there).
ARRIVE_AT_HOUR = {KIDNAP: DAWN_H + 0.5, FAKE_CP: 20.5, ARSON: 23.0, EXTORT: 22.0, ATTACK: 23.5,
                  RESUPPLY: 9.0, AMBUSH: None}


@dataclass
class Option:
    """One thing a cell could do now."""

    kind: int
    xy: np.ndarray
    payoff: float
    on_site_h: float
    aux: int = -1  # settlement id, villager index or -1


def crop_dryness(month: int) -> float:
    """How well a standing crop burns: dry wheat and barley before and during harvest (May-June),
    stubble afterwards, green or bare fields otherwise (shafaaq May 2020)."""
    if month in HARVEST_MONTHS:
        return 1.0
    if month in (7, 8, 9):
        return 0.15
    return 0.0


def options(model: SecurityGapModel, cell: InsurgentCell, t: float, needs_only: bool = False
            ) -> list[Option | None]:
    """Everything a cell could do now, each with its best-looking target (at most SLOTS).

    With ``needs_only`` (a hungry cell that only looks for supplies) the options that bring none
    are left as ``None`` placeholders, not worked out: they still take their slots, so which supply
    options fit under ``SLOTS`` is the same as in a full look."""
    p = model.params
    home = cell.home_xy
    radius = p.operation_radius_km
    month = model.calendar.date(t).month
    out: list[Option] = []
    rnd = model.rand
    n = cell.decisions
    # Resupply at the market (S15): supplies short of a full load, and cash to pay.
    deficit = max(0.0, p.supplies_days - cell.supplies)
    if cell.supplies < p.resupply_below_days and cell.cash >= p.market_cost:
        out.append(Option(RESUPPLY, model.market_xy.copy(), p.payoff_supplies * deficit, p.market_hours))
    # Kidnap a work party at a site the cell knows parties use (seeds 002/003).
    sites = model.villagers.known_work_sites(home, radius, truffle_season=month in TRUFFLE_MONTHS)
    if len(sites):
        if needs_only:
            out.extend([None] * min(4, len(sites)))
            pick = sites[:0]
        else:
            pick = sites[np.argsort(rnd.uniform("decide", cell.key, n, 1, sites))[:4]]
        for i in pick:
            kurd = model.villagers.is_kurd(int(i))
            value = p.payoff_kidnap * (1.0 if kurd else 0.5)
            if not model.villagers.is_hunter(int(i)):
                value *= 0.5  # shepherds: alone or in twos, a small prize
            out.append(Option(KIDNAP, model.villagers.work_xy[int(i)].copy(), value, p.kidnap_hours, int(i)))
    # Fake checkpoint on a road where traffic runs (rudaw 12082021).
    nodes = model.traffic.road_points_near(home, radius)
    if len(nodes) and needs_only:
        out.extend([None] * 3)
    elif len(nodes):
        w = model.traffic.node_weight[nodes]
        for k in range(3):
            j = int(nodes[rnd.choice("decide", w, cell.key, n, 2, k)])
            out.append(Option(FAKE_CP, model.traffic.node_xy[j].copy(),
                              p.payoff_fake_checkpoint * float(model.traffic.node_weight[j] / w.max()),
                              p.fake_cp_hours))
    # Ambush where the cell remembers patrols passing (S12: learned patrol habits).
    spot = cell.memory.patrol_spot(home, radius, t) if cell.fighters >= 4 else None
    if spot is not None:
        out.append(None if needs_only else Option(AMBUSH, spot, p.payoff_ambush, p.ambush_wait_h))
    # Village operations: arson of dry crops, zakat from Sunni villages, attacks on Kurdish ones.
    for st in model.settlements_near(home, radius):
        if st.kind in ("camp", "town"):
            continue
        xy = np.array([st.x_km, st.y_km])
        kurdish = st.kurd >= st.sunni_arab
        dry = crop_dryness(month)
        if kurdish and dry > 0 and needs_only:
            out.append(None)
        elif kurdish and dry > 0:
            ang = 2 * math.pi * rnd.uniform("decide", cell.key, n, 3, st.id)
            out.append(Option(ARSON, xy + 0.8 * np.array([math.cos(ang), math.sin(ang)]),
                              p.payoff_arson * dry, 1.0, st.id))
        if not kurdish:
            # Zakat is collected again only once a village has had time to pay again: the network
            # knows when it was last taken (rudaw 070420192).
            since = t - model.insurgency.last_extorted.get(st.id, -math.inf)
            ready = min(1.0, since / (24.0 * p.zakat_recovery_days))
            out.append(Option(EXTORT, xy, p.payoff_extortion * ready, 2.0, st.id))
        elif cell.fighters >= 6:
            out.append(None if needs_only else Option(ATTACK, xy, p.payoff_village_attack, 1.5, st.id))
    return out[:SLOTS]


def assess(model: SecurityGapModel, cell: InsurgentCell, opts: list[Option], t: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """The cell's belief of being caught on each option's trip, and whether it would lie up by day.

    Remembered threat is read at points every kilometre of the way there and back and at the
    target; the exposure weighs each point by the hours spent near it and by how dangerous the cell
    believes the light then is (``night_risk_factor`` in the dark, ``civilian_cover`` off for a market
    trip in plain clothes). A trip whose daylight exposure alone would exceed ``day_move_tolerance``
    is made by night, lying up by day (S14: daylight roaming only while pressure is low).
    """
    p = model.params
    home = cell.home_xy
    speed = p.fighter_speed_kmh
    pts, owner, hours = [], [], []
    for j, opt in enumerate(opts):
        dist = float(np.hypot(*(opt.xy - home)))
        n = max(1, int(math.ceil(dist)))
        f = (np.arange(n) + 0.5) / n
        pts.append(home + f[:, None] * (opt.xy - home))
        owner.append(np.full(n, j))
        hours.append(np.full(n, 2.0 * dist / speed / n))  # there and back
    threat = cell.memory.threat(np.vstack(pts), t) if pts else np.zeros(0)
    owner_a = np.concatenate(owner)
    travel = np.bincount(owner_a, weights=threat * np.concatenate(hours), minlength=len(opts))
    site = cell.memory.threat(np.array([o.xy for o in opts]), t) * np.array([o.on_site_h for o in opts])
    alarm = 0.5 + cell.heat
    civilian = np.array([o.kind == RESUPPLY for o in opts])
    day_risk = -np.expm1(-p.capture_k * travel * alarm)
    lie_up = (day_risk > p.day_move_tolerance) & ~civilian
    belief_travel = np.where(lie_up, p.night_risk_factor, 0.5 * (1.0 + p.night_risk_factor))
    arrive_light = np.array([_light_on_arrival(o.kind) for o in opts])
    belief_site = np.where(arrive_light, 1.0, p.night_risk_factor)
    plain = np.where(civilian, 1.0 - p.civilian_cover, 1.0)
    exposure = (travel * belief_travel + site * belief_site) * plain * alarm
    return -np.expm1(-p.capture_k * exposure), lie_up


def _light_on_arrival(kind: int) -> bool:
    hour = ARRIVE_AT_HOUR.get(kind)
    return True if hour is None else bool(light_at(hour))


def plan_trip(model: SecurityGapModel, cell: InsurgentCell, opt: Option, t: float, lie_up: bool
              ) -> tuple[list, float, float, float]:
    """Legs for going to an option's target, staying, and coming back.

    Returns (legs, departure, arrival, end of stay). Timed operations leave so as to arrive at their
    hour (``ARRIVE_AT_HOUR``); a cell that lies up by day walks only in the dark.
    """
    p = model.params
    home = cell.home_xy
    speed = p.fighter_speed_kmh
    travel = float(np.hypot(*(opt.xy - home))) / speed
    stance = CIVILIAN if opt.kind == RESUPPLY else MOVE
    want = ARRIVE_AT_HOUR.get(opt.kind)
    if want is None:
        depart = t
    else:
        depart = next_time_at_hour(t + travel, want) - travel
        if depart < t:
            depart += 24.0
    legs, arrive = route_legs(depart, home, opt.xy, speed, lie_up, stance)
    end = arrive + opt.on_site_h
    legs.append((arrive, end, opt.xy[0], opt.xy[1], opt.xy[0], opt.xy[1],
                 CIVILIAN if opt.kind == RESUPPLY else ON_SITE))
    back, _home_at = route_legs(end, opt.xy, home, speed, lie_up, stance)
    return legs + back, depart, arrive, end


def choose(model: SecurityGapModel, cell: InsurgentCell, t: float, needs_only: bool = False):
    """The option with the highest utility (if positive) and its trip, or None (``needs_only``:
    only options that bring supplies)."""
    p = model.params
    opts = options(model, cell, t, needs_only)
    if needs_only:
        opts = [o for o in opts if o is not None and o.kind in (RESUPPLY, EXTORT)]
    if not opts:
        return None
    noise = model.rand.gumbel("decide", SLOTS, cell.key, cell.decisions, 0, scale=p.option_noise)
    risk, lie_up = assess(model, cell, opts, t)
    utility = np.array([o.payoff for o in opts]) - p.risk_aversion * p.risk_cost * risk + noise[:len(opts)]
    j = int(np.argmax(utility))
    if utility[j] <= 0:
        return None
    legs, depart, arrive, end = plan_trip(model, cell, opts[j], t, bool(lie_up[j]))
    return opts[j], legs, depart, arrive, end, bool(lie_up[j])
