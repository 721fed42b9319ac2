"""Terrain of the Qarachogh ridge and the Makhmour plain as numpy layers, geometry and a frame."""

from sim.terrain.builder import (
    build_terrain,
    clear_terrain_cache,
    get_terrain,
    load_terrain_config,
    terrain_key,
)
from sim.terrain.frame import Frame
from sim.terrain.layers import LandUse, Zone
from sim.terrain.schema import DemConfig, TerrainConfig
from sim.terrain.spec import TerrainSpec, parse_terrain
from sim.terrain.terrain import LAYER_NAMES, Road, Settlement, Terrain
from sim.terrain.validate import validate_terrain

__all__ = [
    "LAYER_NAMES",
    "DemConfig",
    "Frame",
    "LandUse",
    "Road",
    "Settlement",
    "Terrain",
    "TerrainConfig",
    "TerrainSpec",
    "Zone",
    "build_terrain",
    "clear_terrain_cache",
    "get_terrain",
    "load_terrain_config",
    "parse_terrain",
    "terrain_key",
    "validate_terrain",
]
