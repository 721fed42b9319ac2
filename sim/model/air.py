"""Coalition air support: requests, approval delay, a monthly budget, kills and rare collateral harm.

Why separate: the air campaign is the one outcome with a documented rate (82 strikes killing 56
militants in about 13 months, seed 004); keeping it in one place keeps that calibration visible.
Strikes are requested when a force's confidence in a group's location passes a threshold; approval
takes longer with weaker coordination (deconfliction); a strike hits the reported location, which
the group may have left.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field


@dataclass(order=True)
class StrikeRequest:
    execute_h: float
    seq: int
    force: int = field(compare=False)
    group: int = field(compare=False)
    x_km: float = field(compare=False)
    y_km: float = field(compare=False)


class AirSupport:
    """Queue of approved-but-not-yet-flown strikes and the month's remaining budget."""

    def __init__(self, budget_per_month: float) -> None:
        self.budget_per_month = budget_per_month
        self.remaining = 0.0
        self.month = None
        self.queue: list[StrikeRequest] = []
        self._seq = 0
        self.requested = 0
        self.executed = 0

    def new_month(self, month_key: tuple[int, int]) -> None:
        """Add the month's budget at its first day (at most one unused strike carries over)."""
        if month_key != self.month:
            self.month = month_key
            self.remaining = min(self.remaining, 1.0) + self.budget_per_month

    def request(self, now_h: float, delay_h: float, force: int, group: int, x_km: float,
                y_km: float) -> None:
        self._seq += 1
        self.requested += 1
        heapq.heappush(self.queue, StrikeRequest(now_h + delay_h, self._seq, force, group, x_km, y_km))

    def due(self, now_h: float) -> tuple[list[StrikeRequest], list[StrikeRequest]]:
        """Requests approved by now: those the budget allows, and those dropped for lack of it."""
        flown, dropped = [], []
        while self.queue and self.queue[0].execute_h <= now_h:
            req = heapq.heappop(self.queue)
            if self.remaining >= 1.0:
                self.remaining -= 1.0
                self.executed += 1
                flown.append(req)
            else:
                dropped.append(req)
        return flown, dropped
