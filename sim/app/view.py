"""The one adapter between a live model and everything that shows it (dashboard, animation).

Why one module: the dashboard and ``sim.analysis.animate`` need to know where every patrol,
post, insurgent cell and villager is, what happened recently, what day it is, and the daily
series so far. Reading those from the model's internals in many places would tie every view to
one version of the model. Here, and only here, the model is read; everything else sees plain
records (:class:`Mark`, :class:`IncidentMark`, a daily-series table) in km, days and dates. A
new model (other agent classes, event-driven time in hours) needs a new version of this module
and nothing else.

Time, as the views see it: the model advances a day at a time (:func:`advance_day`, on to the
next midday, when villagers are out and patrols walk); "the day shown" is the last day reached.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.model.clock import NIGHT, phase_of_hour
from sim.model.forces import Outpost, Patrol
from sim.model.insurgents import MODE_NAMES, InsurgentCell
from sim.model.model import SecurityGapModel
from sim.model.recorder import INCIDENT_TYPES as _INCIDENT_TYPES
from sim.model.villagers import Villager

if TYPE_CHECKING:
    from sim.config.schema import Config
    from sim.terrain.builder import Terrain

#: Incident types, in a fixed order (legends, colours).
INCIDENT_TYPES: tuple[str, ...] = tuple(_INCIDENT_TYPES)
#: Kinds of marks on the map.
KINDS: tuple[str, ...] = ("post", "patrol", "insurgent cell", "villager")
#: Trust series of the daily table: (column, community, force).
TRUST_SERIES: tuple[tuple[str, str, str], ...] = (
    ("trust_kurd_pesh", "kurd", "PESH"), ("trust_kurd_ia", "kurd", "IA"),
    ("trust_arab_pesh", "sunni_arab", "PESH"), ("trust_arab_ia", "sunni_arab", "IA"))

#: Hydra composition and the shared grid cache are process-wide: build one model at a time.
_BUILD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Mark:
    """One thing on the map.

    Attributes:
        kind: ``post``, ``patrol``, ``insurgent cell`` or ``villager``.
        x_km, y_km: position (km east / north of Makhmour town).
        force: ``PESH``, ``IA``, ``PMF`` or ``JOINT`` for posts and patrols.
        community: ``kurd`` or ``sunni_arab`` for villagers.
        fighters: for insurgent cells.
        hiding: an insurgent cell lying up in its cave.
        detail: a plain-words description for a tooltip.
    """

    kind: str
    x_km: float
    y_km: float
    force: str = ""
    community: str = ""
    fighters: int = 0
    hiding: bool = False
    detail: str = ""


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
def build_model(config: Config, terrain: Terrain | None = None) -> SecurityGapModel:
    """A live model of its own (own grid: several can be alive at once in one process)."""
    with _BUILD_LOCK:
        if terrain is None:
            from sim.terrain.builder import get_terrain

            terrain = get_terrain(config.terrain, config.gap_width_km)
        return SecurityGapModel(config, terrain=terrain, private_grid=True)


def advance_day(model: SecurityGapModel) -> None:
    """Run the model on to the next midday (the first call: to the first midday)."""
    clock = model.clock
    tpd = clock.ticks_per_day
    target = (clock.tick // tpd) * tpd + tpd // 2
    if target <= clock.tick:
        target += tpd
    while model.running and clock.tick < target:
        model.step()


def is_running(model: SecurityGapModel) -> bool:
    """Whether the run has days left."""
    return bool(model.running)


def horizon_days(model: SecurityGapModel) -> int:
    return int(model.days)


def terrain(model: SecurityGapModel) -> Terrain:
    return model.terrain


def config(model: SecurityGapModel) -> Config:
    return model.config


# -- time -------------------------------------------------------------------------------------------
def _shown_tick(model: SecurityGapModel) -> int:
    return model.clock.tick - 1


def day_shown(model: SecurityGapModel) -> int:
    """The day on screen (0-based; 0 before the first step too)."""
    return max(_shown_tick(model), 0) // model.clock.ticks_per_day


def now(model: SecurityGapModel) -> dt.datetime:
    """Date and hour of the state on screen (the start of the run before the first step)."""
    clock = model.clock
    start = dt.datetime.combine(clock.start, dt.time())
    tick = _shown_tick(model)
    if tick < 0:
        return start
    return start + dt.timedelta(hours=(tick + 0.5) * clock.tick_hours)


def is_night(model: SecurityGapModel) -> bool:
    tick = _shown_tick(model)
    if tick < 0:
        return True
    clock = model.clock
    return phase_of_hour((tick % clock.ticks_per_day + 0.5) * clock.tick_hours) == NIGHT


# -- what is where ------------------------------------------------------------------------------
def _km(agent: Any) -> tuple[float, float] | None:
    cell = agent.cell
    if cell is None:
        return None
    x, y = agent.model.terrain.to_km(*cell.coordinate)
    return float(x), float(y)


def _mark(agent: Any) -> Mark | None:
    if isinstance(agent, Villager):
        if not agent.out or (pos := _km(agent)) is None:
            return None
        return Mark("villager", *pos, community=agent.community,
                    detail=f"{agent.community.replace('_', ' ')} {agent.role.replace('_', ' ')}")
    if isinstance(agent, Patrol):
        if not agent.out or (pos := _km(agent)) is None:
            return None
        return Mark("patrol", *pos, force=agent.force, detail=f"patrol ({agent.kind})")
    if isinstance(agent, Outpost):
        if (pos := _km(agent)) is None:
            return None
        return Mark("post", *pos, force=agent.force,
                    detail="post" + (" with thermal optics" if agent.thermal else ""))
    if isinstance(agent, InsurgentCell):
        if (pos := _km(agent)) is None:
            return None
        hiding = agent.mode == MODE_NAMES[0]
        doing = "" if hiding else f", {agent.action.replace('_', ' ')}"
        return Mark("insurgent cell", *pos, fighters=int(agent.fighters), hiding=hiding,
                    detail=f"{agent.fighters} fighters, {agent.mode}{doing}")
    return None


def marks(model: SecurityGapModel) -> list[Mark]:
    """Posts, patrols out, insurgent cells and villagers out working, as map marks."""
    model.sync_grid()
    return [m for m in (_mark(a) for a in model.agents) if m is not None]


def recent_incidents(model: SecurityGapModel, days: int) -> list[IncidentMark]:
    """Incidents of the last ``days`` days up to the day shown (today included)."""
    inc = model.recorder.inc
    if not inc["day"]:
        return []
    today = day_shown(model)
    day = np.asarray(inc["day"], dtype=np.int64)
    chosen = np.flatnonzero((day > today - days) & (day <= today))
    return [IncidentMark(float(inc["x_km"][i]), float(inc["y_km"][i]), str(inc["type"][i]),
                         int(day[i]), int(inc["t_hours"][i] % 24), str(inc["zone"][i]),
                         str(inc["holder"][i]), int(inc["victims"][i]))
            for i in chosen]  # fmt: skip


def events(model: SecurityGapModel) -> list[tuple[int, str]]:
    """(day, label) of clearing operations and posture changes so far."""
    return list(model.recorder.events)


# -- numbers --------------------------------------------------------------------------------------
def current(model: SecurityGapModel) -> dict[str, int]:
    """The live totals on screen: incidents so far, fighters, cells, tips, tips that reached the
    force able to act."""
    ins = model.insurgents
    return {
        "incidents": len(model.recorder.inc["type"]),
        "fighters": int(ins.total_fighters),
        "cells": int(ins.active.sum()),
        "tips": int(model.recorder.tips_by_force.sum()),
        "tips_reaching_actor": int(model.intel.tips_reaching_actor),
    }


def daily_series(model: SecurityGapModel) -> pd.DataFrame:
    """One row per completed day: ``day`` (1 = the end of the first day), ``date``, cumulative
    ``incidents`` and ``inc_<type>``, ``tips`` and ``tips_reaching_actor``; ``fighters``,
    ``cells`` and the ``trust_*`` means (0-1) at the end of the day."""
    d = model.recorder.daily
    done = min(model.clock.tick // model.clock.ticks_per_day, len(d["incidents"]))
    out = {"day": np.arange(1, done + 1),
           "date": [model.clock.date_of_day(i) for i in range(done)],
           "incidents": np.cumsum(d["incidents"][:done])}  # fmt: skip
    from sim.model.recorder import TYPE_COLUMNS

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


def snapshot(model: SecurityGapModel) -> Snapshot:
    """The day shown, as arrays for a frame of an animation."""
    ms = marks(model)

    def xy(kind: str) -> np.ndarray:
        pts = [(m.x_km, m.y_km) for m in ms if m.kind == kind]
        return np.array(pts, dtype=float).reshape(-1, 2)

    return Snapshot(day=day_shown(model), date=now(model).date().isoformat(), patrols=xy("patrol"),
                    patrol_force=[m.force for m in ms if m.kind == "patrol"],
                    cells=xy("insurgent cell"), villagers_out=xy("villager"),
                    fighters=current(model)["fighters"])  # fmt: skip
