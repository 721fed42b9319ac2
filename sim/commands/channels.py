"""`gapsim channels`: attribute each coordination scenario's effect to the model's mechanisms.

Runs the arms of experiments/coordination_channels.yaml (``experiment=`` names another study file in
experiments/) on the engine -- resumable, parallel, paired by seed -- and writes ``channels.csv`` (what
each mechanism carries), ``tables_alone.csv`` (each coordination table alone) and
``figures/channels.png``. ``python -m sim.validation.channels DIR`` puts the tables in
docs/VALIDATION.md. ``replicates=`` and ``days=`` override the study's own.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from sim.commands.common import guarded, output_dir, save_config, write_manifest
from sim.config.load import compose_config, resolved_dict, to_config
from sim.validation import channels as ch

_SELECTION_KEYS = ("scenario", "scenarios", "baseline", "experiment", "replicates", "days")


@guarded
def channels_task(cfg: DictConfig) -> int:
    from hydra.core.hydra_config import HydraConfig

    from sim.engine.experiment import Point, run_experiment

    started = time.perf_counter()
    root = to_config(cfg)
    task_over = HydraConfig.get().overrides.task
    path = ch.SPEC if not root.experiment else ch.SPEC.parent / f"{root.experiment}.yaml"
    spec = ch.load_spec(path)
    given = {o.partition("=")[0].lstrip("+~") for o in task_over}
    replicates = root.replicates if "replicates" in given else spec.replicates
    days = root.days if "days" in given else spec.days
    common = [o for o in task_over if o.partition("=")[0].lstrip("+~") not in _SELECTION_KEYS]
    arms = ch.plan(spec)
    points = [Point(compose_config([*common, *arm.overrides, f"days={days}"]), {"scenario": arm.label})
              for arm in arms]
    out_dir = output_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    data = resolved_dict(cfg)
    data["days"] = days
    save_config(data, out_dir)
    print(f"channels: {len(spec.scenarios)} scenarios x {len(spec.channels)} channels, "
          f"{len(spec.tables)} tables alone: {len(arms)} arms x {replicates} replicates x {days} days",
          flush=True)
    result = run_experiment(points, out_dir, replicates=replicates, workers=root.workers,
                            executor=data["executor"], retry_failed=root.retry_failed,
                            progress=root.progress)
    if result.failures:
        print(f"gapsim: {result.failed} replicates failed; rerun with retry_failed=true", file=sys.stderr)
        return 1
    runs = pd.read_parquet(out_dir / "runs.parquet")
    attr = ch.attribute(runs, spec)
    alone = ch.tables_alone(runs, spec)
    attr.to_csv(out_dir / "channels.csv", index=False)
    alone.to_csv(out_dir / "tables_alone.csv", index=False)
    for outcome in spec.outcomes:
        ch.plot(attr, outcome, out_dir / "figures" / f"channels_{outcome}.png")
    write_manifest(out_dir, data, {"experiment": Path(path).stem, "arms": [a.label for a in arms],
                                   "replicates": replicates,
                                   "timings_s": {"total": round(time.perf_counter() - started, 3)}})
    print(ch.markdown(attr, alone, spec.outcomes[0], replicates, days))
    print(f"output: {out_dir}")
    return 0
