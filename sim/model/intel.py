"""Each force's intelligence picture, and how tips travel between forces.

Why: coordination acts here first. A villager tells the force they trust and can reach; the force
able to act on the location (the one holding it, or for an unheld gap the force whose line is
nearer) learns of it directly only if it was told, otherwise only if the tip is shared -- with the
probability and delay of the coordination level (DOMAIN 4.7 item 6). Confidence in a location
decays with a half-life, so stale tips do not trigger strikes.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from sim.model.params import FORCES

N_FORCES = len(FORCES)


@dataclass(order=True)
class PendingTip:
    arrive_h: float
    seq: int
    force: int = field(compare=False)
    group: int = field(compare=False)
    x_km: float = field(compare=False)
    y_km: float = field(compare=False)
    quality: float = field(compare=False)
    villager_tip: bool = field(compare=False)
    hideout: bool = field(compare=False, default=False)


class IntelPicture:
    """Confidence and last known location of every insurgent group, per force.

    Args:
        n_groups: capacity (slots) of the insurgent arrays.
        half_life_h: half-life of a location report.
    """

    def __init__(self, n_groups: int, half_life_h: float, hideout_half_life_h: float) -> None:
        self.conf = np.zeros((N_FORCES, n_groups))
        self.loc = np.zeros((N_FORCES, n_groups, 2))
        self.requested = np.zeros((N_FORCES, n_groups), dtype=bool)
        self.hideout = np.zeros((N_FORCES, n_groups), dtype=bool)
        self.half_life_h = half_life_h
        self.hideout_half_life_h = hideout_half_life_h
        self._factors: tuple[float, float, float] | None = None
        self.pending: list[PendingTip] = []
        self._seq = 0
        self.tips_received = np.zeros(N_FORCES, dtype=np.int64)
        self.tips_reaching_actor = 0
        self.shared_sent = 0
        self.shared_arrived = 0

    def decay(self, hours: float) -> None:
        """Age every report by ``hours`` (hideout reports age more slowly: caves do not move)."""
        if self._factors is None or self._factors[0] != hours:
            self._factors = (hours, math.exp(-math.log(2.0) * hours / self.half_life_h),
                             math.exp(-math.log(2.0) * hours / self.hideout_half_life_h))
        self.conf *= np.where(self.hideout, self._factors[2], self._factors[1])

    def learn(self, force: int, group: int, x_km: float, y_km: float, quality: float,
              hideout: bool = False) -> None:
        """Combine a report into a force's picture.

        Reports of the same place reinforce each other (independent-evidence update); a report of
        another place replaces the location and starts from its own quality. Only hideout
        locations are worth an air strike: a moving group is gone before approval.
        """
        old = self.conf[force, group]
        same = np.hypot(*(self.loc[force, group] - (x_km, y_km))) < 1.0
        if same:
            self.conf[force, group] = 1.0 - (1.0 - old) * (1.0 - quality)
            self.hideout[force, group] |= hideout
        elif hideout or not self.hideout[force, group] or quality > old:
            self.conf[force, group] = quality
            self.loc[force, group] = (x_km, y_km)
            self.hideout[force, group] = hideout
            self.requested[force, group] = False

    def route(self, now_h: float, told: int, actor: int, group: int, x_km: float, y_km: float,
              quality: float, share_prob: float, share_delay_h: float, u: float,
              villager_tip: bool, hideout: bool = False) -> None:
        """A report reaches ``told``; if the acting force is another, maybe share it.

        Args:
            u: a uniform draw from the intel stream (kept outside so streams stay per purpose).
        """
        self.learn(told, group, x_km, y_km, quality, hideout)
        if villager_tip:
            self.tips_received[told] += 1
        if actor < 0:
            return
        if actor == told:
            if villager_tip:
                self.tips_reaching_actor += 1
            return
        if u < share_prob:
            self.shared_sent += 1
            self._seq += 1
            heapq.heappush(self.pending, PendingTip(now_h + share_delay_h, self._seq, actor, group,
                                                    x_km, y_km, quality * 0.9, villager_tip,
                                                    hideout))

    def deliver(self, now_h: float) -> None:
        """Deliver shared reports whose delay has passed."""
        while self.pending and self.pending[0].arrive_h <= now_h:
            tip = heapq.heappop(self.pending)
            self.learn(tip.force, tip.group, tip.x_km, tip.y_km, tip.quality, tip.hideout)
            self.shared_arrived += 1
            if tip.villager_tip:
                self.tips_reaching_actor += 1

    def forget(self, group: int) -> None:
        """A group dissolved: its slot's picture is cleared."""
        self.conf[:, group] = 0.0
        self.requested[:, group] = False
        self.hideout[:, group] = False
