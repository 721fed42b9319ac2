"""Observation: counters, the daily time series and the per-replicate outcome row.

Why not Mesa's DataCollector: it keeps everything as Python objects and runs agent reporters over every
agent at every step. Here counters are plain integers updated when something happens, the daily
series are preallocated numpy columns closed at each midnight, and the per-type incident counts of
``runs.parquet`` are computed from the incident log, so the two always agree.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.model.clock import light_at
from sim.model.incidents import INCIDENT_TYPES, TYPE_COLUMNS
from sim.model.params import FORCES
from sim.model.plans import MOVE
from sim.model.posture import ZONE_NAMES

if TYPE_CHECKING:
    from sim.model.model import SecurityGapModel

_TODAY = ("incidents", "tips", "airstrikes", "killed_air", "tips_pesh", "tips_ia", "tips_pmf",
          "tips_joint", "inflow", "detections")


class Recorder:
    """Counters and daily series for one replicate."""

    def __init__(self, model: SecurityGapModel) -> None:
        self.model = model
        days = model.days
        self.daily: dict[str, np.ndarray] = {
            name: np.zeros(days, np.int32) for name in (
                "incidents", "fighters", "cells", "tips", "tips_reaching_actor", "tips_pesh", "tips_ia",
                "tips_pmf", "tips_joint", "airstrikes", "killed_air", "links_pesh", "links_ia",
                "links_pmf", "links_joint", "clearing_ops", "joint_ops", "inflow", "detections")}
        for name in ("gap_control", "trust_kurd_pesh", "trust_kurd_ia", "trust_arab_pesh",
                     "trust_arab_ia", "heat_mean", "day_move_hours", "night_move_hours"):
            self.daily[name] = np.zeros(days, np.float32)
        for t in INCIDENT_TYPES:
            self.daily[TYPE_COLUMNS[t]] = np.zeros(days, np.int32)
        self._today: Counter[str] = Counter()
        self._actor_before = 0
        self.killed: Counter[str] = Counter()
        self.casualties_security = 0
        self.casualties_civilian = 0
        self.arrests = 0
        self.clashes = 0
        self.detections = 0
        self.detected_by: Counter[str] = Counter()
        self.resupply_trips = 0
        self.displacements = 0
        self.evasions = 0
        self.caves_found = 0
        self.raids = 0
        self.pursuits = 0
        self.recruits = 0
        self.inflow = 0
        self.links_cut = 0
        self.retribution_informant = 0
        self.trips: Counter[str] = Counter()
        self.trips_lying_up = 0
        self.strike_xy: list[tuple[float, float, int]] = []
        self.events: list[tuple[int, str]] = []

    # -- during the run ---------------------------------------------------------------------
    def incident(self, kind: str) -> None:
        self._today["incidents"] += 1
        self._today[kind] += 1

    def tip(self, force: int) -> None:
        self._today["tips"] += 1
        self._today[f"tips_{FORCES[force].lower()}"] += 1

    def strike(self, xy, killed: int) -> None:
        self._today["airstrikes"] += 1
        self._today["killed_air"] += killed
        self.strike_xy.append((float(xy[0]), float(xy[1]), killed))

    def loss(self, n: int, cause: str) -> None:
        self.killed[cause] += n

    def trip(self, kind: int, lie_up: bool) -> None:
        from sim.model.operations import OPTION_NAMES

        self.trips[OPTION_NAMES[kind]] += 1
        self.trips_lying_up += int(lie_up)

    def add_inflow(self, n: int) -> None:
        self.inflow += n
        self._today["inflow"] += n

    def event(self, label: str) -> None:
        day = self.model.calendar.day(self.model.time)
        self.events.append((day, label))
        if day < len(self.daily["incidents"]):
            if label == "joint clearing":
                self.daily["joint_ops"][day] += 1
            elif label.endswith(" clearing"):
                self.daily["clearing_ops"][day] += 1

    def movement(self, legs: list, until: float) -> None:
        """Add the hours a finished (or cut-short) trip spent walking, by day and by light, to the
        daily series (sampled every 6 minutes; the trip's own legs, not a tick, decide)."""
        day_h, night_h = self.daily["day_move_hours"], self.daily["night_move_hours"]
        for t0, t1, *_rest, stance in legs:
            t1 = min(t1, until)
            if stance != MOVE or t1 <= t0:
                continue
            n = max(1, int(math.ceil((t1 - t0) / 0.1)))
            ts = t0 + (np.arange(n) + 0.5) * (t1 - t0) / n
            days = np.minimum((ts // 24.0).astype(np.int64), len(day_h) - 1)
            light = np.asarray(light_at(ts), dtype=bool)
            w = (t1 - t0) / n
            np.add.at(day_h, days[light], w)
            np.add.at(night_h, days[~light], w)

    def end_of_day(self, day: int) -> None:
        """Close a day's row of the time series."""
        if day < 0 or day >= len(self.daily["incidents"]):
            return
        m = self.model
        d = self.daily
        for k in _TODAY:
            d[k][day] = self._today.get(k, 0)
        for t in INCIDENT_TYPES:
            d[TYPE_COLUMNS[t]][day] = self._today.get(t, 0)
        self._today.clear()
        d["detections"][day] = self.detections - int(d["detections"][:day].sum())
        reach = m.command.tips_reaching_actor
        d["tips_reaching_actor"][day] = reach - self._actor_before
        self._actor_before = reach
        cells = list(m.cells())
        d["fighters"][day] = sum(c.fighters for c in cells)
        d["cells"][day] = len(cells)
        d["heat_mean"][day] = float(np.mean([c.heat for c in cells])) if cells else 0.0
        d["gap_control"][day] = m.forces.mark_day(day)
        links = m.villagers.links()
        for f, name in enumerate(FORCES):
            d[f"links_{name.lower()}"][day] = int(links[f])
        trust = m.villagers.mean_trust()
        d["trust_kurd_pesh"][day], d["trust_kurd_ia"][day] = trust[0, 0], trust[0, 1]
        d["trust_arab_pesh"][day], d["trust_arab_ia"][day] = trust[1, 0], trust[1, 1]

    # -- at the end ----------------------------------------------------------------------------
    def timeseries_table(self) -> dict[str, np.ndarray]:
        m = self.model
        days = len(self.daily["incidents"])
        dates = np.array([m.calendar.date_of_day(i).isoformat() for i in range(days)])
        return {"day": np.arange(days, dtype=np.int32), "date": dates, **self.daily}

    def outcomes(self) -> dict[str, Any]:
        """One row of ``runs.parquet``."""
        m = self.model
        items = m.incidents.items
        types = [i.kind for i in items]
        row: dict[str, Any] = {"incidents": len(items)}
        for t in INCIDENT_TYPES:
            row[TYPE_COLUMNS[t]] = sum(1 for x in types if x == t)
        for z, name in enumerate(ZONE_NAMES):
            row[f"incidents_{name.lower()}"] = sum(1 for i in items if i.zone == z)
        terrain = m.terrain
        gap_area = float(terrain.layers["gap"].sum()) * terrain.cell_area_km2
        total_area = float(terrain.layers["gap"].size) * terrain.cell_area_km2
        gap_inc = row["incidents_gap"]
        row["gap_area_share"] = gap_area / total_area
        row["incident_density_ratio_gap"] = (
            (gap_inc / gap_area) / max((len(items) - gap_inc) / max(total_area - gap_area, 1e-9), 1e-9)
            if gap_area > 0 and len(items) > gap_inc else math.nan)
        row["hostages"] = int(sum(i.victims for i in items if i.kind in ("kidnapping", "fake_checkpoint")))
        row["casualties_security"] = int(self.casualties_security)
        row["casualties_civilian"] = int(self.casualties_civilian)
        air = m.air
        row["airstrikes"] = int(air.executed)
        row["airstrikes_requested"] = int(air.requested)
        row["insurgents_killed_air"] = int(self.killed["air"])
        row["insurgents_killed_ground"] = int(self.killed["ground"])
        row["insurgents_arrested"] = int(self.killed["arrest"])
        row["insurgents_deserted"] = int(self.killed["deserted"])
        row["insurgents_killed"] = int(self.killed["air"] + self.killed["ground"])
        row["kills_per_strike"] = self.killed["air"] / air.executed if air.executed else math.nan
        fighters = self.daily["fighters"]
        cells = list(m.cells())
        row["fighters_final"] = int(sum(c.fighters for c in cells))
        row["fighters_mean"] = float(fighters.mean()) if len(fighters) else 0.0
        row["fighters_max"] = int(fighters.max()) if len(fighters) else 0
        row["cells_final"] = len(cells)
        row["recruits"] = int(self.recruits)
        row["inflow"] = int(self.inflow)
        cmd = m.command
        row["tips"] = int(cmd.tips_received.sum())
        for f, name in enumerate(FORCES):
            row[f"tips_{name.lower()}"] = int(cmd.tips_received[f])
        row["tips_reaching_actor"] = int(cmd.tips_reaching_actor)
        row["tips_reaching_share"] = row["tips_reaching_actor"] / row["tips"] if row["tips"] else math.nan
        row["reports_shared"] = int(cmd.shared_sent)
        row["reports_shared_arrived"] = int(cmd.shared_arrived)
        links = m.villagers.links()
        for f, name in enumerate(FORCES):
            row[f"informant_links_{name.lower()}"] = int(links[f])
        row["links_cut"] = int(self.links_cut)
        trust = m.villagers.mean_trust()
        for c, cname in enumerate(("kurd", "arab")):
            for f, fname in enumerate(FORCES):
                row[f"trust_{cname}_{fname.lower()}"] = float(trust[c, f])
        row["gap_control"] = float(self.daily["gap_control"].mean()) if len(fighters) else 0.0
        row["detections"] = int(self.detections)
        for kind in ("post", "patrol", "search", "sweep", "isr"):
            row[f"detections_{kind}"] = int(self.detected_by[kind])
        row["clashes"] = int(self.clashes)
        row["raids"] = int(self.raids)
        row["pursuits"] = int(self.pursuits)
        row["alerts"] = int(cmd.alerts)
        row["qrf_dispatches"] = int(m.qrf.dispatches)
        resp = np.array([i.response_h for i in items if i.settlement >= 0 or i.kind in ("ambush", "fake_checkpoint")])
        answered = resp[np.isfinite(resp)] if len(resp) else resp
        row["incidents_answered"] = int(len(answered))
        row["answered_share"] = len(answered) / len(resp) if len(resp) else math.nan
        row["response_h_median"] = float(np.median(answered)) if len(answered) else math.nan
        row["clearing_ops"] = int(m.clearing.ops)
        row["joint_ops"] = int(m.clearing.joint_ops)
        row["displacements"] = int(self.displacements)
        row["evasions"] = int(self.evasions)
        row["caves_found"] = int(self.caves_found)
        row["resupply_trips"] = int(self.resupply_trips)
        row["collateral_events"] = int(air.collateral)
        row["isr_hours"] = float(m.isr.hours)
        row["isr_tracks"] = int(m.isr.tracks)
        row["retributions_of_informants"] = int(self.retribution_informant)
        day_h = float(self.daily["day_move_hours"].sum())
        night_h = float(self.daily["night_move_hours"].sum())
        for cell in cells:  # trips still under way at the end of the run
            for t0, t1, *_rest, stance in cell.plan.legs:
                t1 = min(t1, m.time)
                if stance == MOVE and t1 > t0:
                    ts = np.linspace(t0, t1, max(2, int((t1 - t0) / 0.1)))
                    frac = float(np.mean(light_at(ts)))
                    day_h += frac * (t1 - t0)
                    night_h += (1 - frac) * (t1 - t0)
        row["daylight_move_share"] = day_h / (day_h + night_h) if day_h + night_h else math.nan
        row["trips_lying_up_share"] = self.trips_lying_up / sum(self.trips.values()) if self.trips else math.nan
        heat = self.daily["heat_mean"]
        row["heat_mean"] = float(heat.mean()) if len(heat) else 0.0
        return row
