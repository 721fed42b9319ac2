"""Simulated time: hours since the start, the calendar, light and seasons.

Why pure functions of the hour: the model runs on Mesa's event clock (``model.time`` in hours), and
events happen at any real-valued time, so every question about time ("is it light at t?", "which
day is it?") is answered from the hour itself, vectorised where the sensing process asks it for many
sample times at once. Nothing here counts ticks.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

NIGHT, DAWN, DAY, DUSK = range(4)
PHASE_NAMES = ("night", "dawn", "day", "dusk")

#: Phase boundaries in clock hours: dawn 05-08, day 08-18, dusk 18-21, night 21-05.
DAWN_H, DAY_H, DUSK_H, NIGHT_H = 5.0, 8.0, 18.0, 21.0

#: Months of the truffle season (seeds 002/003) and of the dry standing crop (harvest; shafaaq 2020).
TRUFFLE_MONTHS = frozenset({1, 2, 3, 4})
HARVEST_MONTHS = frozenset({5, 6})


def phase_of_hour(hour: float) -> int:
    """Phase of the day at a clock hour (0 <= hour < 24)."""
    if DAWN_H <= hour < DAY_H:
        return DAWN
    if DAY_H <= hour < DUSK_H:
        return DAY
    if DUSK_H <= hour < NIGHT_H:
        return DUSK
    return NIGHT


def light_at(t_h: np.ndarray | float) -> np.ndarray | bool:
    """Daylight (dawn and day phases) at model times in hours."""
    hour = np.mod(t_h, 24.0)
    return (hour >= DAWN_H) & (hour < DUSK_H)


def next_time_at_hour(t_h: float, hour: float) -> float:
    """The first model time >= t_h whose clock hour is ``hour``."""
    day_start = math.floor(t_h / 24.0) * 24.0
    cand = day_start + hour
    return cand if cand >= t_h - 1e-9 else cand + 24.0


class Calendar:
    """Dates of model hours for one run.

    Args:
        start: the calendar date at model time 0 (midnight).
    """

    def __init__(self, start: dt.date) -> None:
        self.start = start

    def day(self, t_h: float) -> int:
        """Day index (0-based) of a model time."""
        return int(math.floor(t_h / 24.0 + 1e-9))

    def date(self, t_h: float) -> dt.date:
        return self.start + dt.timedelta(days=self.day(t_h))

    def date_of_day(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)

    def hour(self, t_h: float) -> float:
        """Clock hour (0-24) of a model time."""
        return float(t_h - 24.0 * math.floor(t_h / 24.0))

    def phase(self, t_h: float) -> int:
        return phase_of_hour(self.hour(t_h))

    def truffle_season(self, t_h: float) -> bool:
        return self.date(t_h).month in TRUFFLE_MONTHS

    def harvest_season(self, t_h: float) -> bool:
        return self.date(t_h).month in HARVEST_MONTHS

    def month_key(self, t_h: float) -> tuple[int, int]:
        d = self.date(t_h)
        return d.year, d.month
