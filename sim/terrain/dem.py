"""Real elevation models (``.npy`` + affine, or GeoTIFF) resampled onto the model grid.

Why: the procedural ridge is a placeholder (DOMAIN.md 2b); users with SRTM/Copernicus tiles should
be able to drop them in through the terrain YAML without touching code. Every failure (missing
file, bad array, no coverage, path outside the allowed folders) becomes one
:class:`~sim.errors.ConfigError` line naming the key.

Configuration (``terrain.dem``):

* ``{source: procedural}``: no file; :mod:`sim.terrain.relief` builds the elevation.
* ``{source: npy, path: dem.npy, transform: [a, b, c, d, e, f]}``: a 2-D array ``z[row, col]`` in
  metres and an affine transform **in km of the local frame** (origin Makhmour town, x east,
  y north), in the ``affine``/rasterio order: ``x = c + a*col + b*row``, ``y = f + d*col + e*row``,
  where ``(col, row) = (0, 0)`` is the outer corner of the first pixel (GDAL's corner convention;
  pixel centres sit at ``col + 0.5, row + 0.5``). GDAL's own ``GetGeoTransform()`` lists the same
  numbers as ``(c, a, b, f, d, e)``. A north-up raster has ``b = d = 0`` and ``e < 0``.
* ``{source: geotiff, path: dem.tif, band: 1}``: read with ``rasterio`` (the optional ``geotiff``
  extra), in any CRS the file declares (geographic, e.g. an SRTM tile in EPSG:4326, or
  projected, e.g. UTM 38N): cell centres go from the local frame (:mod:`sim.terrain.frame`,
  anchored at ``terrain.frame.origin_latlon``) to the file's CRS with pyproj, then are sampled
  bilinearly like an ``npy`` array.

Paths are resolved against the working directory and must lie inside the working directory, the
project folder or a folder listed in the ``GAPSIM_DATA_DIR`` environment variable
(``os.pathsep``-separated).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import ConfigError
from sim.terrain.frame import Frame
from sim.terrain.grid import Grid
from sim.terrain.spec import DemSpec, affine_matrix

SOURCES = ("procedural", "npy", "geotiff")
SUFFIXES = {"npy": (".npy",), "geotiff": (".tif", ".tiff")}
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: Plausible elevations (m): below the Dead Sea shore to above Everest; others are not metres.
ELEVATION_RANGE_M = (-500.0, 9000.0)


def allowed_roots() -> list[Path]:
    """Folders a DEM may be read from: cwd, the project folder and ``$GAPSIM_DATA_DIR``."""
    roots = [Path.cwd().resolve(), PROJECT_ROOT]
    extra = os.environ.get("GAPSIM_DATA_DIR", "")
    roots += [Path(p).expanduser().resolve() for p in extra.split(os.pathsep) if p]
    return roots


def resolve_dem_path(dem: DemSpec, key: str = "terrain.dem.path") -> Path:
    """The DEM file as an absolute path, after checking suffix, location and existence."""
    source = dem.source
    raw = dem.path
    if not raw:
        raise ConfigError(key, raw, f"required when terrain.dem.source={source!r}")
    path = Path(raw).expanduser()
    path = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if path.suffix.lower() not in SUFFIXES[source]:
        raise ConfigError(key, raw, f"a {source} file must end in {' or '.join(SUFFIXES[source])}")
    roots = allowed_roots()
    if not any(path.is_relative_to(r) for r in roots):
        where = ", ".join(str(r) for r in roots)
        raise ConfigError(
            key, raw, f"must lie inside {where} (add folders to GAPSIM_DATA_DIR to allow more)"
        )
    if not path.is_file():
        raise ConfigError(key, raw, f"file not found ({path}); relative paths start at the cwd")
    return path


def dem_digest(dem: DemSpec) -> str:
    """SHA-256 of the DEM file ("" for the procedural source or a missing file)."""
    if dem.source == "procedural":
        return ""
    try:
        path = resolve_dem_path(dem)
    except ConfigError:
        return ""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_raster(arr: Any, key: str = "terrain.dem.path", *, value: Any = None) -> np.ndarray:
    """A finite, numeric, non-empty 2-D float64 array (raises ConfigError otherwise)."""
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise ConfigError(key, value, f"the DEM must be a 2-D array, got {arr.ndim}-D {arr.shape}")
    if arr.size == 0:
        raise ConfigError(key, value, f"the DEM is empty (shape {arr.shape})")
    if not (
        np.issubdtype(arr.dtype, np.number) and not np.issubdtype(arr.dtype, np.complexfloating)
    ):
        raise ConfigError(key, value, f"the DEM must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise ConfigError(key, value, f"the DEM holds {bad} NaN/inf values; fill them first")
    lo, hi = ELEVATION_RANGE_M
    if arr.min() < lo or arr.max() > hi:
        raise ConfigError(
            key,
            value,
            f"elevations must lie between {lo:g} and {hi:g} m (found {arr.min():.6g}.."
            f"{arr.max():.6g}); is it in metres?",
        )
    return arr


def sample_affine(
    arr: np.ndarray,
    matrix: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    *,
    key: str,
    value: Any,
    grid: Grid | None = None,
) -> np.ndarray:
    """Bilinear samples of ``arr[row, col]`` at points given in the transform's coordinates.

    Raises:
        ConfigError: when a point lies outside the raster's outer pixel edges.
    """
    a, b, c = matrix[0]
    d, e, f = matrix[1]
    det = a * e - b * d
    dx, dy = xs - c, ys - f
    col = (e * dx - b * dy) / det
    row = (-d * dx + a * dy) / det
    nrows, ncols = arr.shape
    eps = 1e-9
    outside = (col < -eps) | (col > ncols + eps) | (row < -eps) | (row > nrows + eps)
    if np.any(outside):
        corners = matrix @ np.array([[0, ncols, 0, ncols], [0, 0, nrows, nrows], [1, 1, 1, 1]])
        dem_box = (corners[0].min(), corners[0].max(), corners[1].min(), corners[1].max())
        need = ""
        if grid is not None:
            need = (
                f"; the model extent is x {grid.x_min_km:g}..{grid.x_min_km + grid.width * grid.cell_km:g},"
                f" y {grid.y_min_km:g}..{grid.y_min_km + grid.height * grid.cell_km:g} km"
            )
        raise ConfigError(
            key,
            value,
            "the DEM does not cover the model extent (it spans x {:.6g}..{:.6g}, y {:.6g}..{:.6g}"
            " in its coordinates){}".format(*dem_box, need),
        )
    coords = np.stack([row.ravel() - 0.5, col.ravel() - 0.5])
    from scipy import ndimage  # here: validating a config imports this module, rarely resamples

    out = ndimage.map_coordinates(arr, coords, order=1, mode="nearest")
    return out.reshape(xs.shape)


def load_npy(dem: DemSpec, grid: Grid) -> np.ndarray:
    """Elevation on the model grid from a ``.npy`` file plus an affine transform in km."""
    path = resolve_dem_path(dem)
    matrix = np.array(affine_matrix(dem.transform, "terrain.dem.transform"))
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # EOFError: an empty file
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            "terrain.dem.path", dem.path, f"not a readable .npy array ({msg})"
        ) from exc
    arr = check_raster(arr, "terrain.dem.path", value=dem.path)
    x, y = grid.mesh_km()
    return sample_affine(
        arr, matrix, x, y, key="terrain.dem.transform", value=dem.transform, grid=grid
    )


def load_geotiff(dem: DemSpec, grid: Grid, frame: Frame) -> np.ndarray:
    """Elevation on the model grid from a GeoTIFF in any CRS (needs the optional ``rasterio``)."""
    try:
        import rasterio
    except ImportError as exc:
        raise ConfigError(
            "terrain.dem.source",
            "geotiff",
            "needs rasterio: install the geotiff extra (uv sync --extra geotiff) or use source=npy",
        ) from exc
    path = resolve_dem_path(dem)
    raw = dem.path
    try:
        with rasterio.open(path) as src:
            if not 1 <= dem.band <= src.count:
                raise ConfigError("terrain.dem.band", dem.band, f"between 1 and {src.count}")
            arr = src.read(dem.band, masked=True).astype(np.float64).filled(np.nan)
            crs, aff = src.crs, src.transform
    except rasterio.errors.RasterioError as exc:
        raise ConfigError("terrain.dem.path", raw, f"not a readable GeoTIFF ({exc})") from exc
    if crs is None:
        raise ConfigError("terrain.dem.path", raw, "the GeoTIFF has no CRS")
    if arr.size == 0:
        raise ConfigError("terrain.dem.path", raw, f"the DEM is empty (shape {arr.shape})")
    x, y = grid.mesh_km()
    xs, ys = frame.transformer_to(crs.to_wkt()).transform(x.ravel(), y.ravel())
    xs, ys = np.asarray(xs).reshape(x.shape), np.asarray(ys).reshape(x.shape)
    matrix = np.array([[aff.a, aff.b, aff.c], [aff.d, aff.e, aff.f]])
    out = sample_affine(arr, matrix, xs, ys, key="terrain.dem.path", value=raw, grid=grid)
    bad = int(np.count_nonzero(~np.isfinite(out)))
    if bad:
        raise ConfigError("terrain.dem.path", raw, f"{bad} model cells fall on nodata/NaN pixels")
    lo, hi = ELEVATION_RANGE_M
    if out.min() < lo or out.max() > hi:
        raise ConfigError(
            "terrain.dem.path", raw, f"elevations must lie between {lo:g} and {hi:g} m; in metres?"
        )
    return out


def load_dem(dem: DemSpec, grid: Grid, frame: Frame) -> np.ndarray | None:
    """Elevation (m, shape ``(width, height)``) from the configured DEM, or None if procedural."""
    if dem.source == "procedural":
        return None
    if dem.source == "npy":
        return load_npy(dem, grid)
    return load_geotiff(dem, grid, frame)
