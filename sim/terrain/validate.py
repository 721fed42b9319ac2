"""Checks of the terrain configuration before anything is built.

Why: a workshop user edits YAML and command-line overrides; a typo must come back as one line
naming the key, the value and what is allowed (:class:`~sim.errors.ConfigError`), not as a numpy
traceback halfway through a sweep. :func:`resolve_config` also turns whatever the caller holds
(``TerrainConfig``, Hydra ``DictConfig``, a plain dict) into one plain dict, merged over the schema
defaults, which the builder and the cache key both use.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from sim.errors import ConfigError
from sim.terrain.dem import SOURCES, check_transform, load_dem
from sim.terrain.geometry import (
    Grid,
    as_points,
    extend_polyline,
    offset_polyline,
    orient_ne_left,
    polyline_field,
    rasterize_chains,
)
from sim.terrain.schema import TerrainConfig

KINDS = ("town", "village", "camp")
CELL_M_RANGE = (50.0, 1000.0)
#: Largest coordinate (km from the origin) and grid (cells) a terrain may use.
MAX_KM = 10_000.0
MAX_CELLS = 4_000_000


def resolve_config(tcfg: Any) -> dict[str, Any]:
    """A plain, resolved dict of the terrain config merged over the :class:`TerrainConfig` schema.

    Args:
        tcfg: a ``TerrainConfig``, an OmegaConf ``DictConfig`` (e.g. ``cfg.terrain``) or a dict.

    Raises:
        ConfigError: when a value has the wrong type or a key is unknown.
    """
    base = OmegaConf.structured(TerrainConfig)
    try:
        if dataclasses.is_dataclass(tcfg) and not isinstance(tcfg, type):
            merged = OmegaConf.merge(base, OmegaConf.structured(tcfg))
        elif isinstance(tcfg, DictConfig | dict):
            merged = OmegaConf.merge(base, tcfg)
        else:
            raise ConfigError("terrain", type(tcfg).__name__, "a TerrainConfig, DictConfig or dict")
        out = OmegaConf.to_container(merged, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        key = str(getattr(exc, "full_key", None) or "")
        msg = str(exc).splitlines()[0]
        if isinstance(exc, ConfigKeyError):
            known = ", ".join(f.name for f in dataclasses.fields(TerrainConfig))
            msg = f"not a terrain setting (known: {known})"
        value = getattr(exc, "value", None)
        if value is None:
            value = _lookup(tcfg, key)
        raise ConfigError(f"terrain.{key}".rstrip("."), value, msg) from exc
    assert isinstance(out, dict)
    return out


def _lookup(tcfg: Any, key: str) -> Any:
    """The value at a dotted key of the caller's config, or None."""
    try:
        node = tcfg if OmegaConf.is_config(tcfg) else OmegaConf.create(tcfg)
        found = OmegaConf.select(node, key, default=None)
        return OmegaConf.to_container(found) if OmegaConf.is_config(found) else found
    except Exception:  # noqa: BLE001 - best effort, only for the message
        return None


def _num(value: Any, key: str, allowed: str = "a finite number") -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(key, value, allowed) from None
    if not math.isfinite(out):
        raise ConfigError(key, value, allowed)
    return out


def _point(value: Any, key: str) -> tuple[float, float]:
    allowed = f"a point [x_km, y_km] of two numbers within +-{MAX_KM:g} km"
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ConfigError(key, value, allowed)
    x, y = _num(value[0], key, allowed), _num(value[1], key, allowed)
    if abs(x) > MAX_KM or abs(y) > MAX_KM:
        raise ConfigError(key, value, allowed)
    return x, y


def _points(value: Any, key: str, min_points: int) -> np.ndarray:
    if not isinstance(value, list | tuple) or len(value) < min_points:
        raise ConfigError(key, value, f"a list of at least {min_points} points [x_km, y_km]")
    return np.array([_point(p, f"{key}[{i}]") for i, p in enumerate(value)])


def _require(entry: Any, key: str, fields: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ConfigError(key, entry, f"a mapping with keys {', '.join(fields)}")
    for f in fields:
        if entry.get(f) is None:
            raise ConfigError(f"{key}.{f}", None, "required")
    return entry


def _inside(xy: tuple[float, float], ext: tuple[float, float, float, float], key: str) -> None:
    x0, x1, y0, y1 = ext
    if not (x0 <= xy[0] <= x1 and y0 <= xy[1] <= y1):
        raise ConfigError(
            key, list(xy), f"must lie inside the extent x {x0:g}..{x1:g}, y {y0:g}..{y1:g} km"
        )


def _check_grid(cfg: dict[str, Any]) -> tuple[float, float, float, float]:
    cell_m = _num(cfg.get("cell_m"), "terrain.cell_m")
    lo, hi = CELL_M_RANGE
    if not lo <= cell_m <= hi:
        raise ConfigError("terrain.cell_m", cell_m, f"must be between {lo:g} and {hi:g} (metres)")
    ext = tuple(
        _num(cfg.get(k), f"terrain.{k}") for k in ("x_min_km", "x_max_km", "y_min_km", "y_max_km")
    )
    for k, v in zip(("x_min_km", "x_max_km", "y_min_km", "y_max_km"), ext, strict=True):
        if abs(v) > MAX_KM:
            raise ConfigError(f"terrain.{k}", v, f"must lie within +-{MAX_KM:g} km of the origin")
    for axis, (a, b) in (("x", ext[:2]), ("y", ext[2:])):
        if b - a < 2 * cell_m / 1000.0:
            raise ConfigError(
                f"terrain.{axis}_max_km",
                b,
                f"must exceed {axis}_min_km={a:g} by at least two cells",
            )
    cells = (ext[1] - ext[0]) * (ext[3] - ext[2]) / (cell_m / 1000.0) ** 2
    if cells > MAX_CELLS:
        raise ConfigError(
            "terrain.cell_m",
            cell_m,
            f"the grid would have {cells:.3g} cells, at most {MAX_CELLS:,} fit in memory "
            "(use larger cells or a smaller extent)",
        )
    return ext  # type: ignore[return-value]


def _check_relief(cfg: dict[str, Any]) -> list[np.ndarray]:
    relief = cfg.get("relief") or {}
    _num(relief.get("plain_m"), "terrain.relief.plain_m", "required: plain level in metres")
    ridges = relief.get("ridges")
    if not isinstance(ridges, list) or not ridges:
        raise ConfigError("terrain.relief.ridges", ridges, "a list of at least one ridge")
    axes = []
    for i, r in enumerate(ridges):
        key = f"terrain.relief.ridges[{i}]"
        r = _require(r, key, ("axis_km", "crest_m", "half_width_km"))
        axes.append(_points(r["axis_km"], f"{key}.axis_km", 2))
        if np.any(np.hypot(*np.diff(axes[-1], axis=0).T) == 0):
            raise ConfigError(f"{key}.axis_km", r["axis_km"], "consecutive points must differ")
        _num(r["crest_m"], f"{key}.crest_m")
        hw = _mapping(r["half_width_km"], f"{key}.half_width_km", "sw, ne")
        for side in ("sw", "ne"):
            v = _num(hw.get(side), f"{key}.half_width_km.{side}", "a positive number (km)")
            if v <= 0:
                raise ConfigError(f"{key}.half_width_km.{side}", v, "a positive number (km)")
    return axes


def _check_settlements(cfg: dict[str, Any], ext: tuple[float, float, float, float]) -> None:
    names: set[str] = set()
    if not cfg.get("settlements"):
        raise ConfigError(
            "terrain.settlements",
            cfg.get("settlements"),
            "at least one settlement (villagers live there; insurgents resupply at a market)",
        )
    for i, s in enumerate(cfg.get("settlements") or []):
        key = f"terrain.settlements[{i}]"
        s = _require(s, key, ("name", "at_km", "pop"))
        if s["name"] in names:
            raise ConfigError(f"{key}.name", s["name"], "settlement names must be unique")
        names.add(s["name"])
        _inside(_point(s["at_km"], f"{key}.at_km"), ext, f"{key}.at_km")
        pop = _num(s["pop"], f"{key}.pop")
        if pop < 0:
            raise ConfigError(f"{key}.pop", s["pop"], "a population >= 0")
        shares = 0.0
        for share in ("kurd", "sunni_arab"):
            v = _num(s.get(share, 0.0), f"{key}.{share}", "a share between 0 and 1")
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{key}.{share}", v, "a share between 0 and 1")
            shares += v
        if shares > 1.0 + 1e-9:
            raise ConfigError(
                f"{key}.kurd+sunni_arab", round(shares, 6), "shares must sum to at most 1"
            )
        kind = s.get("kind", "village")
        if kind not in KINDS:
            raise ConfigError(f"{key}.kind", kind, f"one of {', '.join(KINDS)}")
        if "radius_km" in s and _num(s["radius_km"], f"{key}.radius_km") <= 0:
            raise ConfigError(f"{key}.radius_km", s["radius_km"], "a positive number (km)")


def _check_features(cfg: dict[str, Any], ext: tuple[float, float, float, float]) -> None:
    for i, p in enumerate(cfg.get("places") or []):
        key = f"terrain.places[{i}]"
        p = _require(p, key, ("name", "at_km"))
        _inside(_point(p["at_km"], f"{key}.at_km"), ext, f"{key}.at_km")
    for i, t in enumerate(cfg.get("truffle_grounds") or []):
        key = f"terrain.truffle_grounds[{i}]"
        _points(_require(t, key, ("name", "polygon_km"))["polygon_km"], f"{key}.polygon_km", 3)
    for i, r in enumerate(cfg.get("roads") or []):
        key = f"terrain.roads[{i}]"
        _points(_require(r, key, ("name", "polyline_km"))["polyline_km"], f"{key}.polyline_km", 2)
    for i, r in enumerate(cfg.get("rivers") or []):
        key = f"terrain.rivers[{i}]"
        _points(_require(r, key, ("name", "polyline_km"))["polyline_km"], f"{key}.polyline_km", 2)
        for j, c in enumerate(r.get("crossings") or []):
            ck = f"{key}.crossings[{j}]"
            _inside(
                _point(_require(c, ck, ("name", "at_km"))["at_km"], f"{ck}.at_km"),
                ext,
                f"{ck}.at_km",
            )
    pmf = (cfg.get("lines") or {}).get("pmf_sector")
    if pmf:
        _points(pmf.get("polygon_km"), "terrain.lines.pmf_sector.polygon_km", 3)


def _mapping(value: Any, key: str, fields: str) -> dict[str, Any]:
    """An optional mapping (None counts as empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(key, value, f"a mapping with keys {fields}")
    return value


def _opt(entry: dict[str, Any], name: str, key: str, lo: float, hi: float, unit: str = "") -> None:
    """An optional number the builder reads with a default: finite and within [lo, hi]."""
    if name not in entry or entry[name] is None and name in NULLABLE:
        return
    value = entry[name]
    allowed = f"a number from {lo:g} to {hi:g}{f' ({unit})' if unit else ''}"
    if isinstance(value, bool) or not lo <= _num(value, f"{key}.{name}", allowed) <= hi:
        raise ConfigError(f"{key}.{name}", value, allowed)


def _opt_pair(entry: dict[str, Any], name: str, key: str, lo: float, hi: float) -> None:
    """An optional ``[low, high]`` range of numbers within [lo, hi]."""
    if entry.get(name) is None:
        return
    allowed = f"[low, high] with {lo:g} <= low <= high <= {hi:g}"
    value = entry[name]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ConfigError(f"{key}.{name}", value, allowed)
    a, b = (_num(v, f"{key}.{name}", allowed) for v in value)
    if not lo <= a <= b <= hi:
        raise ConfigError(f"{key}.{name}", value, allowed)


def _opt_flag(entry: dict[str, Any], name: str, key: str) -> None:
    if entry.get(name) is not None and not isinstance(entry[name], bool):
        raise ConfigError(f"{key}.{name}", entry[name], "true or false")


#: Optional keys that may be written as ``null`` (the builder then uses its default).
NULLABLE = frozenset({"radius_km", "self_defence"})
BIG = 1e6  # generous upper bound for lengths (km), heights (m) and counts


def _check_optional(cfg: dict[str, Any]) -> None:
    """The optional settings the builder reads with defaults: type and range, named by key."""
    relief = cfg.get("relief") or {}
    _opt(relief, "noise_seed", "terrain.relief", 0, 2**63 - 1)
    slope = _mapping(
        relief.get("regional_slope_m_per_km"), "terrain.relief.regional_slope_m_per_km", "dx, dy"
    )
    for axis in ("dx", "dy"):
        _opt(slope, axis, "terrain.relief.regional_slope_m_per_km", -1000, 1000, "m per km")
    noise = _mapping(
        relief.get("noise"), "terrain.relief.noise", "wavelengths_km, hurst, plain_m, ridge_m"
    )
    waves = noise.get("wavelengths_km")
    if waves is not None:
        if not isinstance(waves, list) or not waves:
            raise ConfigError(
                "terrain.relief.noise.wavelengths_km", waves, "a list of lengths (km) > 0"
            )
        for w in waves:
            if _num(w, "terrain.relief.noise.wavelengths_km", "lengths (km) > 0") <= 0:
                raise ConfigError("terrain.relief.noise.wavelengths_km", waves, "lengths (km) > 0")
    _opt(noise, "hurst", "terrain.relief.noise", 0, 2)
    _opt(noise, "plain_m", "terrain.relief.noise", 0, BIG, "m")
    _opt(noise, "ridge_m", "terrain.relief.noise", 0, BIG, "m")
    for i, ridge in enumerate(relief.get("ridges") or []):
        key = f"terrain.relief.ridges[{i}]"
        _opt(ridge, "plunge_taper_km", key, 0, BIG, "km")
        for part, fields in (("domes", ("name", "at_km", "extra_m", "radius_km")),
                             ("saddles", ("at_km", "depth_m", "radius_km"))):  # fmt: skip
            items = ridge.get(part) or []
            if not isinstance(items, list):
                raise ConfigError(f"{key}.{part}", items, f"a list of {{{', '.join(fields)}}}")
            for j, item in enumerate(items):
                ikey = f"{key}.{part}[{j}]"
                item = _require(item, ikey, fields)
                _point(item["at_km"], f"{ikey}.at_km")
                _opt(item, "extra_m" if part == "domes" else "depth_m", ikey, -BIG, BIG, "m")
                _opt(item, "radius_km", ikey, 1e-3, BIG, "km")
        rav = _mapping(
            ridge.get("ravines"), f"{key}.ravines", "count, length_km, depth_m, width_km, sw_share"
        )
        _opt(rav, "count", f"{key}.ravines", 0, 10_000)
        _opt_pair(rav, "length_km", f"{key}.ravines", 0, BIG)
        _opt_pair(rav, "depth_m", f"{key}.ravines", 0, BIG)
        _opt(rav, "width_km", f"{key}.ravines", 1e-3, BIG, "km")
        _opt(rav, "sw_share", f"{key}.ravines", 0, 1)
        caves = _mapping(ridge.get("caves"), f"{key}.caves", "count, relief_band, sw_weight, ...")
        _opt(caves, "count", f"{key}.caves", 0, 100_000)
        _opt_pair(caves, "relief_band", f"{key}.caves", 0, 1)
        _opt(caves, "sw_weight", f"{key}.caves", 0, BIG)
        _opt(caves, "ravine_head_weight", f"{key}.caves", 0, BIG)
        if caves.get("extra_at_km"):
            _points(caves["extra_at_km"], f"{key}.caves.extra_at_km", 1)
    for i, place in enumerate(cfg.get("places") or []):
        key = f"terrain.places[{i}]"
        _opt(place, "depth_m", key, 0, BIG, "m")
        _opt(place, "width_km", key, 1e-3, BIG, "km")
        _opt(place, "extra_relief_m", key, 0, BIG, "m")
        _opt(place, "radius_km", key, 1e-3, BIG, "km")
    for i, river in enumerate(cfg.get("rivers") or []):
        key = f"terrain.rivers[{i}]"
        _opt(river, "width_km", key, 0, BIG, "km")
        _opt(river, "trench_m", key, 0, BIG, "m")
        _opt(river, "valley_width_km", key, 1e-3, BIG, "km")
    for i, s in enumerate(cfg.get("settlements") or []):
        key = f"terrain.settlements[{i}]"
        _opt(s, "pop", key, 0, 1e8, "persons")
        _opt(s, "self_defence", key, 0, 1e6, "armed men")
        _opt_flag(s, "market", key)
        _opt_flag(s, "own_security", key)
    land = _mapping(cfg.get("land"), "terrain.land", "pasture_slope_deg, rock_slope_deg, ...")
    _opt(land, "pasture_slope_deg", "terrain.land", 0, 90, "degrees")
    _opt(land, "rock_slope_deg", "terrain.land", 0, 90, "degrees")
    _opt(land, "pasture_ridge_frac", "terrain.land", 0, 1)
    _opt(land, "town_people_per_km2", "terrain.land", 1, 1e6, "persons per km2")
    _opt(land, "village_people_per_km2", "terrain.land", 1, 1e6, "persons per km2")
    lines = cfg.get("lines") or {}
    pesh = _mapping(lines.get("peshmerga"), "terrain.lines.peshmerga", "follow, offset_km")
    _opt(pesh, "offset_km", "terrain.lines.peshmerga", -BIG, BIG, "km")
    _mapping(lines.get("pmf_sector"), "terrain.lines.pmf_sector", "polygon_km")


def _check_roads_on_map(cfg: dict[str, Any]) -> None:
    """Drivers and vehicle patrols need at least one road that crosses the map."""
    grid = grid_of(cfg)
    roads = cfg.get("roads") or []
    if not any(rasterize_chains(as_points(r["polyline_km"]), grid) for r in roads):
        raise ConfigError(
            "terrain.roads",
            [r.get("name") for r in roads],
            "at least one road must cross the map (drivers and vehicle patrols use roads)",
        )


def _check_dem(cfg: dict[str, Any]) -> None:
    dem = cfg.get("dem") or {}
    source = dem.get("source", "procedural")
    if source not in SOURCES:
        raise ConfigError("terrain.dem.source", source, f"one of {', '.join(SOURCES)}")
    if source != "procedural" and not dem.get("path"):
        raise ConfigError("terrain.dem.path", dem.get("path"), f"required when source={source}")
    if source == "npy":
        check_transform(dem.get("transform"))
    if source != "procedural":  # read it now: a bad file must fail before anything is written
        load_dem(dem, grid_of(cfg), cfg.get("frame") or {})


def peshmerga_axis(cfg: dict[str, Any]) -> np.ndarray:
    """The axis of the ridge the Peshmerga line follows (``lines.peshmerga.follow``)."""
    ridges = cfg["relief"]["ridges"]
    follow = (cfg.get("lines") or {}).get("peshmerga", {}).get("follow")
    names = [r.get("name") for r in ridges]
    if follow is None:
        return orient_ne_left(as_points(ridges[0]["axis_km"], min_points=2))
    if follow not in names:
        raise ConfigError("terrain.lines.peshmerga.follow", follow, f"one of the ridges: {names}")
    return orient_ne_left(as_points(ridges[names.index(follow)]["axis_km"], min_points=2))


def max_gap_width_km(cfg: dict[str, Any], n: int = 64) -> float:
    """Largest gap width that keeps part of the plain (behind the Iraqi line) on the map."""
    x0, x1, y0, y1 = (float(cfg[k]) for k in ("x_min_km", "x_max_km", "y_min_km", "y_max_km"))
    pesh = pesh_line_polyline(cfg, 2.0 * math.hypot(x1 - x0, y1 - y0))
    xs, ys = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n), indexing="ij")
    signed = polyline_field(xs, ys, pesh).signed_km
    return float(max(0.0, -signed.min()))


def pesh_line_polyline(cfg: dict[str, Any], ext_km: float) -> np.ndarray:
    """The Peshmerga line: the followed ridge axis, extended by ``ext_km`` and offset NE."""
    lines = cfg.get("lines") or {}
    offset = float((lines.get("peshmerga") or {}).get("offset_km", 0.0))
    return offset_polyline(extend_polyline(peshmerga_axis(cfg), ext_km), offset)


def validate_terrain(tcfg: Any, gap_width_km: float) -> dict[str, Any]:
    """Check the terrain config and the gap width; return the resolved plain dict.

    Args:
        tcfg: ``cfg.terrain`` (``DictConfig``), a ``TerrainConfig`` or a dict.
        gap_width_km: distance between the Peshmerga and the Iraqi line (km).

    Raises:
        ConfigError: on the first invalid value, naming its dotted key (``terrain.cell_m``, ...).
    """
    cfg = resolve_config(tcfg)
    check_resolved(cfg, gap_width_km)
    return cfg


def check_resolved(cfg: dict[str, Any], gap_width_km: float) -> None:
    """The checks of :func:`validate_terrain` on an already resolved config dict."""
    ext = _check_grid(cfg)
    _check_relief(cfg)
    _check_settlements(cfg, ext)
    _check_features(cfg, ext)
    _check_optional(cfg)
    _check_roads_on_map(cfg)
    _check_dem(cfg)
    peshmerga_axis(cfg)
    gap = _num(gap_width_km, "gap_width_km", "a finite number of km >= 0")
    if gap < 0:
        raise ConfigError("gap_width_km", gap_width_km, "must be >= 0 (km)")
    limit = max_gap_width_km(cfg)
    if gap >= limit:
        raise ConfigError(
            "gap_width_km",
            gap_width_km,
            f"must be below {limit:.1f} km here (wider, the Iraqi line leaves the map)",
        )


def grid_of(cfg: dict[str, Any]) -> Grid:
    """The model grid of a resolved terrain config."""
    return Grid.from_extent(
        float(cfg["x_min_km"]),
        float(cfg["x_max_km"]),
        float(cfg["y_min_km"]),
        float(cfg["y_max_km"]),
        float(cfg["cell_m"]) / 1000.0,
    )
