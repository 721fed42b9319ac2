"""Check a terrain configuration and a gap width before any work starts.

Why: ``gapsim`` validates a whole request (``sim.config.schema.validate_config``) before it
writes anything. For the terrain that means the typed schema (:mod:`sim.terrain.spec`), the
geometry that only exists for a gap width (:mod:`sim.terrain.geometry`: is the Iraqi line still
on the map?) and a readable DEM file -- the first steps of the build, without the rasters.
"""

from __future__ import annotations

from typing import Any

from sim.terrain.dem import load_dem
from sim.terrain.frame import Frame
from sim.terrain.geometry import build_geometry
from sim.terrain.grid import Grid
from sim.terrain.spec import TerrainSpec, parse_terrain


def validate_terrain(tcfg: Any, gap_width_km: float) -> TerrainSpec:
    """Check the terrain config and the gap width; return the validated spec.

    Args:
        tcfg: ``cfg.terrain`` (``DictConfig``), a ``TerrainConfig`` or a dict.
        gap_width_km: distance between the Peshmerga and the Iraqi line (km).

    Raises:
        ConfigError: on the first invalid value, naming its dotted key (``terrain.cell_m``, ...).
    """
    spec = parse_terrain(tcfg)
    grid = Grid.of(spec)
    build_geometry(spec, grid, gap_width_km)
    if spec.dem.source != "procedural":  # read it now: a bad file must fail before anything
        load_dem(spec.dem, grid, Frame.at(spec.frame.origin_latlon))
    return spec
