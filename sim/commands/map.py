"""`gapsim map`: the terrain map of a configuration (no replicates run)."""

from __future__ import annotations

from omegaconf import DictConfig

from sim.commands.common import guarded, output_dir
from sim.config.load import to_config


@guarded
def map_task(cfg: DictConfig) -> int:
    config = to_config(cfg)
    from sim.analysis.maps import plot_terrain_map
    from sim.terrain.builder import get_terrain

    terrain = get_terrain(config.terrain, config.gap_width_km)
    out = output_dir() / "map.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_terrain_map(terrain, out, title=f"Qarachogh terrain, gap {config.gap_width_km:g} km")
    print(f"map: {out}")
    return 0
