"""`gapsim run`: one scenario, `replicates` Monte Carlo replicates, tables, figures, a summary.

Why the order below: everything that describes the request (config, terrain, map) is written
before the replicates start, so an interrupted run can be resumed and inspected; the manifest,
summary and result figures follow once the tables are compacted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from sim.commands.common import (
    guarded,
    output_dir,
    save_config,
    summary_table,
    write_manifest,
)
from sim.config.load import resolved_dict, to_config


@guarded
def run_task(cfg: DictConfig) -> int:
    """Hydra task of `gapsim run` (also one job of a multirun)."""
    return run_into(cfg, output_dir())


def run_into(cfg: DictConfig, out_dir: Path) -> int:
    """What `gapsim run` does, into ``out_dir`` (also called by ``sim.api.run``); the exit code."""
    started = time.perf_counter()
    config = to_config(cfg)
    data = resolved_dict(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(data, out_dir)
    t0 = time.perf_counter()
    from sim.terrain.builder import get_terrain

    terrain = get_terrain(config.terrain, config.gap_width_km)
    terrain_s = time.perf_counter() - t0
    if not (out_dir / "terrain.npz").exists():
        terrain.save_npz(out_dir / "terrain.npz")
    figures = out_dir / "figures"
    figures.mkdir(exist_ok=True)
    from sim.analysis.maps import plot_terrain_map

    plot_terrain_map(terrain, figures / "map.png",
                     title=f"Qarachogh terrain, gap {config.gap_width_km:g} km")

    from sim.engine.experiment import run_from_config

    result = run_from_config(data, out_dir)
    runs = pd.read_parquet(result.tables["runs"]) if "runs" in result.tables else pd.DataFrame()
    extra = {
        "scenario": config.scenario.name,
        "replicates": result.replicates,
        "replicate_ids": f"0..{max(result.replicates) - 1}" if result.replicates else "",
        "timings_s": {"total": round(time.perf_counter() - started, 3),
                      "terrain": round(terrain_s, 3), **{k: round(v, 3) for k, v in result.timings.items()}},
        "jobs": {"total": result.total, "computed": result.done, "resumed": result.skipped,
                 "failed": result.failed},
    }
    write_manifest(out_dir, data, extra)
    if len(runs):
        _figures(terrain, out_dir, figures, config.scenario.name)
        print(summary_table(runs))
    print(f"{result.done} replicates computed, {result.skipped} resumed, {result.failed} failed")
    print(f"output: {out_dir}")
    if result.failures:
        names = ", ".join(f"replicate {f.replicate}" for f in result.failures[:10])
        print(f"gapsim: {result.failed} replicates failed ({names}); details in "
              f"{out_dir / 'shards' / 'failures'}; rerun with retry_failed=true", file=sys.stderr)
        return 1
    return 0


def _figures(terrain, out_dir: Path, figures: Path, scenario: str) -> None:
    """Incidents over the terrain and monthly series with bands across replicates."""
    from sim.analysis.figures import plot_monthly
    from sim.analysis.maps import plot_incident_density, plot_terrain_map

    incidents = pd.read_parquet(out_dir / "incidents.parquet")
    if len(incidents):
        plot_terrain_map(terrain, figures / "incidents_map.png", incidents=incidents,
                         title=f"{scenario}: incidents, all replicates")
        plot_incident_density(terrain, incidents, figures / "incident_density.png",
                              title=f"{scenario}: incidents per km2 per replicate")
    ts = pd.read_parquet(out_dir / "timeseries.parquet")
    plot_monthly(ts, figures / "monthly.png", title=scenario)
