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
from scipy import ndimage

from sim.terrain.geometry import (
    Grid,
    as_points,
    extend_polyline,
    orient_ne_left,
    polyline_field,
    segment_normals,
)

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
        axes_km: each ridge's axis polyline (oriented so that NE is on the left).
    """

    elevation_m: np.ndarray
    plain_m: np.ndarray
    ridge_frac: np.ndarray
    ridge_signed_km: np.ndarray
    ravine_mask: np.ndarray
    ravine_heads_km: np.ndarray
    axes_km: dict[str, np.ndarray]


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


def point_at(pts: np.ndarray, s_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Point and left normal at arc length ``s_km`` along a polyline."""
    u, nrm = segment_normals(pts)
    seg_len = np.hypot(*np.diff(pts, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    k = int(np.clip(np.searchsorted(cum, s_km, side="right") - 1, 0, len(seg_len) - 1))
    return pts[k] + (s_km - cum[k]) * u[k], nrm[k]


@dataclass(frozen=True)
class _Ridge:
    axis: np.ndarray
    frac: np.ndarray
    signed: np.ndarray
    relief_m: float
    hw_sw: float
    hw_ne: float


def _ridge_profile(
    x: np.ndarray, y: np.ndarray, ridge: dict[str, Any], plain_m: float, ext_km: float
) -> _Ridge:
    """Asymmetric Gaussian cross-profile along the axis, tapered to zero at the plunging ends."""
    axis = orient_ne_left(as_points(ridge["axis_km"], min_points=2))
    hw = ridge["half_width_km"]
    hw_sw, hw_ne = float(hw["sw"]), float(hw["ne"])
    field = polyline_field(x, y, extend_polyline(axis, ext_km))
    length = float(np.hypot(*np.diff(axis, axis=0).T).sum())
    s = field.along_km - ext_km
    taper_km = max(float(ridge.get("plunge_taper_km", 0.0)), 1e-6)
    taper = _smoothstep(s / taper_km) * _smoothstep((length - s) / taper_km)
    sigma = np.where(field.signed_km < 0, hw_sw, hw_ne) / FOOT_SIGMAS
    profile = np.exp(-0.5 * (field.signed_km / sigma) ** 2)
    relief_m = float(ridge["crest_m"]) - plain_m
    return _Ridge(axis, profile * taper, field.signed_km, relief_m, hw_sw, hw_ne)


@dataclass(frozen=True)
class _Ravine:
    head: np.ndarray
    mouth: np.ndarray
    depth_m: float
    width_km: float


def _ravine_specs(ridge: dict[str, Any], rg: _Ridge, seed: int, index: int) -> list[_Ravine]:
    """Deterministic ravines running down the flanks, perpendicular to the axis."""
    spec = ridge.get("ravines") or {}
    count = int(spec.get("count", 0))
    if count <= 0:
        return []
    rng = rng_for(seed, RAVINE_KEY, index)
    length = float(np.hypot(*np.diff(rg.axis, axis=0).T).sum())
    taper = float(ridge.get("plunge_taper_km", 0.0))
    lo, hi = (taper, length - taper) if length > 2 * taper else (0.0, length)
    len_lo, len_hi = (float(v) for v in spec.get("length_km", [1.0, 4.0]))
    dep_lo, dep_hi = (float(v) for v in spec.get("depth_m", [20.0, 80.0]))
    width = float(spec.get("width_km", 0.35))
    sw_share = float(spec.get("sw_share", 0.6))
    out = []
    for _ in range(count):
        s, sw = rng.uniform(lo, hi), rng.random() < sw_share
        run_km, depth = rng.uniform(len_lo, len_hi), rng.uniform(dep_lo, dep_hi)
        angle = np.radians(rng.uniform(-20.0, 20.0))
        p, n = point_at(rg.axis, s)
        n = -n if sw else n
        hw = rg.hw_sw if sw else rg.hw_ne
        c, si = np.cos(angle), np.sin(angle)
        d = np.array([c * n[0] - si * n[1], si * n[0] + c * n[1]])
        head = p + 0.15 * hw * n
        out.append(_Ravine(head, head + min(run_km, 1.2 * hw) * d, depth, width))
    return out


def _valley_specs(places: list[dict[str, Any]], ridges: list[_Ridge]) -> list[_Ravine]:
    """Named valleys (``kind: valley``) carved from the nearest ridge axis through the place."""
    out = []
    for place in places:
        if place.get("kind") != "valley" or not ridges:
            continue
        at = np.asarray(place["at_km"], dtype=float)
        px, py = np.array([at[0]]), np.array([at[1]])
        fields = [polyline_field(px, py, r.axis) for r in ridges]
        k = int(np.argmin([f.dist_km[0] for f in fields]))
        head, n = point_at(ridges[k].axis, float(fields[k].along_km[0]))
        side = np.sign(fields[k].signed_km[0]) or -1.0
        head = head + side * 0.1 * n
        direction = at - head
        mouth = at + direction / max(float(np.hypot(*direction)), 1e-9) * 1.0
        depth, width = float(place.get("depth_m", 80.0)), float(place.get("width_km", 0.6))
        out.append(_Ravine(head, mouth, depth, width))
    return out


def _carve(
    grid: Grid, x: np.ndarray, y: np.ndarray, frac: np.ndarray, ravines: list[_Ravine]
) -> tuple[np.ndarray, np.ndarray]:
    """Depth to remove and the ravine mask, computed in each ravine's bounding window only."""
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
        seg_len = max(float(np.hypot(*seg)), 1e-9)
        rx, ry = x[win] - rv.head[0], y[win] - rv.head[1]
        t = (rx * seg[0] + ry * seg[1]) / (seg_len * seg_len)
        tc = np.clip(t, 0.0, 1.0)
        dist = np.hypot(rx - tc * seg[0], ry - tc * seg[1])
        across = np.exp(-((dist / (rv.width_km / 2.0)) ** 2))
        along = np.where((t >= 0) & (t <= 1), np.sin(np.pi * (0.15 + 0.85 * tc)), 0.0)
        on_ridge = np.clip(frac[win] / 0.15, 0.0, 1.0)
        shape = across * along * on_ridge
        depth[win] = np.maximum(depth[win], rv.depth_m * shape)
        mask[win] |= (across > 0.35) & (along > 0.2) & (frac[win] > 0.03)
    return depth, mask


def regional_plain(x: np.ndarray, y: np.ndarray, relief: dict[str, Any]) -> np.ndarray:
    """The plain surface: ``plain_m`` at the origin plus the regional slope (m per km)."""
    slope = relief.get("regional_slope_m_per_km") or {}
    return (
        float(relief["plain_m"]) + float(slope.get("dx", 0.0)) * x + float(slope.get("dy", 0.0)) * y
    )


def build_relief(grid: Grid, x: np.ndarray, y: np.ndarray, cfg: dict[str, Any]) -> Relief:
    """Procedural elevation and ridge geometry from the resolved terrain config (a plain dict)."""
    relief = cfg["relief"]
    seed = int(relief.get("noise_seed", 0))
    plain = regional_plain(x, y, relief)
    ext_km = 2.0 * float(np.hypot(grid.width, grid.height)) * grid.cell_km
    ridges = [_ridge_profile(x, y, r, float(relief["plain_m"]), ext_km) for r in relief["ridges"]]
    fracs = np.stack([r.frac for r in ridges])
    top = np.argmax(fracs, axis=0)
    frac = np.take_along_axis(fracs, top[None], axis=0)[0]
    signed = np.take_along_axis(np.stack([r.signed for r in ridges]), top[None], axis=0)[0]

    elev = plain.copy()
    for spec, rg in zip(relief["ridges"], ridges, strict=True):
        bump = rg.relief_m * rg.frac
        for dome in spec.get("domes") or []:
            bump += float(dome["extra_m"]) * _gauss_disc(x, y, dome["at_km"], dome["radius_km"])
        for sad in spec.get("saddles") or []:
            bump -= (
                float(sad["depth_m"]) * _gauss_disc(x, y, sad["at_km"], sad["radius_km"]) * rg.frac
            )
        elev += np.maximum(bump, 0.0)

    noise_cfg = relief.get("noise") or {}
    wavelengths = [float(v) for v in noise_cfg.get("wavelengths_km", [8, 4, 2, 1, 0.5])]
    noise = fractal_noise(grid, x, y, seed, wavelengths, float(noise_cfg.get("hurst", 0.8)))
    amp = float(noise_cfg.get("plain_m", 5.0)) + float(noise_cfg.get("ridge_m", 30.0)) * frac
    elev += amp * noise
    elev += _rugged_places(grid, x, y, cfg.get("places") or [], seed)

    ravines = [
        rv for i, s in enumerate(relief["ridges"]) for rv in _ravine_specs(s, ridges[i], seed, i)
    ]
    ravines += _valley_specs(cfg.get("places") or [], ridges)
    carve, ravine_mask = _carve(grid, x, y, frac, ravines)
    elev -= carve
    elev -= _river_trenches(x, y, cfg.get("rivers") or [])
    heads = np.array([rv.head for rv in ravines]).reshape(-1, 2)
    axes = {
        str(s.get("name", f"ridge{i}")): r.axis
        for i, (s, r) in enumerate(zip(relief["ridges"], ridges, strict=True))
    }
    return Relief(elev, plain, frac, signed, ravine_mask, heads, axes)


def _rugged_places(
    grid: Grid, x: np.ndarray, y: np.ndarray, places: list[dict[str, Any]], seed: int
) -> np.ndarray:
    """Extra short-wavelength relief around places of ``kind: rugged`` (e.g. al-Kashaf)."""
    rugged = [p for p in places if p.get("kind") == "rugged"]
    if not rugged:
        return np.zeros(x.shape)
    hi = fractal_noise(grid, x, y, seed, [1.0, 0.5], 0.5, index=1)
    window = np.zeros(x.shape)
    for p in rugged:
        amp = float(p.get("extra_relief_m", 40.0))
        window += amp * _gauss_disc(x, y, p["at_km"], float(p.get("radius_km", 2.5)))
    return window * np.abs(hi)


def _river_trenches(x: np.ndarray, y: np.ndarray, rivers: list[dict[str, Any]]) -> np.ndarray:
    """Depth of each river's valley (Gaussian trench around the polyline)."""
    out = np.zeros(x.shape)
    for river in rivers:
        field = polyline_field(x, y, as_points(river["polyline_km"], min_points=2))
        valley = float(river.get("valley_width_km", 1.5))
        out = np.maximum(
            out, float(river.get("trench_m", 20.0)) * np.exp(-((field.dist_km / valley) ** 2))
        )
    return out


def detect_ravines(elev_m: np.ndarray, ridge_frac: np.ndarray, cell_km: float) -> np.ndarray:
    """Ravine mask for an external DEM: cells clearly below their surroundings on the ridge.

    A cell is a ravine when it lies more than 8 m below the elevation smoothed over ~0.75 km and
    on the ridge (relief fraction above 3 %).
    """
    sigma_cells = max(0.75 / cell_km / 2.0, 0.5)
    smooth = ndimage.gaussian_filter(elev_m, sigma_cells, mode="nearest")
    return ((elev_m - smooth) < -8.0) & (ridge_frac > 0.03)
