"""Movement plans: where a group is at any moment of a trip, as piecewise-linear legs in time.

Why plans instead of steps: with a position known at every real-valued time, detection can be
resolved along the whole path (sim/model/sensing.py samples it finely, whatever the tick), events
can be scheduled at the exact moment a group arrives, and a trip's cost in daylight hours is known
before the group sets out. A plan changes only at events (a new decision, a clash, a strike), and
whoever changes it tells the sensing process (``Sensing.plans_changed``).

A leg is ``(t0, t1, x0, y0, x1, y1, stance)``: the group moves linearly from (x0, y0) at t0 to
(x1, y1) at t1 (a static leg has equal ends). Outside every leg the group is in its hideout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.model.clock import DAWN_H, DUSK_H, light_at, next_time_at_hour

#: Stances (how a group shows itself while on a leg).
MOVE, LIE_UP, ON_SITE, CIVILIAN = range(4)
STANCE_NAMES = ("move", "lie_up", "on_site", "civilian")


@dataclass
class Plan:
    """A group's legs, sorted by time (see the module docstring)."""

    legs: list[tuple[float, float, float, float, float, float, int]] = field(default_factory=list)
    _arrays: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __bool__(self) -> bool:
        return bool(self.legs)

    @property
    def start(self) -> float:
        return self.legs[0][0] if self.legs else math.inf

    @property
    def end(self) -> float:
        return self.legs[-1][1] if self.legs else -math.inf

    def truncate(self, t: float) -> None:
        """Drop everything after time t (the group stops where it is at t)."""
        kept = []
        for leg in self.legs:
            t0, t1, x0, y0, x1, y1, st = leg
            if t0 >= t:
                break
            if t1 > t:
                f = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
                leg = (t0, t, x0, y0, x0 + f * (x1 - x0), y0 + f * (y1 - y0), st)
            kept.append(leg)
        self.legs = kept

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(t0, t1) arrays and a (n, 5) array of x0, y0, x1, y1, stance (kept until the legs
        change: a plan is sampled at every lookahead while it runs; legs are only ever replaced or
        appended to, which changes the list or its length)."""
        cached = self._arrays  # (the legs list itself -- held, so never another's --, its length, ...)
        if cached is None or cached[0] is not self.legs or cached[1] != len(self.legs):
            a = np.asarray(self.legs, dtype=float).reshape(-1, 7)
            cached = self._arrays = (self.legs, len(self.legs), a[:, :2], a[:, 2:])
        return cached[2], cached[3]

    def sample(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions (n, 2), on-a-leg mask (n,) and stance (n,) at times ``t`` (sorted or not)."""
        n = len(t)
        xy = np.zeros((n, 2))
        on = np.zeros(n, dtype=bool)
        stance = np.full(n, -1, dtype=np.int64)
        if not self.legs:
            return xy, on, stance
        times, geo = self.arrays()
        j = np.searchsorted(times[:, 0], t, side="right") - 1
        ok = j >= 0
        jj = np.where(ok, j, 0)
        t0, t1 = times[jj, 0], times[jj, 1]
        ok &= t <= t1
        span = np.where(t1 > t0, t1 - t0, 1.0)
        f = np.minimum(np.maximum((t - t0) / span, 0.0), 1.0)
        g = geo[jj]
        xy[:, 0] = g[:, 0] + f * (g[:, 2] - g[:, 0])
        xy[:, 1] = g[:, 1] + f * (g[:, 3] - g[:, 1])
        on[:] = ok
        stance[ok] = g[ok, 4].astype(np.int64)
        return xy, on, stance

    def position(self, t: float) -> tuple[np.ndarray, int] | None:
        """Position and stance at one time, or None when the group is in its hideout (a scalar
        path: plans have a handful of legs, and this is asked every hour)."""
        for t0, t1, x0, y0, x1, y1, st in self.legs:
            if t < t0:
                return None
            if t <= t1:
                f = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
                return np.array([x0 + f * (x1 - x0), y0 + f * (y1 - y0)]), int(st)
        return None


def route_legs(t_start: float, origin: np.ndarray, dest: np.ndarray, speed_kmh: float,
               lie_up_by_day: bool, stance: int = MOVE) -> tuple[list, float]:
    """Legs that walk straight from origin to dest starting at t_start.

    With ``lie_up_by_day`` the group moves only in the dark: at dawn it lies up where it is (a
    static LIE_UP leg until dusk), then walks on. Returns the legs and the arrival time.
    """
    legs: list = []
    t = t_start
    pos = np.asarray(origin, dtype=float).copy()
    dest = np.asarray(dest, dtype=float)
    remaining = float(np.hypot(*(dest - pos)))
    guard = 0
    while remaining > 1e-9:
        guard += 1
        if guard > 64:  # pragma: no cover - a trip longer than a month means a bad speed
            raise RuntimeError("route_legs did not converge")
        if lie_up_by_day and bool(light_at(t)):
            t_dusk = next_time_at_hour(t, DUSK_H)
            legs.append((t, t_dusk, pos[0], pos[1], pos[0], pos[1], LIE_UP))
            t = t_dusk
            continue
        limit = next_time_at_hour(t, DAWN_H) if lie_up_by_day else math.inf
        if limit <= t + 1e-9:
            limit = math.inf
        reach = (limit - t) * speed_kmh
        step = min(reach, remaining)
        end = pos + (dest - pos) * (step / remaining)
        t_end = t + step / speed_kmh
        legs.append((t, t_end, pos[0], pos[1], end[0], end[1], stance))
        pos, t, remaining = end, t_end, remaining - step
    return legs, t


def daylight_hours(legs: list, stances: tuple[int, ...] = (MOVE,)) -> float:
    """Hours of the given stances that fall in daylight (sampled every 6 minutes)."""
    total = 0.0
    for t0, t1, *_rest, st in legs:
        if st not in stances or t1 <= t0:
            continue
        n = max(1, int(math.ceil((t1 - t0) / 0.1)))
        ts = t0 + (np.arange(n) + 0.5) * (t1 - t0) / n
        total += float(np.mean(light_at(ts))) * (t1 - t0)
    return total
