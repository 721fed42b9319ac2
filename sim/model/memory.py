"""What an insurgent cell remembers of where the security forces are dangerous.

Why: the sources say ISIS has "strong intelligence" (S12) and adapts to pressure (S13, S14), not that
it knows the forces' plans. So a cell's picture of risk is built only from what it has seen (posts,
patrols, units arriving, clashes, strikes near it) and from what its supporters in the villages tell
it, and it fades. A new posture (a joint garrison in the gap) is therefore learned over weeks, by
running into it, not known on the day it starts. With ``insurgent_learning`` switched off a cell keeps
the picture it started with.

The memory is a coarse grid (``memory_block_km``) of evidence with the time it was last added, for three
kinds of threat: standing posts (slow to fade), patrols (which also tell where an ambush could find one)
and everything else (units arriving, clashes, losses, strikes). Reading
it decays the evidence to the present and spreads it over ``threat_spread_km`` (a Gaussian filter), so
a remembered patrol deters from the ground around where it was seen.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from scipy import ndimage

POST, TRANSIENT, PATROL = 0, 1, 2


class ThreatMemory:
    """One cell's remembered threat.

    Args:
        extent_km: ``(x0, x1, y0, y1)`` of the terrain.
        block_km: memory resolution.
        half_life_h: half-life of transient threats (patrols, responses, losses).
        post_half_life_h: half-life of remembered posts.
        spread_km: distance over which a threat deters.
    """

    def __init__(self, extent_km: tuple[float, float, float, float], block_km: float,
                 half_life_h: float, post_half_life_h: float, spread_km: float) -> None:
        x0, x1, y0, y1 = extent_km
        self.x0, self.y0, self.block_km = x0, y0, block_km
        self.shape = (max(1, math.ceil((x1 - x0) / block_km)), max(1, math.ceil((y1 - y0) / block_km)))
        self.evidence = np.zeros((3, *self.shape))
        self.stamp = np.zeros((3, *self.shape))
        slow, fast = math.log(2.0) / post_half_life_h, math.log(2.0) / half_life_h
        self.rate = np.array([slow, fast, fast])
        self._neg_rate = -self.rate[:, None, None]
        self.sigma_blocks = spread_km / block_km
        self._cache: tuple[float, np.ndarray] | None = None

    def _block(self, x_km: np.ndarray, y_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bx = ((np.asarray(x_km) - self.x0) // self.block_km).astype(np.int64)
        by = ((np.asarray(y_km) - self.y0) // self.block_km).astype(np.int64)
        # np.minimum/np.maximum rather than np.clip: same result, a fraction of the call overhead.
        return (np.minimum(np.maximum(bx, 0), self.shape[0] - 1),
                np.minimum(np.maximum(by, 0), self.shape[1] - 1))

    def add(self, xy: np.ndarray, t_h: float, weight: float, kind: int = TRANSIENT) -> None:
        """Add evidence of a threat seen at ``xy`` (one point or an (n, 2) array) at time ``t_h``.

        A block's evidence is first brought to ``t_h`` (if it is older), then each point adds
        ``weight`` (discounted if the block holds newer evidence), so the order of additions does
        not matter."""
        pts = np.atleast_2d(np.asarray(xy, dtype=float))
        bx, by = self._block(pts[:, 0], pts[:, 1])
        ev, st = self.evidence[kind].reshape(-1), self.stamp[kind].reshape(-1)  # views
        rate = float(self.rate[kind])
        # Block by block (in Python floats: a network report adds tens of points, and numpy's
        # per-element access would cost more than the arithmetic), each point's addition in turn.
        for b, n in Counter((bx * self.shape[1] + by).tolist()).items():
            e = float(ev[b])
            dt = t_h - float(st[b])
            if dt > 0:
                e = e * math.exp(-rate * dt) + weight
                st[b] = t_h
                n -= 1
                step = weight  # the block is now at t_h: later points add weight * exp(0)
            else:
                step = weight * math.exp(rate * dt)
            for _ in range(n):
                e += step
            ev[b] = e
        self._cache = None

    def field(self, t_h: float) -> np.ndarray:
        """The threat map at time t_h: decayed evidence of both kinds, spread over the ground."""
        if self._cache is not None and self._cache[0] == t_h:
            return self._cache[1]
        x = t_h - self.stamp  # in place from here: this runs at every decision
        np.maximum(x, 0.0, out=x)
        x *= self._neg_rate
        np.exp(x, out=x)
        x *= self.evidence
        decayed = x.sum(axis=0)
        out = ndimage.gaussian_filter(decayed, self.sigma_blocks, mode="constant") if self.sigma_blocks > 0 else decayed
        self._cache = (t_h, out)
        return out

    def patrol_spot(self, home: np.ndarray, radius_km: float, t_h: float,
                    min_evidence: float = 0.5) -> np.ndarray | None:
        """Centre of the remembered block within reach where patrols were seen most (or None)."""
        dt = np.maximum(t_h - self.stamp[PATROL], 0.0)
        ev = self.evidence[PATROL] * np.exp(-self.rate[PATROL] * dt)
        if ev.max() < min_evidence:
            return None
        bx, by = np.nonzero(ev >= min_evidence)
        cx = self.x0 + (bx + 0.5) * self.block_km
        cy = self.y0 + (by + 0.5) * self.block_km
        near = np.hypot(cx - home[0], cy - home[1]) <= radius_km
        if not near.any():
            return None
        j = int(np.argmax(np.where(near, ev[bx, by], -1.0)))
        return np.array([cx[j], cy[j]])

    def threat(self, xy: np.ndarray, t_h: float) -> np.ndarray:
        """Remembered threat at points (n, 2)."""
        f = self.field(t_h)
        pts = np.atleast_2d(xy)
        bx, by = self._block(pts[:, 0], pts[:, 1])
        return f[bx, by]
