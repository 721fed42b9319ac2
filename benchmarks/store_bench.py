"""Results-store benchmark: files written, compaction time and peak memory at 10^4..10^6 replicates.

Why synthetic outputs: the question is how the store scales (files, time, memory), not how fast
the model is, so a stand-in runner (``synthetic_replicate``, a few tens of microseconds) returns
tables shaped like the model's -- a runs row of 24 outcomes, a monthly timeseries (12 rows x 6
columns) and a Poisson(8) number of incidents (7 columns) -- through the engine's real path:
tasks on a 2-worker process pool, results returned to the driver, journal, bundles, compaction.

Each size runs in a fresh process (``--one N``) so that peak memory is that size's alone. Reported
per size: the files the run wrote (bundle files and journal segments; the first store wrote three
files per replicate), the files left, wall and compaction seconds, the driver's peak RSS, and the
peak RSS of an out-of-core analysis of the compacted tables (``sim.engine.scan``: per-scenario
mean and CI of every outcome, monthly means across replicates) in another fresh process.

The acceptance ratio is peak driver memory at the largest size over that at the smallest, from
the same run of this script.

    uv run python benchmarks/store_bench.py                   # 10^4, 10^5, 10^6 (about 25 min)
    uv run python benchmarks/store_bench.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RUNNER = "store_bench:synthetic_replicate"
OUTCOMES = 24


class Output:
    """Same shape as ``sim.model.runner.ReplicateOutput``."""

    __slots__ = ("incidents", "run", "timeseries")

    def __init__(self, run: dict[str, Any], timeseries: dict, incidents: dict) -> None:
        self.run, self.timeseries, self.incidents = run, timeseries, incidents


_KINDS = np.array(["kidnapping", "ambush", "fake_checkpoint", "arson"])
_ZONES = np.array(["GAP", "PLAIN", "RIDGE"])


def synthetic_replicate(config: dict[str, Any], replicate: int) -> Output:
    """Deterministic stand-in outputs of one replicate (seeded by seed and replicate)."""
    rng = np.random.default_rng([int(config["seed"]), replicate])
    values = rng.poisson(5.0, OUTCOMES)
    run = {f"outcome_{i:02d}": int(v) for i, v in enumerate(values)}
    run["gap_control"] = float(rng.random())
    months = np.arange(12, dtype=np.int32)
    timeseries = {
        "month": months,
        "incidents": rng.poisson(3.0, 12).astype(np.int32),
        "tips": rng.poisson(10.0, 12).astype(np.int32),
        "fighters": rng.poisson(40.0, 12).astype(np.int32),
        "heat": rng.random(12),
        "gap_control": rng.random(12),
    }
    n = int(rng.poisson(8.0))
    incidents = {
        "day": np.sort(rng.integers(0, 365, n)).astype(np.int32),
        "t_hours": rng.uniform(0, 24, n),
        "x_km": rng.uniform(-5, 15, n),
        "y_km": rng.uniform(-20, 10, n),
        "zone": rng.choice(_ZONES, n),
        "type": rng.choice(_KINDS, n),
        "casualties": rng.poisson(0.5, n).astype(np.int32),
    }
    return Output(run, timeseries, incidents)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def one(n: int, out: Path) -> dict[str, Any]:
    """Run ``n`` synthetic replicates into ``out`` (this process is the driver)."""
    sys.path.insert(0, str(HERE))
    import pandas  # noqa: F401 - as in `gapsim run`, whose driver has pandas loaded already

    from sim.engine.experiment import Point, run_experiment

    config = {"seed": 1, "crn": True, "days": 365, "scenario": {"name": "bench"}, "model": {}}
    start = time.perf_counter()
    res = run_experiment([Point(config)], out, replicates=n, workers=2, progress=None,
                         runner=RUNNER)
    wall = time.perf_counter() - start
    assert res.ok and res.done == n, (res.done, res.failures[:1])
    return {
        "replicates": n,
        "bundles_written": res.store["bundles_written"],
        "journal_segments": res.store["journal_segments"],
        "files_written": res.store["files_written"] + res.store["journal_segments"] + 3,
        "files_left": _files(out),
        "wall_s": wall,
        "compact_s": res.timings["compact_s"],
        "driver_peak_mb": _peak_rss_mb(),
        "table_mb": sum((out / f"{t}.parquet").stat().st_size for t in ("runs", "timeseries",
                                                                         "incidents")) / 2**20,
    }


def analyse(out: Path) -> dict[str, Any]:
    """Out-of-core analysis of the compacted tables (this process alone)."""
    from sim.engine import scan

    start = time.perf_counter()
    summary = scan.summarise(out / "runs.parquet", by=["scenario"])
    monthly = scan.group_mean(out / "timeseries.parquet", by=["scenario", "month"],
                              columns=["incidents", "tips", "heat"])
    seconds = time.perf_counter() - start
    assert len(monthly) == 12 and int(summary["n"].max()) > 0
    return {"analysis_s": seconds, "analysis_peak_mb": _peak_rss_mb(),
            "n_checked": int(summary["n"].max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--analyse", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the run folders")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.out)))
        return
    if args.analyse:
        print(json.dumps(analyse(args.analyse)))
        return
    root = Path(tempfile.mkdtemp(prefix="gapsim-store-bench-"))
    rows = []
    try:
        for n in args.sizes:
            out = root / str(n)
            cmd = [sys.executable, __file__]
            row = json.loads(subprocess.run([*cmd, "--one", str(n), "--out", str(out)],
                                            check=True, capture_output=True, text=True).stdout)
            row.update(json.loads(subprocess.run([*cmd, "--analyse", str(out)], check=True,
                                                 capture_output=True, text=True).stdout))
            assert row["n_checked"] == n
            rows.append(row)
            print(json.dumps(row), flush=True)
            if not args.keep:
                shutil.rmtree(out)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print("| replicates | files written (bundles + journal) | files left | wall s | compaction s "
          "| driver peak MB | tables MB | analysis s | analysis peak MB | old store: files |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['replicates']:,} | {r['files_written']} ({r['bundles_written']} x 3 + "
              f"{r['journal_segments']} + 3 tables) | {r['files_left']} | {r['wall_s']:.0f} | "
              f"{r['compact_s']:.1f} | {r['driver_peak_mb']:.0f} | {r['table_mb']:.0f} | "
              f"{r['analysis_s']:.1f} | {r['analysis_peak_mb']:.0f} | {3 * r['replicates']:,} |")
    if len(rows) > 1:
        lo, hi = rows[0], rows[-1]
        print(f"\npeak driver memory {hi['replicates']:,} / {lo['replicates']:,}: "
              f"{hi['driver_peak_mb'] / lo['driver_peak_mb']:.2f} (target <= 1.5); analysis: "
              f"{hi['analysis_peak_mb'] / lo['analysis_peak_mb']:.2f}")
    print(f"cpus: {os.cpu_count()}, load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
