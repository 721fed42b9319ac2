"""The cost estimate printed before a long run: replicates x days x measured seconds per model-day.

Why: ``days=36500`` or ``replicates=100000`` used to start without a word of what they would
cost; a user learnt it hours later. The cost of a model-day is measured at run time, never
assumed (the model's cost changes as it is rebuilt): for long horizons a probe task times the
runner on a few short horizons of the same configuration (``worker.probe``) while the first
replicates start; for short horizons the first finished replicates are the measurement.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from sim.engine.progress import format_duration
from sim.engine.worker import Probe

#: A probe runs first when a replicate simulates at least this many model-days.
PROBE_MIN_DAYS = 1000

#: Without a probe, the estimate is printed if the rest of the run should take longer than this.
MIN_REPORT_S = 60.0

#: Replicates measured before the no-probe estimate is made.
MIN_SAMPLES = 4


@dataclass
class CostEstimate:
    """What the estimate says, for a line and for tests.

    Attributes:
        replicates: replicates still to compute.
        days: model-days per replicate (None when points differ; then ``model_days`` counts).
        model_days: replicates x days, summed over points.
        per_day_s: measured seconds per model-day.
        fixed_s: measured fixed seconds per replicate (construction), 0 if not separated.
        workers: replicates that run at once.
        source: "probe" or "replicates".
    """

    replicates: int
    days: int | None
    model_days: int
    per_day_s: float
    fixed_s: float
    workers: int
    source: str

    @property
    def cpu_s(self) -> float:
        return self.model_days * self.per_day_s + self.replicates * self.fixed_s

    @property
    def wall_s(self) -> float:
        return self.cpu_s / max(self.workers, 1)

    def line(self) -> str:
        what = (
            f"{self.replicates} replicates x {self.days} days"
            if self.days is not None
            else f"{self.replicates} replicates, {self.model_days} model-days"
        )
        fixed = f" + {self.fixed_s:.2g} s per replicate" if self.fixed_s >= 0.005 else ""
        how = "short probe runs" if self.source == "probe" else "the first replicates"
        return (
            f"cost estimate: {what} x {self.per_day_s * 1e3:.3g} ms per model-day{fixed} "
            f"(measured on {how}) = {format_duration(self.cpu_s)} of CPU; about "
            f"{self.wall_s:.0f} s ({format_duration(self.wall_s)}) on {self.workers} workers"
        )


class CostReporter:
    """Prints one estimate per run, from a probe or from the first replicates.

    Args:
        todo_days: model-days per replicate still to compute, one entry per replicate group
            ``(replicates, days)``; ``days`` None when the config has no horizon.
        workers: returns the current parallelism.
        emit: prints a line (to stderr or above the progress bar).
    """

    def __init__(
        self,
        todo_days: list[tuple[int, int | None]],
        workers: Callable[[], int],
        emit: Callable[[str], None],
    ) -> None:
        self._groups = [(n, d) for n, d in todo_days if n > 0]
        self._workers = workers
        self._emit = emit
        self._samples: list[float] = []
        self.estimate: CostEstimate | None = None
        self.remaining = sum(n for n, _ in self._groups)

    @property
    def horizon(self) -> int | None:
        """The longest horizon still to compute (None if unknown)."""
        days = [d for _, d in self._groups if d is not None]
        return max(days) if days else None

    def wants_probe(self) -> bool:
        """Whether a probe should run (a long horizon and work to do)."""
        return self.remaining > 0 and (self.horizon or 0) >= PROBE_MIN_DAYS

    def _make(self, per_day_s: float, fixed_s: float, source: str) -> CostEstimate | None:
        if not self._groups or any(d is None for _, d in self._groups):
            return None
        days = {d for _, d in self._groups}
        model_days = sum(n * int(d) for n, d in self._groups)  # type: ignore[arg-type]
        return CostEstimate(
            replicates=self.remaining,
            days=int(days.pop()) if len(days) == 1 else None,
            model_days=model_days,
            per_day_s=per_day_s,
            fixed_s=fixed_s,
            workers=self._workers(),
            source=source,
        )

    def probed(self, probe: Probe) -> None:
        """A probe finished: print its estimate (unless one was printed already)."""
        if self.estimate is not None:
            return
        self.estimate = self._make(probe.per_day_s, probe.fixed_s, "probe")
        if self.estimate is not None:
            self._emit(self.estimate.line())

    def replicates_done(self, seconds: list[float]) -> None:
        """Replicates finished: after a few, print an estimate if the run looks long."""
        if self.estimate is not None or self.wants_probe():
            return
        self._samples += seconds
        if len(self._samples) < MIN_SAMPLES:
            return
        mean = sum(self._samples) / len(self._samples)
        days = [d for _, d in self._groups if d]
        mean_days = sum(days) / len(days) if days else 1
        estimate = self._make(mean / max(mean_days, 1), 0.0, "replicates")
        if estimate is None:
            self.estimate = None
            self._samples = self._samples[-MIN_SAMPLES:]
            return
        self.estimate = estimate
        if estimate.wall_s >= MIN_REPORT_S and math.isfinite(estimate.wall_s):
            self._emit(estimate.line())
