"""`gapsim validate`: run the pattern suite, print a table, write CSV and a figure.

Exit code 0 when every pattern holds, 1 when any fails (2 for bad input, as everywhere).
The arms (status quo, gap widths, withdrawal, coordination levels, a three-year run) share replicate
ids and the seed, so their comparisons are paired.
"""

from __future__ import annotations

import sys
import time

import pandas as pd
from omegaconf import DictConfig

from sim.commands.common import guarded, output_dir, save_config, write_manifest
from sim.config.load import compose_config, resolved_dict, to_config
from sim.validation.patterns import ARMS, Tables, evaluate

_SELECTION_KEYS = ("scenario", "days", "gap_width_km", "coordination", "scenarios", "baseline")


@guarded
def validate_task(cfg: DictConfig) -> int:
    from hydra.core.hydra_config import HydraConfig

    from sim.engine.experiment import Point, run_experiment

    started = time.perf_counter()
    root = to_config(cfg)
    common = [o for o in HydraConfig.get().overrides.task
              if o.partition("=")[0].lstrip("+~") not in _SELECTION_KEYS]
    points = [Point(compose_config([*common, *arm.overrides, f"days={arm.days}"]),
                    {"scenario": arm.label}) for arm in ARMS]
    out_dir = output_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    data = resolved_dict(cfg)
    save_config(data, out_dir)
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
    table = evaluate(tables)
    table.to_csv(out_dir / "validation.csv", index=False)
    from sim.analysis.validation_figure import plot_validation

    plot_validation(table, out_dir / "figures" / "validation.png")
    write_manifest(out_dir, data, {"arms": [a.label for a in ARMS], "replicates": root.replicates,
                                   "patterns_held": int(table["held"].sum()),
                                   "patterns": len(table),
                                   "timings_s": {"total": round(time.perf_counter() - started, 3)}})
    print(format_table(table))
    print(f"{int(table['held'].sum())}/{len(table)} patterns held")
    print(f"output: {out_dir}")
    return 0 if table["held"].all() else 1


def format_table(table: pd.DataFrame) -> str:
    lines = [f"{'pattern':<52} {'statistic':<62} {'value [95% CI]':<26} {'criterion':<36} held"]
    for _, r in table.iterrows():
        ci = f"{r['value']:.3g} [{r['low']:.3g}, {r['high']:.3g}]"
        lines.append(f"{r['pattern'][:52]:<52} {r['statistic'][:62]:<62} {ci:<26} "
                     f"{r['criterion'][:36]:<36} {'yes' if r['held'] else 'NO'}")
    return "\n".join(lines)
