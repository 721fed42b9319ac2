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

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sim.engine import compaction, lock
from sim.engine.bundles import BundleProblem
from sim.engine.dispatch import Dispatcher, LazyExecutor, Tally, sigterm_as_interrupt, store_error
from sim.engine.executors import check_workers, executor_spec
from sim.engine.identity import EXECUTION_ONLY as EXECUTION_ONLY
from sim.engine.identity import _runner_module, job_id
from sim.engine.identity import config_hash as config_hash
from sim.engine.identity import model_config as model_config
from sim.engine.identity import run_id as run_id
from sim.engine.plan import Plan
from sim.engine.progress import Progress
from sim.engine.results import ExperimentResult as ExperimentResult
from sim.engine.results import Failure as Failure
from sim.engine.results import Interrupted as Interrupted
from sim.engine.results import Point as Point
from sim.engine.store import ResultStore
from sim.errors import ConfigError, RunError

#: The model's entry point, ``module:function`` (imported lazily inside workers).
DEFAULT_RUNNER = "sim.model.runner:run_replicate"

#: Heavy imports a local forkserver performs once, so that every worker forks warm: pandas (pyarrow
#: imports it on the first array a worker builds) and Mesa (the model's framework), about 2 s per
#: process otherwise. The runner's own module is added too. Missing modules are skipped.
FORKSERVER_PRELOAD: tuple[str, ...] = ("pandas", "mesa")

#: How often compaction may find a damaged bundle, set it aside and recompute, before giving up.
COMPACTION_ATTEMPTS = 3


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
    on_start: Callable[[], None] | None = None,
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
        on_start: called once, in this thread, as soon as the first task has been handed to the
            executor (or, if there is nothing to compute, before compaction): the moment for a
            command to start side work (``gapsim run`` builds the terrain and draws its map in a
            thread then) without delaying the first job. Not called if the run stops earlier.

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
    plan = Plan(points, runner)
    folder = Path(out_dir).resolve()
    with lock.run_dir_lock(folder):
        store = ResultStore(folder, **dict(store_options or {}))
        try:
            return _run_locked(
                plan, store, spec, start,
                replicates=replicates, workers=workers, retry_failed=retry_failed,
                precision=precision, min_replicates=min_replicates,
                max_replicates=max_replicates, precision_outcomes=precision_outcomes,
                lookahead=lookahead, progress=progress, on_start=on_start,
            )
        finally:
            store.close()


def _run_locked(
    plan: Plan,
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
    on_start: Callable[[], None] | None = None,
) -> ExperimentResult:
    bar = Progress(0, enabled=bool(progress), silent=progress is None)
    try:
        store.open()
    except OSError as err:
        raise store_error(err, store) from None
    for i, h in enumerate(plan.hashes):
        store.describe(h, plan.describe(i))
    start_counts = [replicates if precision is None else min_replicates] * len(plan.points)
    store.notes += plan.stale_notes(store, start_counts)
    for note in store.notes:
        bar.note(note)
    preload = (__name__, *FORKSERVER_PRELOAD, _runner_module(plan.runner))
    lazy = LazyExecutor(spec, workers, preload, store.out_dir)
    tally = Tally()
    dispatcher = Dispatcher(plan, store, lazy, tally, bar, retry_failed=retry_failed,
                            on_start=on_start)
    stopping = None
    try:
        with sigterm_as_interrupt():
            if precision is None:
                counts = [replicates] * len(plan.points)
                dispatcher.run([(i, 0, replicates) for i in range(len(plan.points))])
            else:
                counts, stopping = _sequential(
                    plan, store, dispatcher, tally, precision, min_replicates, max_replicates,
                    precision_outcomes, lookahead, lambda: max(lazy.parallelism(), 2),
                )
            dispatcher.started()  # a fully resumed run hands out nothing
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
    plan: Plan,
    store: ResultStore,
    dispatcher: Dispatcher,
    tally: Tally,
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
            raise store_error(err, store) from None
    raise AssertionError("unreachable")


def _sequential(
    plan: Plan,
    store: ResultStore,
    dispatcher: Dispatcher,
    tally: Tally,
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

