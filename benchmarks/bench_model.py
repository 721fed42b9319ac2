"""Performance benchmark of gapsim: every figure is a ratio against a reference timed in the same run.

Why ratios: the machine this runs on is shared and noisy (2 cores), so absolute seconds drift from
run to run by tens of percent. Each target compares two timings taken side by side, in alternating
order within every repeat, and is reported as min / median / max over the repeats; a target counts
as met when the median meets it.

Run::

    uv run python benchmarks/bench_model.py            # full: 3 repeats, one simulated year
    uv run python benchmarks/bench_model.py --quick    # smoke version, about a minute
    uv run python benchmarks/bench_model.py --repeats 5 --only 1,3

Sections (``--only`` takes their numbers):

1. one simulated year (one replicate, in process, construction excluded) / 100 steps of Mesa's
   Epstein civil-violence example at its defaults. Target <= 0.5 (stretch 0.25).
2. model construction / one year's run: warm (terrain, grid and posture cached) in process, and
   cold (first construction in a fresh process) in a subprocess. Target (warm) <= 0.10.
3. the year's cost at 2x and 4x the agents and at 2x the map area (cell count), against 1x.
   Target (2x agents) <= 2.3.
4. wall time with 2 workers / 1 worker for N replicates through ``run_experiment``, beside the
   same ratio for a pure-CPU control task through the same executor; efficiency = model speedup /
   control speedup. Target >= 0.9. Also a load-robust reading: the growth of CPU seconds per warm
   job at 2 workers, model against control (other processes' load hardly moves CPU time).
5. peak RSS of the whole process tree (parent, forkserver, workers) of a 200-replicate run / a
   10-replicate run through ``run_experiment`` (short days). Target <= 1.2.
6. where one year's time goes: stage timers (low overhead) and cProfile, grouped by submodel.

The script exits 0 whatever the results: it is a report, not a test. Missed targets are listed at
the end. In ``--quick`` mode runs are shorter (a fifth of a year against 20 Epstein steps, so the
ratio keeps its meaning), there are fewer replicates and one repeat; its numbers are a smoke check.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import io
import json
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):  # the control runner is imported as ``bench_model`` in workers
    if _p not in sys.path:
        sys.path.insert(0, _p)

#: Overrides scaling every agent kind: villagers (people_per_agent, cap per settlement), fighters,
#: patrols, and posts/checkpoints (their spacing), so ``len(model.agents)`` doubles / quadruples.
SCALES: dict[str, list[str]] = {
    "1x": [],
    "2x agents": [
        "model.people_per_agent=30",
        "model.max_agents_per_settlement=80",
        "model.n_fighters=200",
        "model.patrols_pesh=6",
        "model.patrols_ia=8",
        "model.patrols_pmf=4",
        "model.pesh_post_spacing_km=1.0",
        "model.checkpoint_spacing_km=2.5",
    ],
    "4x agents": [
        "model.people_per_agent=15",
        "model.max_agents_per_settlement=160",
        "model.n_fighters=400",
        "model.patrols_pesh=12",
        "model.patrols_ia=16",
        "model.patrols_pmf=8",
        "model.pesh_post_spacing_km=0.5",
        "model.checkpoint_spacing_km=1.25",
    ],
    # x from -22..28 km (50 km) to -72..28 km (100 km): 400 x 260 cells instead of 200 x 260.
    "2x area": ["terrain.x_min_km=-72"],
}

#: Other processes' average load (cores) above which a section's figures are flagged as noisy.
BUSY_CORES = 0.3

LOCAL_EXECUTOR = {"name": "local", "address": None, "start_method": "forkserver"}
CONTROL_RUNNER = "bench_model:cpu_control"
#: The model's own runner wrapped only to record each job's CPU seconds in its runs row.
MODEL_RUNNER = "bench_model:model_cpu"


# ------------------------------------------------------------------------------------ utilities


@dataclass
class Stat:
    """Min / median / max of repeated measurements."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(float(value))

    @property
    def ok(self) -> bool:
        return bool(self.values)

    @property
    def min(self) -> float:
        return min(self.values) if self.values else math.nan

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else math.nan

    @property
    def max(self) -> float:
        return max(self.values) if self.values else math.nan

    def fmt(self, digits: int = 3) -> str:
        if not self.values:
            return "n/a"
        return f"{self.min:.{digits}f} / {self.median:.{digits}f} / {self.max:.{digits}f}"


@dataclass
class Row:
    """One line of the final table."""

    metric: str
    stat: Stat
    target: str = "-"
    check: Callable[[float], bool] | None = None
    stretch: Callable[[float], bool] | None = None
    note: str = ""

    def met(self) -> str:
        if self.check is None:
            return "-"
        if not self.stat.ok:
            return "ERROR"
        if not self.check(self.stat.median):
            return "NO"
        if self.stretch is not None and self.stretch(self.stat.median):
            return "yes (stretch)"
        return "yes"


def say(text: str = "") -> None:
    print(text, flush=True)


def header(title: str) -> None:
    say()
    say(f"== {title} " + "=" * max(0, 88 - len(title)))


def compose(days: int, extra: Sequence[str] = ()) -> dict[str, Any]:
    from sim.config.load import compose_config

    return compose_config([f"days={days}", *extra])


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def agent_counts(model: Any) -> dict[str, int]:
    """Agent counts of a freshly built model (before any step)."""
    return {
        "agents": len(model.agents),
        "villagers": int(model.villagers.n),
        "fighters": int(sum(c.fighters for c in model.cells())),
        "insurgent_cells": len(model.cells()),
        "patrols": len(model.forces.patrols),
        "posts": len(model.forces.posts),
        "grid_cells": int(model.terrain.width * model.terrain.height),
    }


def run_year(cfg: dict[str, Any], replicate: int = 0) -> tuple[float, float, Any]:
    """(warm construction s, run s, model) for one replicate in this process."""
    from sim.model.runner import build_model

    t_build, model = timed(lambda: build_model(cfg, replicate))
    t_run, _ = timed(model.run)
    return t_build, t_run, model


def epstein_steps(steps: int) -> float:
    """Seconds for ``steps`` steps of Mesa's Epstein example at its defaults (construction excluded)."""
    from mesa.examples.advanced.epstein_civil_violence.model import (
        EpsteinCivilViolence,
        EpsteinScenario,
    )

    model = EpsteinCivilViolence(scenario=EpsteinScenario(rng=42))
    start = time.perf_counter()
    for _ in range(steps):
        model.step()
    return time.perf_counter() - start


def machine_info() -> dict[str, str]:
    info = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cores (os.cpu_count)": str(os.cpu_count()),
    }
    with contextlib.suppress(AttributeError):
        info["cores usable (affinity)"] = str(len(os.sched_getaffinity(0)))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "sim"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if head:
            info["code"] = f"git {head}" + (" + uncommitted changes under sim/" if dirty else "")
    except OSError:
        pass
    try:
        import numpy as np

        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy"] = f"{np.__version__} (BLAS: {blas.get('name')} {blas.get('version', '')})"
    except Exception:  # noqa: BLE001 - optional detail
        pass
    try:
        import mesa

        info["mesa"] = mesa.__version__
    except Exception:  # noqa: BLE001
        pass
    try:
        import psutil

        info["memory"] = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        pass
    return info


class ForeignLoad:
    """How many cores other processes (not this one or its descendants) kept busy meanwhile.

    Busy CPU time of the whole machine (``/proc/stat``, steal included) minus the CPU time of this
    process tree (sampled with psutil every 0.2 s, so that pool workers are counted before they
    exit), divided by the wall time. Without psutil or /proc it reports NaN.
    """

    def __init__(self) -> None:
        self.cores = math.nan
        self._stop = threading.Event()
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}

    @staticmethod
    def _busy_s() -> float:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        v = [int(x) for x in fields]
        busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
        return busy / os.sysconf("SC_CLK_TCK")

    def _sample(self, first: bool = False) -> None:
        import psutil

        me = psutil.Process()
        try:
            procs = [me, *me.children(recursive=True)]
        except psutil.Error:
            return
        for p in procs:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            value = t.user + t.system
            if first:
                self._base[p.pid] = value
            self._base.setdefault(p.pid, 0.0)
            self._last[p.pid] = value

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def __enter__(self) -> ForeignLoad:
        try:
            import psutil  # noqa: F401

            self._t0, self._busy0 = time.perf_counter(), self._busy_s()
            self._sample(first=True)
        except (ImportError, OSError, ValueError):
            self._thread = None
            return self
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._sample()
        wall = time.perf_counter() - self._t0
        own = sum(self._last[pid] - self._base[pid] for pid in self._last)
        self.cores = max(0.0, (self._busy_s() - self._busy0 - own) / wall) if wall > 0 else math.nan


def load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# ----------------------------------------------------------------------- section 1 and 2: a year


def section_year(args: argparse.Namespace, rows: list[Row], state: dict[str, Any]) -> None:
    header(
        f"1/2. one {'year' if not args.quick else f'{args.days}-day run'} vs Epstein; "
        "construction vs run"
    )
    cfg = compose(args.days)
    state["cfg"] = cfg
    steps = args.epstein_steps
    # Warm-up: terrain, grid and posture caches, imports, the Epstein module.
    run_year(cfg, 0)
    epstein_steps(2)

    # In --quick mode the run is a fraction of a year: construction is compared with the run
    # scaled up to a year (construction is a fixed cost, the run grows with the days).
    per_year = 365.0 / args.days
    ratio, warm_ratio = Stat(), Stat()
    runs, builds, eps = Stat(), Stat(), Stat()
    for r in range(args.repeats):
        order = ("model", "epstein") if r % 2 == 0 else ("epstein", "model")
        t_model = t_build = t_eps = math.nan
        for what in order:
            if what == "model":
                t_build, t_model, model = run_year(cfg, 0)
                del model
            else:
                t_eps = epstein_steps(steps)
        runs.add(t_model)
        builds.add(t_build)
        eps.add(t_eps)
        ratio.add(t_model / t_eps)
        warm_ratio.add(t_build / (t_model * per_year))
        say(
            f"  repeat {r + 1}: run {t_model:.3f} s, Epstein {steps} steps {t_eps:.3f} s -> "
            f"{t_model / t_eps:.3f};  warm construction {t_build * 1000:.1f} ms -> "
            f"{t_build / (t_model * per_year):.4f}"
        )
    say(f"  agents at construction: {agent_counts_after_build(cfg)}")
    state["run_s"] = runs.median
    state["build_s"] = builds.median
    quick_note = f" (quick: {args.days} days vs {steps} steps)" if args.quick else ""
    rows.append(
        Row(
            f"1. year / Epstein 100 steps{quick_note}",
            ratio,
            "<= 0.5 (stretch 0.25)",
            lambda v: v <= 0.5,
            lambda v: v <= 0.25,
            f"run {runs.median:.3f} s, Epstein {eps.median:.3f} s (medians)",
        )
    )
    scaled = " (quick: run x365/days)" if args.quick else ""
    rows.append(
        Row(
            f"2. warm construction / year{scaled}",
            warm_ratio,
            "<= 0.10",
            lambda v: v <= 0.10,
            note=f"construction {builds.median * 1000:.1f} ms",
        )
    )

    # Cold construction: first build in a fresh process (terrain, Mesa grid, posture built).
    cold_ratio, cold_build, imports = Stat(), Stat(), Stat()
    for r in range(args.cold_repeats):
        out = child_json(["--_child", "cold", "--days", str(args.days)])
        if out is None:
            continue
        cold_build.add(out["cold_build_s"])
        imports.add(out["import_compose_s"])
        cold = out["cold_build_s"] / (out["run_s"] * per_year)
        cold_ratio.add(cold)
        say(
            f"  cold process {r + 1}: imports+compose {out['import_compose_s']:.2f} s, "
            f"cold construction {out['cold_build_s']:.2f} s, then warm "
            f"{out['warm_build_s'] * 1000:.1f} ms, run {out['run_s']:.3f} s -> cold/year {cold:.2f}"
        )
    rows.append(
        Row(
            f"2. cold construction / year{scaled}",
            cold_ratio,
            "info",
            note=f"cold build {cold_build.median:.2f} s; imports+compose "
            f"{imports.median:.2f} s not included",
        )
    )


def agent_counts_after_build(cfg: dict[str, Any]) -> dict[str, int]:
    from sim.model.runner import build_model

    return agent_counts(build_model(cfg, 0))


def child_cold(args: argparse.Namespace) -> dict[str, Any]:
    """In a fresh process: imports + compose, cold construction, warm construction, one run."""
    start = time.perf_counter()
    import sim.model.model  # noqa: F401 - Mesa, pandas, networkx (build_model imports lazily)
    import sim.terrain.builder  # noqa: F401
    from sim.model.runner import build_model

    cfg = compose(args.days)
    t_imports = time.perf_counter() - start
    t_cold, _ = timed(lambda: build_model(cfg, 0))
    t_warm, model = timed(lambda: build_model(cfg, 0))
    t_run, _ = timed(model.run)
    return {
        "import_compose_s": t_imports,
        "cold_build_s": t_cold,
        "warm_build_s": t_warm,
        "run_s": t_run,
    }


def child_json(argv: Sequence[str], timeout: float = 1800) -> dict[str, Any] | None:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    say(f"  child {' '.join(argv)} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return None


# ----------------------------------------------------------------------------- section 3: scaling


def section_scaling(args: argparse.Namespace, rows: list[Row], state: dict[str, Any]) -> None:
    header("3. scaling: the year's cost at 2x / 4x agents and 2x map area, against 1x")
    from sim.model.runner import build_model

    cfgs = {name: compose(args.days, extra) for name, extra in SCALES.items()}
    counts = {}
    for name, cfg in cfgs.items():  # warm-up: terrain (the larger map is new), posture
        counts[name] = agent_counts(build_model(cfg, 0))
    base = counts["1x"]
    say(
        f"  {'config':<10} {'agents':>7} {'villagers':>9} {'fighters':>8} {'cells':>6} "
        f"{'patrols':>7} {'posts':>6} {'grid cells':>10}  overrides"
    )
    for name, c in counts.items():
        say(
            f"  {name:<10} {c['agents']:>7} {c['villagers']:>9} {c['fighters']:>8} "
            f"{c['insurgent_cells']:>6} {c['patrols']:>7} {c['posts']:>6} {c['grid_cells']:>10}  "
            f"{' '.join(SCALES[name]) or '(defaults)'}"
        )
    for name, c in counts.items():
        if name != "1x":
            say(
                f"  {name}: agents x{c['agents'] / base['agents']:.2f}, "
                f"grid cells x{c['grid_cells'] / base['grid_cells']:.2f}"
            )

    stats = {name: Stat() for name in cfgs if name != "1x"}
    names = list(cfgs)
    for r in range(args.repeats):
        order = names if r % 2 == 0 else names[::-1]
        t = {}
        for name in order:
            _, t[name], _ = run_year(cfgs[name], 0)
        line = ", ".join(f"{n} {t[n]:.3f} s" for n in names)
        say(f"  repeat {r + 1}: {line}")
        for name in stats:
            stats[name].add(t[name] / t["1x"])
    for name, st in stats.items():
        c = counts[name]
        what = (
            f"agents {base['agents']}->{c['agents']}"
            if "agents" in name
            else f"cells {base['grid_cells']}->{c['grid_cells']}"
        )
        if name == "2x agents":
            rows.append(Row(f"3. year at {name} / 1x", st, "<= 2.3", lambda v: v <= 2.3, note=what))
        else:
            rows.append(Row(f"3. year at {name} / 1x", st, "info", note=what))


# ----------------------------------------------------------------------------- section 4: workers


_JOBS_IN_PROCESS = 0


def _nth_job() -> int:
    """1 for the first job a worker process runs (cold caches and imports), then 2, 3, ..."""
    global _JOBS_IN_PROCESS
    _JOBS_IN_PROCESS += 1
    return _JOBS_IN_PROCESS


def cpu_control(config: dict[str, Any], replicate: int) -> Any:
    """The pure-CPU control job: an integer loop of ``config["control_iterations"]`` steps.

    Same shape of output as the model's runner (tiny tables), so it goes through the same executor,
    job wrapper and result store; only the work itself differs.
    """
    import numpy as np

    from sim.model.runner import ReplicateOutput

    cpu0 = time.process_time()
    acc = replicate
    for i in range(int(config["control_iterations"])):
        acc = (acc * 1103515245 + 12345 + i) & 0xFFFFFFFF
    return ReplicateOutput(
        run={"acc": int(acc), "bench_cpu_s": time.process_time() - cpu0, "bench_nth": _nth_job()},
        timeseries={"day": np.zeros(1, dtype=np.int32)},
        incidents={"day": np.zeros(0, dtype=np.int64)},
    )


def model_cpu(config: dict[str, Any], replicate: int) -> Any:
    """``sim.model.runner.run_replicate`` plus the job's CPU seconds (``bench_cpu_s``).

    CPU time, unlike wall time, hardly moves when other processes take turns on the cores; it still
    grows with contention for shared caches, memory bandwidth or SMT siblings, which is what
    limits a 2-worker speedup on an otherwise idle machine.
    """
    from sim.model.runner import run_replicate

    cpu0 = time.process_time()
    out = run_replicate(config, replicate)
    out.run["bench_cpu_s"] = time.process_time() - cpu0
    out.run["bench_nth"] = _nth_job()
    return out


def calibrate_control(seconds: float) -> int:
    """Loop iterations taking about ``seconds`` here (median of three short timings)."""
    probe = 300_000
    cfg = {"control_iterations": probe}
    rates = []
    for _ in range(3):
        t, _ = timed(lambda: cpu_control(cfg, 0))
        rates.append(probe / t)
    return max(1000, int(statistics.median(rates) * seconds))


def experiment_wall(
    points: list[Any], replicates: int, workers: int, runner: str | None = None
) -> tuple[float, dict[str, float]]:
    from sim.engine.experiment import run_experiment

    kwargs = {"runner": runner} if runner else {}
    with (
        tempfile.TemporaryDirectory(prefix="gapsim-bench-") as tmp,
        contextlib.redirect_stderr(io.StringIO()),
    ):  # the engine's progress log lines
        start = time.perf_counter()
        result = run_experiment(
            points,
            Path(tmp) / "run",
            replicates=replicates,
            workers=workers,
            executor=dict(LOCAL_EXECUTOR),
            progress=False,
            **kwargs,
        )
        wall = time.perf_counter() - start
        timings = dict(result.timings)
        if result.ok and "runs" in result.tables:
            import pyarrow.parquet as pq

            runs = pq.read_table(result.tables["runs"])
            if "bench_cpu_s" in runs.column_names:
                cpu = runs.column("bench_cpu_s").to_pylist()
                nth = runs.column("bench_nth").to_pylist()
                warm = [c for c, k in zip(cpu, nth, strict=True) if k > 1] or cpu
                cold = [c for c, k in zip(cpu, nth, strict=True) if k == 1] or [math.nan]
                timings["cpu_s_mean"] = sum(warm) / len(warm)  # warm jobs only
                timings["cpu_s_cold"] = sum(cold) / len(cold)  # each worker's first job
    if not result.ok:
        raise RuntimeError(f"{result.failed} jobs failed: {result.failures[0].describe()}")
    return wall, timings


def section_parallel(args: argparse.Namespace, rows: list[Row], state: dict[str, Any]) -> None:
    n = args.parallel_replicates
    header(f"4. parallel efficiency: {n} replicates, 2 workers vs 1, through run_experiment")
    from sim.engine.experiment import Point
    from sim.model.runner import run_replicate

    cfg = state.get("cfg") or compose(args.days)
    run_replicate(cfg, 0)  # warm caches for the calibration timing below
    t_job, _ = timed(lambda: run_replicate(cfg, 0))
    iters = calibrate_control(t_job)
    say(
        f"  one replicate in process: {t_job:.3f} s; control job calibrated to the same: "
        f"{iters:,} loop iterations"
    )
    model_points = [Point(cfg, {"scenario": "bench"})]
    control_points = [Point({"control_iterations": iters, "seed": 0}, {"scenario": "control"})]

    m_ratio, c_ratio, m_speed, c_speed, eff = Stat(), Stat(), Stat(), Stat(), Stat()
    m_job, c_job, busy = Stat(), Stat(), Stat()
    m_cpu, c_cpu, cpu_eff = Stat(), Stat(), Stat()
    for r in range(args.repeats):
        order = [("model", 1), ("control", 1), ("model", 2), ("control", 2)]
        if r % 2:
            order = order[::-1]
        wall: dict[tuple[str, int], float] = {}
        extra: dict[tuple[str, int], dict[str, float]] = {}
        foreign: dict[tuple[str, int], float] = {}
        for what, w in order:
            pts, runner = (
                (model_points, MODEL_RUNNER)
                if what == "model"
                else (control_points, CONTROL_RUNNER)
            )
            with ForeignLoad() as load:
                wall[what, w], extra[what, w] = experiment_wall(pts, n, w, runner)
            foreign[what, w] = load.cores
            busy.add(load.cores)
        ms = wall["model", 1] / wall["model", 2]
        cs = wall["control", 1] / wall["control", 2]
        m_ratio.add(wall["model", 2] / wall["model", 1])
        c_ratio.add(wall["control", 2] / wall["control", 1])
        m_speed.add(ms)
        c_speed.add(cs)
        eff.add(ms / cs)
        m_job.add(extra["model", 2]["job_s_mean"] / extra["model", 1]["job_s_mean"])
        c_job.add(extra["control", 2]["job_s_mean"] / extra["control", 1]["job_s_mean"])
        mi = extra["model", 2]["cpu_s_mean"] / extra["model", 1]["cpu_s_mean"]
        ci = extra["control", 2]["cpu_s_mean"] / extra["control", 1]["cpu_s_mean"]
        m_cpu.add(mi)
        c_cpu.add(ci)
        cpu_eff.add(ci / mi)
        say(
            f"  repeat {r + 1}: model 1w {wall['model', 1]:.2f} s, 2w {wall['model', 2]:.2f} s "
            f"(speedup {ms:.2f}; mean job {extra['model', 1]['job_s_mean']:.3f} / "
            f"{extra['model', 2]['job_s_mean']:.3f} s, compaction {extra['model', 2]['compact_s']:.2f} s)"
            f" | control 1w {wall['control', 1]:.2f} s, 2w {wall['control', 2]:.2f} s "
            f"(speedup {cs:.2f}) | efficiency {ms / cs:.3f}"
        )
        say(
            f"    CPU s per warm job 1w / 2w: model {extra['model', 1]['cpu_s_mean']:.3f} / "
            f"{extra['model', 2]['cpu_s_mean']:.3f} (x{mi:.2f}), control "
            f"{extra['control', 1]['cpu_s_mean']:.3f} / {extra['control', 2]['cpu_s_mean']:.3f} "
            f"(x{ci:.2f}) -> CPU-time efficiency {ci / mi:.3f}; a worker's first model job "
            f"{extra['model', 1]['cpu_s_cold']:.2f} CPU s (imports, grid)"
        )
        say(
            "    other processes kept busy (cores): "
            + ", ".join(f"{what} {w}w {foreign[what, w]:.2f}" for what, w in order)
        )
    rows.append(
        Row("4. model wall 2 workers / 1 worker", m_ratio, "info", note=f"speedup {m_speed.fmt(2)}")
    )
    rows.append(
        Row(
            "4. control wall 2 workers / 1 worker",
            c_ratio,
            "info",
            note=f"speedup {c_speed.fmt(2)}",
        )
    )
    rows.append(
        Row(
            "4. efficiency (model / control speedup)",
            eff,
            ">= 0.9",
            lambda v: v >= 0.9,
            note=f"{n} replicates of {args.days} days; other "
            f"processes used {busy.fmt(2)} cores meanwhile",
        )
    )
    rows.append(
        Row(
            "4. CPU-time efficiency (control / model CPU growth)",
            cpu_eff,
            "info (load-robust)",
            note=f"CPU s per warm job at 2w / 1w: model {m_cpu.fmt(2)}, control {c_cpu.fmt(2)}",
        )
    )
    say(
        f"  mean job time at 2 workers / 1 worker (contention, incl. each worker's cold first job):"
        f" model {m_job.fmt(2)}, control {c_job.fmt(2)}"
    )


# ------------------------------------------------------------------------------ section 5: memory


def child_mem(args: argparse.Namespace) -> dict[str, Any]:
    """In a fresh process: one run_experiment of ``--reps`` replicates (the parent samples RSS)."""
    from sim.engine.experiment import Point

    cfg = compose(args.days)
    wall, timings = experiment_wall([Point(cfg, {"scenario": "bench"})], args.reps, args.workers)
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Pool workers are children of the forkserver, not of this process: RUSAGE_CHILDREN sees
    # only the forkserver (the fallback without psutil therefore under-counts the workers).
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "wall_s": wall,
        "compact_s": timings["compact_s"],
        "maxrss_self_mb": own,
        "maxrss_children_mb": kids,
        "tree_processes": 0,
        "largest_other_mb": kids,
    }


def tree_peak_rss(
    argv: Sequence[str], interval: float = 0.05
) -> tuple[float, float, dict[str, Any]]:
    """Run this script as a child; sample the RSS of its whole process tree.

    Returns (peak of the summed RSS over the tree in MB, peak RSS of the child alone in MB, the
    child's JSON output). Without psutil the child's own getrusage figures are used instead (the
    largest worker plus the parent, not a true tree sum).
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv]
    try:
        import psutil
    except ImportError:
        out = child_json(argv)
        if out is None:
            raise RuntimeError("memory child failed") from None
        return out["maxrss_self_mb"] + out["maxrss_children_mb"], out["maxrss_self_mb"], out

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peak_tree = peak_root = 0.0
    per_pid: dict[int, float] = {}
    while proc.poll() is None:
        total = 0.0
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in members:
            try:
                rss = p.memory_info().rss / 2**20
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += rss
            per_pid[p.pid] = max(per_pid.get(p.pid, 0.0), rss)
            if p.pid == root.pid:
                peak_root = max(peak_root, rss)
        peak_tree = max(peak_tree, total)
        time.sleep(interval)
    stdout, stderr = proc.communicate()
    out = next((json.loads(x) for x in reversed(stdout.splitlines()) if x.startswith("{")), None)
    if proc.returncode or out is None:
        raise RuntimeError(f"memory child failed (exit {proc.returncode}): {stderr[-2000:]}")
    others = [v for pid, v in per_pid.items() if pid != root.pid]
    out["tree_processes"] = len(per_pid)
    out["largest_other_mb"] = max(others, default=0.0)
    return peak_tree, peak_root, out


def section_memory(args: argparse.Namespace, rows: list[Row], state: dict[str, Any]) -> None:
    small, large, days = args.mem_small, args.mem_large, args.mem_days
    header(
        f"5. peak RSS of the process tree: {large} vs {small} replicates of {days} days, "
        f"{args.workers} workers"
    )
    ratio, ratio_parent = Stat(), Stat()
    peaks: dict[int, Stat] = {small: Stat(), large: Stat()}
    for r in range(args.mem_repeats):
        got = {}
        order = (small, large) if r % 2 == 0 else (large, small)
        for reps in order:
            tree, parent, out = tree_peak_rss(
                [
                    "--_child",
                    "mem",
                    "--reps",
                    str(reps),
                    "--days",
                    str(days),
                    "--workers",
                    str(args.workers),
                ]
            )
            got[reps] = (tree, parent, out)
            peaks[reps].add(tree)
        ratio.add(got[large][0] / got[small][0])
        ratio_parent.add(got[large][1] / got[small][1])
        say(
            f"  repeat {r + 1}: "
            + "; ".join(
                f"{reps} reps: tree peak {got[reps][0]:.0f} MB (parent {got[reps][1]:.0f} MB, "
                f"largest other of {got[reps][2]['tree_processes']} processes "
                f"{got[reps][2]['largest_other_mb']:.0f} MB), wall {got[reps][2]['wall_s']:.1f} s"
                for reps in (small, large)
            )
            + f" -> {got[large][0] / got[small][0]:.3f}"
        )
    rows.append(
        Row(
            f"5. peak tree RSS {large} reps / {small} reps",
            ratio,
            "<= 1.2",
            lambda v: v <= 1.2,
            note=f"{peaks[small].median:.0f} -> {peaks[large].median:.0f} MB; "
            f"parent alone {ratio_parent.fmt(2)}",
        )
    )


# ----------------------------------------------------------------------------- section 6: profile

def stage_timers(cfg: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """One year without a profiler (the reference for cProfile's overhead).

    Model 2 runs on Mesa's event list (arrivals, alerts, tips, the midnight upkeep), so there is
    no fixed sequence of stages to time; where the time goes is read from cProfile by module.
    """
    from sim.model.runner import build_model

    model = build_model(cfg, 0)
    t_run, _ = timed(model.run)
    return t_run, {}


def profile_year(cfg: dict[str, Any]) -> tuple[float, dict[str, float], dict[str, float], list]:
    """cProfile of one year: stage cumulative times, time by library (tottime), top functions."""
    from sim.model.runner import build_model

    model = build_model(cfg, 0)
    prof = cProfile.Profile()
    prof.enable()
    model.run()
    prof.disable()
    st = pstats.Stats(prof)
    raw = st.stats  # type: ignore[attr-defined]
    total = float(st.total_tt)  # type: ignore[attr-defined]  # all profiled time (own times)
    cum: dict[str, float] = {}  # own time of each gapsim module (sim/model/*.py, sim/rng.py)
    for (file, _, _fn), (_, _, tt, _, _) in raw.items():
        if "/sim/" in file:
            key = "sim/" + file.split("/sim/", 1)[1]
            cum[key] = cum.get(key, 0.0) + tt
    cum = dict(sorted(cum.items(), key=lambda kv: -kv[1])[:14])
    libs: dict[str, float] = {}
    for (file, _, fn), (_, _, tt, _, _) in raw.items():
        if "/sim/" in file:
            key = "gapsim code (sim/*) own time"
        elif "/mesa/" in file:
            key = "Mesa (cells, agents, events) own time"
        elif "/numpy/" in file:
            key = "numpy Python-level wrappers"
        elif file == "~" and ("numpy" in fn or "ufunc" in fn or "ndarray" in fn):
            key = "numpy C (ufuncs, array methods)"
        elif file == "~":
            key = "other builtins (C)"
        else:
            key = "other Python (stdlib)"
        libs[key] = libs.get(key, 0.0) + tt
    top = sorted(
        (
            (tt, ct, nc, f"{Path(file).name}:{line}({fn})" if file != "~" else fn)
            for (file, line, fn), (_, nc, tt, ct, _) in raw.items()
        ),
        reverse=True,
    )[:15]
    return total, cum, libs, top


def section_profile(args: argparse.Namespace, rows: list[Row], state: dict[str, Any]) -> None:
    header(f"6. where one {'year' if not args.quick else f'{args.days}-day run'}'s time goes")
    cfg = state.get("cfg") or compose(args.days)
    run_year(cfg, 0)  # warm
    t_timers, timers = min(
        (stage_timers(cfg) for _ in range(max(1, min(args.repeats, 3)))), key=lambda x: x[0]
    )
    t_prof, cum, libs, top = profile_year(cfg)
    say(
        f"  run: {t_timers:.3f} s with stage timers (fastest of up to 3), {t_prof:.3f} s under "
        f"cProfile (x{t_prof / t_timers:.2f} overhead; shares under cProfile over-weight "
        "call-heavy Python code)"
    )
    say(f"  {'gapsim module (own time)':<66} {'timer s':>8} {'share':>6} {'cProf s':>8} {'share':>6}")
    keys = list(timers)
    for k in cum:
        if k not in keys:
            keys.append(k)
    for k in keys:
        a, b = timers.get(k, math.nan), cum.get(k, math.nan)
        say(f"  {k:<66} {a:>8.3f} {a / t_timers:>6.1%} {b:>8.3f} {b / t_prof:>6.1%}")
    say(f"  {'total':<66} {t_timers:>8.3f} {'':>6} {t_prof:>8.3f}")
    say("  by library (cProfile own time):")
    for k, v in sorted(libs.items(), key=lambda kv: -kv[1]):
        say(f"    {k:<44} {v:>7.3f} s {v / t_prof:>6.1%}")
    say("  top functions by own time (cProfile):")
    say(f"    {'own s':>7} {'cum s':>7} {'calls':>8}  function")
    for tt, ct, nc, name in top:
        say(f"    {tt:>7.3f} {ct:>7.3f} {nc:>8}  {name}")
    state["profile"] = {"timers": timers, "t_timers": t_timers, "cum": cum, "t_prof": t_prof}


# --------------------------------------------------------------------------------------- driver


SECTIONS: dict[int, Callable[[argparse.Namespace, list[Row], dict[str, Any]], None]] = {
    1: section_year,  # also 2
    3: section_scaling,
    4: section_parallel,
    5: section_memory,
    6: section_profile,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="fast smoke version (about a minute)")
    ap.add_argument(
        "--repeats", type=int, default=None, help="repeats per measurement (3; quick 1)"
    )
    ap.add_argument(
        "--only", default="1,3,4,5,6", help="sections to run, comma-separated (2 is part of 1)"
    )
    ap.add_argument(
        "--parallel-replicates",
        type=int,
        default=None,
        help="replicates per run in section 4 (32; quick 4)",
    )
    ap.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    # internal: child processes
    ap.add_argument("--_child", choices=("cold", "mem"), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--days", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    q = args.quick
    if args.repeats is None:
        args.repeats = 1 if q else 3
    if args.days is None:
        args.days = 73 if q else 365
    args.epstein_steps = max(1, round(100 * args.days / 365))
    args.cold_repeats = 1 if q else args.repeats
    if args.parallel_replicates is None:
        args.parallel_replicates = 4 if q else 32
    args.mem_small, args.mem_large = 10, (40 if q else 200)
    args.mem_days = 10 if q else 30
    args.mem_repeats = 1 if q else args.repeats
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args._child == "cold":
        print(json.dumps(child_cold(args)), flush=True)
        return 0
    if args._child == "mem":
        print(json.dumps(child_mem(args)), flush=True)
        return 0

    started = time.perf_counter()
    info = machine_info()
    say("gapsim performance benchmark" + (" (QUICK smoke run)" if args.quick else ""))
    for k, v in info.items():
        say(f"  {k}: {v}")
    say(f"  load average at start: {load_avg()}")
    say(
        f"  repeats: {args.repeats}; days: {args.days}; ratios are min / median / max; "
        "a target is met when the median meets it"
    )

    rows: list[Row] = []
    state: dict[str, Any] = {}
    wanted = {int(x) for x in args.only.split(",") if x.strip()}
    if 2 in wanted:
        wanted.add(1)
    for num, fn in SECTIONS.items():
        if num not in wanted:
            continue
        try:
            with ForeignLoad() as load:
                fn(args, rows, state)
            say(
                f"  (other processes kept {load.cores:.2f} of {os.cpu_count()} cores busy on "
                "average during this section)"
            )
            state.setdefault("foreign", {})[num] = load.cores
        except Exception:  # noqa: BLE001 - a report keeps going
            say(f"  section {num} FAILED:\n{traceback.format_exc()}")
            rows.append(Row(f"{num}. (section failed)", Stat(), "-", lambda v: False))

    header("summary")
    say(f"  {'metric':<52} {'min / median / max':>25}  {'target':<22} {'met':<13} note")
    for row in rows:
        say(f"  {row.metric:<52} {row.stat.fmt():>25}  {row.target:<22} {row.met():<13} {row.note}")
    missed = [r for r in rows if r.met() in ("NO", "ERROR")]
    say()
    say(
        f"  machine: {info.get('cores usable (affinity)', info['cores (os.cpu_count)'])} cores "
        f"({info.get('cpu', '?')}), Python {info['python']}, numpy {info.get('numpy', '?')}, "
        f"Mesa {info.get('mesa', '?')}; {info['date']}"
    )
    say(
        f"  load average at end: {load_avg()}; benchmark wall time {time.perf_counter() - started:.0f} s"
    )
    busy = {n: c for n, c in state.get("foreign", {}).items() if c > BUSY_CORES}
    if busy:
        say(
            "  CAUTION, machine busy: other processes kept "
            + ", ".join(f"{c:.2f} cores busy during section {n}" for n, c in busy.items())
            + "; ratios there (above all section 4's speedups) carry that noise"
        )
    if missed:
        say(
            "  TARGETS MISSED: "
            + "; ".join(
                f"{r.metric} (median {r.stat.median:.3f}, target {r.target})" for r in missed
            )
        )
    else:
        say("  all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
