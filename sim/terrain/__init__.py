"""Terrain of the Qarachogh ridge and the Makhmour plain as numpy layers, geometry and a frame.

The names below are imported on first use (PEP 562): ``sim.terrain.schema``, which every config
load reaches, must not pull in the builder and scipy, shapely and pyproj with it; ``from
sim.terrain import build_terrain`` works as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the submodule that defines it.
_WHERE = {
    "build_terrain": "builder",
    "clear_terrain_cache": "builder",
    "get_terrain": "builder",
    "load_terrain_config": "builder",
    "terrain_key": "builder",
    "Frame": "frame",
    "LandUse": "layers",
    "Zone": "layers",
    "DemConfig": "schema",
    "TerrainConfig": "schema",
    "TerrainSpec": "spec",
    "parse_terrain": "spec",
    "LAYER_NAMES": "terrain",
    "Road": "terrain",
    "Settlement": "terrain",
    "Terrain": "terrain",
    "validate_terrain": "validate",
}

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
assert sorted(__all__) == sorted(_WHERE)


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
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
