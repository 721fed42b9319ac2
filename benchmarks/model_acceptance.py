"""Acceptance checks of the model rebuild (issue 13), measured and printed as Markdown.

Why a script and not tests: each check needs tens of simulated years (about 400 one-year runs in
all, 10-20 minutes on 2 cores); the default test suite keeps small versions of the same checks
(tests/test_model.py, tests/test_validation*.py). This script reruns the issue's acceptance items
at their stated sizes, paired by replicate id (every arm runs replicate ids 0..n-1 with the same
seed: entity-keyed random numbers make those pairs share their exogenous draws), and writes the
figures quoted in docs/VALIDATION.md and the issue's closing note.

Run::

    uv run python benchmarks/model_acceptance.py                 # all checks, 2 workers
    uv run python benchmarks/model_acceptance.py --only tick,informants --reps 10
    uv run python benchmarks/model_acceptance.py --out results/acceptance.json

Checks (``--only`` names):

* ``tick``: 30 replicates of a year of the status quo at ``model.tick_hours`` 0.5, 1 and 3: means
  of incidents, tips, airstrikes, insurgents killed and final fighters (criterion: within 10 % or
  inside each other's 99 % intervals).
* ``informants``: ``pre_2017`` with and without ``model.ablate=[informants]``: paired difference
  in incidents over a year, one-sided 99 % lower bound (criterion: above zero).
* ``traffic``: the status quo with ``model.ablate=[traffic]``: hostages taken at fake checkpoints
  (criterion: none).
* ``concentration``: 8 replicates of the status quo: the largest share of each incident type's
  incidents in one 1 km square (criterion: at most a fifth); incidents in the gap band and near
  the remote sites the sources name.
* ``directions``: gap width 2 and 6 km against 4 km, and each coordination level against the
  status quo's: paired differences in incidents (30 replicates).
* ``targets``: the 2020 calibration targets on the status-quo replicates (those of ``directions``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TICK_OUTCOMES = ("incidents", "tips", "airstrikes", "insurgents_killed", "fighters_final")
#: Places the sources name as sites of remote attacks (DOMAIN.md S17, S21; seeds 002, 004).
REMOTE_SITES = ("ali_rash", "kandar", "upper_kashaf", "lower_kashaf", "gali_manjalan", "qaraj_8")
REMOTE_RADIUS_KM = 2.0
SQUARE_KM = 1.0


def _run(job: tuple[tuple[str, ...], int]) -> dict[str, Any]:
    """One replicate of one arm: its runs row and its incidents (x, y, type, victims)."""
    from sim.config.load import compose_config
    from sim.model.runner import run_replicate

    overrides, replicate = job
    out = run_replicate(compose_config(list(overrides)), replicate)
    inc = out.incidents
    return {"run": {k: (float(v) if isinstance(v, int | float | np.integer | np.floating) else v)
                    for k, v in out.run.items()},
            "incidents": {k: np.asarray(inc[k]).tolist() for k in ("x_km", "y_km", "type", "victims", "zone")}}


class Runner:
    """Runs arms (tuples of overrides) for replicate ids 0..n-1 on a process pool, memoised."""

    def __init__(self, workers: int, days: int) -> None:
        self.pool = ProcessPoolExecutor(workers)
        self.days = days
        self.done: dict[tuple[tuple[str, ...], int], dict[str, Any]] = {}

    def arms(self, arms: Sequence[Sequence[str]], reps: int) -> list[list[dict[str, Any]]]:
        keys = [(tuple([f"days={self.days}", *a]), r) for a in arms for r in range(reps)]
        todo = [k for k in keys if k not in self.done]
        started = time.perf_counter()
        for k, res in zip(todo, self.pool.map(_run, todo, chunksize=1), strict=True):
            self.done[k] = res
        if todo:
            print(f"  ({len(todo)} runs in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
        return [[self.done[(tuple([f"days={self.days}", *a]), r)] for r in range(reps)] for a in arms]


def col(runs: list[dict[str, Any]], name: str) -> np.ndarray:
    return np.array([r["run"][name] for r in runs], dtype=float)


def interval(x: np.ndarray, level: float) -> tuple[float, float, float]:
    """Mean and two-sided t interval at ``level``."""
    x = x[np.isfinite(x)]
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    h = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - h, m + h


def paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Paired difference b - a: mean, 95 % interval, one-sided 99 % lower bound, share b > a."""
    d = b - a
    m, lo, hi = interval(d, 0.95)
    se = d.std(ddof=1) / math.sqrt(len(d))
    lower99 = m - float(stats.t.ppf(0.99, len(d) - 1)) * se
    return {"base": float(a.mean()), "arm": float(b.mean()), "diff": m, "lo95": lo, "hi95": hi,
            "lower99_one_sided": lower99, "share_up": float((d > 0).mean()), "n": len(d)}


def check_tick(runner: Runner, reps: int, out: dict[str, Any]) -> list[str]:
    ticks = (0.5, 1.0, 3.0)
    res = runner.arms([[f"model.tick_hours={t}"] for t in ticks], reps)
    rows = ["| outcome | " + " | ".join(f"{t} h: mean [99% CI]" for t in ticks) + " | largest relative difference | identical runs |",
            "|---|" + "---|" * (len(ticks) + 2)]
    table = {}
    for o in TICK_OUTCOMES:
        cells, means = [], []
        for runs in res:
            m, lo, hi = interval(col(runs, o), 0.99)
            cells.append(f"{m:.1f} [{lo:.1f}, {hi:.1f}]")
            means.append(m)
        rel = (max(means) - min(means)) / max(abs(np.mean(means)), 1e-9)
        same = int(sum(np.array_equal(col(res[0][i:i + 1], o), col(res[j][i:i + 1], o))
                       for j in range(1, len(ticks)) for i in range(reps)))
        rows.append(f"| {o} | " + " | ".join(cells) + f" | {rel:.1%} | {same}/{reps * (len(ticks) - 1)} |")
        table[o] = {"means": means, "relative_spread": rel}
    out["tick"] = table
    return [f"### Tick invariance ({reps} replicates x {runner.days} days, status quo)", "", *rows, ""]


def check_informants(runner: Runner, reps: int, out: dict[str, Any]) -> list[str]:
    base, abl = runner.arms([["scenario=pre_2017"], ["scenario=pre_2017", "model.ablate=[informants]"]], reps)
    lines = [f"### pre_2017 without the informant network ({reps} paired replicates x {runner.days} days)", "",
             "| outcome | with informants | model.ablate=[informants] | paired difference [95%] | one-sided 99% lower bound | replicates up |",
             "|---|---|---|---|---|---|"]
    out["informants"] = {}
    for o in ("incidents", "kidnappings", "fake_checkpoints", "extortions", "fighters_final", "airstrikes", "tips"):
        p = paired(col(base, o), col(abl, o))
        out["informants"][o] = p
        lines.append(f"| {o} | {p['base']:.1f} | {p['arm']:.1f} | {p['diff']:+.1f} [{p['lo95']:+.1f}, {p['hi95']:+.1f}] "
                     f"| {p['lower99_one_sided']:+.1f} | {p['share_up']:.0%} |")
    return [*lines, ""]


def check_traffic(runner: Runner, reps: int, out: dict[str, Any]) -> list[str]:
    base, abl = runner.arms([[], ["model.ablate=[traffic]"]], reps)

    def fake(runs: list[dict[str, Any]]) -> tuple[int, int]:
        n = v = 0
        for r in runs:
            inc = r["incidents"]
            for t, victims in zip(inc["type"], inc["victims"], strict=True):
                if t == "fake_checkpoint":
                    n += 1
                    v += int(victims)
        return n, v

    (n0, v0), (n1, v1) = fake(base), fake(abl)
    out["traffic"] = {"fake_checkpoints": [n0, n1], "victims": [v0, v1]}
    return [f"### Fake checkpoints without traffic ({reps} replicates x {runner.days} days)", "",
            f"With traffic: {n0} fake checkpoints took {v0} people; with `model.ablate=[traffic]`: {n1} fake "
            f"checkpoints took {v1} people.", ""]


def check_concentration(runner: Runner, reps: int, out: dict[str, Any]) -> list[str]:
    from sim.config.load import compose_config, config_from_dict
    from sim.terrain.builder import get_terrain

    runs = runner.arms([[]], reps)[0]
    cfg = config_from_dict(compose_config([f"days={runner.days}"]))
    terrain = get_terrain(cfg.terrain, cfg.gap_width_km)
    sites = {s.name: (s.x_km, s.y_km) for s in terrain.settlements}
    for f in getattr(terrain, "features", []) or []:
        if getattr(f, "name", None) and hasattr(f, "x_km"):
            sites[f.name] = (f.x_km, f.y_km)
    x = np.concatenate([np.asarray(r["incidents"]["x_km"], float) for r in runs])
    y = np.concatenate([np.asarray(r["incidents"]["y_km"], float) for r in runs])
    t = np.concatenate([np.asarray(r["incidents"]["type"], str) for r in runs])
    z = np.concatenate([np.asarray(r["incidents"]["zone"], str) for r in runs])
    lines = [f"### Where incidents happen ({reps} replicates x {runner.days} days, status quo)", "",
             "| type | incidents | largest share in one 1 km square | squares used |", "|---|---|---|---|"]
    worst = 0.0
    out["concentration"] = {}
    for kind in sorted(set(t)):
        sel = t == kind
        sq = np.stack([np.floor(x[sel] / SQUARE_KM), np.floor(y[sel] / SQUARE_KM)], axis=1)
        _, counts = np.unique(sq, axis=0, return_counts=True)
        share = counts.max() / sel.sum()
        worst = max(worst, share)
        out["concentration"][kind] = {"n": int(sel.sum()), "max_square_share": float(share)}
        lines.append(f"| {kind} | {int(sel.sum())} | {share:.2f} | {len(counts)} |")
    gap = float((z == "GAP").mean()) if len(z) else math.nan
    near = {}
    for name in REMOTE_SITES:
        if name in sites:
            sx, sy = sites[name]
            near[name] = int((np.hypot(x - sx, y - sy) <= REMOTE_RADIUS_KM).sum())
    out["concentration"]["gap_share"] = gap
    out["concentration"]["near_remote_sites"] = near
    lines += ["", f"Largest share of any type in one square: {worst:.2f}. Share of incidents in the gap band: "
              f"{gap:.0%}. Incidents within {REMOTE_RADIUS_KM:g} km of the remote sites the sources name: "
              + ", ".join(f"{k} {v}" for k, v in near.items()) + ".", ""]
    return lines


def check_directions(runner: Runner, reps: int, out: dict[str, Any]) -> list[str]:
    arms = {"gap 4 km (status quo)": [], "gap 2 km": ["gap_width_km=2"], "gap 6 km": ["gap_width_km=6"],
            "coordination liaison": ["coordination=liaison"], "coordination jcc": ["coordination=jcc"],
            "coordination joint_ops": ["coordination=joint_ops"],
            "coordination joint_brigades": ["coordination=joint_brigades"]}
    res = dict(zip(arms, runner.arms(list(arms.values()), reps), strict=True))
    base = res["gap 4 km (status quo)"]
    lines = [f"### Gap width and coordination ({reps} paired replicates x {runner.days} days, against the status quo: gap 4 km, no coordination)", "",
             "| arm | incidents | paired difference [95%] | replicates up | kidnappings diff | fighters_final diff |",
             "|---|---|---|---|---|---|"]
    out["directions"] = {}
    for name, runs in res.items():
        if runs is base:
            continue
        p = paired(col(base, "incidents"), col(runs, "incidents"))
        k = paired(col(base, "kidnappings"), col(runs, "kidnappings"))
        f = paired(col(base, "fighters_final"), col(runs, "fighters_final"))
        out["directions"][name] = {"incidents": p, "kidnappings": k, "fighters_final": f}
        lines.append(f"| {name} | {p['arm']:.1f} (base {p['base']:.1f}) | {p['diff']:+.1f} [{p['lo95']:+.1f}, {p['hi95']:+.1f}] "
                     f"| {p['share_up']:.0%} | {k['diff']:+.1f} [{k['lo95']:+.1f}, {k['hi95']:+.1f}] "
                     f"| {f['diff']:+.1f} [{f['lo95']:+.1f}, {f['hi95']:+.1f}] |")
    return [*lines, ""]


def check_targets(runner: Runner, reps: int, out: dict[str, Any]) -> list[str]:
    runs = runner.arms([[]], reps)[0]  # the status quo's own runs (shared with ``directions``)
    scale = 365.0 / runner.days
    strikes = col(runs, "airstrikes") * scale
    kps = col(runs, "kills_per_strike")
    fighters = col(runs, "fighters_final")

    def mmm(x: np.ndarray) -> str:
        x = x[np.isfinite(x)]
        return f"{np.min(x):.2f} / {np.median(x):.2f} / {np.max(x):.2f}"

    out["targets"] = {"strikes_per_year": mmm(strikes), "kills_per_strike": mmm(kps), "fighters_final": mmm(fighters)}
    return [f"### 2020 calibration targets ({reps} replicates x {runner.days} days, status quo; min / median / max)", "",
            "| target | band (DOMAIN 5a) | measured |", "|---|---|---|",
            f"| airstrikes per year | 60-105 | {mmm(strikes)} |",
            f"| insurgents killed per strike | 0.4-1.0 | {mmm(kps)} |",
            f"| fighters at the end of the year | 50-300 | {mmm(fighters)} |", ""]


CHECKS = {"tick": (check_tick, 30), "informants": (check_informants, 30), "traffic": (check_traffic, 8),
          "concentration": (check_concentration, 8), "directions": (check_directions, 30),
          "targets": (check_targets, 30)}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(CHECKS), help="checks to run, comma-separated")
    ap.add_argument("--reps", type=int, default=None, help="replicates per arm (default: each check's own)")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    runner = Runner(args.workers, args.days)
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    for name in args.only.split(","):
        fn, reps = CHECKS[name]
        print(f"{name}...", file=sys.stderr, flush=True)
        print("\n".join(fn(runner, args.reps or reps, figures)), flush=True)
    print(f"({len(runner.done)} one-replicate runs, {time.perf_counter() - started:.0f} s wall on "
          f"{args.workers} workers)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
