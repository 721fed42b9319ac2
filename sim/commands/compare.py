"""`gapsim compare scenarios=[a,b,...] baseline=a`: paired scenario comparison and an HTML report.

Why paired: every scenario runs replicate ids 0..n-1 with the same seed, so with ``crn=true`` the
arms share their random numbers purpose by purpose and day by day; differences are taken
replicate by replicate and their intervals are much tighter than those of independent runs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from sim.commands.common import (
    guarded,
    invocation,
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
    configs = {name: compose_config([*common, f"scenario={name}"]) for name in names}
    out_dir.mkdir(parents=True, exist_ok=True)
    data = resolved_dict(cfg)
    save_config(data, out_dir)
    (out_dir / "scenarios.json").write_text(json.dumps(configs, indent=1, default=str))

    from sim.engine.experiment import Point, run_experiment

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
    report = build_report(out_dir, configs, names, baseline)
    print(f"report: {report}")
    print(f"output: {out_dir}")
    return 0


def build_report(out_dir: Path, configs: dict[str, dict], names: list[str], baseline: str) -> Path:
    """Tables (CSV), figures (PNG + SVG) and the HTML report, from the run's tables."""
    from sim.analysis.compare import comparison_tables, plot_forest, summary_lines
    from sim.analysis.figures import plot_monthly
    from sim.analysis.maps import plot_incident_density
    from sim.analysis.report import write_report
    from sim.config.load import config_from_dict
    from sim.terrain.builder import get_terrain

    runs = pd.read_parquet(out_dir / "runs.parquet")
    ts = pd.read_parquet(out_dir / "timeseries.parquet")
    incidents = pd.read_parquet(out_dir / "incidents.parquet")
    summary, diffs = comparison_tables(runs, baseline)
    summary.to_csv(out_dir / "summary.csv", index=False)
    diffs.to_csv(out_dir / "paired_differences.csv", index=False)
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(exist_ok=True)
    forest = figures_dir / "forest.png"
    plot_forest(diffs, forest)
    monthly = figures_dir / "monthly.png"
    fig = plot_monthly(ts, None, title="Scenarios compared")
    fig.savefig(monthly, dpi=130)
    fig.savefig(monthly.with_suffix(".svg"))
    figures = [(forest, "Change from the baseline per outcome (mean, 95% interval)"),
               (monthly, "Monthly series: median and 10-90% band across replicates")]
    for name in names:
        cfg = config_from_dict(configs[name])
        terrain = get_terrain(cfg.terrain, cfg.gap_width_km)
        sub = incidents[incidents["scenario"] == name]
        path = figures_dir / f"density_{name}.png"
        if len(sub):
            f = plot_incident_density(terrain, sub, None, title=f"{name}: incidents per km2")
            f.savefig(path, dpi=110)
            f.savefig(path.with_suffix(".svg"))
            figures.append((path, f"{name}: where incidents happen (per km2, per replicate)"))
    scenarios = [{"name": n, "description": configs[n]["scenario"].get("description", ""),
                  "sources": configs[n]["scenario"].get("sources", [])} for n in names]
    manifest = json.loads((out_dir / "manifest.json").read_text())
    provenance = {
        "command": " ".join(invocation()),
        "seed": configs[baseline]["seed"], "crn": configs[baseline]["crn"],
        "replicates": int(runs.groupby("scenario")["replicate"].nunique().min()),
        "days": configs[baseline]["days"], "git": manifest.get("git"),
        "versions": ", ".join(f"{k} {v}" for k, v in versions().items()),
    }
    lines = summary_lines(diffs, [n for n in names if n != baseline])
    # issue 15 (sim/validation/posterior.py): how parameters were set, and with
    # parameters=posterior the share of plausible worlds in which each scenario does better.
    from sim.analysis.compare import HEADLINE, OUTCOMES
    from sim.validation.posterior import plausible_world_lines

    lines += plausible_world_lines(runs, baseline, names, {o: OUTCOMES[o] for o in HEADLINE})
    return write_report(out_dir / "report.html", title=f"gapsim: scenarios compared with {baseline}",
                        lines=lines, scenarios=scenarios, summary=summary, diffs=diffs,
                        figures=figures, provenance=provenance)
