"""Per-cell layers derived from elevation and vector features: slope, ruggedness, land use, caves,
cover and control zones.

Why: agents read terrain through a handful of numpy arrays (indexed ``[ix, iy]``); this module
computes them with whole-array numpy/scipy operations, independently of where the elevation came
from (procedural relief or a real DEM). The integer codes of :class:`LandUse` and :class:`Zone` are
part of the saved ``terrain.npz`` format: append members, never renumber.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np
from scipy import ndimage


class LandUse(IntEnum):
    """Land-use class of a cell (``landuse`` layer, int8)."""

    PLAIN_FIELD = 0  #: rain-fed wheat/barley on the plain
    PASTURE = 1  #: grazed slopes and fans
    STEPPE = 2  #: steppe patches designated as truffle grounds
    URBAN = 3  #: built-up settlement and camp cells
    RIVER = 4  #: water surface (bridges included; see the ``river`` barrier layer)
    ROCK = 5  #: steep, rugged rock faces near the crest


class Zone(IntEnum):
    """Who holds a cell (``zone`` layer, int8)."""

    GAP = 0  #: between the Peshmerga line and the Iraqi line
    RIDGE = 1  #: behind the Peshmerga line (Peshmerga side, NE)
    PLAIN = 2  #: behind the Iraqi line (Iraqi Army / PMF side, SW)
    CAMP = 3  #: inside the Makhmour refugee camp (own security)


def slope_deg(elev_m: np.ndarray, cell_m: float) -> np.ndarray:
    """Slope in degrees from central differences (one-sided at the edges)."""
    gx, gy = np.gradient(elev_m, cell_m)
    return np.degrees(np.arctan(np.hypot(gx, gy)))


def ruggedness_m(elev_m: np.ndarray) -> np.ndarray:
    """Terrain ruggedness index: mean absolute difference to the 8 neighbours (edges repeated)."""
    p = np.pad(elev_m, 1, mode="edge")
    w, h = elev_m.shape
    total = np.zeros_like(elev_m, dtype=float)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            if dx or dy:
                total += np.abs(p[1 + dx : 1 + dx + w, 1 + dy : 1 + dy + h] - elev_m)
    return total / 8.0


def landuse(
    *,
    slope: np.ndarray,
    ridge_frac: np.ndarray,
    truffle: np.ndarray,
    urban: np.ndarray,
    water: np.ndarray,
    land: Any,
) -> np.ndarray:
    """Land-use classes; later rules override earlier ones (water > urban > steppe > rock...).

    ``land`` is the terrain spec's :class:`~sim.terrain.spec.Land` section.
    """
    out = np.full(slope.shape, LandUse.PLAIN_FIELD, dtype=np.int8)
    out[(slope >= land.pasture_slope_deg) | (ridge_frac >= land.pasture_ridge_frac)] = (
        LandUse.PASTURE
    )
    out[slope >= land.rock_slope_deg] = LandUse.ROCK
    out[truffle] = LandUse.STEPPE
    out[urban] = LandUse.URBAN
    out[water] = LandUse.RIVER
    return out


def sample_caves(
    *,
    rng: np.random.Generator,
    count: int,
    ridge_frac: np.ndarray,
    ridge_signed_km: np.ndarray,
    slope: np.ndarray,
    ravine_heads: np.ndarray,
    cell_km: float,
    blocked: np.ndarray,
    spec: Any,
) -> np.ndarray:
    """Cave cells on the ridge flanks, biased to the SW limb, steep ground and ravine heads.

    ``spec`` is a ridge's :class:`~sim.terrain.spec.Caves` section. Candidates are cells whose
    relief fraction lies in ``spec.relief_band`` (flanks, not crest, not
    plain). Weights: ``sw_weight`` on the SW side of the axis (1 on the NE side), times
    ``1 + slope/20``, times ``ravine_head_weight`` within 0.6 km of a ravine head. Sampling is
    without replacement from ``rng`` (derived from ``relief.noise_seed``).

    Returns:
        Int array of shape ``(n, 2)`` with ``(ix, iy)``, sorted, ``n <= count``.
    """
    lo, hi = spec.relief_band
    cand = (ridge_frac >= lo) & (ridge_frac <= hi) & ~blocked
    weight = np.where(ridge_signed_km < 0, spec.sw_weight, 1.0)
    weight = weight * (1.0 + slope / 20.0)
    if ravine_heads.any():
        near = ndimage.distance_transform_edt(~ravine_heads, sampling=cell_km) <= 0.6
        weight = np.where(near, weight * spec.ravine_head_weight, weight)
    flat = np.flatnonzero(cand)
    n = min(int(count), flat.size)
    if n <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    w = weight.ravel()[flat]
    pick = rng.choice(flat, size=n, replace=False, p=w / w.sum())
    ix, iy = np.unravel_index(np.sort(pick), ridge_frac.shape)
    return np.stack([ix, iy], axis=1).astype(np.int64)


def cover(
    *,
    rugged_m: np.ndarray,
    cell_m: float,
    ravine: np.ndarray,
    cave_mask: np.ndarray,
    urban: np.ndarray,
    land_use: np.ndarray,
    cell_km: float,
) -> np.ndarray:
    """Concealment in [0, 1]: a probabilistic OR of ruggedness, ravines, caves and built-up area.

    Ruggedness is normalised by the cell size (TRI per metre of cell, saturating at 0.25, about a
    14 degree mean neighbour gradient) so 250 m and 500 m grids give comparable cover. Cave proximity
    decays as ``exp(-d / 0.5 km)``.
    """
    rug = np.clip(rugged_m / (0.25 * cell_m), 0.0, 1.0)
    if cave_mask.any():
        d_km = ndimage.distance_transform_edt(~cave_mask, sampling=cell_km)
        cave_near = np.exp(-d_km / 0.5)
    else:
        cave_near = np.zeros(rugged_m.shape)
    base = np.choose(
        land_use.astype(np.intp), [0.05, 0.10, 0.02, 0.0, 0.30, 0.30]
    )  # by LandUse code
    parts = [base, 0.6 * rug, 0.5 * ravine, 0.7 * cave_near, 0.6 * urban]
    keep = np.ones(rugged_m.shape)
    for part in parts:
        keep *= 1.0 - part
    return np.clip(1.0 - keep, 0.0, 1.0)


def zones(
    signed_km: np.ndarray, gap_width_km: float, camp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Control zones from the signed distance to the Peshmerga line (negative toward the SW).

    ``RIDGE`` where ``signed >= 0``, ``GAP`` where ``-gap < signed < 0``, ``PLAIN`` where
    ``signed <= -gap``; ``CAMP`` overrides all three inside the camp disc.

    Returns:
        ``(zone, gap)``: the int8 zone layer and the boolean gap layer (``zone == GAP``).
    """
    zone = np.full(signed_km.shape, Zone.PLAIN, dtype=np.int8)
    zone[signed_km >= 0] = Zone.RIDGE
    zone[(signed_km < 0) & (signed_km > -gap_width_km)] = Zone.GAP
    zone[camp] = Zone.CAMP
    return zone, zone == Zone.GAP
