"""Uncertain parameters: which ones, over what range, and how a value lands in a config.

Why a module of its own: calibration (ABC priors), the posterior overlay of ``parameters=
posterior`` and the Sobol study all vary the same kind of thing -- a model parameter, one entry of
a per-coordination-level table, or a headline key (``gap_width_km``, ``coordination``) -- and all
must take its unit, allowed range and source from ``sim.model.params.ModelParams`` field
metadata, never from a copy. A study file names the parameters; this module checks each name and
range against that metadata and sets values into a resolved config dict.

Keys::

    model.strike_kill_prob          a scalar model parameter
    model.share_prob[jcc]           one entry of a per-level table (level name or index 0..4)
    model.share_prob[*]             every entry of a table, scaled together (``factor`` specs)
    gap_width_km, coordination      headline keys (coordination as a number 0..4)

Specs (YAML)::

    {range: [low, high]}             absolute values (inside the parameter's allowed range)
    {range: [low, high], scale: log} log-uniform
    {factor: [low, high]}            multiply the base value (every entry for ``[*]``); the
                                     product is clipped into the allowed range
    {ranges: [[lo, hi] x 5]}         a whole table, one absolute range per level
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from sim.errors import ConfigError

_KEY_RE = re.compile(r"^model\.([a-z_][a-z0-9_]*)(?:\[([a-z_]+|[0-9]|\*)\])?$")
HEADLINE: dict[str, tuple[float, float, str, str]] = {
    "gap_width_km": (0.0, 20.0, "km", "seed 001 (3-5 km); input"),
    "coordination": (0.0, 4.0, "level", "DOMAIN 5b (none=0 .. joint_brigades=4); input"),
}


@dataclass(frozen=True)
class Uncertain:
    """One varied quantity.

    Attributes:
        key: canonical key (``model.share_prob[jcc]``, ``model.n_fighters``, ``gap_width_km``).
        low, high: the range sampled (absolute values, or multipliers when ``factor``).
        scale: ``linear`` or ``log``.
        factor: True when values multiply the base value (clipped into ``bounds``).
        integer: the parameter is a whole number (values are rounded when set).
        bounds: the allowed range from ModelParams (or the headline key's range).
        unit, source, doc: from ModelParams metadata.
        est: the source is marked [EST] (a modelling estimate).
    """

    key: str
    low: float
    high: float
    scale: str = "linear"
    factor: bool = False
    integer: bool = False
    bounds: tuple[float, float] = (-math.inf, math.inf)
    unit: str = ""
    source: str = ""
    doc: str = ""
    est: bool = False

    @property
    def field(self) -> str | None:
        """The ModelParams field name (None for a headline key)."""
        m = _KEY_RE.match(self.key)
        return m.group(1) if m else None

    @property
    def level(self) -> int | None:
        """The table index (None: a scalar or the whole table)."""
        m = _KEY_RE.match(self.key)
        if not m or m.group(2) in (None, "*"):
            return None
        from sim.model.params import COORDINATION_LEVELS

        return COORDINATION_LEVELS.index(m.group(2))

    def from_unit(self, u: float) -> float:
        """The sampled value at ``u`` in [0, 1] (before any factor is applied)."""
        u = min(max(float(u), 0.0), 1.0)
        if self.scale == "log":
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def prior(self) -> tuple[str, float, float]:
        """(scipy distribution name, loc/a, scale/b) for pyabc's ``RV``."""
        if self.scale == "log":
            return ("loguniform", self.low, self.high)
        return ("uniform", self.low, self.high - self.low)


def _fields() -> dict[str, Any]:
    from sim.model.params import ModelParams

    return {f.name: f for f in fields(ModelParams)}


def canonical_key(key: str) -> tuple[str, str | None, int | None | str]:
    """(canonical key, field, level index | '*' | None) for a key as typed.

    Raises:
        ConfigError: not a model parameter, table entry or headline key.
    """
    from sim.model.params import COORDINATION_LEVELS

    if key in HEADLINE:
        return key, None, None
    m = _KEY_RE.match(str(key))
    allowed = ("model.<parameter>, model.<table>[<level>|0-4|*], gap_width_km or coordination "
               "(parameters: docs/ODD.md)")
    if not m:
        raise ConfigError("parameters", key, f"not a parameter key; use {allowed}")
    name, index = m.group(1), m.group(2)
    f = _fields().get(name)
    if f is None or f.metadata.get("names"):
        raise ConfigError("parameters", key, f"no model parameter {name!r}; use {allowed}")
    is_table = isinstance(f.default_factory() if callable(f.default_factory) else f.default, list)
    if index is None:
        if is_table:
            raise ConfigError("parameters", key,
                              f"{name} is a per-level table: name an entry, e.g. {key}[jcc], or "
                              f"{key}[*] with a factor, or give ranges for all five levels")
        return key, name, None
    if not is_table:
        raise ConfigError("parameters", key, f"{name} is a single value, not a per-level table")
    if index == "*":
        return f"model.{name}[*]", name, "*"
    level = int(index) if index.isdigit() else (
        COORDINATION_LEVELS.index(index) if index in COORDINATION_LEVELS else -1)
    if not 0 <= level < len(COORDINATION_LEVELS):
        raise ConfigError("parameters", key, f"level must be one of {', '.join(COORDINATION_LEVELS)} "
                                             f"or 0-{len(COORDINATION_LEVELS) - 1}")
    return f"model.{name}[{COORDINATION_LEVELS[level]}]", name, level


def field_meta(name: str | None, key: str) -> tuple[tuple[float, float], str, str, str, bool]:
    """(allowed range, unit, source, doc, integer?) of a ModelParams field (``name``) or of a
    headline key (``name`` None, ``key`` the headline key)."""
    if name is None:
        lo, hi, unit, source = HEADLINE[key]
        return (lo, hi), unit, source, key, key == "coordination"
    f = _fields()[name]
    default = f.default_factory() if callable(f.default_factory) else f.default
    sample = default[0] if isinstance(default, list) else default
    integer = isinstance(sample, int) and not isinstance(sample, bool)
    lo, hi = f.metadata["range"]
    return (float(lo), float(hi)), f.metadata["unit"], f.metadata["source"], f.metadata["doc"], integer


def parse(spec: Mapping[str, Any], where: str = "") -> list[Uncertain]:
    """Parse a ``parameters:`` mapping of a study file into checked ``Uncertain`` items.

    Raises:
        ConfigError: the first unknown key, bad range, range outside the allowed one, or a key
            given twice (also through a table's ``ranges``).
    """
    from sim.model.params import COORDINATION_LEVELS

    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError("parameters", spec, f"a mapping of parameter keys to ranges {where}")
    out: list[Uncertain] = []
    for raw_key, item in spec.items():
        label = f"parameters.{raw_key}"
        if not isinstance(item, Mapping):
            raise ConfigError(label, item, f"a mapping such as {{range: [low, high]}} {where}")
        unknown = set(item) - {"range", "ranges", "factor", "scale"}
        if unknown:
            raise ConfigError(label, sorted(unknown)[0],
                              f"unknown key; allowed: range, ranges, factor, scale {where}")
        if "ranges" in item:
            m = _KEY_RE.match(str(raw_key))
            if not m or m.group(2) is not None:
                raise ConfigError(label, raw_key, f"ranges: give the table's key alone {where}")
            ranges = item["ranges"]
            if not isinstance(ranges, list) or len(ranges) != len(COORDINATION_LEVELS):
                raise ConfigError(f"{label}.ranges", ranges,
                                  f"one [low, high] per level ({', '.join(COORDINATION_LEVELS)}) {where}")
            for level, rng in zip(COORDINATION_LEVELS, ranges, strict=True):
                out += parse({f"{raw_key}[{level}]": {"range": rng, **(
                    {"scale": item["scale"]} if "scale" in item else {})}}, where)
            continue
        key, name, level = canonical_key(str(raw_key))
        bounds, unit, source, doc, integer = field_meta(name, key)
        scale = item.get("scale", "linear")
        if scale not in ("linear", "log"):
            raise ConfigError(f"{label}.scale", scale, f"must be linear or log {where}")
        is_factor = "factor" in item
        if is_factor == ("range" in item):
            raise ConfigError(label, dict(item), f"give range or factor (one of them) {where}")
        if level == "*" and not is_factor:
            raise ConfigError(label, dict(item), f"a whole table [*] takes a factor {where}")
        rng = item["factor" if is_factor else "range"]
        if (not isinstance(rng, list) or len(rng) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool)
                           and math.isfinite(v) for v in rng)):
            raise ConfigError(f"{label}.{'factor' if is_factor else 'range'}", rng,
                              f"a list [low, high] of numbers {where}")
        low, high = float(rng[0]), float(rng[1])
        if not low < high:
            raise ConfigError(f"{label}.range", rng, f"low must be below high {where}")
        if scale == "log" and low <= 0:
            raise ConfigError(f"{label}.range", rng, f"a log scale needs low > 0 {where}")
        if is_factor and low < 0:
            raise ConfigError(f"{label}.factor", rng, f"factors must be >= 0 {where}")
        if not is_factor and not (bounds[0] <= low and high <= bounds[1]):
            raise ConfigError(f"{label}.range", rng,
                              f"must lie within {key}'s allowed range {list(bounds)} ({unit}) {where}")
        out.append(Uncertain(key, low, high, scale, is_factor, integer, bounds, unit, source, doc,
                             "[EST]" in source))
    keys = [u.key for u in out]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup:
        raise ConfigError("parameters", dup, f"given twice {where}")
    return out


def est_parameters(exclude: Iterable[str] = (), factor: tuple[float, float] = (0.5, 1.5),
                   tables: bool = True) -> list[Uncertain]:
    """Every ModelParams parameter whose source is marked [EST], as factor specs.

    Scalars vary by ``factor`` times their default; per-level tables as a whole
    (``model.<table>[*]``) when ``tables``. ``exclude`` names fields to leave out (resolution
    settings such as ``tick_hours``, bookkeeping such as ``people_per_agent``).
    """
    skip = set(exclude)
    spec: dict[str, Any] = {}
    for name, f in _fields().items():
        if f.metadata.get("names") or name in skip or "[EST]" not in f.metadata.get("source", ""):
            continue
        default = f.default_factory() if callable(f.default_factory) else f.default
        if isinstance(default, list):
            if tables:
                spec[f"model.{name}[*]"] = {"factor": list(factor)}
        elif default != 0:
            spec[f"model.{name}"] = {"factor": list(factor)}
    return parse(spec, "(ModelParams [EST] parameters)")


# --------------------------------------------------------------------------- setting values


def _value_for(u: Uncertain, base_value: Any, value: float) -> Any:
    x = float(value) * float(base_value) if u.factor else float(value)
    x = min(max(x, u.bounds[0]), u.bounds[1])
    return int(round(x)) if u.integer else float(f"{x:.12g}")


def apply(config: Mapping[str, Any], values: Mapping[str, float],
          items: Iterable[Uncertain]) -> dict[str, Any]:
    """A deep copy of a resolved config dict with each item's value set.

    ``values`` maps canonical keys to sampled values (multipliers for ``factor`` items). A
    headline ``coordination`` value is written as text (the config key takes names or numbers).
    """
    from sim.model.params import COORDINATION_LEVELS

    cfg = copy.deepcopy(dict(config))
    model = cfg.setdefault("model", {})
    for u in items:
        if u.key not in values:
            continue
        v = values[u.key]
        if u.field is None:
            x = _value_for(u, cfg.get(u.key, 0.0), v)
            cfg[u.key] = format(float(x), ".6g") if u.key == "coordination" else x
            continue
        current = model.get(u.field)
        if current is None:
            current = _default(u.field)
        if isinstance(current, list):
            table = list(current)
            targets = range(len(COORDINATION_LEVELS)) if u.level is None else [u.level]
            for i in targets:
                table[i] = _value_for(u, table[i], v)
            model[u.field] = table
        else:
            model[u.field] = _value_for(u, current, v)
    return cfg


def items_for(keys: Iterable[str]) -> list[Uncertain]:
    """Absolute-value items for canonical keys (what a posterior particle sets)."""
    out = []
    for key in keys:
        canon, name, _ = canonical_key(key)
        bounds, unit, source, doc, integer = field_meta(name, canon)
        out.append(Uncertain(canon, bounds[0], bounds[1], integer=integer, bounds=bounds,
                             unit=unit, source=source, doc=doc, est="[EST]" in source))
    return out


def _default(name: str) -> Any:
    f = _fields()[name]
    return f.default_factory() if callable(f.default_factory) else f.default


def check_values(config: Mapping[str, Any]) -> None:
    """Run ModelParams' range checks on a config dict's model section (ConfigError if bad)."""
    import dataclasses

    from sim.model.params import ModelParams, validate_params

    known = _fields()
    model = {k: v for k, v in (config.get("model") or {}).items() if k in known}
    validate_params(dataclasses.replace(ModelParams(), **model))


def describe(items: Iterable[Uncertain]) -> list[dict[str, Any]]:
    """Plain rows (for YAML and Markdown tables)."""
    return [{"key": u.key, "low": u.low, "high": u.high, "scale": u.scale,
             "kind": "factor" if u.factor else "value", "unit": u.unit, "source": u.source}
            for u in items]
