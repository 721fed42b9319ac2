"""Published sensitivity: Sobol indices of the headline keys, the coordination tables and every
[EST] parameter, and convergence in time step and cell size; writes docs/SENSITIVITY.md.

Why generated: the indices belong to one model version; the page must be rerun, not edited, when
the model changes. One command reruns everything (resumable: the runs go through the engine's
results store, so an interrupted study continues where it stopped)::

    uv run python -m sim.validation.sensitivity                       # the study's own design
    uv run python -m sim.validation.sensitivity design_size=8 days=60 convergence_replicates=2 \\
        hydra.run.dir=/tmp/sens docs=false                            # a smoke run

Factors come from ``experiments/validation/sensitivity.yaml``: the headline keys with absolute
ranges, every per-level table scaled as a whole, every ModelParams field marked [EST] (read
from its metadata, so a rebuilt model's parameters are picked up) scaled by a factor around its
default, minus resolution settings. A realisation factor indexes the random seed (SALib #292),
so run-to-run noise shows up as that factor's index rather than inflating everyone's.

With ``screening=<dir>`` the Sobol design covers only the factors a Morris screening kept
(sim/validation/screening.py), the others held at their defaults, and the page shows the screening
first: with D in the hundreds a Sobol design over every factor is hours of runs.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import ConfigError
from sim.validation import parameters as pm

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "experiments" / "validation" / "sensitivity.yaml"
DOC = REPO / "docs" / "SENSITIVITY.md"
FIGURE = REPO / "docs" / "img" / "sensitivity_sobol.png"
REALISATION = "realisation"


@dataclass(frozen=True)
class SensitivitySpec:
    scenario: str
    base: dict[str, Any]
    outcomes: tuple[str, ...]
    items: tuple[pm.Uncertain, ...]
    n: int
    seed: int
    resamples: int
    convergence: dict[str, Any]


def load_spec(path: Path = SPEC, design_size: int | None = None,
              only: Sequence[str] | None = None) -> SensitivitySpec:
    """The study; with ``only`` (factor keys kept by a Morris screening, sim/validation/screening.py)
    the other factors are held at their defaults."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = f"(in {path.relative_to(REPO) if path.is_relative_to(REPO) else path})"
    allowed = ("description", "scenario", "base", "outcomes", "parameters", "tables", "est",
               "design", "convergence")
    for key in data:
        if key not in allowed:
            raise ConfigError(key, data[key], f"unknown key; allowed: {', '.join(allowed)} {where}")
    items = list(pm.parse(data["parameters"], where)) if data.get("parameters") else []
    tables = data.get("tables")
    est = data.get("est") or {}
    est_items = pm.est_parameters(exclude=est.get("exclude", []),
                                  factor=tuple(est.get("factor", [0.5, 1.5])), tables=False)
    if tables:
        from sim.model.params import ModelParams

        lists = [f for f, v in vars(ModelParams()).items() if isinstance(v, list) and f != "ablate"]
        items += pm.parse({f"model.{f}[*]": {"factor": list(tables["factor"])} for f in lists
                           if f not in tables.get("exclude", [])}, where)
    known = {u.key for u in items}
    items += [u for u in est_items if u.key not in known]
    if only is not None:
        unknown = sorted(set(only) - {u.key for u in items})
        if unknown:
            raise ConfigError("screening", unknown, "are not factors of the study; rerun the screening")
        items = [u for u in items if u.key in set(only)]
    design = data.get("design") or {}
    n = int(design_size or design.get("n", 32))
    if n < 2 or n & (n - 1):
        raise ConfigError("design_size", n, "Sobol sampling needs a power of 2 (e.g. 8, 32, 128)")
    return SensitivitySpec(str(data.get("scenario", "status_quo_2019")), dict(data.get("base") or {}),
                           tuple(data.get("outcomes") or ("incidents",)), tuple(items), n,
                           int(design.get("seed", 2021)), int(design.get("resamples", 200)),
                           dict(data.get("convergence") or {}))


def problem(items: Sequence[pm.Uncertain]) -> dict[str, Any]:
    """SALib problem: one variable per item (log-scaled items sampled in log space) plus the
    realisation index."""
    bounds = [[math.log(u.low), math.log(u.high)] if u.scale == "log" else [u.low, u.high]
              for u in items]
    return {"num_vars": len(items) + 1, "names": [u.key for u in items] + [REALISATION],
            "bounds": [*bounds, [0.0, 1.0]]}


def design(spec: SensitivitySpec) -> np.ndarray:
    from SALib.sample import sobol as sobol_sample

    return sobol_sample.sample(problem(spec.items), spec.n, calc_second_order=False,
                               seed=spec.seed)


def configs(spec: SensitivitySpec, base: Mapping[str, Any], x: np.ndarray) -> list[dict[str, Any]]:
    """One validated config per design row (realisation -> seed offset)."""
    out = []
    for row in x:
        values = {u.key: (math.exp(v) if u.scale == "log" else float(v))
                  for u, v in zip(spec.items, row[:-1], strict=True)}
        cfg = pm.apply(base, values, spec.items)
        cfg["seed"] = int(base["seed"]) + int(row[-1] * 2**20)
        try:
            pm.check_values(cfg)
        except ConfigError as err:
            raise ConfigError("sensitivity design", values, f"gives an invalid config: {err}") from None
        out.append(cfg)
    return out


def analyse(spec: SensitivitySpec, runs: pd.DataFrame) -> pd.DataFrame:
    """First- and total-order indices with 95 % bootstrap intervals, per outcome and factor."""
    from SALib.analyze import sobol as sobol_analyze

    runs = runs.sort_values("design_point")
    prob = problem(spec.items)
    rows = []
    for outcome in spec.outcomes:
        y = runs[outcome].to_numpy(dtype=float)
        y = np.where(np.isfinite(y), y, np.nanmean(y))
        res = sobol_analyze.analyze(prob, y, calc_second_order=False, num_resamples=spec.resamples,
                                    conf_level=0.95, seed=spec.seed, print_to_console=False)
        for i, name in enumerate(prob["names"]):
            rows.append({"outcome": outcome, "factor": name, "S1": res["S1"][i],
                         "S1_conf": res["S1_conf"][i], "ST": res["ST"][i],
                         "ST_conf": res["ST_conf"][i]})
    return pd.DataFrame(rows)


def convergence(base_overrides: list[str], spec: SensitivitySpec, out_dir: Path, workers: int,
                replicates: int, progress: bool) -> pd.DataFrame:
    """Status quo at the reference resolution against a finer time step and finer cells:
    means, the Welch 95 % interval of the difference and the relative difference."""
    from sim.config.load import compose_config
    from sim.engine.experiment import Point, run_experiment

    conv = spec.convergence
    ticks = conv.get("tick_hours", [3.0, 1.0])
    terrains = conv.get("terrain", ["qarachogh_coarse", "qarachogh"])
    arms = {"reference": [f"model.tick_hours={ticks[0]}", f"terrain={terrains[0]}"],
            "finer_time_step": [f"model.tick_hours={ticks[1]}", f"terrain={terrains[0]}"],
            "finer_cells": [f"model.tick_hours={ticks[0]}", f"terrain={terrains[1]}"]}
    points = [Point(compose_config([*base_overrides, *o]), {"scenario": k}) for k, o in arms.items()]
    run_experiment(points, out_dir, replicates=replicates, workers=workers, progress=progress)
    runs = pd.read_parquet(out_dir / "runs.parquet")
    from scipy import stats

    rows = []
    ref = runs[runs["scenario"] == "reference"]
    for arm, label in (("finer_time_step", f"tick {ticks[0]:g} h -> {ticks[1]:g} h"),
                       ("finer_cells", f"cells {terrains[0]} -> {terrains[1]}")):
        other = runs[runs["scenario"] == arm]
        for outcome in spec.outcomes:
            a, b = ref[outcome].astype(float), other[outcome].astype(float)
            diff = b.mean() - a.mean()
            se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
            dof = se**4 / ((a.var(ddof=1) / len(a)) ** 2 / (len(a) - 1)
                           + (b.var(ddof=1) / len(b)) ** 2 / (len(b) - 1)) if se > 0 else 1.0
            half = stats.t.ppf(0.975, dof) * se if se > 0 else 0.0
            rows.append({"change": label, "outcome": outcome, "reference": a.mean(),
                         "changed": b.mean(), "diff": diff, "low": diff - half,
                         "high": diff + half, "relative": diff / a.mean() if a.mean() else np.nan,
                         "replicates": len(a)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- the page


def _fmt(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.2f}"


def render(spec: SensitivitySpec, indices: pd.DataFrame, conv: pd.DataFrame | None,
           meta: Mapping[str, Any], top: int = 15, screening: Sequence[str] = ()) -> str:
    """The Markdown page: provenance, the screening that chose the factors (if any), per-outcome
    index tables, convergence, closing note."""
    units = {u.key: (u.unit, u.source, "x default" if u.factor else "value", u.low, u.high)
             for u in spec.items}
    lines = [
        "# Sensitivity (Sobol indices) -- generated",
        "",
        "<!-- Generated by `uv run python -m sim.validation.sensitivity`; do not edit by hand: "
        "rerun it (the integrator reruns it on every model rebuild). -->",
        "",
        f"Model version {meta['model_version']}, git {meta['git']}, {meta['date']}. Scenario "
        f"`{spec.scenario}`, {meta['days']} days, terrain `{meta['terrain']}`. Saltelli design with "
        f"N = {spec.n} base samples over D = {len(spec.items)} factors plus a realisation index "
        f"(SALib #292): {meta['runs']} runs, {meta['runtime_min']:.0f} min on {meta['workers']} "
        f"worker(s) ({meta['seconds_per_run']:.2f} s per run). Intervals: 95 % bootstrap "
        f"({spec.resamples} resamples). Factors: `gap_width_km` and `coordination` over their "
        "ranges; each per-level coordination table scaled as a whole; every ModelParams field "
        "marked [EST] scaled around its default (factor ranges below); the spec is "
        "`experiments/validation/sensitivity.yaml`.",
        "",
        f"Budget: N x (D + 3) runs (D factors, the realisation index, two base matrices); at the "
        f"measured {meta['seconds_per_run']:.1f} s of wall time per run, N = 128 (tighter "
        "intervals, recommended for a paper) takes four times as long as N = 32.",
        "",
        f"![Total-order indices]({FIGURE.relative_to(DOC.parent)})",
        "",
        *screening,
    ]
    for outcome in spec.outcomes:
        sub = indices[indices["outcome"] == outcome].sort_values("ST", ascending=False)
        lines += [f"## {outcome}", "",
                  f"The {min(top, len(sub))} factors with the largest total-order index "
                  f"(all {len(sub)} in `sobol_indices.csv` of the run directory).", "",
                  "| factor | varied over | S1 [95% CI] | ST [95% CI] | source |",
                  "|---|---|---|---|---|"]
        for _, r in sub.head(top).iterrows():
            unit, source, kind, lo, hi = units.get(r["factor"], ("", "seed index", "", 0, 1))
            span = f"{lo:g}-{hi:g} {'x default' if kind == 'x default' else unit}".strip()
            lines.append(f"| `{r['factor']}` | {span} | {_fmt(r['S1'])} "
                         f"[{_fmt(r['S1'] - r['S1_conf'])}, {_fmt(r['S1'] + r['S1_conf'])}] | "
                         f"{_fmt(r['ST'])} [{_fmt(r['ST'] - r['ST_conf'])}, "
                         f"{_fmt(r['ST'] + r['ST_conf'])}] | {source} |")
        lines.append("")
    if conv is not None and len(conv):
        lines += ["## Convergence in time step and cell size", "",
                  f"Status quo, {int(conv['replicates'].iloc[0])} replicates per setting; "
                  "difference of means with a Welch 95 % interval (independent runs: common "
                  "random numbers do not pair across resolutions).", "",
                  "| change | outcome | reference | changed | difference [95% CI] | relative |",
                  "|---|---|---|---|---|---|"]
        for _, r in conv.iterrows():
            lines.append(f"| {r['change']} | {r['outcome']} | {r['reference']:.3g} | "
                         f"{r['changed']:.3g} | {r['diff']:+.3g} [{r['low']:+.3g}, "
                         f"{r['high']:+.3g}] | {r['relative']:+.0%} |")
        bad = conv[(conv["low"] > 0) | (conv["high"] < 0)]
        lines += ["", ("Converged: no difference is distinguishable from zero at this number of "
                       "replicates." if bad.empty else
                       "NOT converged for: " + "; ".join(f"{r.outcome} ({r.change}, "
                                                         f"{r.relative:+.0%})"
                                                         for r in bad.itertuples())
                       + ". Results at the reference resolution carry this bias."), ""]
    inc = indices[(indices["outcome"] == spec.outcomes[0]) & (indices["factor"] != REALISATION)]
    best = inc.sort_values("ST", ascending=False).head(3)
    lines += ["## Closing note", "",
              f"The three parameters that matter most for {spec.outcomes[0]} (largest total-order "
              "index): " + ", ".join(f"`{r.factor}` (ST {r.ST:.2f} +- {r.ST_conf:.2f})"
                                     for r in best.itertuples()) + ".",
              f"The realisation index (run-to-run noise) has ST "
              f"{_fmt(float(indices[(indices['outcome'] == spec.outcomes[0]) & (indices['factor'] == REALISATION)]['ST'].iloc[0]))}"
              " for this outcome.", ""]
    return "\n".join(lines)


def plot(indices: pd.DataFrame, outcome: str, path: Path, top: int = 20) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sub = indices[indices["outcome"] == outcome].sort_values("ST", ascending=False).head(top)[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(sub) + 1.5), constrained_layout=True)
    y = np.arange(len(sub))
    ax.barh(y + 0.2, sub["ST"], 0.4, xerr=sub["ST_conf"], label="total order ST", color="C0")
    ax.barh(y - 0.2, sub["S1"], 0.4, xerr=sub["S1_conf"], label="first order S1", color="C1")
    ax.set_yticks(y, [f.removeprefix("model.") for f in sub["factor"]], fontsize=7)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel(f"Sobol index of {outcome} (95% bootstrap interval)")
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------- command


def parse_options(argv: Sequence[str], allowed: Sequence[str], kind: str
                  ) -> tuple[dict[str, str], Path] | None:
    """``key=value`` options of a study command and its run directory (``hydra.run.dir``, default
    ``results/<kind>/<timestamp>``); None after printing a one-line error for an unknown option."""
    opts: dict[str, str] = {}
    out_dir = Path("results") / kind / dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    for a in argv:
        k, sep, v = a.partition("=")
        if not sep or (k not in allowed and k != "hydra.run.dir"):
            print(f"gapsim: error: {a}: options are {', '.join(allowed)}, hydra.run.dir", file=sys.stderr)
            return None
        if k == "hydra.run.dir":
            out_dir = Path(v)
        else:
            opts[k] = v
    return opts, out_dir


def base_overrides(spec: SensitivitySpec, days: str | None) -> list[str]:
    """The study's scenario and base settings as config overrides (``days`` replaced if given)."""
    return [f"scenario={spec.scenario}", *(f"{k}={v}" for k, v in spec.base.items() if k != "days"),
            f"days={days or spec.base.get('days', 365)}"]


def run_design(spec: SensitivitySpec, cfgs: list[dict[str, Any]], out_dir: Path, workers: int,
               progress: bool):
    """Run each distinct config of a design once (Saltelli rows and Morris trajectories can repeat
    a point) and return the engine's result and the runs in design order (None if any failed)."""
    from sim.engine.experiment import Point, config_hash, run_experiment

    first: dict[str, int] = {}
    point_of = [first.setdefault(config_hash(c), i) for i, c in enumerate(cfgs)]
    points = [Point(cfgs[i], {"scenario": spec.scenario, "design_point": i})
              for i in sorted(set(point_of))]
    result = run_experiment(points, out_dir, replicates=1, workers=workers, progress=progress)
    if result.failures:
        print(f"gapsim: {result.failed} runs failed; rerun to retry", file=sys.stderr)
        return result, None
    unique = pd.read_parquet(out_dir / "runs.parquet").set_index("design_point")
    runs = unique.loc[point_of].reset_index(drop=True)
    runs["design_point"] = range(len(cfgs))
    return result, runs


_OPTS = ("design_size", "days", "workers", "convergence_replicates", "docs", "progress", "screening")


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation.sensitivity [key=value ...]``; see the module docstring."""
    from sim.commands.common import git_state
    from sim.config.load import compose_config
    from sim.model import MODEL_VERSION

    parsed = parse_options(list(sys.argv[1:] if argv is None else argv), _OPTS, "sensitivity")
    if parsed is None:
        return 2
    opts, out_dir = parsed
    try:
        only, screen_page = None, []
        if "screening" in opts:
            from sim.validation.screening import load_selected

            only, screen_page = load_selected(Path(opts["screening"]))
        spec = load_spec(design_size=int(opts["design_size"]) if "design_size" in opts else None,
                         only=only)
        overrides = base_overrides(spec, opts.get("days"))
        base = compose_config(overrides)
        x = design(spec)
        cfgs = configs(spec, base, x)
    except (ConfigError, ValueError) as err:
        print(f"gapsim: error: {err}", file=sys.stderr)
        return 2
    workers = int(opts.get("workers", 0))
    progress = opts.get("progress", "true") == "true"
    started = time.perf_counter()
    print(f"Sobol: {len(spec.items)} factors + realisation, N={spec.n}: {len(cfgs)} runs of "
          f"{base['days']} days into {out_dir}", flush=True)
    _, runs = run_design(spec, cfgs, out_dir / "sobol", workers, progress)
    if runs is None:
        return 1
    seconds = time.perf_counter() - started
    indices = analyse(spec, runs)
    indices.to_csv(out_dir / "sobol_indices.csv", index=False)
    reps = int(opts.get("convergence_replicates", spec.convergence.get("replicates", 10)))
    conv = convergence(overrides, spec, out_dir / "convergence", workers, reps, progress)
    conv.to_csv(out_dir / "convergence.csv", index=False)
    git = git_state()
    meta = {"model_version": MODEL_VERSION, "git": f"{(git['commit'] or '?')[:10]}"
            f"{' (dirty)' if git['dirty'] else ''}", "date": dt.date.today().isoformat(),
            "days": base["days"], "terrain": base["terrain"].get("name"), "runs": len(cfgs),
            "runtime_min": seconds / 60, "workers": workers or "all",
            "seconds_per_run": seconds / max(len(cfgs), 1)}
    text = render(spec, indices, conv, meta, screening=screen_page)
    (out_dir / "SENSITIVITY.md").write_text(text, encoding="utf-8")
    plot(indices, spec.outcomes[0], out_dir / "sensitivity_sobol.png")
    if opts.get("docs", "true") == "true":
        DOC.write_text(text, encoding="utf-8")
        plot(indices, spec.outcomes[0], FIGURE)
        print(f"wrote {DOC} and {FIGURE}")
    print(f"output: {out_dir}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
