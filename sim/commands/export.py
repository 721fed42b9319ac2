"""`gapsim export DIR`: a run's incidents and terrain in the formats GIS tools open.

Why: a researcher lays the simulated incidents over a satellite image or a district map in QGIS
or geopandas. This command reads only the run directory's own files -- ``incidents.parquet``,
``terrain.npz`` (or, without it, the terrain rebuilt from ``config.yaml``) -- and writes, in
``DIR/gis/`` by default:

* ``gapsim.gpkg``: a GeoPackage in WGS84 (EPSG:4326) with the layers ``incidents`` (every
  column of the table, plus ``lon``/``lat``), ``lines``, ``gap_band``, ``zones``,
  ``settlements``, ``places``, ``caves``, ``roads``, ``rivers``, ``areas`` and ``extent``;
* ``geojson/<layer>.geojson`` with ``format=geojson`` (or ``format=all``);
* ``elevation.tif``: the elevation layer as a GeoTIFF in the run's own frame (transverse
  Mercator at Makhmour, metres), and ``layers.tif`` with every terrain layer as a named band
  (cover, zone, caves, distances to the lines, ...), when rasterio (the ``geotiff`` extra) is
  installed.

Everything is written to a temporary folder first and moved into place at the end, so an
interrupted export leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from sim.errors import ConfigError

FORMATS = ("gpkg", "geojson", "all")
USAGE = "gapsim export DIR [format=gpkg|geojson|all] [out=DIR/gis]"


def export_command(args: list[str]) -> int:
    """Entry point of ``gapsim export``; returns the exit code."""
    paths = [a for a in args if "=" not in a]
    options: dict[str, str] = dict(a.split("=", 1) for a in args if "=" in a)
    for key, value in options.items():
        if key not in ("format", "out"):
            raise ConfigError(key, value, f"unknown option; usage: {USAGE}")
    if len(paths) != 1:
        raise ConfigError("export", " ".join(args), f"give one run directory; usage: {USAGE}")
    fmt = options.get("format", "gpkg")
    if fmt not in FORMATS:
        raise ConfigError("format", fmt, f"one of {', '.join(FORMATS)}")
    run_dir = Path(paths[0])
    out = Path(options.get("out") or run_dir / "gis")
    written = export_run(run_dir, out, fmt)
    for path in written:
        print(f"wrote {path}")
    if not any(p.suffix == ".tif" for p in written):
        print("elevation.tif and layers.tif skipped: they need rasterio (uv sync --extra geotiff)")
    return 0


def export_run(run_dir: Path, out: Path, fmt: str = "gpkg") -> list[Path]:
    """Write the GIS files of a run directory into ``out``; returns the files written.

    Raises:
        ConfigError: when ``run_dir`` is not a finished gapsim run directory.
    """
    import pandas as pd

    from sim.terrain.gis import incidents_frame, terrain_frames

    incidents_path = run_dir / "incidents.parquet"
    if not run_dir.is_dir() or not incidents_path.is_file():
        raise ConfigError(
            "export",
            str(run_dir),
            "must be a finished `gapsim run` directory with incidents.parquet",
        )
    terrain, zones = _terrain_of(run_dir)
    frames = {"incidents": incidents_frame(terrain, pd.read_parquet(incidents_path))}
    frames.update(terrain_frames(terrain, zones))
    tmp = out.with_name(f"_{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    names: list[str] = []
    if fmt in ("gpkg", "all"):
        for layer, frame in frames.items():
            _quiet_write(frame, tmp / "gapsim.gpkg", layer=layer, driver="GPKG")
        names.append("gapsim.gpkg")
    if fmt in ("geojson", "all"):
        (tmp / "geojson").mkdir()
        for layer, frame in frames.items():
            _quiet_write(frame, tmp / "geojson" / f"{layer}.geojson", driver="GeoJSON")
        names += [f"geojson/{layer}.geojson" for layer in frames]
    if write_elevation_tif(terrain, tmp / "elevation.tif"):
        write_elevation_tif(terrain, tmp / "layers.tif", tuple(terrain.layers))
        names += ["elevation.tif", "layers.tif"]
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return [out / n for n in names]


def _quiet_write(frame: Any, path: Path, **kwargs: Any) -> None:
    with warnings.catch_warnings():  # empty geometries (no gap at 0 km) are fine in a GeoPackage
        warnings.simplefilter("ignore", RuntimeWarning)
        frame.to_file(path, engine="pyogrio", **kwargs)


def _terrain_of(run_dir: Path) -> tuple[Any, dict[str, Any] | None]:
    """The run's terrain: its ``terrain.npz``, or rebuilt from its ``config.yaml``.

    A ``terrain.npz`` written before it held the exact zones gets them from the config's
    geometry (no rasters are rebuilt for that).
    """
    from omegaconf import OmegaConf

    from sim.terrain.builder import get_terrain
    from sim.terrain.geometry import build_geometry
    from sim.terrain.grid import Grid
    from sim.terrain.spec import parse_terrain
    from sim.terrain.terrain import Terrain

    config = run_dir / "config.yaml"
    data = OmegaConf.to_container(OmegaConf.load(config)) if config.is_file() else {}
    assert isinstance(data, dict)
    npz = run_dir / "terrain.npz"
    if npz.is_file():
        terrain = Terrain.load_npz(npz)
        if terrain.zones_km or "terrain" not in data:
            return terrain, None
        spec = parse_terrain(data["terrain"])
        geo = build_geometry(spec, Grid.of(spec), terrain.gap_width_km)
        return terrain, {"ridge": geo.ridge_zone, "gap": geo.gap_zone, "plain": geo.plain_zone}
    if "terrain" not in data:
        raise ConfigError("export", str(run_dir), "has neither terrain.npz nor a config.yaml")
    return get_terrain(data["terrain"], float(data.get("gap_width_km", 4.0))), None


def write_elevation_tif(
    terrain: Any, path: Path, layers: tuple[str, ...] = ("elevation_m",)
) -> bool:
    """Layers as a north-up float32 GeoTIFF in the terrain's frame (metres), one band each,
    named after the layer; False without rasterio."""
    try:
        import rasterio
        from rasterio.transform import from_origin
    except ImportError:
        return False
    import numpy as np

    from sim.terrain.frame import local_crs

    x0, _, _, y1 = terrain.extent_km
    cell_m = terrain.cell_km * 1000.0
    profile = {
        "driver": "GTiff",
        "width": terrain.width,
        "height": terrain.height,
        "count": len(layers),
        "dtype": "float32",
        "crs": rasterio.crs.CRS.from_wkt(local_crs(terrain.frame.origin_latlon, "m").to_wkt()),
        "transform": from_origin(x0 * 1000.0, y1 * 1000.0, cell_m, cell_m),
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        for band, name in enumerate(layers, start=1):
            image = np.flipud(np.asarray(terrain.layers[name], dtype=np.float32).T)
            dst.write(image, band)
            dst.set_band_description(band, name)
    return True
