"""`gapsim validate`: the pattern suite with negative controls, and the fitted targets apart.

Runs every arm the checks need (``sim.validation.patterns.ARMS``) and, for each check, the same
arms with its mechanism switched off (``sim.validation.controls``); prints, per check, held / not
held and identifiable / built in; and prints the calibration targets in a separate table
(fitted: never validation). ``parameters=posterior`` runs every world on a posterior draw, the
same draw in every arm, so the patterns are checked on parameter sets tuned to the targets only.
``controls=false`` skips the negative controls (half the runs; nothing then counts).

Writes ``validation.csv``, ``targets_fit.csv``, ``figures/validation.png`` and the manifest.
Exit code 0 when every check is held and identifiable, 1 otherwise (2 for bad input).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from sim.commands.common import guarded, output_dir, save_config, write_manifest
from sim.config.load import compose_config, resolved_dict, to_config
from sim.validation import controls as ctl
from sim.validation.patterns import CHECKS, Tables

_SELECTION_KEYS = ("scenario", "days", "gap_width_km", "coordination", "scenarios", "baseline")


@guarded
def validate_task(cfg: DictConfig) -> int:
    from hydra.core.hydra_config import HydraConfig

    from sim.engine.experiment import Point, run_experiment

    started = time.perf_counter()
    root = to_config(cfg)
    with_controls = _controls_flag(root.extra)
    ctl.check_mechanisms()
    common = [o for o in HydraConfig.get().overrides.task
              if o.partition("=")[0].lstrip("+~") not in _SELECTION_KEYS
              and not o.lstrip("+").startswith("extra.")]
    runs = ctl.plan(CHECKS, controls=with_controls)
    points = [Point(compose_config([*common, *run.overrides()]), {"scenario": run.label})
              for run in runs]
    out_dir = output_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    data = resolved_dict(cfg)
    save_config(data, out_dir)
    print(f"validation: {len(CHECKS)} checks of DOMAIN 5c facts "
          f"{sorted({c.fact for c in CHECKS})}, {len(runs)} arms "
          f"({'with' if with_controls else 'WITHOUT'} negative controls) x {root.replicates} "
          f"replicates; parameters: {root.parameters}", flush=True)
    result = run_experiment(points, out_dir, replicates=root.replicates, workers=root.workers,
                            executor=data["executor"], retry_failed=root.retry_failed,
                            progress=root.progress)
    if result.failures:
        print(f"gapsim: {result.failed} replicates failed; rerun with retry_failed=true",
              file=sys.stderr)
        return 1
    tables = Tables(pd.read_parquet(out_dir / "runs.parquet"),
                    pd.read_parquet(out_dir / "timeseries.parquet"),
                    pd.read_parquet(out_dir / "incidents.parquet"))
    table = ctl.classify(tables) if with_controls else _without_controls(tables)
    table.to_csv(out_dir / "validation.csv", index=False)
    fit = fitted_targets(tables.arm("status_quo").runs, 365.0)
    fit.to_csv(out_dir / "targets_fit.csv", index=False)
    from sim.analysis.validation_figure import plot_validation

    plot_validation(table, out_dir / "figures" / "validation.png")
    summary = ctl.facts_summary(table)
    write_manifest(out_dir, data, {"arms": [r.label for r in runs], "replicates": root.replicates,
                                   "parameters": root.parameters, "controls": with_controls,
                                   "summary": summary,
                                   "timings_s": {"total": round(time.perf_counter() - started, 3)}})
    print(format_table(table))
    print()
    print(format_fit(fit))
    print()
    print(f"DOMAIN 5c facts tested: {summary['facts_tested']} (9 and 10 are fitted targets); "
          f"facts with an identifiable check: {summary['facts_counted']}")
    print(f"checks counted as validation (held and identifiable): {summary['checks_counted']} "
          f"of {summary['checks']}; verdicts: {summary['verdicts']}")
    print(f"output: {out_dir}")
    return 0 if bool(table["counts"].all()) else 1


def _controls_flag(extra: dict) -> bool:
    from sim.errors import ConfigError

    value = (extra or {}).get("controls", True)
    if not isinstance(value, bool):
        raise ConfigError("extra.controls", value, "must be true or false")
    return value


def _without_controls(tables: Tables) -> pd.DataFrame:
    from sim.validation.patterns import evaluate

    table = evaluate(tables)
    table["held_without"] = None
    table["control_value"] = table["control_low"] = table["control_high"] = np.nan
    table["verdict"] = [ctl.NOT_HELD if not h else "not controlled" for h in table["held"]]
    table["counts"] = False
    return table


def fitted_targets(runs: pd.DataFrame, days: float) -> pd.DataFrame:
    """The 2020 targets on the status quo arm: the statistic per world (posterior) or per
    replicate (point estimate), its 90 % band, the observation and its 90 % error band."""
    from sim.validation import targets as tg

    chosen = list(tg.TARGETS.values())
    by = "posterior_world" if "posterior_world" in runs.columns else "replicate"
    samples = tg.per_draw(runs, days, chosen, by=by)
    out = tg.predictive_table(samples, chosen)
    out["fitted"] = True
    return out


def format_table(table: pd.DataFrame) -> str:
    lines = [f"{'check':<56} {'value [95% CI]':<26} {'criterion':<34} {'held':<5} "
             f"{'mechanism':<19} {'without it':<26} verdict"]
    for _, r in table.iterrows():
        ci = f"{r['value']:.3g} [{r['low']:.3g}, {r['high']:.3g}]"
        without = ("-" if r["held_without"] is None or pd.isna(r["held_without"]) else
                   f"{r['control_value']:.3g} ({'held' if r['held_without'] else 'gone'})")
        lines.append(f"{r['pattern'][:56]:<56} {ci:<26} {r['criterion'][:34]:<34} "
                     f"{'yes' if r['held'] else 'NO':<5} {r['mechanism'][:19]:<19} "
                     f"{without:<26} {r['verdict']}")
    return "\n".join(lines)


def format_fit(fit: pd.DataFrame) -> str:
    lines = ["calibration targets (FITTED by gapsim calibrate: a check of the fit, not validation)",
             f"  {'target':<44} {'observed':>9} {'simulated 90% band (+obs. error)':>34}  covered"]
    for _, r in fit.iterrows():
        band = f"[{r['pred_low']:.3g}, {r['pred_high']:.3g}]"
        lines.append(f"  {r['label'][:44]:<44} {r['observed']:>9.3g} {band:>34}  "
                     f"{'yes' if r['covered'] else 'no'}")
    return "\n".join(lines)
