"""Clashes: what happens when a unit meets a group, and what the group does after a loss.

Why one place: a patrol that runs into a group, a post that fires on one, a quick-reaction unit that
arrives while fighters are still there, a raid that finds them in their cave and a sweep all end the
same way -- fighters killed or captured, casualties among the unit, the group fleeing (or moving to
another cave after a raid), a unit that may follow it home (``pursuit``), and insurgents who may punish
someone they suspect of informing (``retribution``; S11, Q13).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.model.memory import TRANSIENT
from sim.model.plans import CIVILIAN
from sim.rng import entity_key

if TYPE_CHECKING:
    from sim.model.insurgents import InsurgentCell
    from sim.model.model import SecurityGapModel


def engage(model: SecurityGapModel, force: int, cell: InsurgentCell, xy: np.ndarray,
           surprise: float = 1.0, in_cave: bool = False) -> None:
    """A clash between a unit of ``force`` and a cell at ``xy`` (now)."""
    p = model.params
    rnd = model.rand
    cell.engagements += 1
    k = (cell.key, cell.engagements)
    pos = cell.plan.position(model.time)
    arrest = pos is not None and pos[1] == CIVILIAN  # fighters shopping in town are arrested
    kill_p = min(1.0, p.engage_kill_prob * surprise)
    taken = rnd.binomial("combat", cell.fighters, kill_p, *k, 1)
    hurt = rnd.binomial("combat", p.unit_strength, p.engage_force_casualty_prob, *k, 2)
    model.recorder.casualties_security += hurt
    model.recorder.clashes += 1
    cell.remember(xy, model.time, 1.0, TRANSIENT)
    if taken:
        if arrest:
            model.recorder.arrests += taken
        cell.lose(taken, "arrest" if arrest else "ground")
    if not cell.alive:
        return
    cell.heat = min(1.0, cell.heat + p.heat_per_sighting)
    if in_cave:
        cell.relocate(cell.home_xy, 1.0)
    else:
        cell.flee()
    pursue(model, force, cell, entity_key(*k, "pursuit"))
    after_loss(model, cell, taken)


def pursue(model: SecurityGapModel, force: int, cell: InsurgentCell, key: int) -> None:
    """A unit follows the fleeing group and so learns where it hides -- if it may go there."""
    p = model.params
    if not model.on("pursuit") or model.rand.uniform("combat", key, 1) >= p.pursuit_track_prob:
        return
    cave_xy = cell.home_xy
    if model.command.clearance(force, cave_xy, key) is None:
        return
    model.command.intel[force].learn(cell.unique_id, cave_xy, model.time, 0.8, cell.cave, 0.8)
    model.recorder.pursuits += 1


def after_loss(model: SecurityGapModel, cell: InsurgentCell, lost: int) -> None:
    """After fighters are lost, the cell's network may punish a villager it suspects of informing:
    a real informant with probability ``suspicion_accuracy``, an innocent otherwise."""
    p = model.params
    if lost <= 0 or not model.on("retribution"):
        return
    rnd = model.rand
    k = (cell.key, cell.losses, 77)
    if rnd.uniform("combat", *k) >= p.retribution_prob:
        return
    v = model.villagers
    near = (np.hypot(*(v.home_xy - cell.home_xy).T) <= p.home_range_km) & ~v.supporter
    informants = np.flatnonzero(near & (v.link_force >= 0))
    innocents = np.flatnonzero(near & (v.link_force < 0))
    pool = informants if (len(informants) and rnd.uniform("combat", *k, 1) < p.suspicion_accuracy) else innocents
    if not len(pool):
        return
    i = int(pool[min(int(rnd.uniform("combat", *k, 2) * len(pool)), len(pool) - 1)])
    was_informant = v.link_force[i] >= 0
    v.link_force[i] = -1
    v.link_post[i] = 0
    v.people[i] = max(1, v.people[i] - 1)
    model.recorder.casualties_civilian += 1
    model.recorder.retribution_informant += int(was_informant)
    model.incidents.record("retribution", v.home_xy[i], victims=1, casualties=1, cell=cell,
                           settlement=int(v.home[i]), victim_agent=i)  # records the fear shock too
