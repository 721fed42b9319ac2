"""Slurm executor: replicate batches as array jobs through ``submitit``.

Why: a Slurm cluster is where a million replicates fit; ``submitit`` (maintained) handles job
submission, array jobs and result files. Tasks queued by the engine between two ``flush`` calls
go out as one array job (``executor.batch()``), each task a batch of replicates of about
``task_minutes`` of work. Results come back through submitit's job folder (its only need for a
disk the nodes share); the run folder itself is written by the driver alone. ``cluster=local``
runs the same jobs as local processes, which is how the tests exercise this executor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Self

from sim.errors import ConfigError


class SubmititExecutor:
    """Tasks as submitit jobs, returned as ``concurrent.futures.Future`` objects.

    Args:
        workers: tasks that run at once (0: ``max_jobs``; locally: the jobs started at once).
        folder: submitit's job folder (pickled tasks, results, logs).
        options: ``cluster``, ``task_minutes``, ``max_jobs``, ``poll_s`` and submitit parameters.
    """

    def __init__(self, workers: int, folder: Path, options: Mapping[str, Any]) -> None:
        import submitit

        from sim.engine.executors import SLURM_OWN_OPTIONS

        opts = dict(options)
        cluster = opts.get("cluster") or "slurm"
        max_jobs = int(opts.get("max_jobs") or 256)
        self.task_seconds = 60.0 * float(opts.get("task_minutes") or 10)
        self._poll_s = float(opts.get("poll_s") or (1.0 if cluster != "slurm" else 15.0))
        params = {
            k: v for k, v in opts.items() if k not in SLURM_OWN_OPTIONS and v is not None
        }
        folder.mkdir(parents=True, exist_ok=True)
        self._executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        try:
            if params:
                self._executor.update_parameters(**params)
        except (TypeError, ValueError) as err:
            raise ConfigError("executor.options", sorted(params), str(err)) from None
        self.max_workers = workers or max_jobs
        # Locally every submitted job starts at once: keep only max_workers of them in flight.
        self.in_flight = self.max_workers if cluster != "slurm" else max(max_jobs, self.max_workers)
        self._queue: list[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self._jobs: dict[Future[Any], Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Queue ``fn(*args)``; it is submitted at the next ``flush``."""
        future: Future[Any] = Future()
        self._queue.append((future, fn, args))
        return future

    def flush(self) -> None:
        """Submit the queued tasks as one array job."""
        if not self._queue:
            return
        queued, self._queue = self._queue, []
        with self._executor.batch():
            jobs = [self._executor.submit(fn, *args) for _, fn, args in queued]
        with self._lock:
            for (future, _, _), job in zip(queued, jobs, strict=True):
                self._jobs[future] = job
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="gapsim-submitit", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        """Resolve futures as their jobs finish; cancel jobs whose futures were cancelled."""
        while not self._stop.wait(self._poll_s):
            with self._lock:
                items = list(self._jobs.items())
            for future, job in items:
                if future.cancelled():
                    job.cancel(check=False)
                elif job.done():
                    try:
                        result = job.result()
                    except Exception as err:  # the task raised, or the job died
                        future.set_exception(err)
                    else:
                        future.set_result(result)
                else:
                    continue
                with self._lock:
                    self._jobs.pop(future, None)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop polling; with ``cancel_futures`` cancel queued and unfinished jobs."""
        if cancel_futures:
            for future, _, _ in self._queue:
                future.cancel()
            self._queue.clear()
            with self._lock:
                items = list(self._jobs.items())
                self._jobs.clear()
            for future, job in items:
                future.cancel()
                job.cancel(check=False)
        self._stop.set()
        if self._poller is not None and wait:
            self._poller.join(timeout=2 * self._poll_s + 1)
        self._poller = None

    def terminate(self) -> None:
        """Cancel every job now."""
        self.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True, cancel_futures=True)
