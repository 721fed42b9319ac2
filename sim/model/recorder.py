"""Observation: the incident log, daily time series and the per-replicate outcome row.

Why not Mesa's DataCollector: it keeps everything in memory as Python objects and runs agent
reporters over every agent each step. Here counters are plain integers updated when something
happens, the daily series are preallocated numpy columns, and incidents are appended as they
occur; ``runs.parquet`` counts are computed from the same incident log, so they always agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sim.model.params import FORCES
from sim.model.posture import NONE, ZONE_NAMES

if TYPE_CHECKING:
    from sim.model.model import SecurityGapModel

INCIDENT_TYPES: tuple[str, ...] = (
    "kidnapping", "fake_checkpoint", "ambush", "arson", "extortion", "village_attack", "retribution",
)
#: Column name in runs.parquet for each incident type (DESIGN.md names the first four).
TYPE_COLUMNS: dict[str, str] = {
    "kidnapping": "kidnappings", "fake_checkpoint": "fake_checkpoints", "ambush": "ambushes",
    "arson": "arsons", "extortion": "extortions", "village_attack": "village_attacks",
    "retribution": "retributions",
}
HOLDER_NAMES = (*FORCES, "none")


class Recorder:
    """Counters and logs for one replicate."""

    def __init__(self, model: SecurityGapModel) -> None:
        self.model = model
        days = model.days
        self.inc: dict[str, list] = {k: [] for k in (
            "t_hours", "day", "phase", "x_km", "y_km", "zone", "holder", "type", "victims",
            "casualties", "group", "settlement", "response_h", "target_force")}
        self.daily = {
            "incidents": np.zeros(days, np.int32),
            "fighters": np.zeros(days, np.int32),
            "cells": np.zeros(days, np.int32),
            "tips": np.zeros(days, np.int32),
            "tips_reaching_actor": np.zeros(days, np.int32),
            "tips_pesh": np.zeros(days, np.int32),
            "tips_ia": np.zeros(days, np.int32),
            "tips_pmf": np.zeros(days, np.int32),
            "airstrikes": np.zeros(days, np.int32),
            "killed_air": np.zeros(days, np.int32),
            "gap_control": np.zeros(days, np.float32),
            "links_pesh": np.zeros(days, np.int32),
            "links_ia": np.zeros(days, np.int32),
            "links_pmf": np.zeros(days, np.int32),
            "trust_kurd_pesh": np.zeros(days, np.float32),
            "trust_kurd_ia": np.zeros(days, np.float32),
            "trust_arab_pesh": np.zeros(days, np.float32),
            "trust_arab_ia": np.zeros(days, np.float32),
            "heat_mean": np.zeros(days, np.float32),
            "day_moves": np.zeros(days, np.int32),
            "clearing_ops": np.zeros(days, np.int32),
            "joint_ops": np.zeros(days, np.int32),
            "night_moves": np.zeros(days, np.int32),
        }
        for t in INCIDENT_TYPES:
            self.daily[TYPE_COLUMNS[t]] = np.zeros(days, np.int32)
        self._today = {"incidents": 0, "tips": 0, "airstrikes": 0, "killed_air": 0,
                       "tips_pesh": 0, "tips_ia": 0, "tips_pmf": 0}
        self._today_types = dict.fromkeys(INCIDENT_TYPES, 0)
        self._actor_before = 0
        self._moves_before = (0, 0)
        self.tips_by_force = np.zeros(len(FORCES), np.int64)
        self.strike_xy: list[tuple[float, float, int]] = []
        self.events: list[tuple[int, str]] = []

    # -- during the run -----------------------------------------------------------------
    def incident(self, kind: str, xy, ix: int, iy: int, holder: int, victims: int, casualties: int,
                 group: int, settlement: int, response_h: float, target_force: int) -> None:
        m = self.model
        clock = m.clock
        zone = int(m.terrain.layers["zone"][ix, iy])
        for key, value in (
            ("t_hours", clock.hours), ("day", clock.day), ("phase", clock.phase),
            ("x_km", float(xy[0])), ("y_km", float(xy[1])), ("zone", ZONE_NAMES[zone]),
            ("holder", HOLDER_NAMES[holder] if holder != NONE else "none"), ("type", kind),
            ("victims", victims), ("casualties", casualties), ("group", group),
            ("settlement", settlement), ("response_h", min(response_h, 9999.0)),
            ("target_force", FORCES[target_force] if target_force != NONE else ""),
        ):
            self.inc[key].append(value)
        self._today["incidents"] += 1
        self._today_types[kind] += 1

    def tip(self, force: int, actor: int) -> None:
        self._today["tips"] += 1
        self.tips_by_force[force] += 1
        if force < 3:
            self._today[("tips_pesh", "tips_ia", "tips_pmf")[force]] += 1

    def strike(self, xy, killed: int) -> None:
        self._today["airstrikes"] += 1
        self._today["killed_air"] += killed
        self.strike_xy.append((float(xy[0]), float(xy[1]), killed))

    def event(self, label: str) -> None:
        day = self.model.clock.day
        self.events.append((day, label))
        if day < len(self.daily["incidents"]):
            if label == "joint clearing":
                self.daily["joint_ops"][day] += 1
            elif label.endswith(" clearing"):
                self.daily["clearing_ops"][day] += 1

    def end_of_day(self, day: int) -> None:
        """Close a day's row of the time series."""
        if day >= len(self.daily["incidents"]):
            return
        m = self.model
        d = self.daily
        for k, v in self._today.items():
            d[k][day] = v
            self._today[k] = 0
        for t, v in self._today_types.items():
            d[TYPE_COLUMNS[t]][day] = v
            self._today_types[t] = 0
        d["tips_reaching_actor"][day] = m.intel.tips_reaching_actor - self._actor_before
        self._actor_before = m.intel.tips_reaching_actor
        ins = m.insurgents
        d["fighters"][day] = ins.total_fighters
        d["cells"][day] = int(ins.active.sum())
        d["heat_mean"][day] = float(ins.heat[ins.active].mean()) if ins.active.any() else 0.0
        d["gap_control"][day] = m.forces.gap_control_share(m.clock.hours)
        links = m.villagers.linked.sum(axis=0)
        d["links_pesh"][day], d["links_ia"][day], d["links_pmf"][day] = (int(x) for x in links)
        trust = m.villagers.mean_trust()
        d["trust_kurd_pesh"][day], d["trust_kurd_ia"][day] = trust[0, 0], trust[0, 1]
        d["trust_arab_pesh"][day], d["trust_arab_ia"][day] = trust[1, 0], trust[1, 1]
        dm, nm = ins.day_moves, ins.night_moves
        d["day_moves"][day] = dm - self._moves_before[0]
        d["night_moves"][day] = nm - self._moves_before[1]
        self._moves_before = (dm, nm)

    def last_incident_xy(self, gap_only: bool, holder: int | None, posture) -> np.ndarray | None:
        """Where the most recent matching incident happened (a clearing op's fallback target)."""
        zones = self.inc["zone"]
        holders = self.inc["holder"]
        for i in range(len(zones) - 1, max(len(zones) - 50, -1), -1):
            if gap_only and zones[i] != "GAP":
                continue
            if holder is not None and holders[i] != FORCES[holder]:
                continue
            return np.array([self.inc["x_km"][i], self.inc["y_km"][i]])
        return None

    # -- at the end ----------------------------------------------------------------------
    def incidents_table(self) -> dict[str, np.ndarray]:
        out = {}
        for k, v in self.inc.items():
            if k in ("zone", "holder", "type", "target_force"):
                out[k] = np.asarray(v, dtype=object).astype(str) if v else np.zeros(0, dtype=str)
            elif k in ("t_hours", "x_km", "y_km", "response_h"):
                out[k] = np.asarray(v, dtype=np.float64)
            else:
                out[k] = np.asarray(v, dtype=np.int64)
        out["phase"] = np.array(["night", "dawn", "day", "dusk"])[out["phase"]] if len(out["phase"]) \
            else np.zeros(0, dtype=str)
        return out

    def timeseries_table(self) -> dict[str, np.ndarray]:
        m = self.model
        days = len(self.daily["incidents"])
        dates = np.array([m.clock.date_of_day(i).isoformat() for i in range(days)])
        return {"day": np.arange(days, dtype=np.int32), "date": dates, **self.daily}

    def outcomes(self) -> dict[str, Any]:
        m = self.model
        types = self.inc["type"]
        zones = self.inc["zone"]
        row: dict[str, Any] = {"incidents": len(types)}
        for t in INCIDENT_TYPES:
            row[TYPE_COLUMNS[t]] = sum(1 for x in types if x == t)
        for z in ZONE_NAMES:
            row[f"incidents_{z.lower()}"] = sum(1 for x in zones if x == z)
        terrain = m.terrain
        gap_area = float(terrain.layers["gap"].sum()) * terrain.cell_area_km2
        total_area = float(terrain.layers["gap"].size) * terrain.cell_area_km2
        gap_inc = row["incidents_gap"]
        row["gap_area_share"] = gap_area / total_area
        row["incident_density_ratio_gap"] = (
            (gap_inc / gap_area) / max((len(types) - gap_inc) / max(total_area - gap_area, 1e-9), 1e-9)
            if gap_area > 0 and len(types) > gap_inc else float("nan"))
        victims = self.inc["victims"]
        row["hostages"] = int(sum(v for v, t in zip(victims, types, strict=True)
                                  if t in ("kidnapping", "fake_checkpoint")))
        row["casualties_security"] = int(m.casualties_security)
        row["casualties_civilian"] = int(m.casualties_civilian)
        row["airstrikes"] = int(m.air.executed)
        row["airstrikes_requested"] = int(m.air.requested)
        row["insurgents_killed_air"] = int(m.killed["air"])
        row["insurgents_killed_ground"] = int(m.killed["ground"])
        row["insurgents_arrested"] = int(m.killed["arrest"])
        row["insurgents_killed"] = int(m.killed["air"] + m.killed["ground"])
        row["kills_per_strike"] = m.killed["air"] / m.air.executed if m.air.executed else float("nan")
        fighters = self.daily["fighters"]
        row["fighters_final"] = int(m.insurgents.total_fighters)
        row["fighters_mean"] = float(fighters.mean()) if len(fighters) else 0.0
        row["fighters_max"] = int(fighters.max()) if len(fighters) else 0
        row["cells_final"] = int(m.insurgents.active.sum())
        row["recruits"] = int(m.insurgents.recruits)
        row["inflow"] = int(m.insurgents.inflow)
        row["tips"] = int(self.tips_by_force.sum())
        for f, name in enumerate(FORCES[:3]):
            row[f"tips_{name.lower()}"] = int(self.tips_by_force[f])
        row["tips_reaching_actor"] = int(m.intel.tips_reaching_actor)
        row["tips_reaching_share"] = row["tips_reaching_actor"] / row["tips"] if row["tips"] else float("nan")
        links = m.villagers.linked.sum(axis=0)
        for f, name in enumerate(FORCES[:3]):
            row[f"informant_links_{name.lower()}"] = int(links[f])
        trust = m.villagers.mean_trust()
        for c, cname in enumerate(("kurd", "arab")):
            for f, fname in enumerate(FORCES[:3]):
                row[f"trust_{cname}_{fname.lower()}"] = float(trust[c, f])
        row["gap_control"] = float(self.daily["gap_control"].mean()) if len(fighters) else 0.0
        row["detections"] = int(m.detections)
        row["clashes"] = int(m.clashes)
        row["clearing_ops"] = int(m.clearing_ops)
        row["joint_ops"] = int(m.joint_ops)
        row["displacements"] = int(m.displacements)
        row["resupply_trips"] = int(m.resupply_trips)
        row["collateral_events"] = int(m.collateral_events)
        moves = m.insurgents.day_moves + m.insurgents.night_moves
        row["daylight_move_share"] = m.insurgents.day_moves / moves if moves else float("nan")
        heat = self.daily["heat_mean"]
        row["heat_mean"] = float(heat.mean()) if len(heat) else 0.0
        return row
