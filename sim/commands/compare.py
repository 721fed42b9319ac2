"""`gapsim compare scenarios=[a,b,...] baseline=a`: paired scenario comparison, an HTML report and
a one-page handout.

Why paired: every scenario runs replicate ids 0..n-1 with the same seed, so with ``crn=true`` the
arms share their random numbers and differences are taken replicate by replicate. With
``crn=false`` only the other arms get scenario-keyed (independent) random numbers: the baseline
keeps the common keys, so a ``crn=true`` and a ``crn=false`` comparison share one baseline sample
and their efficiencies compare like with like.

Outputs beside the engine's tables: ``summary.csv`` (mean and interval per scenario and outcome),
``paired_differences.csv`` (change, interval, verdict), ``crn_efficiency.csv`` (arms'
correlation and Var(diff) / (Var A + Var B)), ``control_variates.csv``, ``figures/`` (forest
plot, maps on one colour scale, series; PNG and SVG), ``report.html`` and ``handout.pdf``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from sim.commands.common import (
    guarded,
    output_dir,
    save_config,
    versions,
    write_manifest,
)
from sim.config.load import compose_config, options, resolved_dict, to_config
from sim.config.schema import Config
from sim.errors import ConfigError

#: Overrides that select what to compare rather than how each scenario runs.
_COMPARE_KEYS = ("scenarios", "baseline", "scenario")


def validate_request(config: Config) -> tuple[list[str], str]:
    """The scenario names and baseline, checked against ``configs/scenario``."""
    valid = options("scenario")
    names = list(config.scenarios)
    if len(names) < 2:
        raise ConfigError("scenarios", names, "name at least two scenarios, e.g. "
                          "scenarios=[status_quo_2019,joint_brigades]")
    for name in names:
        if name not in valid:
            raise ConfigError("scenarios", name, f"each must be one of {', '.join(valid)}")
    if len(set(names)) != len(names):
        raise ConfigError("scenarios", names, "must not repeat a scenario")
    baseline = config.baseline or names[0]
    if baseline not in names:
        raise ConfigError("baseline", baseline, f"must be one of the compared scenarios: {', '.join(names)}")
    return names, baseline


def scenario_overrides(task_overrides: list[str]) -> list[str]:
    """The user's overrides that apply to every scenario (not the selection keys)."""
    return [o for o in task_overrides if o.partition("=")[0].lstrip("+~") not in _COMPARE_KEYS]


def arm_configs(common: list[str], names: list[str], baseline: str) -> dict[str, dict]:
    """Each scenario's resolved config; the baseline always keeps common random-number keys."""
    configs = {name: compose_config([*common, f"scenario={name}"]) for name in names}
    configs[baseline]["crn"] = True
    return configs


def _say(text: str) -> None:
    print(f"gapsim compare: {text}", file=sys.stderr, flush=True)


@guarded
def compare_task(cfg: DictConfig) -> int:
    from hydra.core.hydra_config import HydraConfig

    return compare_into(cfg, output_dir(), list(HydraConfig.get().overrides.task))


def compare_into(cfg: DictConfig, out_dir: Path, overrides: list[str]) -> int:
    """What `gapsim compare` does, into ``out_dir`` (also called by ``sim.api.compare``).

    Args:
        overrides: the request's words (those that are not scenario selectors apply to every
            scenario).
    """
    started = time.perf_counter()
    root = to_config(cfg)
    names, baseline = validate_request(root)
    common = scenario_overrides(list(overrides))
    configs = arm_configs(common, names, baseline)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = resolved_dict(cfg)
    save_config(data, out_dir)
    (out_dir / "scenarios.json").write_text(json.dumps(configs, indent=1, default=str))

    from sim.engine.experiment import Point, run_experiment

    _say(f"{len(names)} scenarios x {root.replicates} replicates x {root.days} days, paired on "
         f"replicate ids{'' if root.crn else ' (crn=false: independent keys except the baseline)'}"
         f"; output {out_dir}")  # fmt: skip
    points = [Point(configs[n], {"scenario": n}) for n in names]
    result = run_experiment(
        points, out_dir, replicates=root.replicates, workers=root.workers,
        executor=data["executor"], retry_failed=root.retry_failed, precision=root.precision,
        min_replicates=root.min_replicates, max_replicates=root.max_replicates,
        progress=root.progress)
    write_manifest(out_dir, data, {"scenarios": names, "baseline": baseline,
                                   "replicates": result.replicates,
                                   "timings_s": {"total": round(time.perf_counter() - started, 3),
                                                 **result.timings}})
    if result.failures:
        print(f"gapsim: {result.failed} replicates failed; rerun with retry_failed=true",
              file=sys.stderr)
        return 1
    report, summaries = build_report(out_dir, configs, names, baseline, say=_say)
    for s in summaries:
        print(s.text())
    print(f"report: {report}")
    print(f"handout: {out_dir / 'handout.pdf'}")
    print(f"output: {out_dir}")
    return 0


def run_facts(configs: dict[str, dict], names: list[str], baseline: str, runs: pd.DataFrame,
              crn: bool) -> list[str]:
    """The lines that open the report: horizon, replicates, pairing, seed."""
    base = configs[baseline]
    starts = {n: configs[n]["scenario"].get("start_date") for n in names}
    if len(set(starts.values())) == 1:
        when = f"from {starts[baseline]} (every scenario's start date)"
    else:
        when = "from each scenario's own start date (" + ", ".join(
            f"{n} {d}" for n, d in starts.items()) + ")"
    n = int(runs.groupby("scenario")["replicate"].nunique().min())
    pairing = ("common random numbers: replicate r of every scenario draws the same random "
               "numbers" if crn else "crn=false: the baseline keeps common random numbers, the "
               "other scenarios draw independent ones")  # fmt: skip
    return [
        f"Horizon: {base['days']} simulated days {when}.",
        f"Replicates: {n} per scenario, paired replicate by replicate against {baseline} "
        f"({pairing}); seed {base['seed']}.",
        f"Scenarios: {', '.join(names)}; baseline {baseline}.",
    ]


def build_report(out_dir: Path, configs: dict[str, dict], names: list[str], baseline: str,
                 say=lambda text: None) -> tuple[Path, list[Any]]:
    """Tables (CSV), figures (PNG + SVG), the HTML report and the handout, from the run's
    tables. Returns the report's path and the per-scenario summaries."""
    from sim.analysis import compare as cmp
    from sim.analysis.density import DensityPanel, plot_density_panels
    from sim.analysis.figures import plot_monthly
    from sim.analysis.forest import forest_outcomes, plot_forest
    from sim.analysis.handout import write_handout
    from sim.analysis.report import ReportInputs, write_report
    from sim.config.load import config_from_dict
    from sim.engine.pairing import control_variates, crn_efficiency
    from sim.engine.stats import Resampler
    from sim.outcomes import OUTCOMES, directed, headline
    from sim.terrain.builder import get_terrain
    from sim.validation.posterior import plausible_world_lines

    runs = pd.read_parquet(out_dir / "runs.parquet")
    ts = pd.read_parquet(out_dir / "timeseries.parquet")
    incidents = pd.read_parquet(out_dir / "incidents.parquet")
    say("statistics (bootstrap intervals, pairing efficiency, control variates)")
    boot = Resampler()
    summary, diffs = cmp.comparison_tables(runs, baseline, boot)
    outcomes = cmp.compared_outcomes(runs)
    eff = crn_efficiency(runs, baseline, outcomes, resampler=boot)
    controls = [o.name for o in OUTCOMES.values() if o.exogenous and o.name in runs.columns]
    expected = {}
    for c in controls:
        fn = OUTCOMES[c].expected
        # If the model no longer has the parameter, the control is used between arms only.
        with contextlib.suppress(KeyError, TypeError, ValueError):
            if fn is not None:
                expected[c] = fn(configs[baseline])
    cv = control_variates(runs, baseline, outcomes, controls, expected, resampler=boot)
    summary.to_csv(out_dir / "summary.csv", index=False)
    diffs.to_csv(out_dir / "paired_differences.csv", index=False)
    eff.to_csv(out_dir / "crn_efficiency.csv", index=False)
    cv.to_csv(out_dir / "control_variates.csv", index=False)

    others = [n for n in names if n != baseline]
    summaries = cmp.scenario_summaries(runs, diffs, others)
    crn = bool(configs[others[0]]["crn"]) if others else True
    facts = run_facts(configs, names, baseline, runs, crn)
    n = int(diffs["n"].max()) if len(diffs) else 0
    days = int(configs[baseline]["days"])
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(exist_ok=True)
    heads = headline()

    say("figure 1/3: forest plot")  # drawing takes seconds per figure: say what is going on
    forest = figures_dir / "forest.png"
    plot_forest(diffs, forest_outcomes(diffs, heads), forest)
    say("figure 2/3: incident maps on one colour scale")
    panels = []
    reps = runs.groupby("scenario")["replicate"].nunique()
    for name in names:
        c = config_from_dict(configs[name])
        panels.append(DensityPanel(name, get_terrain(c.terrain, c.gap_width_km),
                                   incidents[incidents["scenario"] == name], int(reps[name])))
    density = figures_dir / "density.png"
    plot_density_panels(panels, density, days=days)
    density_row = figures_dir / "density_row.png"  # the handout's: one row, same scale
    plot_density_panels(panels, density_row, days=days, ncols=len(panels), dpi=100)
    say("figure 3/3: series over time")
    series = figures_dir / "series.png"
    plot_monthly(ts, series, title="Scenarios compared", order=names)

    figures = [
        (forest, f"Change from {baseline} per outcome: headline outcomes and every outcome that "
                 "gets clearly worse (mean and 95% interval; colour = verdict)"),
        (density, "Where incidents happen: incidents per km² per replicate, one colour scale "
                  "for every scenario"),
        (series, "Series over time: median and 10-90% band across replicates"),
    ]
    manifest = json.loads((out_dir / "manifest.json").read_text())
    git = manifest.get("git") or {}
    command = manifest.get("command") or ""
    provenance = {
        "command (in a clone at the commit below)": f"uv run {command}",
        "check": f"uv run gapsim reproduce {out_dir}",
        "git commit": f"{git.get('commit')}{' (with uncommitted changes)' if git.get('dirty') else ''}",
        "seed": configs[baseline]["seed"], "common random numbers": crn,
        "replicates": n, "days": days,
        "intervals": f"bootstrap percentile, {boot.resamples} resamples, seed {boot.seed}",
        "versions": ", ".join(f"{k} {v}" for k, v in versions().items()),
    }
    scenarios = [{"name": nm, "description": configs[nm]["scenario"].get("description", ""),
                  "start_date": configs[nm]["scenario"].get("start_date", ""),
                  "sources": configs[nm]["scenario"].get("sources", [])} for nm in names]
    heads_only = lambda t: t[t["outcome"].isin(heads)]  # noqa: E731
    title = f"gapsim: {len(others)} scenario{'s' if len(others) != 1 else ''} compared with {baseline}"
    interval_note = cmp.reliability_note(n)
    say("report.html and handout.pdf")
    report = write_report(out_dir / "report.html", ReportInputs(
        title=title, run_facts=facts, interval_note=interval_note, summaries=summaries,
        summary=summary, diffs=diffs, efficiency=heads_only(eff), controls=heads_only(cv),
        figures=figures, scenarios=scenarios, provenance=provenance,
        # issue 15: how parameters were set; with parameters=posterior, the share of plausible
        # worlds in which each scenario does better (sim/validation/posterior.py)
        notes=plausible_world_lines(runs, baseline, names, directed(heads))))
    write_handout(out_dir / "handout.pdf", title=title, facts=[*facts, interval_note],
                  summary=[s.text() for s in summaries], images=[forest, density_row],
                  footer=f"Reproduce: uv run {command}  (git {git.get('commit')})")
    return report, summaries
