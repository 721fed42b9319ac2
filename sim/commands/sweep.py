"""`gapsim sweep experiment=NAME`: a study (design x replicates) through the engine, with figures;
`gapsim collect DIR`: a Hydra multirun's jobs gathered into the same tidy table.

Why one Hydra job for the whole study (rather than one job per point as with ``gapsim run -m``):
the engine then schedules every replicate of every design point on one executor (local processes
or Ray), resumes at the level of single replicates, and the analysis sees the whole design. The
output directory holds, besides the engine's tables, ``sweep.parquet``/``sweep.csv`` (one row per
design point and replicate: ``design_point``, one column per factor, every outcome),
``design.csv``, ``study.yaml``, ``summary.csv`` (per point: mean and 95% interval), the indices
or effects of the design, and ``figures/``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from sim.commands.common import guarded, output_dir, save_config, write_manifest, write_text_atomic
from sim.config.load import resolved_dict, to_config
from sim.config.schema import Config
from sim.errors import ConfigError
from sim.experiments.study import StudyPlan, load_study, plan_study

#: Outcomes analysed when a study names none.
DEFAULT_OUTCOMES = ("incidents", "kidnappings", "fighters_final", "gap_control")


def validate_request(config: Config, overrides: list[str]) -> StudyPlan:
    """Load the study and build its design against the overrides (no files written)."""
    study = load_study(config.experiment, config.design_size)
    return plan_study(study, overrides)


@guarded
def sweep_task(cfg: DictConfig) -> int:
    """Hydra task of `gapsim sweep`."""
    from hydra.core.hydra_config import HydraConfig

    return sweep_into(cfg, output_dir(), list(HydraConfig.get().overrides.task))


def sweep_into(cfg: DictConfig, out_dir: Path, overrides: list[str]) -> int:
    """What `gapsim sweep` does, into ``out_dir`` (also called by ``sim.api.sweep``).

    Args:
        overrides: the request's words (those that are not sweep selectors apply to every point).
    """
    from sim.engine.experiment import run_from_config
    from sim.experiments.analysis import sweep_table
    from sim.experiments.collect import write_table

    started = time.perf_counter()
    root = to_config(cfg)
    data = resolved_dict(cfg)
    plan = validate_request(root, list(overrides))
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(data, out_dir)
    write_text_atomic(out_dir / "base_config.yaml", OmegaConf.to_yaml(OmegaConf.create(plan.base)))
    study_yaml = OmegaConf.to_yaml(OmegaConf.create(json.loads(json.dumps(
        {**plan.study.to_dict(), "design_info": plan.info}, default=str))))  # fmt: skip
    write_text_atomic(out_dir / "study.yaml", study_yaml)
    design = plan.design.copy()
    for j, f in enumerate(plan.study.all_factors):
        design[f"unit_{f.name}"] = plan.unit[:, j]
    design.to_csv(out_dir / "design.csv", index=False)

    result = run_from_config(plan.base, out_dir, points=plan.points)
    runs = pd.read_parquet(result.tables["runs"]) if "runs" in result.tables else pd.DataFrame()
    table = sweep_table(plan, runs) if len(runs) else runs
    write_table(table, out_dir)
    outputs: list[Path] = []
    if len(table):
        outputs = analyse_once(plan, table, out_dir)
    n_rep = sorted(set(result.replicates))
    write_manifest(out_dir, data, {
        "experiment": plan.study.name,
        "study_file": str(plan.study.path),
        "design": plan.info,
        "replicates": n_rep[0] if len(n_rep) == 1 else result.replicates,
        "rows": len(table),
        "jobs": {"total": result.total, "computed": result.done, "resumed": result.skipped,
                 "failed": result.failed},
        "timings_s": {"total": round(time.perf_counter() - started, 3),
                      **{k: round(v, 3) for k, v in result.timings.items()}},
    })  # fmt: skip
    reps = n_rep[0] if len(n_rep) == 1 else f"{min(n_rep)}-{max(n_rep)}"
    print(
        f"study {plan.study.name}: {len(plan.design)} design points x {reps} replicates = "
        f"{len(table)} rows ({plan.info['type']}, {len(plan.points)} distinct configurations)"
    )
    print(
        f"{result.done} replicates computed, {result.skipped} resumed, {result.failed} failed "
        f"({result.timings.get('wall_s', 0):.1f} s)"
    )
    print(f"table: {out_dir / 'sweep.parquet'}")
    for path in outputs:
        print(f"  {path.relative_to(out_dir)}")
    print(f"output: {out_dir}")
    if result.failures:
        print(f"gapsim: {result.failed} replicates failed ({result.failures[0].describe()}); "
              f"details in {out_dir / 'shards' / 'failures'}; rerun with retry_failed=true",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def analyse_once(plan: StudyPlan, table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``analyse`` unless the same study and table were analysed into ``out_dir`` already
    (a resumed sweep with nothing new to compute redraws nothing)."""
    import hashlib

    digest = hashlib.sha256(json.dumps(plan.study.to_dict(), sort_keys=True, default=str).encode())
    digest.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    stamp = out_dir / "figures" / ".analysed"
    listed = out_dir / "figures" / ".outputs.json"
    if stamp.is_file() and listed.is_file() and stamp.read_text() == digest.hexdigest():
        paths = [out_dir / p for p in json.loads(listed.read_text())]
        if all(p.exists() for p in paths):
            return paths
    outputs = analyse(plan, table, out_dir)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(listed, json.dumps([str(p.relative_to(out_dir)) for p in outputs]))
    write_text_atomic(stamp, digest.hexdigest())
    return outputs


def analyse(plan: StudyPlan, table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Summary, the design's indices or effects (CSV) and the study's figures (PNG + SVG)."""
    from sim.analysis import sweep_figures as figs
    from sim.experiments import analysis

    study = plan.study
    names = [f.name for f in study.all_factors]
    outcomes = list(study.outcomes or DEFAULT_OUTCOMES)
    days = int(plan.base.get("days") or 0) or None
    labels = {f.name: figs.factor_label(f.name, f.key, f.kind) for f in study.all_factors}
    orders = {f.name: list(f.levels) for f in study.all_factors if f.levels}
    written: list[Path] = []
    summary = analysis.point_summary(table, names, outcomes)
    summary.to_csv(out_dir / "summary.csv", index=False)
    written.append(out_dir / "summary.csv")
    fig_dir = out_dir / "figures"
    kind = study.design.type
    indices: dict[str, pd.DataFrame] = {}
    if kind == "sobol":
        first_total, second = analysis.sobol_indices(plan, table, outcomes)
        first_total.to_csv(out_dir / "sobol_indices.csv", index=False)
        written.append(out_dir / "sobol_indices.csv")
        if len(second):
            second.to_csv(out_dir / "sobol_second_order.csv", index=False)
            written.append(out_dir / "sobol_second_order.csv")
        indices["sobol"] = first_total
    elif kind == "morris":
        indices["morris"] = analysis.morris_indices(plan, table, outcomes)
        indices["morris"].to_csv(out_dir / "morris_indices.csv", index=False)
        written.append(out_dir / "morris_indices.csv")
    if kind in ("lhs", "nolh") or any(f.kind == "effects" for f in study.figures):
        indices["effects"] = analysis.regression_effects(plan, table, outcomes)
        indices["effects"].to_csv(out_dir / "effects.csv", index=False)
        written.append(out_dir / "effects.csv")
    for spec in study.figures:
        chosen = list(spec.outcomes or outcomes)
        if spec.kind == "heatmap":
            for outcome in chosen:
                written += figs.plot_heatmap(
                    summary, outcome, spec.x, spec.y, fig_dir / f"heatmap_{outcome}.png",
                    x_label=labels[spec.x], y_label=labels[spec.y], y_order=orders.get(spec.y),
                    days=days)  # fmt: skip
        elif spec.kind == "lines":
            written += figs.plot_lines(
                summary, chosen, spec.x, spec.by, fig_dir / f"lines_{spec.x}_by_{spec.by}.png",
                x_label=labels[spec.x], by_label=labels[spec.by], by_order=orders.get(spec.by),
                days=days)  # fmt: skip
        elif spec.kind == "sobol":
            sub = indices["sobol"][indices["sobol"]["outcome"].isin(chosen)]
            written += figs.plot_sobol(sub, fig_dir / "sobol_indices.png", labels=labels)
        elif spec.kind == "morris":
            sub = indices["morris"][indices["morris"]["outcome"].isin(chosen)]
            written += figs.plot_morris(sub, fig_dir / "morris_mu_sigma.png", labels=labels,
                                        days=days)  # fmt: skip
        elif spec.kind == "effects":
            sub = indices["effects"][indices["effects"]["outcome"].isin(chosen)]
            written += figs.plot_effects(sub, fig_dir / "effects.png", labels=labels)
        elif spec.kind == "scatter":
            for outcome in chosen:
                written += figs.plot_scatter(
                    summary, outcome, names, fig_dir / f"scatter_{outcome}.png", labels=labels,
                    orders=orders, days=days)  # fmt: skip
    return [p for p in written if p.suffix != ".svg"]


def collect_command(args: list[str]) -> int:
    """`gapsim collect DIR [out=DIR2]`: a multirun's job tables -> ``sweep.parquet`` + CSV."""
    from sim.experiments.collect import collect_multirun, write_table

    paths = [a for a in args if "=" not in a]
    options: dict[str, Any] = dict(a.split("=", 1) for a in args if "=" in a)
    for key in options:
        if key != "out":
            raise ConfigError(key, options[key], "gapsim collect takes DIR and optionally out=DIR")
    if len(paths) != 1:
        raise ConfigError("collect", " ".join(args), "give one multirun directory: "
                          "gapsim collect results/multirun/<timestamp>")  # fmt: skip
    table = collect_multirun(paths[0])
    out = Path(options.get("out", paths[0]))
    parquet, _ = write_table(table, out)
    factors = [c for c in table.columns[: list(table.columns).index("replicate")]
               if c not in ("scenario", "design_point")]  # fmt: skip
    print(
        f"{table['design_point'].nunique()} design points, {len(table)} rows; factors: "
        f"{', '.join(factors) or '(none)'}"
    )
    print(f"table: {parquet}")
    return 0
