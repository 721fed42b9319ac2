"""Monte Carlo orchestration: points x replicates -> jobs -> executor -> shards -> three tables.

Why: every command (run, sweep, compare, validate, reproduce) needs the same machinery -- derive a
stable id per job, skip finished jobs (resume), keep going when one replicate raises, stop cleanly
on Ctrl-C/SIGTERM, optionally add replicates until a precision target is met, and compact the
shards into ``runs.parquet``, ``timeseries.parquet`` and ``incidents.parquet``. The model is reached
only through a runner named by dotted path (``sim.model.runner:run_replicate``), imported lazily in
each worker process, so the engine knows nothing of patrols and tests can substitute a runner.

Determinism: a job's outputs depend only on its config and replicate id (the model derives its
random streams from ``(seed, replicate, purpose)``), replicate ids are always ``0..n-1``, and the
compacted tables are sorted by labels then replicate. So the tables are identical whatever the
worker count, executor, batch sizes, or interruptions and resumes along the way.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import math
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.engine.executors import (
    Executor,
    available_cpus,
    check_workers,
    executor_spec,
    make_executor,
)
from sim.engine.progress import Progress
from sim.engine.store import ResultStore, ShardRef
from sim.errors import ConfigError

#: The model's entry point, ``module:function`` (imported lazily inside workers).
DEFAULT_RUNNER = "sim.model.runner:run_replicate"

#: Top-level config keys that change how a run executes, never what it computes; they are left
#: out of run ids so that more replicates, another worker count or executor resume a run.
EXECUTION_ONLY: frozenset[str] = frozenset(
    {
        "replicates",
        "workers",
        "executor",
        "retry_failed",
        "precision",
        "min_replicates",
        "max_replicates",
        "debug",
        "progress",
        "hydra",
        "experiment",
        "design_size",
        "scenarios",
        "baseline",
        "extra",
    }
)

#: Heavy imports a local forkserver performs once, so that every worker forks warm: pandas (pyarrow
#: imports it on the first array a worker builds) and Mesa (the model's framework), about 2 s per
#: process otherwise. The runner's own module is added too. Missing modules are skipped.
FORKSERVER_PRELOAD: tuple[str, ...] = ("pandas", "mesa")


# ------------------------------------------------------------------------------------ identities


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


def model_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config without execution-only keys (what determines a replicate's results)."""
    return {k: v for k, v in config.items() if k not in EXECUTION_ONLY}


def _canonical(obj: Any) -> Any:
    """JSON-ready form with one spelling per value (``4.0`` and ``4`` are the same number)."""
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        obj = obj.item()
    if isinstance(obj, float) and math.isfinite(obj) and obj.is_integer():
        return int(obj)
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return str(obj)


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no whitespace) for hashing."""
    return json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"))


def _sha16(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_hash(config: Mapping[str, Any]) -> str:
    """16 hex digits identifying a point's model configuration."""
    return _sha16(canonical_json(model_config(config)))


def run_id(config: Mapping[str, Any], replicate: int) -> str:
    """16 hex digits identifying one job: the model configuration plus the replicate id."""
    return _sha16(canonical_json({"config": model_config(config), "replicate": int(replicate)}))


@dataclass(frozen=True)
class Job:
    """One replicate of one point, as shipped to a worker."""

    point: int
    replicate: int
    run_id: str
    config_hash: str
    config: dict[str, Any]
    labels: dict[str, Any]
    out_dir: str
    runner: str


@dataclass(frozen=True)
class JobOutcome:
    """What a worker reports back (small: the tables went to disk)."""

    run_id: str
    point: int
    replicate: int
    ok: bool
    seconds: float
    pid: int
    error: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------- worker


@functools.cache
def resolve_runner(path: str) -> Callable[[dict[str, Any], int], Any]:
    """Import ``module:function`` (or ``module.function``) once per process."""
    name = path.partition(":")[2] if ":" in path else path.rpartition(".")[2]
    return getattr(importlib.import_module(_runner_module(path)), name)


def _runner_module(path: str) -> str:
    """The module part of a ``module:function`` (or ``module.function``) path."""
    module, sep, _ = path.partition(":")
    return module if sep else path.rpartition(".")[0]


def run_job(job: Job) -> JobOutcome:
    """Worker side: run one replicate, write its shards, or record its failure.

    Exceptions from the runner or from writing are recorded as ``shards/failures/<run_id>.json``
    and reported; ``KeyboardInterrupt`` and other ``BaseException`` pass through untouched.
    """
    start = time.perf_counter()
    store = ResultStore(job.out_dir)
    try:
        output = resolve_runner(job.runner)(job.config, job.replicate)
        provenance = {
            "run_id": job.run_id,
            "config_hash": job.config_hash,
            "replicate": job.replicate,
            "labels": job.labels,
            "runner": job.runner,
        }
        store.write_replicate(job.labels, job.replicate, job.run_id, output, provenance)
    except Exception as err:
        record = {
            "status": "failed",
            "run_id": job.run_id,
            "config_hash": job.config_hash,
            "replicate": job.replicate,
            "labels": job.labels,
            "runner": job.runner,
            "exception_type": f"{type(err).__module__}.{type(err).__qualname__}",
            "message": str(err),
            "traceback": traceback.format_exc(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        store.write_failure(record)
        seconds = time.perf_counter() - start
        return JobOutcome(job.run_id, job.point, job.replicate, False, seconds, os.getpid(), record)
    seconds = time.perf_counter() - start
    return JobOutcome(job.run_id, job.point, job.replicate, True, seconds, os.getpid())


# ---------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Failure:
    """A job that did not complete.

    Attributes:
        run_id, replicate, labels: which job.
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
        """One line naming the job and the error."""
        where = ", ".join(f"{k}={v}" for k, v in self.labels.items())
        text = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"{where}, replicate {self.replicate} ({self.run_id}): {self.exception_type}: {text}"

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Failure:
        """From a failure record (``shards/failures/<run_id>.json``)."""
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
        total: jobs in the experiment (points x replicates used).
        done: jobs computed in this call.
        skipped: jobs already complete on disk (resumed).
        failures: jobs that failed (this call, or recorded earlier and not retried).
        replicates: per point, the replicate count in the tables (ids ``0..n-1``).
        stopping: per point, the sequential-stopping decision (None without ``precision``).
        timings: ``wall_s``, ``compact_s``, ``job_s_total``, ``job_s_mean`` (seconds).
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

    @property
    def failed(self) -> int:
        """Number of failed jobs."""
        return len(self.failures)

    @property
    def ok(self) -> bool:
        """True when every job completed."""
        return not self.failures


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the run; every completed shard is kept.

    Attributes:
        out_dir: the run directory (rerun into it to resume).
        done, skipped, failed: counts so far (as in ``ExperimentResult``).
        remaining: planned jobs not completed.
    """

    def __init__(self, out_dir: Path, done: int, skipped: int, failed: int, remaining: int) -> None:
        self.out_dir, self.done, self.skipped = out_dir, done, skipped
        self.failed, self.remaining = failed, remaining
        super().__init__(
            f"interrupted: {done + skipped} replicates complete, {failed} failed, {remaining} "
            f"remaining; rerun the same command into {out_dir} to resume"
        )


# ------------------------------------------------------------------------------------ orchestration


@dataclass
class _Tally:
    done: int = 0
    skipped: int = 0
    planned: int = 0
    failures: dict[str, Failure] = field(default_factory=dict)
    job_seconds: float = 0.0


class _LazyExecutor:
    """Creates the executor on first use (a fully resumed run starts no pool and no Ray)."""

    def __init__(self, spec: Mapping[str, Any], workers: int, preload: Sequence[str]) -> None:
        self._spec, self._workers, self._preload = spec, workers, preload
        self._executor: Executor | None = None

    def get(self) -> Executor:
        if self._executor is None:
            self._executor = make_executor(self._spec, self._workers, self._preload)
        return self._executor

    def parallelism(self) -> int:
        """Jobs that run at once: the executor's own count once it exists (Ray: cluster CPUs)."""
        if self._executor is not None:
            return max(self._executor.max_workers, 1)
        return self._workers or available_cpus()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def drain(self) -> None:
        """After Ctrl-C: cancel queued jobs and let running ones finish; a second Ctrl-C kills."""
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
    """The experiment's points, their ids and label order."""

    def __init__(self, points: Sequence[Point], out_dir: Path, runner: str) -> None:
        self.points = [self._with_scenario(p) for p in points]
        self.out_dir, self.runner = out_dir, runner
        self.hashes = [config_hash(p.config) for p in self.points]
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

    @staticmethod
    def _with_scenario(point: Point) -> Point:
        if "scenario" in point.labels:
            return point
        name = (point.config.get("scenario") or {}).get("name", "default")
        return Point(point.config, {"scenario": name, **point.labels})

    def job(self, i: int, replicate: int) -> Job:
        p = self.points[i]
        return Job(
            point=i,
            replicate=replicate,
            run_id=run_id(p.config, replicate),
            config_hash=self.hashes[i],
            config=p.config,
            labels=p.labels,
            out_dir=str(self.out_dir),
            runner=self.runner,
        )

    def shard_ref(self, job: Job) -> ShardRef:
        key = tuple(_sortable(job.labels.get(k)) for k in self.label_keys) + ((1, job.replicate),)
        return ShardRef(job.run_id, job.replicate, job.labels, key)


def _failure_from_exception(job: Job, err: BaseException) -> Failure:
    return Failure(
        run_id=job.run_id,
        replicate=job.replicate,
        labels=job.labels,
        exception_type=f"{type(err).__module__}.{type(err).__qualname__}",
        message=_infra_message(err),
        traceback="".join(traceback.format_exception_only(err)),
        recorded=False,
    )


def _infra_message(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if isinstance(err, BrokenProcessPool):
        text += (
            " (a worker process died: out of memory, a crash in native code, or a script that "
            "calls run_experiment without an `if __name__ == '__main__':` guard)"
        )
    return text


def _run_jobs(
    jobs: Sequence[Job],
    store: ResultStore,
    executor: _LazyExecutor,
    tally: _Tally,
    bar: Progress,
    *,
    retry_failed: bool,
) -> None:
    """Skip complete jobs, run the rest (twice the parallelism in flight) and tally the outcomes.

    On KeyboardInterrupt: cancel queued jobs, let running ones finish (their shards count),
    then re-raise.
    """
    complete = store.completed()
    recorded = store.failures()
    todo: list[Job] = []
    already_failed = 0
    for job in jobs:
        if store.shard_path("runs", job.labels, job.run_id) in complete:
            tally.skipped += 1
            if job.run_id in recorded:  # a later success wins over a stale failure record
                store.failure_path(job.run_id).unlink(missing_ok=True)
        elif job.run_id in recorded and not retry_failed:
            tally.failures[job.run_id] = Failure.from_record(recorded[job.run_id])
            already_failed += 1
        else:
            tally.failures.pop(job.run_id, None)
            todo.append(job)
    tally.planned += len(jobs)
    bar.set_total(tally.planned)
    bar.skip(len(jobs) - len(todo) - already_failed)
    if already_failed:
        bar.advance(already_failed, failed=True)
    if not todo:
        return

    pending: dict[Future[JobOutcome], Job] = {}
    queue = iter(todo)

    def fill() -> None:
        while len(pending) < 2 * executor.parallelism():
            job = next(queue, None)
            if job is None:
                return
            try:
                pending[executor.get().submit(run_job, job)] = job
            except (RuntimeError, OSError) as err:  # a broken pool refuses new work
                _collect(job, None, err, tally, bar)

    try:
        fill()
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job = pending.pop(future)
                _collect_future(job, future, tally, bar)
            fill()
    except KeyboardInterrupt:
        executor.drain()
        for future, job in pending.items():
            if future.done() and not future.cancelled():
                _collect_future(job, future, tally, bar, quiet=True)
        raise


def _collect_future(
    job: Job, future: Future[JobOutcome], tally: _Tally, bar: Progress, quiet: bool = False
) -> None:
    try:
        outcome = future.result()
    except CancelledError:
        return
    except Exception as err:
        if not quiet:
            _collect(job, None, err, tally, bar)
        return
    _collect(job, outcome, None, tally, bar)


def _collect(
    job: Job, outcome: JobOutcome | None, err: BaseException | None, tally: _Tally, bar: Progress
) -> None:
    if outcome is not None and outcome.ok:
        tally.done += 1
        tally.job_seconds += outcome.seconds
        bar.advance()
        return
    if outcome is not None and outcome.error is not None:
        tally.job_seconds += outcome.seconds
        tally.failures[job.run_id] = Failure.from_record(outcome.error)
    else:
        tally.failures[job.run_id] = _failure_from_exception(job, err or RuntimeError("lost"))
    bar.advance(failed=True)


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
) -> ExperimentResult:
    """Run every point for ``replicates`` replicates (or until ``precision``), resumably.

    Args:
        points: the configurations, each with its label columns.
        out_dir: run directory (shards under ``out_dir/shards``, tables in ``out_dir``).
        replicates: replicates per point (ids ``0..replicates-1``); ignored with ``precision``.
        workers: parallel jobs (0 = all cores).
        executor: ``config["executor"]`` (``name``, ``address``, ``start_method``) or a name.
        retry_failed: rerun jobs with a failure record (else they are skipped and reported).
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

    Returns:
        Counts, failures, per-point replicate counts, table paths and timings.

    Raises:
        ConfigError: invalid execution settings (nothing is written then).
        Interrupted: Ctrl-C or SIGTERM; completed shards are kept and a rerun resumes.
    """
    start = time.perf_counter()
    spec = _validate(replicates, workers, executor, precision, min_replicates, max_replicates)
    plan = _Plan(points, Path(out_dir).resolve(), runner)
    store = ResultStore(plan.out_dir)
    store.prepare()
    tally = _Tally()
    lazy = _LazyExecutor(spec, workers, (__name__, *FORKSERVER_PRELOAD, _runner_module(runner)))
    bar = Progress(0, enabled=bool(progress), silent=progress is None)
    stopping = None
    try:
        with _sigterm_as_interrupt():
            run = functools.partial(
                _run_jobs,
                store=store,
                executor=lazy,
                tally=tally,
                bar=bar,
                retry_failed=retry_failed,
            )
            if precision is None:
                counts = [replicates] * len(plan.points)
                run([plan.job(i, r) for i in range(len(plan.points)) for r in range(replicates)])
            else:
                counts, stopping = _sequential(
                    plan,
                    store,
                    run,
                    tally,
                    precision,
                    min_replicates,
                    max_replicates,
                    precision_outcomes,
                    lookahead,
                    lambda: max(lazy.parallelism(), 2),
                )
    except KeyboardInterrupt:
        lazy.drain()
        bar.close()
        remaining = tally.planned - tally.done - tally.skipped - len(tally.failures)
        raise Interrupted(
            plan.out_dir, tally.done, tally.skipped, len(tally.failures), max(remaining, 0)
        ) from None
    finally:
        lazy.close()
        bar.close()

    compact_start = time.perf_counter()
    refs = [
        plan.shard_ref(job)
        for i, n in enumerate(counts)
        for job in (plan.job(i, r) for r in range(n))
        if job.run_id not in tally.failures
    ]
    tables = store.compact(refs)
    end = time.perf_counter()
    return ExperimentResult(
        out_dir=plan.out_dir,
        tables=tables,
        total=sum(counts),
        done=tally.done,
        skipped=tally.skipped,
        failures=sorted(tally.failures.values(), key=lambda f: (str(f.labels), f.replicate)),
        replicates=counts,
        stopping=stopping,
        timings={
            "wall_s": end - start,
            "compact_s": end - compact_start,
            "job_s_total": tally.job_seconds,
            "job_s_mean": tally.job_seconds / tally.done if tally.done else math.nan,
        },
    )


def _sequential(
    plan: _Plan,
    store: ResultStore,
    run: Callable[[list[Job]], None],
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
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    while any(d is None for d in decisions):
        open_points = [i for i in range(n_points) if decisions[i] is None]
        run([plan.job(i, r) for i in open_points for r in range(ran[i], target[i])])
        for i in open_points:
            ran[i] = target[i]
            jobs = [plan.job(i, r) for r in range(target[i])]
            if any(j.run_id in tally.failures for j in jobs):  # a hole: cannot judge this point
                decisions[i] = StoppingDecision(target[i], None, target[i], False, False)
                continue
            for j in jobs:
                if (i, j.replicate) not in rows:
                    rows[i, j.replicate] = store.read_run(j.labels, j.run_id)
            names = outcomes or _default_outcomes(rows[i, 0], plan.label_keys, numeric_outcomes)
            values = {o: [rows[i, r][o] for r in range(target[i])] for o in names}
            decision = sequential_decision(
                values, precision, min_replicates, max_replicates, lookahead
            )
            if decision.more:
                target[i] = min(max_replicates, target[i] + batch())
            else:
                decisions[i] = decision
    final = [d for d in decisions if d is not None]
    return [d.n_used if d.n_used is not None else d.n_available for d in final], final


def _default_outcomes(
    row: Mapping[str, Any], label_keys: Sequence[str], numeric: Callable[..., list[str]]
) -> list[str]:
    import pandas as pd

    return numeric(pd.DataFrame([row]), exclude=[*label_keys, "run_id"])


# ---------------------------------------------------------------------------------- from a config


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
