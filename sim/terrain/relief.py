"""Procedural relief of the Qarachogh ridge: plain, asymmetric anticline, dome, ravines, river.

Why: no public DEM ships with the project, yet the model needs a ridge whose flanks, ravines and
caves sit where the sources put them (DOMAIN.md 2b/2d). This module turns the ``relief`` section of
the terrain YAML into an elevation raster plus the ridge geometry (relief fraction, side of the
axis, ravines) that cave placement and cover need -- also when the elevation itself comes from a
real DEM. Randomness comes only from ``relief.noise_seed`` (``numpy.random.SeedSequence``), never
from global state, so the same YAML always gives the same terrain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy import ndimage
from shapely import LineString

from sim.terrain.geometry import TerrainGeometry, extend, sides
from sim.terrain.grid import Grid
from sim.terrain.raster import Cells
from sim.terrain.spec import Place, Ridge, River, TerrainSpec

#: sqrt(2 ln 20): a Gaussian falls to 5 % of its peak at this many standard deviations.
FOOT_SIGMAS = float(np.sqrt(2.0 * np.log(20.0)))

# Spawn-key purposes under relief.noise_seed (appending is safe; reordering changes terrains).
NOISE_KEY, RAVINE_KEY, CAVE_KEY = 0, 1, 2


@dataclass(frozen=True)
class Relief:
    """Elevation and ridge geometry on the grid (arrays of shape ``(width, height)``).

    Attributes:
        elevation_m: procedural elevation (metres a.s.l.).
        plain_m: the regional plain surface (no ridge, no noise), for "height above the plain".
        ridge_frac: ridge relief as a fraction of the local crest relief (0 on the plain, 1 on the
            crest), tapered toward the plunging ends; maximum over ridges.
        ridge_signed_km: signed distance to the axis of the dominant ridge, positive toward NE.
        ravine_mask: cells inside carved ravines and valleys.
        ravine_heads_km: upper ends of the ravines, shape ``(n, 2)``.
        axes: each ridge's axis (oriented so that NE is on the left), by name.
    """

    elevation_m: np.ndarray
    plain_m: np.ndarray
    ridge_frac: np.ndarray
    ridge_signed_km: np.ndarray
    ravine_mask: np.ndarray
    ravine_heads_km: np.ndarray
    axes: dict[str, LineString]


def rng_for(seed: int, purpose: int, index: int = 0) -> np.random.Generator:
    """A generator for one purpose of the terrain, derived from ``relief.noise_seed``."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(purpose, index)))


def fractal_noise(
    grid: Grid,
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    wavelengths_km: list[float],
    hurst: float,
    index: int = 0,
) -> np.ndarray:
    """Sum of smooth random octaves with roughly unit standard deviation.

    Each octave is white noise on a lattice with spacing ``wavelength`` (km), interpolated with
    cubic splines at the cell centres, so the pattern does not depend on the cell size.
    """
    rng = rng_for(seed, NOISE_KEY, index)
    x_span = grid.width * grid.cell_km
    y_span = grid.height * grid.cell_km
    total = np.zeros(x.shape)
    norm = 0.0
    for lam in wavelengths_km:
        lam = float(lam)
        nx, ny = int(np.ceil(x_span / lam)) + 5, int(np.ceil(y_span / lam)) + 5
        lattice = rng.standard_normal((nx, ny))
        cx = (x - grid.x_min_km) / lam + 2.0
        cy = (y - grid.y_min_km) / lam + 2.0
        octave = ndimage.map_coordinates(lattice, [cx, cy], order=3, mode="nearest")
        amp = lam**hurst
        total += amp * octave
        norm += amp * amp
    return total / np.sqrt(norm) if norm > 0 else total


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _gauss_disc(x: np.ndarray, y: np.ndarray, at: Any, radius_km: float) -> np.ndarray:
    """Gaussian bump of unit height whose ``radius_km`` is two standard deviations."""
    sigma = max(float(radius_km) / 2.0, 1e-6)
    cx, cy = (float(v) for v in at)
    return np.exp(-0.5 * ((x - cx) ** 2 + (y - cy) ** 2) / (sigma * sigma))


def point_at(axis: LineString, s_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Point and unit left normal of the axis at arc length ``s_km`` (clamped to the axis)."""
    pts = np.asarray(axis.coords)
    seg = np.diff(pts, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    k = int(np.clip(np.searchsorted(cum, s_km, side="right") - 1, 0, len(seg_len) - 1))
    u = seg[k] / seg_len[k]
    return pts[k] + (s_km - cum[k]) * u, np.array([-u[1], u[0]])


@dataclass(frozen=True, eq=False)
class _Ridge:
    axis: LineString
    ne_side: Any
    frac: np.ndarray
    signed: np.ndarray
    relief_m: float
    hw_sw: float
    hw_ne: float


def _ridge_profile(
    cells: Cells, ridge: Ridge, axis: LineString, plain_m: float, geometry: TerrainGeometry
) -> _Ridge:
    """Asymmetric Gaussian cross-profile along the axis, tapered to zero at the plunging ends."""
    reach = geometry.reach_km
    extended = extend(axis, reach)
    ne_side, _ = sides(geometry.extent, extended)
    signed = cells.signed_distance(extended, ne_side)
    s = cells.along(extended) - reach
    taper_km = max(ridge.plunge_taper_km, 1e-6)
    taper = _smoothstep(s / taper_km) * _smoothstep((axis.length - s) / taper_km)
    hw_sw, hw_ne = ridge.half_width_km.sw, ridge.half_width_km.ne
    sigma = np.where(signed < 0, hw_sw, hw_ne) / FOOT_SIGMAS
    profile = np.exp(-0.5 * (signed / sigma) ** 2)
    return _Ridge(axis, ne_side, profile * taper, signed, ridge.crest_m - plain_m, hw_sw, hw_ne)


@dataclass(frozen=True)
class _Ravine:
    head: np.ndarray
    mouth: np.ndarray
    depth_m: float
    width_km: float


def _ravine_specs(ridge: Ridge, rg: _Ridge, seed: int, index: int) -> list[_Ravine]:
    """Deterministic ravines running down the flanks, perpendicular to the axis."""
    spec = ridge.ravines
    if spec.count <= 0:
        return []
    rng = rng_for(seed, RAVINE_KEY, index)
    length = rg.axis.length
    taper = ridge.plunge_taper_km
    lo, hi = (taper, length - taper) if length > 2 * taper else (0.0, length)
    len_lo, len_hi = spec.length_km
    dep_lo, dep_hi = spec.depth_m
    out = []
    for _ in range(spec.count):
        s, sw = rng.uniform(lo, hi), rng.random() < spec.sw_share
        run_km, depth = rng.uniform(len_lo, len_hi), rng.uniform(dep_lo, dep_hi)
        angle = np.radians(rng.uniform(-20.0, 20.0))
        p, n = point_at(rg.axis, s)
        n = -n if sw else n
        hw = rg.hw_sw if sw else rg.hw_ne
        c, si = np.cos(angle), np.sin(angle)
        d = np.array([c * n[0] - si * n[1], si * n[0] + c * n[1]])
        head = p + 0.15 * hw * n
        out.append(_Ravine(head, head + min(run_km, 1.2 * hw) * d, depth, spec.width_km))
    return out


def _valley_specs(places: list[Place], ridges: list[_Ridge]) -> list[_Ravine]:
    """Named valleys (``kind: valley``) carved from the nearest ridge axis through the place."""
    out = []
    for place in places:
        if place.kind != "valley" or not ridges:
            continue
        at = np.asarray(place.at_km, dtype=float)
        where = shapely.Point(at)
        k = int(np.argmin([r.axis.distance(where) for r in ridges]))
        head, n = point_at(ridges[k].axis, ridges[k].axis.project(where))
        side = 1.0 if ridges[k].ne_side.intersects(where) else -1.0
        head = head + side * 0.1 * n
        direction = at - head
        mouth = at + direction / max(float(np.hypot(*direction)), 1e-9) * 1.0
        out.append(_Ravine(head, mouth, place.depth_m, place.width_km))
    return out


def _carve(cells: Cells, frac: np.ndarray, ravines: list[_Ravine]) -> tuple[np.ndarray, np.ndarray]:
    """Depth to remove and the ravine mask, computed in each ravine's bounding window only.

    A ravine's profile runs along its axis (``t`` from 0 at the head to 1 at the mouth, nothing
    beyond) and falls off across it with the distance to the axis.
    """
    grid, x, y = cells.grid, cells.x, cells.y
    depth = np.zeros(x.shape)
    mask = np.zeros(x.shape, dtype=bool)
    for rv in ravines:
        pad = 2.0 * rv.width_km + grid.cell_km
        x0, x1 = sorted([rv.head[0], rv.mouth[0]])
        y0, y1 = sorted([rv.head[1], rv.mouth[1]])
        i0, j0 = grid.to_cell(x0 - pad, y0 - pad)
        i1, j1 = grid.to_cell(x1 + pad, y1 + pad)
        win = (slice(i0, i1 + 1), slice(j0, j1 + 1))
        seg = rv.mouth - rv.head
        t = ((x[win] - rv.head[0]) * seg[0] + (y[win] - rv.head[1]) * seg[1]) / max(
            float(seg @ seg), 1e-18
        )
        dist = shapely.distance(LineString([rv.head, rv.mouth]), cells.points[win])
        across = np.exp(-((dist / (rv.width_km / 2.0)) ** 2))
        tc = np.clip(t, 0.0, 1.0)
        along = np.where((t >= 0) & (t <= 1), np.sin(np.pi * (0.15 + 0.85 * tc)), 0.0)
        on_ridge = np.clip(frac[win] / 0.15, 0.0, 1.0)
        shape = across * along * on_ridge
        depth[win] = np.maximum(depth[win], rv.depth_m * shape)
        mask[win] |= (across > 0.35) & (along > 0.2) & (frac[win] > 0.03)
    return depth, mask


def regional_plain(x: np.ndarray, y: np.ndarray, relief: Any) -> np.ndarray:
    """The plain surface: ``plain_m`` at the origin plus the regional slope (m per km)."""
    slope = relief.regional_slope_m_per_km
    return relief.plain_m + slope.dx * x + slope.dy * y


def build_relief(cells: Cells, spec: TerrainSpec, geometry: TerrainGeometry) -> Relief:
    """Procedural elevation and ridge geometry from the validated spec and its geometry."""
    relief = spec.relief
    grid, x, y = cells.grid, cells.x, cells.y
    seed = relief.noise_seed
    plain = regional_plain(x, y, relief)
    axes = list(geometry.ridge_axes.values())
    ridges = [
        _ridge_profile(cells, r, axis, relief.plain_m, geometry)
        for r, axis in zip(relief.ridges, axes, strict=True)
    ]
    fracs = np.stack([r.frac for r in ridges])
    top = np.argmax(fracs, axis=0)
    frac = np.take_along_axis(fracs, top[None], axis=0)[0]
    signed = np.take_along_axis(np.stack([r.signed for r in ridges]), top[None], axis=0)[0]

    elev = plain.copy()
    for ridge, rg in zip(relief.ridges, ridges, strict=True):
        bump = rg.relief_m * rg.frac
        for dome in ridge.domes:
            bump += dome.extra_m * _gauss_disc(x, y, dome.at_km, dome.radius_km)
        for sad in ridge.saddles:
            bump -= sad.depth_m * _gauss_disc(x, y, sad.at_km, sad.radius_km) * rg.frac
        elev += np.maximum(bump, 0.0)

    noise = fractal_noise(grid, x, y, seed, list(relief.noise.wavelengths_km), relief.noise.hurst)
    elev += (relief.noise.plain_m + relief.noise.ridge_m * frac) * noise
    elev += _rugged_places(grid, x, y, spec.places, seed)

    ravines = [
        rv for i, r in enumerate(relief.ridges) for rv in _ravine_specs(r, ridges[i], seed, i)
    ]
    ravines += _valley_specs(spec.places, ridges)
    carve, ravine_mask = _carve(cells, frac, ravines)
    elev -= carve
    elev -= _river_trenches(cells, spec.rivers, geometry)
    heads = np.array([rv.head for rv in ravines]).reshape(-1, 2)
    return Relief(elev, plain, frac, signed, ravine_mask, heads, dict(geometry.ridge_axes))


def _rugged_places(
    grid: Grid, x: np.ndarray, y: np.ndarray, places: list[Place], seed: int
) -> np.ndarray:
    """Extra short-wavelength relief around places of ``kind: rugged`` (e.g. al-Kashaf)."""
    rugged = [p for p in places if p.kind == "rugged"]
    if not rugged:
        return np.zeros(x.shape)
    hi = fractal_noise(grid, x, y, seed, [1.0, 0.5], 0.5, index=1)
    window = np.zeros(x.shape)
    for p in rugged:
        window += p.extra_relief_m * _gauss_disc(x, y, p.at_km, p.radius_km)
    return window * np.abs(hi)


def _river_trenches(cells: Cells, rivers: list[River], geometry: TerrainGeometry) -> np.ndarray:
    """Depth of each river's valley (Gaussian trench around the polyline)."""
    out = np.zeros(cells.x.shape)
    for river in rivers:
        dist = cells.distance(geometry.rivers[river.name])
        trench = river.trench_m * np.exp(-((dist / river.valley_width_km) ** 2))
        out = np.maximum(out, trench)
    return out


def detect_ravines(elev_m: np.ndarray, ridge_frac: np.ndarray, cell_km: float) -> np.ndarray:
    """Ravine mask for an external DEM: cells clearly below their surroundings on the ridge.

    A cell is a ravine when it lies more than 8 m below the elevation smoothed over ~0.75 km and
    on the ridge (relief fraction above 3 %).
    """
    sigma_cells = max(0.75 / cell_km / 2.0, 0.5)
    smooth = ndimage.gaussian_filter(elev_m, sigma_cells, mode="nearest")
    return ((elev_m - smooth) < -8.0) & (ridge_frac > 0.03)
