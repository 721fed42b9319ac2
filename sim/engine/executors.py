"""Executors: where replicates run, behind one ``concurrent.futures``-shaped seam.

Why: the orchestration (resume, failures, sequential stopping, progress) should not care whether
tasks run in local processes, on a Ray cluster or as Slurm array jobs. Every executor here offers
``submit(fn, *args) -> Future``, ``flush()`` (hand queued tasks over: Slurm submits them as one
array job), ``shutdown(wait=..., cancel_futures=...)``, ``terminate()`` and the context-manager
protocol, plus ``max_workers`` (tasks that run at once), ``in_flight`` (tasks the engine keeps
submitted) and ``task_seconds`` (how long a task should run: the engine batches replicates into
tasks of about that length). Tasks return their results; no executor needs a shared disk for the
results (Slurm's submitit needs one for its own job files).

* ``local``: a ``ProcessPoolExecutor`` on a ``forkserver`` (default) or ``spawn`` context -- never
  ``fork``, which can deadlock when the parent runs threads (Ray, tqdm). Worker processes are reused
  for many jobs (no ``max_tasks_per_child``), so per-process caches (terrain, grids) pay off, and
  they ignore SIGINT: the parent decides what happens on Ctrl-C.
* ``ray``: tasks via ``ray.remote``; connects to ``executor.address`` if given (checked with a plain
  TCP connect first, so a wrong address fails in seconds rather than hanging), else starts a local
  Ray. Ray is imported lazily and is an optional extra.
* ``slurm``: array jobs through ``submitit`` (the ``slurm`` extra); ``executor.options`` holds
  ``cluster`` (``slurm``, or ``local`` to run the same jobs as local processes, as the tests do),
  ``folder`` (submitit's job files, on a disk the nodes share; default ``<run dir>/.submitit``),
  ``task_minutes``, ``max_jobs``, and any submitit parameter (``slurm_partition``,
  ``timeout_min``, ``mem_gb``, ``slurm_array_parallelism``, ...).

Results never depend on the executor or worker count: each replicate's random streams depend only
on (seed, replicate, purpose).
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import multiprocessing.context
import os
import shutil
import signal
import socket
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol, Self

from sim.errors import ConfigError

EXECUTORS: tuple[str, ...] = ("local", "ray", "slurm")
START_METHODS: tuple[str, ...] = ("forkserver", "spawn")
RAY_MISSING = "executor=ray needs the ray extra: uv sync --extra ray"
SLURM_MISSING = "executor=slurm needs the slurm extra (submitit): uv sync --extra slurm"
#: Seconds allowed for reaching a Ray cluster's address.
CONNECT_TIMEOUT_S = 10.0
#: Target seconds per task for local processes and Ray (replicates are batched up to it).
TASK_SECONDS = 1.0
#: submitit settings the engine reads itself (everything else goes to ``update_parameters``).
SLURM_OWN_OPTIONS = ("cluster", "folder", "task_minutes", "max_jobs", "poll_s")


class Executor(Protocol):
    """The seam every executor implements (a subset of ``concurrent.futures.Executor``)."""

    max_workers: int
    in_flight: int
    task_seconds: float

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]: ...

    def flush(self) -> None: ...

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None: ...

    def terminate(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


def available_cpus() -> int:
    """CPUs this process may use (affinity-aware where the platform tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def executor_spec(executor: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """Normalise and validate an executor spec (``config["executor"]`` or just a name).

    Raises:
        ConfigError: unknown name or start method, ``ray`` without the ray extra installed, or a
            Ray address where nothing listens (checked with a TCP connect, in seconds).
    """
    if executor is None:
        spec: dict[str, Any] = {}
    elif isinstance(executor, str):
        spec = {"name": executor}
    else:
        spec = dict(executor)
    spec.setdefault("name", "local")
    spec.setdefault("address", None)
    spec.setdefault("start_method", "forkserver")
    spec["options"] = dict(spec.get("options") or {})
    if spec["name"] not in EXECUTORS:
        raise ConfigError("executor", spec["name"], f"one of: {', '.join(EXECUTORS)}")
    if spec["start_method"] not in START_METHODS:
        raise ConfigError(
            "executor.start_method", spec["start_method"], f"one of: {', '.join(START_METHODS)}"
        )
    if spec["name"] == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError("executor", "ray", RAY_MISSING)
    if spec["name"] == "ray" and spec["address"]:
        _check_reachable(str(spec["address"]))
    if spec["name"] == "slurm":
        if importlib.util.find_spec("submitit") is None:
            raise ConfigError("executor", "slurm", SLURM_MISSING)
        cluster = spec["options"].get("cluster", "slurm")
        if cluster not in ("slurm", "local", "debug"):
            raise ConfigError("executor.options.cluster", cluster, "slurm, local or debug")
        if cluster == "slurm" and shutil.which("sbatch") is None:
            raise ConfigError(
                "executor", "slurm",
                "no Slurm here (sbatch not found); run on a cluster's login node, or set "
                "executor.options.cluster=local to run the same array jobs as local processes",
            )
        for key in ("task_minutes", "poll_s"):
            value = spec["options"].get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
            ):
                raise ConfigError(f"executor.options.{key}", value, "a number > 0")
        value = spec["options"].get("max_jobs")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError("executor.options.max_jobs", value, "an integer >= 1")
    return spec


def check_workers(workers: int) -> int:
    """Validate ``workers`` (0 = all cores) and return the effective count for local runs."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError("workers", workers, "an integer >= 0 (0 = all cores)")
    return workers or available_cpus()


def make_executor(
    executor: Mapping[str, Any] | str | None,
    workers: int,
    preload: Sequence[str] = (),
    run_dir: Path | None = None,
) -> Executor:
    """Build the executor a spec names.

    Args:
        executor: ``{"name": "local"|"ray"|"slurm", "address": ..., "start_method": ...,
            "options": {...}}`` or a name.
        workers: parallel tasks (0 = all cores, all of the Ray cluster's CPUs, or ``max_jobs``).
        preload: modules a forkserver imports once, before forking workers (local only).
        run_dir: the run folder (Slurm's default job folder lies under it).
    """
    spec = executor_spec(executor)
    if spec["name"] == "ray":
        return RayExecutor(workers=workers, address=spec["address"])
    if spec["name"] == "slurm":
        from sim.engine.slurm import SubmititExecutor

        folder = spec["options"].get("folder") or (run_dir or Path.cwd()) / ".submitit"
        return SubmititExecutor(workers=workers, folder=Path(folder), options=spec["options"])
    return LocalExecutor(workers=workers, start_method=spec["start_method"], preload=preload)


def _ignore_sigint() -> None:
    """Pool-worker initializer: Ctrl-C is the parent's to handle (it drains or terminates us)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalExecutor:
    """A process pool on a forkserver/spawn context whose workers are reused across jobs.

    With ``forkserver``, the modules in ``preload`` are imported once in the server process and
    every worker forks from it already warm (imports are paid once per run, not once per worker).
    The preload list only takes effect when this process starts its forkserver (first pool).

    Args:
        workers: worker processes (0 = all cores).
        start_method: ``"forkserver"`` or ``"spawn"``.
        preload: modules for the forkserver to import (import errors there are ignored).
    """

    def __init__(
        self, workers: int = 0, start_method: str = "forkserver", preload: Sequence[str] = ()
    ) -> None:
        self.max_workers = check_workers(workers)
        self.in_flight = 2 * self.max_workers
        self.task_seconds = TASK_SECONDS
        context = multiprocessing.get_context(start_method)
        if preload and isinstance(context, multiprocessing.context.ForkServerContext):
            context.set_forkserver_preload(list(preload))
        self._pool = ProcessPoolExecutor(
            max_workers=self.max_workers, mp_context=context, initializer=_ignore_sigint
        )

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Schedule ``fn(*args)`` in a worker process."""
        return self._pool.submit(fn, *args)

    def flush(self) -> None:
        """Nothing to do: submitted tasks are already queued."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting jobs; optionally cancel queued ones and wait for running ones."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def terminate(self) -> None:
        """Kill the worker processes now (second Ctrl-C); their unfinished shards stay temporary."""
        processes = getattr(self._pool, "_processes", None) or {}
        for proc in list(processes.values()):
            proc.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True, cancel_futures=True)


def _parse_address(address: str) -> tuple[str, int] | None:
    """``host:port`` of a Ray address (``ray://host:port`` or ``host:port``); None for ``auto``."""
    if address == "auto" or address.startswith("local"):
        return None
    rest = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError("executor.address", address, "host:port or ray://host:port or auto")
    return host.strip("[]"), int(port)


def _check_reachable(address: str) -> None:
    """Fail fast, with the address in one line, if nothing listens there."""
    hostport = _parse_address(address)
    if hostport is None:
        return
    try:
        with socket.create_connection(hostport, timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        raise ConfigError(
            "executor.address",
            address,
            f"no Ray cluster reachable there ({err.__class__.__name__}: {err}); "
            "start one with `ray start --head` or leave executor.address empty for a local Ray",
        ) from None


def _apply(fn: Callable[..., Any], *args: Any) -> Any:
    """Ray task body: call ``fn`` (any picklable callable, builtins included)."""
    return fn(*args)


class RayExecutor:
    """Jobs as Ray tasks, returned as ``concurrent.futures.Future`` objects.

    Reuses a Ray session that is already initialised (and then leaves it running); otherwise
    connects to ``address`` or starts a local Ray, and shuts it down on exit.

    Args:
        workers: parallel tasks (0 = all CPUs Ray reports).
        address: an existing cluster's address, or None for a local Ray.
    """

    def __init__(self, workers: int = 0, address: str | None = None) -> None:
        # Under `uv run`, Ray would otherwise ship the project to every worker and rebuild its
        # environment with `uv run` (minutes); a local Ray shares this very environment, and the
        # nodes of a cluster run the same installed project (README: cluster recipe). Set the
        # variable to 1 to have Ray build the environment on each node instead.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            import ray
        except ImportError:
            raise ConfigError("executor", "ray", RAY_MISSING) from None
        self._ray = ray
        self._owns_session = False
        if not ray.is_initialized():
            self._init(address, workers)
            self._owns_session = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.max_workers = min(workers, cpus) if workers else cpus
        self.in_flight = 2 * self.max_workers
        self.task_seconds = TASK_SECONDS
        self._apply: Any = None
        self._refs: dict[Future[Any], Any] = {}

    def _init(self, address: str | None, workers: int) -> None:
        ray = self._ray
        if address:
            _check_reachable(address)
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, TimeoutError, ValueError) as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise ConfigError(
                    "executor.address", address, f"cannot join Ray: {first}"
                ) from None
        else:
            ray.init(num_cpus=workers or None, include_dashboard=False, log_to_driver=False)

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` as a Ray task (one CPU each)."""
        if self._apply is None:
            self._apply = self._ray.remote(num_cpus=1)(_apply)
        ref = self._apply.remote(fn, *args)
        future: Future[Any] = ref.future()
        self._refs[future] = ref
        future.add_done_callback(lambda f: self._refs.pop(f, None))
        return future

    def flush(self) -> None:
        """Nothing to do: submitted tasks are already scheduled."""

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Cancel unfinished tasks if asked; shut Ray down if this executor started it."""
        if cancel_futures:
            for ref in list(self._refs.values()):
                self._ray.cancel(ref, force=False)
            self._refs.clear()
        if self._owns_session and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns_session = False

    def terminate(self) -> None:
        """Force-cancel every unfinished task, then shut down."""
        for ref in list(self._refs.values()):
            self._ray.cancel(ref, force=True)
        self._refs.clear()
        self.shutdown(wait=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True, cancel_futures=True)
