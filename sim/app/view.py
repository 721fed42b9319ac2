"""The one adapter between a live model and everything that shows it (dashboard, animation).

Why one module: the dashboard and ``sim.analysis.animate`` need to know where every patrol,
post, quick-reaction unit, insurgent cell and work party is, what happened recently, what day it
is, and the daily series so far. Reading those from the model's internals in many places would tie
every view to one version of the model. Here, and only here, the model is read; everything else
sees plain records (:class:`Mark`, :class:`IncidentMark`, a daily-series table) in km, days and
dates. This version reads Model 2 (time in hours on Mesa's event clock, positions as plans in time).

Time, as the views see it: one step is a day. :func:`advance_day` runs the model with its own
``run_until`` (hours) on to the next midday, when villagers are out and patrols walk; the last
call runs it to its horizon (the midnight that closes the last day). "The day shown" is the day
of the model's current time.

Positions are the model's own positions at its current time, asked of the agents' plans (a cell's
trip, a patrol's sorties, a unit's route, a household's day plan, a vehicle's trip), never of the
grid cells, so nothing here needs ``sync_cells`` and reading never changes the run: a model that
is shown every day ends with the same outcomes as one run straight through
(``tests/test_dashboard.py`` checks this against ``sim.model.runner.run_replicate``).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.model.clock import NIGHT, phase_of_hour
from sim.model.incidents import HOLDER_NAMES, TYPE_COLUMNS
from sim.model.incidents import INCIDENT_TYPES as _INCIDENT_TYPES
from sim.model.model import SecurityGapModel
from sim.model.operations import OPTION_NAMES
from sim.model.plans import CIVILIAN, LIE_UP, MOVE, ON_SITE
from sim.model.posture import ZONE_NAMES
from sim.model.villagers import COMMUNITY_NAMES, ROLE_NAMES

if TYPE_CHECKING:
    from sim.config.schema import Config
    from sim.model.insurgents import InsurgentCell
    from sim.model.qrf import QuickReactionUnit
    from sim.terrain.builder import Terrain

#: Incident types, in a fixed order (legends, colours).
INCIDENT_TYPES: tuple[str, ...] = tuple(_INCIDENT_TYPES)
#: Kinds of marks on the map.
KINDS: tuple[str, ...] = ("post", "patrol", "quick reaction unit", "insurgent cell", "villager")
#: Trust series of the daily table: (column of the model's daily series, community, force).
TRUST_SERIES: tuple[tuple[str, str, str], ...] = (
    ("trust_kurd_pesh", "kurd", "PESH"), ("trust_kurd_ia", "kurd", "IA"),
    ("trust_arab_pesh", "sunni_arab", "PESH"), ("trust_arab_ia", "sunni_arab", "IA"))
#: Clock hour each step stops at (midday: people out at work, patrols on their routes).
MIDDAY_H = 12.0

#: What an insurgent cell is doing on each kind of leg of its trip.
_CELL_STANCE_WORDS = {MOVE: "on the move", LIE_UP: "lying up by day", ON_SITE: "at its target",
                      CIVILIAN: "in town in civilian clothes"}

#: Building a model may build and cache a terrain (process-wide): build one model at a time.
_BUILD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Mark:
    """One thing on the map.

    Attributes:
        kind: one of :data:`KINDS`.
        x_km, y_km: position (km east / north of Makhmour town).
        force: ``PESH``, ``IA``, ``PMF`` or ``JOINT`` for posts, patrols and quick-reaction units.
        community: ``kurd`` or ``sunni_arab`` for villagers.
        fighters: for insurgent cells.
        hiding: an insurgent cell in its cave (not on a trip).
        detail: a plain-words description for a tooltip.
        activity: what it is doing now, in words (a cell: ``in its cave``, ``on the move``,
            ``lying up by day``, ...; a unit: ``driving out``, ``searching the site``, ...; a
            villager: ``farmer at work``, ``driver on the road``, ...).
        task: a cell's operation on this trip (``kidnapping``, ``resupply``, ...) or a unit's errand.
    """

    kind: str
    x_km: float
    y_km: float
    force: str = ""
    community: str = ""
    fighters: int = 0
    hiding: bool = False
    detail: str = ""
    activity: str = ""
    task: str = ""


@dataclass(frozen=True)
class IncidentMark:
    """One incident: where, what, when (day index and hour), where it happened, who suffered."""

    x_km: float
    y_km: float
    type: str
    day: int
    hour: int
    zone: str
    holder: str
    victims: int


# -- building and stepping -------------------------------------------------------------------------
def build_model(config: Config, terrain: Terrain | None = None, replicate: int = 0
                ) -> SecurityGapModel:
    """A live model of ``config`` and ``replicate`` (every model owns its grid: several can be
    alive at once in one process)."""
    with _BUILD_LOCK:
        return SecurityGapModel(config, replicate, terrain=terrain)


def advance_day(model: SecurityGapModel) -> None:
    """Run the model on to the next midday (the first call: to the first midday; after the last
    day's midday: to the end of the run)."""
    if not is_running(model):
        return
    t = float(model.time)
    target = math.floor(t / 24.0) * 24.0 + MIDDAY_H
    if target <= t:
        target += 24.0
    target = min(target, float(model.horizon_h))
    if target > t:
        model.run_until(target)


def is_running(model: SecurityGapModel) -> bool:
    """Whether the run has time left (the model stops itself at the midnight ending its last day)."""
    return bool(model.running) and float(model.time) < float(model.horizon_h)


def horizon_days(model: SecurityGapModel) -> int:
    return int(model.days)


def terrain(model: SecurityGapModel) -> Terrain:
    return model.terrain


def config(model: SecurityGapModel) -> Config:
    return model.config


# -- time -------------------------------------------------------------------------------------------
def day_shown(model: SecurityGapModel) -> int:
    """The day on screen (0-based; 0 before the first step, the last day at the end of the run)."""
    return min(model.calendar.day(float(model.time)), int(model.days) - 1)


def now(model: SecurityGapModel) -> dt.datetime:
    """Date and time of the state on screen: the model's own time (midnight at the start, midnight
    after the last day at the end)."""
    start = dt.datetime.combine(model.calendar.start, dt.time())
    return start + dt.timedelta(hours=float(model.time))


def is_night(model: SecurityGapModel) -> bool:
    return phase_of_hour(model.calendar.hour(float(model.time))) == NIGHT


# -- what is where ------------------------------------------------------------------------------
def _posts(model: SecurityGapModel) -> list[Mark]:
    out = []
    for post in model.forces.posts:
        what = "base" if post.base else "post"
        out.append(Mark("post", float(post.xy[0]), float(post.xy[1]), force=post.force_name,
                        detail=what + (" with thermal optics" if post.thermal else "")))
    return out


def _patrols(model: SecurityGapModel, t: float) -> list[Mark]:
    out = []
    at = np.array([t])
    for patrol in model.forces.patrols:
        xy, on = patrol.positions(at)
        if on[0]:
            out.append(Mark("patrol", float(xy[0, 0]), float(xy[0, 1]), force=patrol.force_name,
                            detail=f"patrol ({patrol.kind})", activity="on a sortie"))
    return out


def _qrf_mark(unit: QuickReactionUnit, t: float) -> Mark | None:
    """A unit away from its base (None while it waits or mobilises there)."""
    if unit.idle(t):
        return None
    where = unit.route.position(t)
    if where is None:
        return None
    xy, stance = where
    if stance == ON_SITE:  # its route: driving legs (MOVE) and the search on site
        activity = "searching the site"
    else:
        activity = "driving out" if t < unit.search[0] else "driving back"
    errand = ("to raid a hideout" if unit.raid_cave >= 0 else
              "to an incident" if unit.incident is not None else "to a report")
    return Mark("quick reaction unit", float(xy[0]), float(xy[1]), force=unit.force_name,
                detail=f"quick-reaction unit sent {errand}, {activity}", activity=activity,
                task=errand)


def _cell_mark(cell: InsurgentCell, t: float) -> Mark:
    task = cell.task
    job = OPTION_NAMES[task.opt.kind].replace("_", " ") if task is not None else ""
    where = cell.plan.position(t)
    if where is None:
        xy, hiding = cell.home_xy, True
        activity = "in its cave" + (f", about to set out ({job})" if job else "")
    else:
        xy, stance = where
        hiding = False
        activity = _CELL_STANCE_WORDS.get(stance, "on a trip")
        if task is not None and not task.active and t >= task.arrive_t:
            activity = f"heading home, {activity}"
    n = int(cell.fighters)
    detail = f"{n} fighters, {activity}" + (f", trip for {job}" if job and not hiding else "")
    return Mark("insurgent cell", float(xy[0]), float(xy[1]), fighters=n, hiding=hiding,
                detail=detail, activity=activity, task=job)


def _villagers(model: SecurityGapModel, t: float) -> list[Mark]:
    """Work parties out at their sites, and drivers' vehicles on the roads."""
    pop = model.villagers
    out = []
    for i in pop.parties_out_at(t).tolist():
        community = COMMUNITY_NAMES[int(pop.community[i])]
        role = ROLE_NAMES[int(pop.role[i])].replace("_", " ")
        out.append(Mark("villager", float(pop.work_xy[i, 0]), float(pop.work_xy[i, 1]),
                        community=community, activity=f"{role} at work",
                        detail=f"{community.replace('_', ' ')} {role} at work"))
    traffic = model.traffic
    today = model.calendar.day(t)
    for day in range(max(today - 1, 0), today + 1):  # a night trip or a way back runs past midnight
        for trip in traffic.trips(day):
            km = (t - trip.depart) * trip.speed_kmh
            if len(trip.nodes) < 2 or not 0.0 <= km < float(trip.cum_km[-1]):
                continue
            path = traffic.node_xy[trip.nodes]
            x = float(np.interp(km, trip.cum_km, path[:, 0]))
            y = float(np.interp(km, trip.cum_km, path[:, 1]))
            community = COMMUNITY_NAMES[int(pop.community[trip.driver])]
            out.append(Mark("villager", x, y, community=community, activity="driver on the road",
                            detail=f"{community.replace('_', ' ')} driver on the road, "
                                   f"{trip.occupants} aboard"))  # fmt: skip
    return out


def marks(model: SecurityGapModel) -> list[Mark]:
    """Posts, patrols out, quick-reaction units away from base, insurgent cells and villagers out
    (work parties and vehicles), as map marks at the model's current time."""
    t = float(model.time)
    out = _posts(model) + _patrols(model, t)
    out += [m for m in (_qrf_mark(u, t) for u in model.qrf.units) if m is not None]
    out += [_cell_mark(c, t) for c in model.cells()]
    return out + _villagers(model, t)


def recent_incidents(model: SecurityGapModel, days: int) -> list[IncidentMark]:
    """Incidents of the last ``days`` days up to the day shown (today included)."""
    cal = model.calendar
    today = day_shown(model)
    out = []
    for inc in reversed(model.incidents.items):
        day = cal.day(inc.t)
        if day <= today - days:
            break
        if day <= today:
            out.append(IncidentMark(float(inc.xy[0]), float(inc.xy[1]), inc.kind, day,
                                    int(cal.hour(inc.t)), ZONE_NAMES[inc.zone],
                                    HOLDER_NAMES[inc.holder], int(inc.victims)))
    return out[::-1]


def events(model: SecurityGapModel) -> list[tuple[int, str]]:
    """(day, label) of clearing operations and posture changes so far."""
    return list(model.recorder.events)


# -- numbers --------------------------------------------------------------------------------------
def current(model: SecurityGapModel) -> dict[str, int]:
    """The live totals on screen: incidents so far, fighters, cells, tips, tips that reached the
    force able to act, quick-reaction units away from base (the counters the outcome row uses)."""
    cells = model.cells()
    cmd = model.command
    t = float(model.time)
    return {
        "incidents": len(model.incidents.items),
        "fighters": int(sum(c.fighters for c in cells)),
        "cells": len(cells),
        "tips": int(cmd.tips_received.sum()),
        "tips_reaching_actor": int(cmd.tips_reaching_actor),
        "qrf_out": sum(1 for u in model.qrf.units if not u.idle(t)),
    }


def daily_series(model: SecurityGapModel) -> pd.DataFrame:
    """One row per completed day: ``day`` (1 = the end of the first day), ``date``, cumulative
    ``incidents`` and ``inc_<type>``, ``tips`` and ``tips_reaching_actor``; ``fighters``,
    ``cells`` and the ``trust_*`` means (0-1) at the end of the day (the model's daily series)."""
    d = model.recorder.daily
    done = min(model.calendar.day(float(model.time)), len(d["incidents"]))
    out = {"day": np.arange(1, done + 1),
           "date": [model.calendar.date_of_day(i) for i in range(done)],
           "incidents": np.cumsum(d["incidents"][:done])}  # fmt: skip
    for kind in INCIDENT_TYPES:
        out[f"inc_{kind}"] = np.cumsum(d[TYPE_COLUMNS[kind]][:done])
    out["tips"] = np.cumsum(d["tips"][:done])
    out["tips_reaching_actor"] = np.cumsum(d["tips_reaching_actor"][:done])
    out["fighters"] = d["fighters"][:done]
    out["cells"] = d["cells"][:done]
    for column, *_ in TRUST_SERIES:
        out[column] = d[column][:done].astype(float)
    return pd.DataFrame(out)


@dataclass(frozen=True)
class Snapshot:
    """Positions for one animation frame (arrays of x, y in km)."""

    day: int
    date: str
    patrols: np.ndarray
    patrol_force: list[str]
    cells: np.ndarray
    villagers_out: np.ndarray
    fighters: int
    qrf: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    qrf_force: list[str] = field(default_factory=list)


def snapshot(model: SecurityGapModel) -> Snapshot:
    """The state shown, as arrays for a frame of an animation."""
    ms = marks(model)

    def xy(kind: str) -> np.ndarray:
        pts = [(m.x_km, m.y_km) for m in ms if m.kind == kind]
        return np.array(pts, dtype=float).reshape(-1, 2)

    day = day_shown(model)
    return Snapshot(day=day, date=model.calendar.date_of_day(day).isoformat(), patrols=xy("patrol"),
                    patrol_force=[m.force for m in ms if m.kind == "patrol"],
                    cells=xy("insurgent cell"), villagers_out=xy("villager"),
                    fighters=current(model)["fighters"], qrf=xy("quick reaction unit"),
                    qrf_force=[m.force for m in ms if m.kind == "quick reaction unit"])  # fmt: skip
