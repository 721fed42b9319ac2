"""Terrain of the Qarachogh ridge and the Makhmour plain as numpy layers."""

from sim.terrain.builder import (
    LAYER_NAMES,
    Road,
    Settlement,
    Terrain,
    build_terrain,
    clear_terrain_cache,
    get_terrain,
    load_terrain_config,
    terrain_key,
)
from sim.terrain.layers import LandUse, Zone
from sim.terrain.schema import DemConfig, TerrainConfig
from sim.terrain.validate import validate_terrain

__all__ = [
    "LAYER_NAMES",
    "DemConfig",
    "LandUse",
    "Road",
    "Settlement",
    "Terrain",
    "TerrainConfig",
    "Zone",
    "build_terrain",
    "clear_terrain_cache",
    "get_terrain",
    "load_terrain_config",
    "terrain_key",
    "validate_terrain",
]
