"""Simulated time: ticks, hours of the day, light, seasons.

Why: rates are per hour and the tick length is a resolution choice, so every submodel asks the
clock for the tick length, the phase of the day (night, dawn, day, dusk) and the season flags
instead of counting ticks itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

NIGHT, DAWN, DAY, DUSK = range(4)
PHASE_NAMES = ("night", "dawn", "day", "dusk")

#: Months of the truffle season (seeds 002/003) and of the harvest / arson season (shafaaq 2020).
TRUFFLE_MONTHS = frozenset({1, 2, 3, 4})
HARVEST_MONTHS = frozenset({5, 6})


def phase_of_hour(hour: float) -> int:
    """Phase of the day at a clock hour: dawn 05-08, day 08-18, dusk 18-21, night otherwise."""
    if 5 <= hour < 8:
        return DAWN
    if 8 <= hour < 18:
        return DAY
    if 18 <= hour < 21:
        return DUSK
    return NIGHT


@dataclass
class Clock:
    """The model's calendar.

    Args:
        start: first simulated day.
        tick_hours: length of one tick (divides 24).
    """

    start: dt.date
    tick_hours: float
    tick: int = 0
    ticks_per_day: int = field(init=False)

    def __post_init__(self) -> None:
        self.ticks_per_day = round(24.0 / self.tick_hours)
        self._phase_by_tick = [
            phase_of_hour((i + 0.5) * self.tick_hours) for i in range(self.ticks_per_day)
        ]

    @property
    def hours(self) -> float:
        """Hours since the start of the run at the beginning of this tick."""
        return self.tick * self.tick_hours

    @property
    def day(self) -> int:
        """Day index (0-based)."""
        return self.tick // self.ticks_per_day

    @property
    def tick_of_day(self) -> int:
        return self.tick % self.ticks_per_day

    @property
    def hour(self) -> float:
        """Clock hour at the middle of this tick."""
        return (self.tick_of_day + 0.5) * self.tick_hours

    @property
    def phase(self) -> int:
        return self._phase_by_tick[self.tick_of_day]

    @property
    def is_day_start(self) -> bool:
        return self.tick_of_day == 0

    @property
    def date(self) -> dt.date:
        return self.start + dt.timedelta(days=self.day)

    def date_of_day(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)

    @property
    def truffle_season(self) -> bool:
        return self.date.month in TRUFFLE_MONTHS

    @property
    def harvest_season(self) -> bool:
        return self.date.month in HARVEST_MONTHS

    def per_tick(self, rate_per_hour: float) -> float:
        """Probability of at least one event in a tick from a per-hour rate."""
        import math

        return 1.0 - math.exp(-rate_per_hour * self.tick_hours)
