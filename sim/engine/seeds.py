"""Per-purpose random streams for one replicate.

Why: common random numbers (CRN) only reduce the variance of paired scenario differences when each
*purpose* (movement, detection, ...) draws from its own stream. With one shared generator, a policy
that draws one extra number shifts every later draw and the two arms decorrelate. Streams are derived
from ``SeedSequence(root_seed, spawn_key=(replicate, purpose[, scenario]))`` -- never from a shared
``SeedSequence.spawn`` (which is stateful) -- so a replicate's numbers do not depend on worker count,
executor or the order replicates run in.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

import numpy as np

#: Every purpose that draws random numbers, in a fixed order. Appending is safe; reordering or
#: renaming changes every result (the purpose index is part of the spawn key).
PURPOSES: tuple[str, ...] = (
    "mesa",  # Mesa's own model.random (shuffle_do, grid helpers)
    "init",  # initial placement and attributes
    "movement",  # patrol and insurgent movement
    "detection",  # sightings and detections
    "insurgents",  # insurgent mode choice and action outcomes
    "villagers",  # villager schedules, reporting, trust noise
    "intel",  # tip routing, sharing delays
    "air",  # coalition strikes
    "combat",  # engagements, casualties
    "weather",  # rainfall index per season
)


def scenario_key(name: str) -> int:
    """A stable 32-bit integer for a scenario name (used only when CRN is off)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


@dataclass
class Streams:
    """Independent numpy generators, one per purpose, for one replicate.

    Args:
        root_seed: the experiment's seed (``seed=`` on the command line).
        replicate: replicate id (0-based); the same id in two scenarios shares numbers under CRN.
        scenario: scenario name; mixed into the key only when ``crn`` is False.
        crn: common random numbers across scenarios (True) or independent streams (False).
    """

    root_seed: int
    replicate: int
    scenario: str = ""
    crn: bool = True
    day: int | None = None
    _gens: dict[str, np.random.Generator] = field(default_factory=dict, repr=False)

    def set_day(self, day: int | None) -> None:
        """Start the streams of a new simulated day.

        Why: within a purpose, a policy that draws one extra number shifts every later draw of
        that purpose, and two scenarios drift apart. Deriving each day's stream from
        ``(replicate, purpose, day)`` puts both arms back on the same numbers every morning, so
        common random numbers keep their variance reduction over long runs.
        """
        self.day = day
        self._gens.clear()

    def key(self, purpose: str) -> tuple[int, ...]:
        """The spawn key of a purpose's stream (for the current day, once ``set_day`` is used)."""
        idx = PURPOSES.index(purpose)
        key: tuple[int, ...] = (self.replicate, idx)
        if self.day is not None:
            key += (self.day + 1,)
        if not self.crn:
            key += (scenario_key(self.scenario),)
        return key

    def seed_sequence(self, purpose: str) -> np.random.SeedSequence:
        """A fresh SeedSequence for a purpose (stateless: same inputs, same sequence)."""
        return np.random.SeedSequence(self.root_seed, spawn_key=self.key(purpose))

    def __getitem__(self, purpose: str) -> np.random.Generator:
        gen = self._gens.get(purpose)
        if gen is None:
            gen = np.random.Generator(np.random.PCG64(self.seed_sequence(purpose)))
            self._gens[purpose] = gen
        return gen

    def python_random(self, purpose: str = "mesa") -> random.Random:
        """A stdlib Random seeded from a purpose's stream (for Mesa's ``model.random``)."""
        state = self.seed_sequence(purpose).generate_state(4, dtype=np.uint64)
        return random.Random(int.from_bytes(state.tobytes(), "little"))
