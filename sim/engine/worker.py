"""Worker side: run a task (a batch of replicates of one configuration) and return the results.

Why: the worker touches no file. It imports the runner named by dotted path (lazily, once per
process), runs each replicate, and returns the tables (Arrow IPC bytes, see ``frames``) and any
failures to the driver, which alone writes. That is what lets a Ray cluster or a Slurm array work
without a disk shared by every node, and lets tasks hold many cheap replicates (a task per
replicate costs about a millisecond in Ray; a batch of them costs one).

``probe`` times the runner on a few short horizons, for the cost estimate printed before a long
run (``cost.py``).
"""

from __future__ import annotations

import functools
import importlib
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sim.engine import frames
from sim.engine.identity import _runner_module, job_id


@dataclass(frozen=True)
class Task:
    """Replicates of one point, as shipped to a worker.

    Attributes:
        point: the point's index in the plan.
        point_hash: the point's identity (``identity.point_hash``); run ids derive from it.
        replicates: replicate ids, ascending, all within one block (see ``store.BLOCK``).
        config: the resolved config the runner receives.
        labels: label columns of every row.
        runner: ``module:function`` of the replicate entry point.
    """

    point: int
    point_hash: str
    replicates: tuple[int, ...]
    config: dict[str, Any]
    labels: dict[str, Any]
    runner: str


@dataclass
class TaskResult:
    """What a worker sends back.

    Attributes:
        point, point_hash: which point.
        done: replicate ids whose tables are in ``payload``.
        payload: ``frames.encode`` of the three tables (rows of ``done``), or None if none.
        failures: one record per replicate that raised (JSON-able dicts).
        seconds: wall seconds per replicate run (successes and failures, in task order).
        pid, host: where it ran.
    """

    point: int
    point_hash: str
    done: list[int]
    payload: bytes | None
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    pid: int = 0
    host: str = ""


@functools.cache
def resolve_runner(path: str) -> Callable[[dict[str, Any], int], Any]:
    """Import ``module:function`` (or ``module.function``) once per process."""
    name = path.partition(":")[2] if ":" in path else path.rpartition(".")[2]
    return getattr(importlib.import_module(_runner_module(path)), name)


def failure_record(task: Task, replicate: int, err: BaseException, tb: str) -> dict[str, Any]:
    """A JSON-able record of one replicate that raised."""
    return {
        "status": "failed",
        "run_id": job_id(task.point_hash, replicate),
        "point_hash": task.point_hash,
        "replicate": replicate,
        "labels": task.labels,
        "runner": task.runner,
        "exception_type": f"{type(err).__module__}.{type(err).__qualname__}",
        "message": str(err),
        "traceback": tb,
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }


def run_task(task: Task) -> TaskResult:
    """Run every replicate of a task; exceptions become failure records, never escape.

    ``KeyboardInterrupt`` and other ``BaseException`` pass through (the driver decides).
    """
    runner = resolve_runner(task.runner)
    items: list[tuple[int, str, Any]] = []
    failures: list[dict[str, Any]] = []
    seconds: list[float] = []
    for replicate in task.replicates:
        start = time.perf_counter()
        try:
            output = runner(task.config, replicate)
            rid = job_id(task.point_hash, replicate)
            if len(task.replicates) == 1:
                frames.replicate_tables(output, task.labels, replicate, rid)  # check it now
        except Exception as err:
            failures.append(failure_record(task, replicate, err, traceback.format_exc()))
        else:
            items.append((replicate, rid, output))
        seconds.append(time.perf_counter() - start)
    done = [r for r, _, _ in items]
    payload = None
    if items:
        try:
            payload = frames.encode(frames.task_tables(items, task.labels))
        except Exception:  # a replicate whose tables do not build or fit the others'
            payload, done, failures = _one_by_one(task, items, failures)
    return TaskResult(
        task.point,
        task.point_hash,
        done,
        payload,
        failures,
        seconds,
        os.getpid(),
        socket.gethostname(),
    )


def _one_by_one(
    task: Task, items: list[tuple[int, str, Any]], failures: list[dict[str, Any]]
) -> tuple[bytes | None, list[int], list[dict[str, Any]]]:
    """Build tables replicate by replicate, failing only those that do not build or combine."""
    good: list[tuple[int, str, Any]] = []
    for item in items:
        try:
            frames.replicate_tables(item[2], task.labels, item[0], item[1])
        except Exception as err:
            failures.append(failure_record(task, item[0], err, traceback.format_exc()))
        else:
            good.append(item)
    while good:
        try:
            return frames.encode(frames.task_tables(good, task.labels)), [r for r, _, _ in good], (
                failures)
        except Exception as err:  # types that cannot be combined: fail the last one, retry
            rep, _, _ = good.pop()
            failures.append(failure_record(task, rep, err, traceback.format_exc()))
    return None, [], failures


@dataclass(frozen=True)
class Probe:
    """Measured cost of one configuration: ``seconds = fixed_s + days * per_day_s`` (warm)."""

    fixed_s: float
    per_day_s: float
    days: tuple[int, ...]


def probe(
    runner: str,
    config: dict[str, Any],
    horizon_key: str,
    horizon: int,
    min_spread_s: float = 0.3,
    budget_s: float = 5.0,
) -> Probe:
    """Time the runner on growing horizons until the day-dependent part is measurable.

    A first one-day run warms the process (imports, terrain, caches) and is not used; then runs of
    1, 4, 16, ... days (never beyond ``horizon``) until the last takes ``min_spread_s`` longer
    than the one-day run or ``budget_s`` is spent. The slope is the cost of a model-day, the
    intercept the fixed cost of a replicate. Outputs are discarded.
    """
    fn = resolve_runner(runner)

    def timed(days: int) -> float:
        start = time.perf_counter()
        fn({**config, horizon_key: days}, 0)
        return time.perf_counter() - start

    began = time.perf_counter()
    timed(1)
    one = timed(1)
    days, last = 1, one
    while days < horizon and last - one < min_spread_s and time.perf_counter() - began < budget_s:
        days = min(days * 4, horizon)
        last = timed(days)
    if days == 1:
        return Probe(fixed_s=0.0, per_day_s=max(one, 0.0), days=(1,))
    per_day = max((last - one) / (days - 1), 0.0)
    return Probe(fixed_s=max(one - per_day, 0.0), per_day_s=per_day, days=(1, days))

