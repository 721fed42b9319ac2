"""Structured-config schema of the terrain group (``configs/terrain/*.yaml``).

Why: Hydra merges ``configs/terrain/<name>.yaml`` into this dataclass, so types are checked at
composition time (``terrain.cell_m=abc`` fails early). Geometry lists (settlements, roads, ...) stay
``list[Any]`` because OmegaConf cannot type heterogeneous nested lists; their content is checked by
:func:`sim.terrain.validate.validate_terrain`. All lengths are in km unless a name says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DemConfig:
    """Where the elevation comes from.

    Attributes:
        source: ``procedural`` (default, built from ``relief``), ``npy`` or ``geotiff``.
        path: file path for ``npy``/``geotiff`` (relative to the working directory).
        transform: for ``npy`` only, six numbers ``[a, b, c, d, e, f]`` in km of the local frame
            (affine/rasterio order): ``x = c + a*col + b*row``, ``y = f + d*col + e*row`` where
            ``(col, row) = (0, 0)`` is the outer corner of the first pixel (GDAL corner convention).
        band: raster band for ``geotiff`` (1-based).
    """

    source: str = "procedural"
    path: str = ""
    transform: list[Any] = field(default_factory=list)
    band: int = 1


@dataclass
class TerrainConfig:
    """The ``terrain`` config group: extent, resolution, relief and vector features.

    Attributes:
        name: preset name (for labels).
        cell_m: cell size in metres (50..1000).
        x_min_km, x_max_km, y_min_km, y_max_km: extent in km around the origin (Makhmour town).
        frame: ``{origin: str, origin_latlon: [lat, lon]}`` (needed for GeoTIFF DEMs).
        dem: elevation source, see :class:`DemConfig`.
        relief: procedural relief: plain level, regional slope, noise, ridges, domes, ravines, caves.
        settlements: ``{name, at_km, pop, kurd, sunni_arab, kind, market, own_security,
            self_defence, radius_km?}`` entries.
        places: other named places ``{name, at_km, kind}`` (kind ``valley``/``rugged`` shapes relief).
        truffle_grounds: ``{name, polygon_km}`` steppe patches where truffles are hunted.
        roads: ``{name, polyline_km}``; polylines may leave the extent (they are clipped).
        rivers: ``{name, polyline_km, width_km, trench_m, crossings: [{name, at_km}]}``.
        lines: ``{peshmerga: {follow, offset_km}, pmf_sector: {polygon_km}}``; the Iraqi line is the
            Peshmerga line offset by ``gap_width_km`` (a model parameter) toward the SW plain.
        land: land-use thresholds and settlement densities.
    """

    name: str = "qarachogh"
    cell_m: float = 250.0
    x_min_km: float = -22.0
    x_max_km: float = 28.0
    y_min_km: float = -35.0
    y_max_km: float = 30.0
    frame: dict[str, Any] = field(default_factory=dict)
    dem: DemConfig = field(default_factory=DemConfig)
    relief: dict[str, Any] = field(default_factory=dict)
    settlements: list[Any] = field(default_factory=list)
    places: list[Any] = field(default_factory=list)
    truffle_grounds: list[Any] = field(default_factory=list)
    roads: list[Any] = field(default_factory=list)
    rivers: list[Any] = field(default_factory=list)
    lines: dict[str, Any] = field(default_factory=dict)
    land: dict[str, Any] = field(default_factory=dict)
