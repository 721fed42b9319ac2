"""Parallel efficiency of the Monte Carlo engine: model speedup relative to a pure-CPU control.

Why a control: on a shared 2-core machine the best possible speedup of 2 workers over 1 is not 2.0
(other load, turbo, hyper-threading); a pure-Python busy loop of the same duration per task, run
through the very same ``run_experiment`` path (same executor, same shards), shows what the machine
allows. Efficiency = model speedup / control speedup; the target is >= 0.9. Every run starts a
fresh pool in a fresh output directory, so worker start-up and per-process caches (terrain, grid)
are included, as a user would see them.

Run::

    uv run python benchmarks/parallel_efficiency.py                # real model, 3 repeats
    uv run python benchmarks/parallel_efficiency.py --stub         # engine only (fake model)
    uv run python benchmarks/parallel_efficiency.py --replicates 12 --days 180 --repeats 5

It prints a table (min / median / max over repeats) and exits 0: it is a report, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine.experiment import DEFAULT_RUNNER, Point, run_experiment
from sim.rng import KeyedRandom, scenario_salt

#: This file's module name as workers import it (its directory is ``sys.path[0]`` for a script,
#: and forkserver/spawn workers inherit the parent's ``sys.path``).
MODULE = Path(__file__).stem


@dataclass
class Output:
    """Minimal ``ReplicateOutput`` look-alike for the stub and control runners."""

    run: dict[str, Any]
    timeseries: dict[str, np.ndarray] = field(default_factory=dict)
    incidents: dict[str, np.ndarray] = field(default_factory=dict)


def control_replicate(config: dict[str, Any], replicate: int) -> Output:
    """Pure-Python CPU work of a calibrated length (no numpy, no I/O, no shared state)."""
    acc = replicate
    for i in range(int(config["control_iterations"])):
        acc = (acc * 1103515245 + i) & 0x7FFFFFFF
    return Output(run={"acc": acc})


def stub_replicate(config: dict[str, Any], replicate: int) -> Output:
    """A fake model (numpy work proportional to ``days``) for engine-only measurements."""
    salt = 0 if config["crn"] else scenario_salt(config["scenario"]["name"])
    keyed = KeyedRandom(int(config["seed"]), replicate, salt)
    rng = keyed.generator("act")
    days = int(config["days"])
    total = 0.0
    for _ in range(days):
        total += float(np.sort(rng.random(20_000)).sum())
    daily = rng.poisson(1.0, days).astype(np.int32)
    return Output(
        run={"incidents": int(daily.sum()), "score": total},
        timeseries={"day": np.arange(days, dtype=np.int32), "incidents": daily},
    )


def warm_job_seconds(config: dict[str, Any], runner: str) -> float:
    """Seconds of one replicate in this process once per-process caches are warm."""
    from sim.engine.worker import resolve_runner

    run = resolve_runner(runner)
    run(config, 0)  # builds the per-process caches
    start = time.perf_counter()
    run(config, 1)
    return time.perf_counter() - start


def calibrate_iterations(seconds: float) -> int:
    """Loop iterations of ``control_replicate`` that take about ``seconds`` here."""
    n = 200_000
    start = time.perf_counter()
    control_replicate({"control_iterations": n}, 0)
    per_iteration = (time.perf_counter() - start) / n
    return max(1, int(seconds / per_iteration))


def model_config(args: argparse.Namespace) -> tuple[dict[str, Any], str, str]:
    """The benchmark's config, runner path and a description of what runs."""
    if not args.stub:
        try:
            from sim.config.load import compose_config
        except ImportError:
            print("sim.config.load.compose_config not available: using --stub", file=sys.stderr)
        else:
            config = compose_config([f"days={args.days}", *args.overrides])
            return config, DEFAULT_RUNNER, f"real model, days={args.days}"
    config = {
        "seed": 1,
        "crn": True,
        "days": args.days,
        "scenario": {"name": "stub"},
        "gap_width_km": 4.0,
        "coordination": "none",
        "model": {},
        "terrain": {},
    }
    return config, f"{MODULE}:stub_replicate", f"stub model, days={args.days}"


def timed_run(
    config: dict[str, Any], runner: str, replicates: int, workers: int
) -> tuple[float, float]:
    """Wall seconds of one fresh ``run_experiment`` and its mean seconds per job."""
    with tempfile.TemporaryDirectory(prefix="gapsim-bench-") as tmp:
        start = time.perf_counter()
        result = run_experiment(
            [Point(config)],
            tmp,
            replicates=replicates,
            workers=workers,
            progress=None,
            runner=runner,
        )
        wall = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"benchmark run failed: {result.failures[0].describe()}")
    return wall, result.timings["job_s_mean"]


def spread(values: list[float]) -> str:
    """``min / median / max`` of a list."""
    return f"{min(values):6.2f} / {statistics.median(values):6.2f} / {max(values):6.2f}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=12, help="replicates per run (12)")
    parser.add_argument("--days", type=int, default=365, help="simulated days per replicate (365)")
    parser.add_argument("--workers", type=int, default=2, help="parallel workers vs 1 (2)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (3)")
    parser.add_argument("--stub", action="store_true", help="fake model: measure the engine only")
    parser.add_argument("overrides", nargs="*", help="config overrides for the real model")
    args = parser.parse_args(argv)

    config, runner, what = model_config(args)
    w = args.workers
    print(f"{what}; {args.replicates} replicates; 1 vs {w} workers; {args.repeats} repeats")
    job_s = warm_job_seconds(config, runner)
    control = {
        "seed": 0,
        "scenario": {"name": "control"},
        "control_iterations": calibrate_iterations(job_s),
    }
    control_runner = f"{MODULE}:control_replicate"
    print(f"warm replicate {job_s:.2f} s; control task calibrated to the same length\n")

    rows: dict[str, list[float]] = {k: [] for k in ("m1", "mw", "c1", "cw", "ms", "cs", "eff")}
    for repeat in range(args.repeats):
        order = [("m", config, runner), ("c", control, control_runner)]
        if repeat % 2:
            order.reverse()
        for key, cfg, run in order:
            t1, _ = timed_run(cfg, run, args.replicates, 1)
            tw, _ = timed_run(cfg, run, args.replicates, w)
            rows[key + "1"].append(t1)
            rows[key + "w"].append(tw)
            rows[key + "s"].append(t1 / tw)
        rows["eff"].append(rows["ms"][-1] / rows["cs"][-1])

    print(f"{'':9} {'1 worker (s)':>24} {f'{w} workers (s)':>24} {'speedup':>24}")
    print(
        f"{'':9} {'min / median / max':>24} {'min / median / max':>24} {'min / median / max':>24}"
    )
    for name, key in (("model", "m"), ("control", "c")):
        print(
            f"{name:9} {spread(rows[key + '1']):>24} {spread(rows[key + 'w']):>24} "
            f"{spread(rows[key + 's']):>24}"
        )
    eff = statistics.median(rows["eff"])
    verdict = "met" if eff >= 0.9 else "MISSED"
    print(f"\nefficiency = model speedup / control speedup: {spread(rows['eff'])}")
    print(f"target median >= 0.90: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
