"""The terrain configuration as a typed schema: step one of building a terrain.

Why: ``configs/terrain/*.yaml`` (and overrides such as ``terrain.places=[...]``) are edited by
hand. :func:`parse_terrain` turns whatever the caller holds (a Hydra ``DictConfig``, a
``TerrainConfig``, a dict) into one validated, immutable :class:`TerrainSpec`, or raises one
:class:`~sim.errors.ConfigError` line naming the key (``terrain.settlements[3].pop``), the value
and what is allowed. Everything after this step (geometry, rasters, layers) reads the spec's
typed fields and never re-checks them.

The Hydra dataclass :class:`~sim.terrain.schema.TerrainConfig` stays the composition schema
(defaults, top-level types); this module describes the contents. Lengths are km, heights m.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any, Literal

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import Field, model_validator

from sim.config.spec import Flag, Spec, num, validate_spec, whole
from sim.errors import ConfigError
from sim.terrain.schema import TerrainConfig

#: Largest coordinate (km from the origin) and grid (cells) a terrain may use.
MAX_KM = 10_000.0
MAX_CELLS = 4_000_000
BIG = 1e6  # generous upper bound for lengths (km) and heights (m)
#: Makhmour town (lat, lon), the default origin of the local frame (Wikipedia; DOMAIN.md 2a).
MAKHMOUR_LATLON = (35.7756, 43.5794)

Km = num(-MAX_KM, MAX_KM, "km")
Height = num(-BIG, BIG, "m")
Length = num(0, BIG, "km")
Positive = num(0, BIG, "km", gt=True)
Share = num(0, 1)
Name = Annotated[str, Field(strict=True, min_length=1, description="a name (text)")]
_POINT = f"a point [x_km, y_km] of two numbers within +-{MAX_KM:g} km"
Point = Annotated[list[Km], Field(min_length=2, max_length=2, description=_POINT)]


def points(n: int, what: str = "points") -> Any:
    """A list of at least ``n`` points ``[x_km, y_km]``."""
    text = f"a list of at least {n} {what} [x_km, y_km] (numbers within +-{MAX_KM:g} km)"
    return Annotated[list[Point], Field(min_length=n, description=text)]


def pair(lo: float, hi: float) -> Any:
    """``[low, high]`` with ``lo <= low <= high <= hi`` (order checked by the model)."""
    text = f"[low, high] with {lo:g} <= low <= high <= {hi:g}"
    return Annotated[
        list[Annotated[float, Field(strict=True, allow_inf_nan=False, ge=lo, le=hi)]],
        Field(min_length=2, max_length=2, description=text),
    ]


class FrameSpec(Spec):
    """Where the local km frame sits on the Earth: its origin (x = y = 0) in degrees."""

    origin: str = "makhmour"
    origin_latlon: Annotated[
        list[float],
        Field(min_length=2, max_length=2, description="[lat, lon] of the origin in degrees"),
    ] = list(MAKHMOUR_LATLON)

    @model_validator(mode="after")
    def _on_earth(self) -> FrameSpec:
        lat, lon = self.origin_latlon
        if not (-80.0 <= lat <= 84.0 and -180.0 <= lon <= 180.0):
            raise ConfigError(
                "origin_latlon", self.origin_latlon, "[lat, lon] with lat -80..84, lon -180..180"
            )
        return self


class DemSpec(Spec):
    """Where the elevation comes from (see :mod:`sim.terrain.dem`)."""

    source: Literal["procedural", "npy", "geotiff"] = "procedural"
    path: Annotated[str, Field(strict=True, description="a file path (text)")] = ""
    transform: list[Any] = []
    band: whole(1, 10_000, "a raster band") = 1

    @model_validator(mode="after")
    def _path_when_needed(self) -> DemSpec:
        if self.source != "procedural" and not self.path:
            raise ConfigError("path", self.path, f"required when source={self.source}")
        if self.source == "npy":
            affine_matrix(self.transform)
        return self


def affine_matrix(transform: Any, key: str = "transform") -> list[list[float]]:
    """Six finite numbers ``[a, b, c, d, e, f]`` forming an invertible affine, as 2 rows."""
    allowed = "six finite numbers [a, b, c, d, e, f] (km)"
    ok = isinstance(transform, list | tuple) and len(transform) == 6
    if not ok or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in transform
    ):
        raise ConfigError(key, transform, allowed)
    a, b, c, d, e, f = (float(v) for v in transform)
    if abs(a * e - b * d) < 1e-15:
        raise ConfigError(key, list(transform), "the affine transform is singular (a*e - b*d == 0)")
    return [[a, b, c], [d, e, f]]


class Slope(Spec):
    dx: num(-1000, 1000, "m per km") = 0.0
    dy: num(-1000, 1000, "m per km") = 0.0


class NoiseSpec(Spec):
    wavelengths_km: Annotated[
        list[num(0, BIG, "km", gt=True)], Field(min_length=1, description="lengths (km) > 0")
    ] = [8.0, 4.0, 2.0, 1.0, 0.5]
    hurst: num(0, 2) = 0.8
    plain_m: num(0, BIG, "m") = 5.0
    ridge_m: num(0, BIG, "m") = 30.0


class HalfWidth(Spec):
    sw: Positive
    ne: Positive


class Dome(Spec):
    name: Name
    at_km: Point
    extra_m: Height
    radius_km: num(1e-3, BIG, "km")


class Saddle(Spec):
    name: Name = "saddle"
    at_km: Point
    depth_m: Height
    radius_km: num(1e-3, BIG, "km")


class Ravines(Spec):
    count: whole(0, 10_000) = 0
    length_km: pair(0, BIG) = [1.0, 4.0]
    depth_m: pair(0, BIG) = [20.0, 80.0]
    width_km: num(1e-3, BIG, "km") = 0.35
    sw_share: Share = 0.6

    @model_validator(mode="after")
    def _ordered(self) -> Ravines:
        _ordered_pairs(self, ("length_km", "depth_m"), 0, BIG)
        return self


class Caves(Spec):
    count: whole(0, 100_000) = 0
    relief_band: pair(0, 1) = [0.3, 0.9]
    sw_weight: num(0, BIG) = 3.0
    ravine_head_weight: num(0, BIG) = 3.0
    extra_at_km: points(0) = []

    @model_validator(mode="after")
    def _ordered(self) -> Caves:
        _ordered_pairs(self, ("relief_band",), 0, 1)
        return self


def _ordered_pairs(model: Spec, names: tuple[str, ...], lo: float, hi: float) -> None:
    for name in names:
        a, b = getattr(model, name)
        if a > b:
            raise ConfigError(name, [a, b], f"[low, high] with {lo:g} <= low <= high <= {hi:g}")


class Ridge(Spec):
    name: Name | None = None
    axis_km: points(2)
    crest_m: Height
    half_width_km: HalfWidth
    plunge_taper_km: Length = 0.0
    domes: list[Dome] = []
    saddles: list[Saddle] = []
    ravines: Ravines = Ravines()
    caves: Caves = Caves()

    @model_validator(mode="after")
    def _distinct_points(self) -> Ridge:
        for a, b in zip(self.axis_km[:-1], self.axis_km[1:], strict=True):
            if a == b:
                raise ConfigError("axis_km", self.axis_km, "consecutive points must differ")
        return self


class Relief(Spec):
    plain_m: Annotated[Height, Field(description="required: plain level in metres")]
    regional_slope_m_per_km: Slope = Slope()
    noise_seed: whole(0, 2**63 - 1, "a seed") = 0
    noise: NoiseSpec = NoiseSpec()
    ridges: Annotated[list[Ridge], Field(min_length=1, description="a list of at least one ridge")]


class Settlement(Spec):
    name: Name
    at_km: Point
    pop: num(0, 1e8, "persons")
    kurd: Share = 0.0
    sunni_arab: Share = 0.0
    kind: Literal["town", "village", "camp"] = "village"
    market: Flag = False
    own_security: Flag = False
    self_defence: whole(0, 1_000_000, "a number of armed men") | None = None
    radius_km: num(0, BIG, "km", gt=True) | None = None
    group: str = ""

    @model_validator(mode="after")
    def _shares(self) -> Settlement:
        total = self.kurd + self.sunni_arab
        if total > 1.0 + 1e-9:
            raise ConfigError("kurd+sunni_arab", round(total, 6), "shares must sum to at most 1")
        return self


class Place(Spec):
    """A named place; ``kind: valley`` or ``rugged`` shapes the relief, others are labels."""

    name: Name
    at_km: Point
    kind: str = ""
    depth_m: num(0, BIG, "m") = 80.0
    width_km: num(1e-3, BIG, "km") = 0.6
    extra_relief_m: num(0, BIG, "m") = 40.0
    radius_km: num(1e-3, BIG, "km") = 2.5


class Area(Spec):
    name: Name
    polygon_km: points(3, "corners")


class Road(Spec):
    name: Name
    polyline_km: points(2)
    faction: str | None = None


class Crossing(Spec):
    name: Name
    at_km: Point


class River(Spec):
    name: Name
    polyline_km: points(2)
    width_km: Length = 0.2
    trench_m: num(0, BIG, "m") = 20.0
    valley_width_km: num(1e-3, BIG, "km") = 1.5
    crossings: list[Crossing] = []


class PeshLine(Spec):
    follow: str | None = None
    offset_km: Km = 0.0


class Sector(Spec):
    polygon_km: points(3, "corners")


class Lines(Spec):
    peshmerga: PeshLine = PeshLine()
    pmf_sector: Sector | None = None


class Land(Spec):
    town_people_per_km2: num(1, 1e6, "persons per km2") = 10_000.0
    village_people_per_km2: num(1, 1e6, "persons per km2") = 3_000.0
    pasture_slope_deg: num(0, 90, "degrees") = 4.0
    rock_slope_deg: num(0, 90, "degrees") = 18.0
    pasture_ridge_frac: Share = 0.12


class TerrainSpec(Spec):
    """A whole terrain preset, validated (the contents of ``cfg.terrain``)."""

    name: str = "terrain"
    cell_m: Annotated[
        float,
        Field(strict=True, allow_inf_nan=False, ge=50, le=1000,
              description="must be between 50 and 1000 (metres)"),
    ]  # fmt: skip
    x_min_km: Km
    x_max_km: Km
    y_min_km: Km
    y_max_km: Km
    frame: FrameSpec = FrameSpec()
    dem: DemSpec = DemSpec()
    relief: Relief
    settlements: Annotated[
        list[Settlement],
        Field(min_length=1, description="at least one settlement (villagers live there; "
              "insurgents resupply at a market)"),
    ]  # fmt: skip
    places: list[Place] = []
    truffle_grounds: list[Area] = []
    roads: list[Road] = []
    rivers: list[River] = []
    lines: Lines = Lines()
    land: Land = Land()

    @property
    def extent_km(self) -> tuple[float, float, float, float]:
        """``(x_min, x_max, y_min, y_max)`` as configured."""
        return (self.x_min_km, self.x_max_km, self.y_min_km, self.y_max_km)

    @property
    def cell_km(self) -> float:
        return self.cell_m / 1000.0

    @model_validator(mode="after")
    def _consistent(self) -> TerrainSpec:
        _check_grid(self)
        names = set()
        for i, s in enumerate(self.settlements):
            if s.name in names:
                raise ConfigError(
                    f"settlements[{i}].name", s.name, "settlement names must be unique"
                )
            names.add(s.name)
        for key, at in _named_points(self):
            _inside(self, at, key)
        ridges = [r.name for r in self.relief.ridges]
        follow = self.lines.peshmerga.follow
        if follow is not None and follow not in ridges:
            raise ConfigError("lines.peshmerga.follow", follow, f"one of the ridges: {ridges}")
        return self


def _check_grid(spec: TerrainSpec) -> None:
    x0, x1, y0, y1 = spec.extent_km
    for axis, (a, b) in (("x", (x0, x1)), ("y", (y0, y1))):
        if b - a < 2 * spec.cell_km:
            raise ConfigError(
                f"{axis}_max_km", b, f"must exceed {axis}_min_km={a:g} by at least two cells"
            )
    cells = (x1 - x0) * (y1 - y0) / spec.cell_km**2
    if cells > MAX_CELLS:
        raise ConfigError(
            "cell_m",
            spec.cell_m,
            f"the grid would have {cells:.3g} cells, at most {MAX_CELLS:,} fit in memory "
            "(use larger cells or a smaller extent)",
        )


def _named_points(spec: TerrainSpec) -> list[tuple[str, list[float]]]:
    out = [(f"settlements[{i}].at_km", s.at_km) for i, s in enumerate(spec.settlements)]
    out += [(f"places[{i}].at_km", p.at_km) for i, p in enumerate(spec.places)]
    for i, r in enumerate(spec.rivers):
        out += [(f"rivers[{i}].crossings[{j}].at_km", c.at_km) for j, c in enumerate(r.crossings)]
    return out


def _inside(spec: TerrainSpec, at: list[float], key: str) -> None:
    x0, x1, y0, y1 = spec.extent_km
    if not (x0 <= at[0] <= x1 and y0 <= at[1] <= y1):
        raise ConfigError(
            key, list(at), f"must lie inside the extent x {x0:g}..{x1:g}, y {y0:g}..{y1:g} km"
        )


# ---------------------------------------------------------------------------------- entry points


def resolve_config(tcfg: Any) -> dict[str, Any]:
    """The terrain config as plain, resolved containers (not yet validated).

    Args:
        tcfg: a ``TerrainConfig``, an OmegaConf ``DictConfig`` (e.g. ``cfg.terrain``) or a dict;
            keys it lacks take the :class:`TerrainConfig` defaults.

    Raises:
        ConfigError: when an interpolation cannot be resolved or the type is wrong.
    """
    try:
        if dataclasses.is_dataclass(tcfg) and not isinstance(tcfg, type):
            data = dataclasses.asdict(tcfg)
        elif isinstance(tcfg, DictConfig):
            data = OmegaConf.to_container(tcfg, resolve=True, throw_on_missing=True)
        elif isinstance(tcfg, dict):
            data = OmegaConf.to_container(OmegaConf.create(tcfg), resolve=True)
        else:
            raise ConfigError("terrain", type(tcfg).__name__, "a TerrainConfig, DictConfig or dict")
    except OmegaConfBaseException as exc:
        key = str(getattr(exc, "full_key", None) or "")
        raise ConfigError(f"terrain.{key}".rstrip("."), None, str(exc).splitlines()[0]) from None
    assert isinstance(data, dict)
    return {**_DEFAULTS, **data}


_DEFAULTS = dataclasses.asdict(TerrainConfig())


def parse_terrain(tcfg: Any) -> TerrainSpec:
    """Resolve and validate a terrain config (see :func:`resolve_config`)."""
    if isinstance(tcfg, TerrainSpec):
        return tcfg
    return validate_spec(TerrainSpec, resolve_config(tcfg), "terrain")
