"""Clearing operations: a force sweeps an area for a day; joint operations sweep the gap.

Why it produces displacement rather than eradication (S23, and Short et al. 2010 on hotspots) only
through what the cells do: a sweep is a strong observer over its disc for ``clearing_hours`` and
searches the caves inside it. A cell hiding there that hears of the operation first (its network and
lookouts, ``sweep_warning_prob``) leaves for the cave it believes safest outside the area -- and is
exposed while it moves; a cell that does not hear is found with ``cave_search_prob`` and raided.
Cells that hear of it remember the area as dangerous and grow warier (a lull, if any, comes from that).
Each force sweeps its own ground every ``clearing_every_days``; at joint levels the forces sweep the
gap together every ``joint_clearing_every_days``, with air support on the best-known hideout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.model import combat
from sim.model.memory import TRANSIENT
from sim.model.params import FORCES, interval_at_level
from sim.model.posture import IA, JOINT, NONE, PESH, PMF
from sim.rng import entity_key

if TYPE_CHECKING:
    from sim.model.model import SecurityGapModel


#: A joint operation pools what the forces know.
POOLED = (PESH, IA, PMF, JOINT)


class Sweep:
    """One clearing operation in progress (its events call its methods)."""

    def __init__(self, clearing: Clearing, force: int, centre: np.ndarray, joint: bool, key: int) -> None:
        self.clearing, self.force, self.centre, self.joint, self.key = clearing, force, centre, joint, key
        model = clearing.model
        self.start, self.end = model.time, model.time + model.params.clearing_hours

    def begin(self) -> None:
        model = self.clearing.model
        p = model.params
        now = model.time
        radius = p.clearing_radius_km
        rnd = model.rand
        for cell in list(model.cells()):
            home_d = float(np.hypot(*(cell.home_xy - self.centre)))
            if home_d > 2 * radius:
                continue
            warned = rnd.uniform("combat", self.key, cell.key, 1) < p.sweep_warning_prob
            if warned:
                cell.remember(self.centre, now, 1.0, TRANSIENT)
                cell.heat = min(1.0, cell.heat + p.heat_per_sighting)
            if home_d > radius or cell.exposed(now):
                continue
            if warned:
                cell.relocate(self.centre, radius)
                model.recorder.evasions += 1
            elif rnd.uniform("combat", self.key, cell.key, 2) < p.cave_search_prob:
                model.recorder.caves_found += 1
                combat.engage(model, self.force, cell, cell.home_xy, surprise=p.raid_surprise, in_cave=True)
        if self.joint and model.on("air"):
            best = model.command.best_report(POOLED, self._inside, now)
            if best is not None and best[2]:
                model.air.request(JOINT, best[1], best[0], 0.0, entity_key(self.key, "strike"))
        model.sensing.plans_changed()

    def _inside(self, xy: np.ndarray) -> bool:
        return float(np.hypot(*(xy - self.centre))) <= self.clearing.model.params.clearing_radius_km


class Clearing:
    """The schedule of every force's clearing operations and the sweeps in progress."""

    def __init__(self, model: SecurityGapModel) -> None:
        self.model = model
        self.sweeps: list[Sweep] = []
        self.ops = 0
        self.joint_ops = 0
        self._next: dict[int, float] = {}

    def daily(self, day: int) -> None:
        """Start any operation that is due today."""
        model = self.model
        p = model.params
        self.sweeps = [s for s in self.sweeps if s.end > model.time]
        if not model.on("clearing"):
            return
        holders = [h for h in dict.fromkeys(model.posture.holders) if h not in (NONE, JOINT)]
        for f in holders:
            due = self._next.get(f)
            if due is None:
                due = self._next[f] = p.clearing_every_days * model.rand.uniform("patrol", entity_key("clear", f), 0)
            if day >= due:
                self._next[f] = day + p.clearing_every_days
                self._launch(f, joint=False)
        every = interval_at_level(list(p.joint_clearing_every_days), model.posture.level)
        if every > 0:
            due = self._next.get(JOINT)
            if due is None:
                due = self._next[JOINT] = every * model.rand.uniform("patrol", entity_key("clear", "joint"), 0)
            if day >= due:
                self._next[JOINT] = day + every
                self._launch(JOINT, joint=True)

    def _launch(self, force: int, joint: bool) -> None:
        """Aim at the force's most confident report on its ground (the gap for a joint operation),
        else at the latest incident there; no target, no operation."""
        model = self.model
        gap = model.terrain.layers["gap"]

        def ours(xy: np.ndarray) -> bool:
            ix, iy = model.frame.cell_of(float(xy[0]), float(xy[1]))
            return bool(gap[ix, iy]) if joint else int(model.posture.holder[ix, iy]) == force

        best = model.command.best_report(POOLED if joint else (force,), ours, model.time)
        centre = best[0] if best is not None else model.incidents.latest_where(ours)
        if centre is None:
            return
        key = entity_key("sweep", force, self.ops + self.joint_ops)
        sweep = Sweep(self, force, np.asarray(centre, dtype=float), joint, key)
        self.sweeps.append(sweep)
        if joint:
            self.joint_ops += 1
        else:
            self.ops += 1
        model.recorder.event("joint clearing" if joint else f"{FORCES[force]} clearing")
        sweep.begin()

    def observers(self, ts: np.ndarray) -> list[tuple[Sweep, np.ndarray]]:
        """Sweeps active at some sample time, with the mask of those times."""
        out = []
        for s in self.sweeps:
            active = (ts >= s.start) & (ts < s.end)
            if active.any():
                out.append((s, active))
        return out
