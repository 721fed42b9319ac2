"""`gapsim run`: one scenario, `replicates` Monte Carlo replicates, tables, figures, a summary.

Why the order below: the request (``config.yaml``) is written before the replicates start, so an
interrupted run can be resumed and inspected; the terrain (``terrain.npz``) and its map are made in
a thread while the first replicates run, off the path to the first job (a run interrupted after
its first job still waits for them; the workers build their own terrain, so nothing they compute
depends on it); the manifest, summary and result figures follow once the tables are compacted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

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
    from sim.engine.experiment import prestart

    prestart(data)  # workers get ready while the driver plans
    save_config(data, out_dir)
    figures = out_dir / "figures"
    figures.mkdir(exist_ok=True)
    for name in FIGURES:  # a rerun must not leave another run's figure behind
        (figures / name).unlink(missing_ok=True)
    # The terrain (only the driver's copy: every worker builds its own), terrain.npz and the map
    # are made in a thread started once the first job is handed out, off the path to it.
    side = _TerrainAndMap(config, out_dir, figures)

    from sim.engine.experiment import run_from_config

    try:
        result = run_from_config(data, out_dir, on_start=side.start)
    except BaseException:
        side.join(unstarted=False)  # a run stopped before its first job writes no terrain
        raise
    side.join()
    terrain, terrain_s = side.terrain, side.seconds
    import pandas as pd

    runs = pd.read_parquet(result.tables["runs"]) if "runs" in result.tables else pd.DataFrame()
    extra = {
        "scenario": config.scenario.name,
        "replicates": result.replicates,
        "replicate_ids": f"0..{max(result.replicates) - 1}" if result.replicates else "",
        "timings_s": {"total": round(time.perf_counter() - started, 3),
                      "terrain": round(terrain_s, 3), **{k: round(v, 3) for k, v in result.timings.items()}},
        "jobs": {"total": result.total, "computed": result.done, "resumed": result.skipped,
                 "failed": result.failed},
        "engine": {"point_hashes": result.identity.get("point_hashes"), "store": result.store,
                   "notes": result.notes},
    }
    write_manifest(out_dir, data, extra)
    if len(runs):
        _figures(terrain, out_dir, figures, config.scenario.name, len(runs))
        print(summary_table(runs))
    print(f"{result.done} replicates computed, {result.skipped} resumed, {result.failed} failed")
    print(f"output: {out_dir}")
    if result.failures:
        names = ", ".join(f"replicate {f.replicate}" for f in result.failures[:10])
        print(f"gapsim: {result.failed} replicates failed ({names}); details in "
              f"{out_dir / 'shards' / 'failures' / 'log.jsonl'}; rerun with retry_failed=true",
              file=sys.stderr)
        return 1
    return 0


class _TerrainAndMap:
    """Builds the terrain, writes ``terrain.npz`` and draws ``map.png`` in a thread.

    ``start`` is the engine's ``on_start``: it runs once the first job has been handed out, so
    none of this (nor the imports of scipy, shapely and matplotlib it needs) delays that job.
    ``join`` waits and re-raises an exception from the thread; if the thread was never started,
    it does the work in the caller's thread (``unstarted=True``) or nothing. After the work:
    ``terrain`` and ``seconds`` (the build's wall time).
    """

    def __init__(self, config, out_dir: Path, figures: Path) -> None:
        self._config, self._out_dir, self._figures = config, out_dir, figures
        self._thread = None
        self._error: BaseException | None = None
        self.terrain = None
        self.seconds = 0.0

    def _work(self) -> None:
        from sim.terrain.builder import get_terrain

        t0 = time.perf_counter()
        terrain = get_terrain(self._config.terrain, self._config.gap_width_km)
        self.seconds = time.perf_counter() - t0
        self.terrain = terrain
        _save_terrain(terrain, self._out_dir / "terrain.npz")  # derived: rewritten by every run
        from sim.analysis.maps import plot_terrain_map

        plot_terrain_map(terrain, self._figures / "map.png",
                         title=f"Qarachogh terrain, gap {self._config.gap_width_km:g} km")

    def _target(self) -> None:
        try:
            self._work()
        except BaseException as err:  # re-raised in the caller's thread by join()
            self._error = err

    def start(self) -> None:
        import threading

        self._thread = threading.Thread(target=self._target, name="gapsim-terrain", daemon=True)
        self._thread.start()

    def join(self, unstarted: bool = True) -> None:
        if self._thread is None:
            if unstarted:
                self._target()
        else:
            self._thread.join()
        if self._error is not None:
            raise self._error


#: Figures `gapsim run` draws (deleted before each run, so none is left from an earlier one).
FIGURES = ("map.png", "incidents_map.png", "incident_density.png", "monthly.png")


def _save_terrain(terrain, path: Path) -> None:
    """``terrain.npz``, written atomically (a temporary name cleanup recognises, then rename)."""
    import os

    from sim.engine.bundles import tmp_path

    tmp = tmp_path(path)
    try:
        terrain.save_npz(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


#: Figures read at most this many replicates (the tables keep all): memory stays flat at 10^5.
FIGURE_REPLICATES = 1000


def _figures(terrain, out_dir: Path, figures: Path, scenario: str, replicates: int) -> None:
    """Incidents over the terrain and monthly series with bands across replicates."""
    from sim.analysis.figures import plot_monthly
    from sim.analysis.maps import plot_incident_density, plot_terrain_map
    from sim.engine.scan import read_rows

    cap = FIGURE_REPLICATES if replicates > FIGURE_REPLICATES else None
    which = f"first {cap} of {replicates} replicates" if cap else "all replicates"
    incidents = read_rows(out_dir / "incidents.parquet", below_replicate=cap)
    if len(incidents):
        plot_terrain_map(terrain, figures / "incidents_map.png", incidents=incidents,
                         title=f"{scenario}: incidents, {which}")
        plot_incident_density(terrain, incidents, figures / "incident_density.png",
                              title=f"{scenario}: incidents per km2 per replicate ({which})")
    ts = read_rows(out_dir / "timeseries.parquet", below_replicate=cap)
    plot_monthly(ts, figures / "monthly.png", title=scenario if not cap else f"{scenario} ({which})")
