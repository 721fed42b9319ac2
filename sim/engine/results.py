"""What a Monte Carlo run is asked and what it answers: points, failures, results, interrupts.

Why a module of their own: the orchestration (``experiment``), the dispatcher (``dispatch``) and
the commands all speak these types; keeping them apart keeps imports one-way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Point:
    """One configuration to replicate, with the label columns its rows carry.

    Attributes:
        config: resolved plain config dict (what the runner receives).
        labels: extra columns on every output row: at least ``scenario`` (filled from
            ``config["scenario"]["name"]`` when missing); sweeps add ``design_point`` and factors.
    """

    config: dict[str, Any]
    labels: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """A replicate that did not complete.

    Attributes:
        run_id, replicate, labels: which replicate.
        exception_type, message, traceback: what went wrong.
        recorded: True if a failure record exists on disk (the runner raised: a plain rerun skips
            it, ``retry_failed=True`` reruns it); False for infrastructure errors (a worker
            process died, a Ray task was lost), which any rerun retries.
    """

    run_id: str
    replicate: int
    labels: dict[str, Any]
    exception_type: str
    message: str
    traceback: str = ""
    recorded: bool = True

    def describe(self) -> str:
        """One line naming the replicate and the error."""
        where = ", ".join(f"{k}={v}" for k, v in self.labels.items())
        text = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"{where}, replicate {self.replicate} ({self.run_id}): {self.exception_type}: {text}"

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Failure:
        """From a failure record (``shards/failures/log.jsonl``)."""
        return cls(
            run_id=str(record["run_id"]),
            replicate=int(record["replicate"]),
            labels=dict(record.get("labels", {})),
            exception_type=str(record.get("exception_type", "")),
            message=str(record.get("message", "")),
            traceback=str(record.get("traceback", "")),
            recorded=True,
        )


@dataclass
class ExperimentResult:
    """What ``run_experiment`` did.

    Attributes:
        out_dir: the run directory.
        tables: compacted table paths (``runs``, ``timeseries``, ``incidents``).
        total: replicates in the experiment (points x replicates used).
        done: replicates computed in this call.
        skipped: replicates already complete on disk (resumed).
        failures: replicates that failed (this call, or recorded earlier and not retried).
        replicates: per point, the replicate count in the tables (ids ``0..n-1``).
        stopping: per point, the sequential-stopping decision (None without ``precision``).
        timings: ``wall_s``, ``compact_s``, ``job_s_total``, ``job_s_mean`` (seconds).
        identity: ``model_version``, ``inputs`` (input files and their SHA-256) and
            ``point_hashes`` (what the run ids cover; the manifest records it).
        notes: lines the run told the user (shards set aside, journal recovered, cost).
        store: files written and other counters of the results store.
    """

    out_dir: Path
    tables: dict[str, Path]
    total: int
    done: int
    skipped: int
    failures: list[Failure]
    replicates: list[int]
    stopping: list[Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    store: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        """Number of failed replicates."""
        return len(self.failures)

    @property
    def ok(self) -> bool:
        """True when every replicate completed."""
        return not self.failures


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the run; every completed replicate is kept.

    Attributes:
        out_dir: the run directory (rerun into it to resume).
        done, skipped, failed: counts so far (as in ``ExperimentResult``).
        remaining: planned replicates not completed.
    """

    def __init__(self, out_dir: Path, done: int, skipped: int, failed: int, remaining: int) -> None:
        self.out_dir, self.done, self.skipped = out_dir, done, skipped
        self.failed, self.remaining = failed, remaining
        super().__init__(
            f"interrupted: {done + skipped} replicates complete, {failed} failed, {remaining} "
            f"remaining; rerun the same command into {out_dir} to resume"
        )
