"""Dispatching: replicates that are not complete, batched into tasks, run, and collected.

Why: the executor-facing loop is where resume, batching, failures, interrupts and the cost
estimate meet. Work is handed out lazily -- tasks are cut from the replicates still to do as
executor slots free up, sized to about ``executor.task_seconds`` of measured work and at most
``TASK_BYTES`` of measured results -- so the first task starts after O(points + replicates /
BLOCK) numpy work, whatever the replicate count. Every result goes to the store (journal first)
before it is counted.
"""

from __future__ import annotations

import errno
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine.bundles import BLOCK
from sim.engine.cost import CostReporter
from sim.engine.executors import TASK_SECONDS, Executor, available_cpus, make_executor
from sim.engine.frames import FrameError
from sim.engine.identity import job_id
from sim.engine.plan import HORIZON_KEY, Plan
from sim.engine.progress import Progress
from sim.engine.results import Failure
from sim.engine.store import ResultStore
from sim.engine.worker import Probe, Task, TaskResult, probe, run_task
from sim.errors import RunError

#: A task's results are about this many bytes at most (once a result's size is measured): the
#: driver receives, journals and buffers them, so this bounds its memory on long horizons
#: (a 40,000-day replicate of the real model's series is megabytes).
TASK_BYTES = 8 * 2**20


@dataclass
class Tally:
    done: int = 0
    skipped: int = 0
    planned: int = 0
    failures: dict[str, Failure] = field(default_factory=dict)
    job_seconds: float = 0.0
    replicates_timed: int = 0


class LazyExecutor:
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
def sigterm_as_interrupt() -> Iterator[None]:
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


def store_error(err: OSError, store: ResultStore) -> RunError:
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


class Dispatcher:
    """Hands out tasks for wanted replicates, collects results into the store and the tally."""

    def __init__(
        self,
        plan: Plan,
        store: ResultStore,
        executor: LazyExecutor,
        tally: Tally,
        bar: Progress,
        *,
        retry_failed: bool,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self.plan, self.store, self.executor = plan, store, executor
        self.tally, self.bar, self.retry_failed = tally, bar, retry_failed
        self._on_start = on_start
        self.cost: CostReporter | None = None
        self._mean_s: float | None = None
        self._bytes: float | None = None  # measured result bytes per replicate
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
        if self._bytes is not None:
            size = min(size, int(TASK_BYTES / max(self._bytes, 1.0)))
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

    def started(self) -> None:
        """Call ``on_start`` once: after the first tasks are handed out, or when there are none."""
        callback, self._on_start = self._on_start, None
        if callback is not None:
            callback()

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
            self.started()
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
            raise store_error(err, self.store) from None
        self._flush()

    def _flush(self) -> None:
        try:
            self.store.flush()
        except OSError as err:
            raise store_error(err, self.store) from None

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
        if result.done and result.payload is not None:
            per = len(result.payload) / len(result.done)
            self._bytes = per if self._bytes is None else max(per, 0.8 * self._bytes + 0.2 * per)
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
