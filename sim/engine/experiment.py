"""Monte Carlo orchestration: points x replicates -> tasks -> executor -> results store -> tables.

Why: every command (run, sweep, compare, validate, reproduce) needs the same machinery -- derive
ids that cover everything a result depends on, skip finished replicates (resume), keep going when
one replicate raises, stop cleanly on Ctrl-C/SIGTERM, optionally add replicates until a precision
target is met, say what a long run will cost, and compact the results into ``runs.parquet``,
``timeseries.parquet`` and ``incidents.parquet``. The model is reached only through a runner
named by dotted path (``sim.model.runner:run_replicate``), imported lazily in each worker, so the
engine knows nothing of patrols and tests can substitute a runner.

How a run goes: take the folder's lock (``lock``); plan the points (O(points): their hashes
cover config, input files and model version, see ``identity``); open the store (O(shards): every
bundle checked, a leftover journal recovered); then hand out tasks lazily -- replicates that are
not complete, batched into tasks of about ``executor.task_seconds`` -- keeping ``in_flight``
tasks submitted. Workers return results; the driver journals, buffers and bundles them
(``store``). The first task starts after O(points + shards) work, whatever the replicate count.

Determinism: a replicate's outputs depend only on its config and replicate id (the model derives
its random streams from ``(seed, replicate, purpose)``), replicate ids are ``0..n-1``, and
compaction writes rows in label-then-replicate order. So the tables are identical whatever the
worker count, executor, task sizes, or interruptions and resumes along the way.
"""

from __future__ import annotations

import errno
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine import compaction, lock
from sim.engine.bundles import BLOCK, BundleProblem
from sim.engine.cost import CostReporter
from sim.engine.executors import (
    TASK_SECONDS,
    Executor,
    available_cpus,
    check_workers,
    executor_spec,
    make_executor,
)
from sim.engine.frames import FrameError
from sim.engine.identity import EXECUTION_ONLY as EXECUTION_ONLY
from sim.engine.identity import _runner_module, input_digests, job_id, model_version, point_hash
from sim.engine.identity import config_hash as config_hash
from sim.engine.identity import model_config as model_config
from sim.engine.identity import run_id as run_id
from sim.engine.progress import Progress
from sim.engine.store import ResultStore
from sim.engine.worker import Probe, Task, TaskResult, probe, run_task
from sim.errors import ConfigError, RunError

#: The model's entry point, ``module:function`` (imported lazily inside workers).
DEFAULT_RUNNER = "sim.model.runner:run_replicate"

#: The config key holding a replicate's horizon in model-days (for the cost estimate).
HORIZON_KEY = "days"

#: Heavy imports a local forkserver performs once, so that every worker forks warm: pandas (pyarrow
#: imports it on the first array a worker builds) and Mesa (the model's framework), about 2 s per
#: process otherwise. The runner's own module is added too. Missing modules are skipped.
FORKSERVER_PRELOAD: tuple[str, ...] = ("pandas", "mesa")

#: How often compaction may find a damaged bundle, set it aside and recompute, before giving up.
COMPACTION_ATTEMPTS = 3


# ------------------------------------------------------------------------------------ requests


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


# -------------------------------------------------------------------------------------- plan


def _sortable(value: Any) -> tuple[int, Any]:
    """Sort key for label values of mixed types (None < numbers < strings < others)."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, float(value))
    if isinstance(value, str):
        return (2, value)
    return (3, str(value))


class _Plan:
    """The experiment's points, their identities and their order in the tables. O(points)."""

    def __init__(self, points: Sequence[Point], runner: str) -> None:
        self.points = [self._with_scenario(p) for p in points]
        self.runner = runner
        self.version = model_version(runner)
        self.inputs = [input_digests(p.config) for p in self.points]
        self.hashes = [
            point_hash(p.config, self.version, inputs)
            for p, inputs in zip(self.points, self.inputs, strict=True)
        ]
        seen: dict[str, int] = {}
        for i, h in enumerate(self.hashes):
            if h in seen:
                raise ValueError(
                    f"points {seen[h]} and {i} have the same model config (labels "
                    f"{self.points[seen[h]].labels} and {self.points[i].labels}); drop duplicates"
                )
            seen[h] = i
        self.label_keys: list[str] = []
        for p in self.points:
            self.label_keys += [k for k in p.labels if k not in self.label_keys]
        keys = [tuple(_sortable(p.labels.get(k)) for k in self.label_keys) for p in self.points]
        self.order = sorted(range(len(self.points)), key=lambda i: keys[i])

    @staticmethod
    def _with_scenario(point: Point) -> Point:
        if "scenario" in point.labels:
            return point
        name = (point.config.get("scenario") or {}).get("name", "default")
        return Point(point.config, {"scenario": name, **point.labels})

    def horizon(self, i: int) -> int | None:
        value = self.points[i].config.get(HORIZON_KEY)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    def describe(self, i: int) -> dict[str, Any]:
        """What point ``i``'s hash covers (stored with its results)."""
        return {
            "config": config_hash(self.points[i].config),
            "inputs": {k: v["sha256"] for k, v in self.inputs[i].items()},
            "model_version": self.version,
        }

    def stale_notes(self, store: ResultStore, counts: Sequence[int]) -> list[str]:
        """Why results of the same configuration in the folder are not resumed, if they exist."""
        stored = store.stored_points()
        notes = []
        for i, h in enumerate(self.hashes):
            mine = self.describe(i)
            if h in stored or store.done_mask(h, max(counts[i], 1)).any():
                continue
            for other, info in stored.items():
                if other == h or info.get("config") != mine["config"]:
                    continue
                changes = [
                    f"{key}: sha256 {str(old)[:12]} -> {str(mine['inputs'].get(key))[:12]}"
                    for key, old in (info.get("inputs") or {}).items()
                    if mine["inputs"].get(key) != old
                ]
                if info.get("model_version") != mine["model_version"]:
                    changes.append(
                        f"model version {info.get('model_version')} -> {mine['model_version']}"
                    )
                if changes:
                    notes.append(
                        f"{store.out_dir}: results of {self.points[i].labels} were computed with "
                        f"other inputs ({'; '.join(changes)}); they are not resumed, all "
                        f"{counts[i]} replicates are computed again"
                    )
                    break
        return notes

    def identity(self) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        for digests in self.inputs:
            for key, entry in digests.items():
                inputs.setdefault(key, entry)
        return {"model_version": self.version, "inputs": inputs, "point_hashes": self.hashes}


# ---------------------------------------------------------------------------------- executing


@dataclass
class _Tally:
    done: int = 0
    skipped: int = 0
    planned: int = 0
    failures: dict[str, Failure] = field(default_factory=dict)
    job_seconds: float = 0.0
    replicates_timed: int = 0


class _LazyExecutor:
    """Creates the executor on first use (a fully resumed run starts no pool and no Ray)."""

    def __init__(
        self, spec: Mapping[str, Any], workers: int, preload: Sequence[str], run_dir: Path
    ) -> None:
        self._spec, self._workers, self._preload = spec, workers, preload
        self._run_dir = run_dir
        self._executor: Executor | None = None

    def get(self) -> Executor:
        if self._executor is None:
            self._executor = make_executor(self._spec, self._workers, self._preload, self._run_dir)
        return self._executor

    def parallelism(self) -> int:
        """Tasks that run at once: the executor's own count once it exists (Ray: cluster CPUs)."""
        if self._executor is not None:
            return max(self._executor.max_workers, 1)
        return self._workers or available_cpus()

    def in_flight(self) -> int:
        return max(self.get().in_flight, 1)

    def task_seconds(self) -> float:
        return self._executor.task_seconds if self._executor is not None else TASK_SECONDS

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def drain(self) -> None:
        """After Ctrl-C: cancel queued tasks and let running ones finish; a second Ctrl-C kills."""
        if self._executor is None:
            return
        try:
            self._executor.shutdown(wait=True, cancel_futures=True)
        except KeyboardInterrupt:
            self._executor.terminate()
        self._executor = None


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _infra_failure(point_hash_: str, replicate: int, labels: dict[str, Any], err: BaseException) -> Failure:
    text = str(err) or type(err).__name__
    if isinstance(err, BrokenProcessPool):
        text += (
            " (a worker process died: out of memory, a crash in native code, or a script that "
            "calls run_experiment without an `if __name__ == '__main__':` guard)"
        )
    return Failure(
        run_id=job_id(point_hash_, replicate),
        replicate=replicate,
        labels=labels,
        exception_type=f"{type(err).__module__}.{type(err).__qualname__}",
        message=text,
        traceback="",
        recorded=False,
    )


def _store_error(err: OSError, store: ResultStore) -> RunError:
    """A failed write as one line naming the file and the fix."""
    path = getattr(err, "filename", None) or store.shard_dir
    full = err.errno == errno.ENOSPC or "No space left" in str(err) or "errno 28" in str(err)
    problem = "No space left on device" if full else f"cannot be written ({err})"
    return RunError(
        path,
        problem,
        "free space and rerun the same command: finished replicates are kept"
        if full
        else "fix the folder's permissions or disk and rerun the same command",
    )


class _Dispatcher:
    """Hands out tasks for wanted replicates, collects results into the store and the tally."""

    def __init__(
        self,
        plan: _Plan,
        store: ResultStore,
        executor: _LazyExecutor,
        tally: _Tally,
        bar: Progress,
        *,
        retry_failed: bool,
    ) -> None:
        self.plan, self.store, self.executor = plan, store, executor
        self.tally, self.bar, self.retry_failed = tally, bar, retry_failed
        self.cost: CostReporter | None = None
        self._mean_s: float | None = None
        self._left = 0

    # ------------------------------------------------------------------ what is left to do

    def _todo(self, wanted: Sequence[tuple[int, int, int]]) -> list[tuple[int, np.ndarray]]:
        """Per wanted range: replicates to compute (O(replicates / BLOCK) numpy work)."""
        store, tally = self.store, self.tally
        recorded: dict[str, set[int]] = {}
        for record in store.failures().values():
            recorded.setdefault(str(record.get("point_hash", "")), set()).add(
                int(record.get("replicate", -1))
            )
        superseded: set[str] = set()
        todo = []
        for i, lo, hi in wanted:
            if hi <= lo:
                continue
            h = self.plan.hashes[i]
            done = store.done_mask(h, hi)[lo:]
            reps = lo + np.flatnonzero(~done)
            tally.planned += hi - lo
            skipped = int(done.sum())
            tally.skipped += skipped
            self.bar.set_total(tally.planned)
            self.bar.skip(skipped)
            failed = recorded.get(h, set())
            if failed:
                done_reps = lo + np.flatnonzero(done)
                superseded |= {job_id(h, int(r)) for r in done_reps if int(r) in failed}
                if not self.retry_failed:
                    keep = np.array([int(r) not in failed for r in reps], dtype=bool)
                    for r in reps[~keep]:
                        record = store.failures().get(job_id(h, int(r)))
                        if record is not None:
                            tally.failures[record["run_id"]] = Failure.from_record(record)
                            self.bar.advance(failed=True)
                    reps = reps[keep]
            if tally.failures:  # a second pass (after compaction found damage) retries these
                for r in reps:
                    tally.failures.pop(job_id(h, int(r)), None)
            if len(reps):
                todo.append((i, reps))
        store.forget_failures(superseded)
        return todo

    def _task_size(self) -> int:
        """Replicates per task: about ``task_seconds`` of work, small enough to balance the end."""
        par = self.executor.parallelism()
        if self._mean_s is None:  # unmeasured: one replicate, or (batch systems) an even split
            long = self.executor.task_seconds() >= 60
            size = -(-self._left // self.executor.in_flight()) if long else 1
        else:
            size = int(self.executor.task_seconds() / max(self._mean_s, 1e-6))
        return max(1, min(size, BLOCK, -(-self._left // (2 * par))))

    def _tasks(self, todo: list[tuple[int, np.ndarray]]) -> Iterator[Task]:
        for i, reps in todo:
            point = self.plan.points[i]
            blocks = reps // BLOCK
            bounds = np.flatnonzero(np.diff(blocks)) + 1
            for part in np.split(reps, bounds):
                start = 0
                while start < len(part):
                    size = self._task_size()
                    chunk = part[start : start + size]
                    start += len(chunk)
                    yield Task(
                        point=i,
                        point_hash=self.plan.hashes[i],
                        replicates=tuple(int(r) for r in chunk),
                        config=point.config,
                        labels=point.labels,
                        runner=self.plan.runner,
                    )

    # ------------------------------------------------------------------------------ running

    def run(self, wanted: Sequence[tuple[int, int, int]]) -> None:
        """Compute the wanted replicates ``(point, lo, hi)`` that are not complete yet.

        On KeyboardInterrupt: cancel queued tasks, let running ones finish (their results
        count), write what is buffered, then re-raise.
        """
        todo = self._todo(wanted)
        self._left = sum(len(r) for _, r in todo)
        if self.cost is None:
            groups = [(len(r), self.plan.horizon(i)) for i, r in todo]
            self.cost = CostReporter(groups, self.executor.parallelism, self.bar.note)
        if not todo:
            return
        pending: dict[Future[Any], Task | None] = {}
        tasks = self._tasks(todo)
        executor = self.executor.get()
        if self.cost.wants_probe():
            i, _ = todo[0]
            horizon = self.plan.horizon(i) or 1
            future = executor.submit(
                probe, self.plan.runner, self.plan.points[i].config, HORIZON_KEY, horizon
            )
            pending[future] = None

        def fill() -> None:
            while len(pending) < self.executor.in_flight():
                task = next(tasks, None)
                if task is None:
                    break
                try:
                    pending[executor.submit(run_task, task)] = task
                except (RuntimeError, OSError) as err:  # a broken pool refuses new work
                    self._lost(task, err)
            executor.flush()

        try:
            fill()
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    self._collect(pending.pop(future), future)
                fill()
        except KeyboardInterrupt:
            self.executor.drain()
            for future, task in pending.items():
                if future.done() and not future.cancelled():
                    self._collect(task, future, quiet=True)
            self._flush()
            raise
        except OSError as err:
            self.executor.drain()
            raise _store_error(err, self.store) from None
        self._flush()

    def _flush(self) -> None:
        try:
            self.store.flush()
        except OSError as err:
            raise _store_error(err, self.store) from None

    def _collect(self, task: Task | None, future: Future[Any], quiet: bool = False) -> None:
        try:
            result = future.result()
        except CancelledError:
            return
        except Exception as err:
            if task is not None and not quiet:
                self._lost(task, err)
            return
        if task is None:  # the probe
            if isinstance(result, Probe) and self.cost is not None:
                self.cost.probed(result)
            return
        self._record(task, result)

    def _record(self, task: Task, result: TaskResult) -> None:
        tally = self.tally
        try:
            self.store.add(result)  # journal first: an OSError here stops the run
        except FrameError as err:  # a payload that does not decode: treat the task as lost
            self._lost(task, err)
            return
        self.store.record_failures(result.failures)
        tally.done += len(result.done)
        tally.job_seconds += sum(result.seconds)
        tally.replicates_timed += len(result.seconds)
        self._left -= len(task.replicates)
        if result.seconds:
            mean = sum(result.seconds) / len(result.seconds)
            self._mean_s = mean if self._mean_s is None else 0.8 * self._mean_s + 0.2 * mean
        if result.done:
            self.bar.advance(len(result.done))
            self.store.forget_failures({job_id(task.point_hash, r) for r in result.done})
        for record in result.failures:
            tally.failures[str(record["run_id"])] = Failure.from_record(record)
        if result.failures:
            self.bar.advance(len(result.failures), failed=True)
        if self.cost is not None:
            self.cost.replicates_done(result.seconds)

    def _lost(self, task: Task, err: BaseException) -> None:
        """A task that did not come back (a dead worker, a lost Ray task): retried next run."""
        labels = self.plan.points[task.point].labels
        for r in task.replicates:
            failure = _infra_failure(task.point_hash, r, labels, err)
            self.tally.failures[failure.run_id] = failure
        self._left -= len(task.replicates)
        self.bar.advance(len(task.replicates), failed=True)


# ------------------------------------------------------------------------------ the entry point


def _validate(
    replicates: int,
    workers: int,
    executor: Mapping[str, Any] | str | None,
    precision: float | None,
    min_replicates: int,
    max_replicates: int,
) -> dict[str, Any]:
    """Check the execution settings before anything is written (one-line ConfigErrors)."""
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise ConfigError("replicates", replicates, "an integer >= 1")
    check_workers(workers)
    spec = executor_spec(executor)
    if precision is not None:
        if isinstance(precision, bool) or not isinstance(precision, int | float) or precision <= 0:
            raise ConfigError(
                "precision", precision, "null, or a relative CI half-width > 0 (e.g. 0.05)"
            )
        if not isinstance(min_replicates, int) or min_replicates < 2:
            raise ConfigError("min_replicates", min_replicates, "an integer >= 2")
        if not isinstance(max_replicates, int) or max_replicates < min_replicates:
            raise ConfigError(
                "max_replicates", max_replicates, f"an integer >= min_replicates ({min_replicates})"
            )
    return spec


def run_experiment(
    points: Sequence[Point],
    out_dir: str | os.PathLike[str],
    *,
    replicates: int,
    workers: int = 0,
    executor: Mapping[str, Any] | str | None = None,
    retry_failed: bool = False,
    precision: float | None = None,
    min_replicates: int = 10,
    max_replicates: int = 200,
    precision_outcomes: Sequence[str] | None = None,
    lookahead: float = 0.05,
    progress: bool | None = True,
    runner: str = DEFAULT_RUNNER,
    store_options: Mapping[str, int] | None = None,
) -> ExperimentResult:
    """Run every point for ``replicates`` replicates (or until ``precision``), resumably.

    Args:
        points: the configurations, each with its label columns.
        out_dir: run directory (shards under ``out_dir/shards``, tables in ``out_dir``).
        replicates: replicates per point (ids ``0..replicates-1``); ignored with ``precision``.
        workers: parallel tasks (0 = all cores).
        executor: ``config["executor"]`` (``name``, ``address``, ``start_method``, ``options``)
            or a name (``local``, ``ray``, ``slurm``).
        retry_failed: rerun replicates with a failure record (else they are skipped and
            reported).
        precision: target relative 95% CI half-width; replicates are added in batches until every
            outcome of every point meets it with the Hoad-Robinson-Davies look-ahead (see
            ``stats.sequential_decision``), or ``max_replicates``.
        min_replicates: sequential mode: replicates before the first check.
        max_replicates: sequential mode: the cap.
        precision_outcomes: outcomes the precision applies to (default: every numeric outcome
            column of the runs table).
        lookahead: kLimit as a fraction of n (sequential mode).
        progress: True: a tqdm bar when stderr is a terminal, else log lines every ~10% or 30 s;
            False: log lines only; None: silent.
        runner: ``module:function`` of the replicate entry point (tests substitute their own).
        store_options: bundle size limits (``flush_bytes``, ``flush_replicates``,
            ``flush_chunks``; see ``store``), for benchmarks and tests.

    Returns:
        Counts, failures, per-point replicate counts, table paths, identity and timings.

    Raises:
        ConfigError: invalid execution settings (nothing is written then).
        RunError: the folder is in use by another run, or a file could not be written or read
            (one line naming it and the fix).
        Interrupted: Ctrl-C or SIGTERM; completed replicates are kept and a rerun resumes.
    """
    start = time.perf_counter()
    spec = _validate(replicates, workers, executor, precision, min_replicates, max_replicates)
    plan = _Plan(points, runner)
    folder = Path(out_dir).resolve()
    with lock.run_dir_lock(folder):
        store = ResultStore(folder, **dict(store_options or {}))
        try:
            return _run_locked(
                plan, store, spec, start,
                replicates=replicates, workers=workers, retry_failed=retry_failed,
                precision=precision, min_replicates=min_replicates,
                max_replicates=max_replicates, precision_outcomes=precision_outcomes,
                lookahead=lookahead, progress=progress,
            )
        finally:
            store.close()


def _run_locked(
    plan: _Plan,
    store: ResultStore,
    spec: dict[str, Any],
    start: float,
    *,
    replicates: int,
    workers: int,
    retry_failed: bool,
    precision: float | None,
    min_replicates: int,
    max_replicates: int,
    precision_outcomes: Sequence[str] | None,
    lookahead: float,
    progress: bool | None,
) -> ExperimentResult:
    bar = Progress(0, enabled=bool(progress), silent=progress is None)
    try:
        store.open()
    except OSError as err:
        raise _store_error(err, store) from None
    for i, h in enumerate(plan.hashes):
        store.describe(h, plan.describe(i))
    start_counts = [replicates if precision is None else min_replicates] * len(plan.points)
    store.notes += plan.stale_notes(store, start_counts)
    for note in store.notes:
        bar.note(note)
    preload = (__name__, *FORKSERVER_PRELOAD, _runner_module(plan.runner))
    lazy = _LazyExecutor(spec, workers, preload, store.out_dir)
    tally = _Tally()
    dispatcher = _Dispatcher(plan, store, lazy, tally, bar, retry_failed=retry_failed)
    stopping = None
    try:
        with _sigterm_as_interrupt():
            if precision is None:
                counts = [replicates] * len(plan.points)
                dispatcher.run([(i, 0, replicates) for i in range(len(plan.points))])
            else:
                counts, stopping = _sequential(
                    plan, store, dispatcher, tally, precision, min_replicates, max_replicates,
                    precision_outcomes, lookahead, lambda: max(lazy.parallelism(), 2),
                )
            lazy.close()  # idle workers hold memory; compaction needs none of them
            compact_start = time.perf_counter()
            tables = _compact(plan, store, dispatcher, tally, counts, bar)
            compact_s = time.perf_counter() - compact_start
    except KeyboardInterrupt:
        lazy.drain()
        bar.close()
        remaining = tally.planned - tally.done - tally.skipped - len(tally.failures)
        raise Interrupted(
            store.out_dir, tally.done, tally.skipped, len(tally.failures), max(remaining, 0)
        ) from None
    finally:
        lazy.close()
        bar.close()
    end = time.perf_counter()
    notes = list(store.notes)
    if dispatcher.cost is not None and dispatcher.cost.estimate is not None:
        notes.append(dispatcher.cost.estimate.line())
    return ExperimentResult(
        out_dir=store.out_dir,
        tables=tables,
        total=sum(counts),
        done=tally.done,
        skipped=tally.skipped,
        failures=sorted(tally.failures.values(), key=lambda f: (str(f.labels), f.replicate)),
        replicates=counts,
        stopping=stopping,
        timings={
            "wall_s": end - start,
            "compact_s": compact_s,
            "job_s_total": tally.job_seconds,
            "job_s_mean": tally.job_seconds / tally.replicates_timed
            if tally.replicates_timed
            else math.nan,
        },
        identity=plan.identity(),
        notes=notes,
        store=dict(store.stats),
    )


def _compact(
    plan: _Plan,
    store: ResultStore,
    dispatcher: _Dispatcher,
    tally: _Tally,
    counts: Sequence[int],
    bar: Progress,
) -> dict[str, Path]:
    """Compact; a bundle found damaged now is set aside and its replicates computed again."""
    order = [(plan.hashes[i], counts[i]) for i in plan.order]
    for attempt in range(COMPACTION_ATTEMPTS):
        try:
            return compaction.compact(store, order)
        except BundleProblem as problem:
            if attempt == COMPACTION_ATTEMPTS - 1:
                raise RunError(
                    problem.path, problem.reason,
                    "delete the shards folder's damaged files and rerun the same command",
                ) from None
            store.reject(Path(problem.path).name.split(".")[0], problem)
            bar.note(store.notes[-1])
            planned, skipped, done = tally.planned, tally.skipped, tally.done
            dispatcher.run([(i, 0, counts[i]) for i in range(len(plan.points))])
            # the first pass counted these replicates as resumed; they were computed again
            tally.planned, tally.skipped = planned, skipped - (tally.done - done)
        except OSError as err:
            raise _store_error(err, store) from None
    raise AssertionError("unreachable")


def _sequential(
    plan: _Plan,
    store: ResultStore,
    dispatcher: _Dispatcher,
    tally: _Tally,
    precision: float,
    min_replicates: int,
    max_replicates: int,
    outcomes: Sequence[str] | None,
    lookahead: float,
    batch: Callable[[], int],
) -> tuple[list[int], list[Any]]:
    """Add replicates per point in batches until the precision rule decides (deterministically).

    Batches (``batch()`` replicates, the executor's parallelism) only decide how far ahead work
    is done: the decision is made on replicates in id order, so the replicate counts do not
    depend on the batch size (i.e. on the worker count or executor).
    """
    from sim.engine.stats import StoppingDecision, numeric_outcomes, sequential_decision

    n_points = len(plan.points)
    target = [min_replicates] * n_points
    ran = [0] * n_points
    decisions: list[StoppingDecision | None] = [None] * n_points
    while any(d is None for d in decisions):
        open_points = [i for i in range(n_points) if decisions[i] is None]
        dispatcher.run([(i, ran[i], target[i]) for i in open_points])
        for i in open_points:
            ran[i] = target[i]
            h = plan.hashes[i]
            if any(job_id(h, r) in tally.failures for r in range(target[i])):  # a hole
                decisions[i] = StoppingDecision(target[i], None, target[i], False, False)
                continue
            runs = compaction.read_runs(store, h, target[i]).to_pandas()
            names = outcomes or numeric_outcomes(runs, exclude=[*plan.label_keys, "run_id"])
            values = {o: runs[o].tolist() for o in names}
            decision = sequential_decision(
                values, precision, min_replicates, max_replicates, lookahead
            )
            if decision.more:
                target[i] = min(max_replicates, target[i] + batch())
            else:
                decisions[i] = decision
    final = [d for d in decisions if d is not None]
    return [d.n_used if d.n_used is not None else d.n_available for d in final], final


# ---------------------------------------------------------------------------------- from a config


def prestart(config: Mapping[str, Any], runner: str = DEFAULT_RUNNER) -> None:
    """Start the local forkserver now, so that it imports pandas, Mesa and the runner while the
    command still builds the terrain and draws the map: the first replicate then starts as soon
    as the engine hands it out. Does nothing for other executors or start methods.
    """
    import multiprocessing
    from multiprocessing import forkserver

    try:
        spec = executor_spec(config.get("executor"))
    except ConfigError:
        return  # reported when the run starts
    if spec["name"] != "local" or spec["start_method"] != "forkserver":
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, *FORKSERVER_PRELOAD, _runner_module(runner)])
    forkserver.ensure_running()



def points_from_config(config: Mapping[str, Any]) -> list[Point]:
    """The single point of a plain ``gapsim run`` config (labelled with its scenario name)."""
    return [Point(dict(config), {"scenario": config["scenario"]["name"]})]


def run_from_config(
    config: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    points: Sequence[Point] | None = None,
    **overrides: Any,
) -> ExperimentResult:
    """``run_experiment`` with execution settings taken from a resolved config dict.

    Args:
        config: resolved config (``replicates``, ``workers``, ``executor``, ``retry_failed``,
            ``precision``, ``min_replicates``, ``max_replicates``, ``progress``).
        out_dir: run directory.
        points: default: the config itself as one point.
        **overrides: any ``run_experiment`` keyword, taking precedence.
    """
    kwargs: dict[str, Any] = {
        "replicates": int(config["replicates"]),
        "workers": int(config.get("workers", 0)),
        "executor": config.get("executor"),
        "retry_failed": bool(config.get("retry_failed", False)),
        "precision": config.get("precision"),
        "min_replicates": int(config.get("min_replicates") or 10),
        "max_replicates": int(config.get("max_replicates") or 200),
        "progress": bool(config.get("progress", True)),
    }
    kwargs.update(overrides)
    return run_experiment(points or points_from_config(config), out_dir, **kwargs)

