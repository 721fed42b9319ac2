"""The keys a user types, from the schema itself: name, default, allowed values and meaning.

Why one table: ``gapsim COMMAND --help``, the "did you mean" hints and the run-key table of the
docs must agree with what ``validate_config`` accepts. Defaults come from the composed config
(the scenario file sets the gap and coordination), meanings from each schema field's ``doc``
metadata, and the allowed values from ``validate_config`` itself (an out-of-range probe value
returns its own error text), so nothing here is a second copy of a rule. Model parameters come
from ``ModelParams`` and its field metadata (range, unit, meaning); mechanism names for
``model.ablate`` from ``sim.model.mechanisms.MECHANISMS``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sim.config.load import GROUPS, options


@dataclass(frozen=True)
class KeyInfo:
    """One key as help shows it."""

    key: str
    default: str
    allowed: str
    doc: str


def show(value: Any) -> str:
    """A value as typed on the command line (``true``, ``null``, ``[a,b]``, ``4``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + ",".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else "{...}"
    return str(value)


def _probe_values(type_name: str) -> list[Any]:
    """Out-of-range values that make ``validate_config`` name a key and what it allows."""
    if "int" in type_name:
        return [-1, 10**18]
    if "float" in type_name:
        return [-1.0, 1e18]
    if type_name.startswith("str"):
        return ["?"]
    return []


def allowed_text(cfg: Any, name: str, type_name: str) -> str:
    """What ``validate_config`` accepts for a top-level key (its own error text), else the type."""
    from sim.config.schema import validate_config
    from sim.errors import ConfigError

    for bad in _probe_values(type_name):
        try:
            validate_config(dataclasses.replace(cfg, **{name: bad}))
        except ConfigError as err:
            if err.key == name:
                return str(err.allowed).removeprefix("must be ")
    if type_name == "bool":
        return "true or false"
    if type_name.startswith("dict"):
        return "a mapping"
    if type_name.startswith("list"):
        return "a list, e.g. [a,b]"
    return "a name, or null" if "None" in type_name else f"any {type_name}"


def run_keys(config: Any | None = None) -> dict[str, KeyInfo]:
    """Every top-level key of ``Config`` (plus ``model.<name>``), defaults from ``config``."""
    from sim.config.schema import Config

    cfg = config if config is not None else Config()
    out: dict[str, KeyInfo] = {}
    for f in dataclasses.fields(Config):
        doc = str(f.metadata.get("doc", ""))
        if f.name in GROUPS:
            out[f.name] = KeyInfo(f.name, str(getattr(cfg, f.name).name),
                                  "one of " + ", ".join(options(f.name)), doc)  # fmt: skip
        elif f.name == "model":
            out["model.<name>"] = KeyInfo(
                "model.<name>", "-",
                "each parameter's range (gapsim help model; docs/ODD.md, parameter table)", doc)
        else:
            allowed = allowed_text(Config(), f.name, str(f.type))
            out[f.name] = KeyInfo(f.name, show(getattr(cfg, f.name)), allowed, doc)
    return out


def model_keys() -> dict[str, KeyInfo]:
    """``model.<name>`` for every field of ``ModelParams``: default, range and unit, meaning."""
    from sim.model.mechanisms import MECHANISMS
    from sim.model.params import ModelParams

    defaults = ModelParams()
    out: dict[str, KeyInfo] = {}
    for f in dataclasses.fields(ModelParams):
        meta = f.metadata
        if meta.get("names"):
            allowed = "a list of mechanism names: " + ", ".join(MECHANISMS)
        else:
            lo, hi = meta.get("range", (None, None))
            unit = meta.get("unit", "")
            per_level = isinstance(getattr(defaults, f.name), list)
            allowed = f"{show(lo)} to {show(hi)}" + (f" {unit}" if unit not in ("", "-") else "")
            if per_level:
                allowed = "5 numbers (none..joint_brigades), each " + allowed
        key = f"model.{f.name}"
        out[key] = KeyInfo(key, show(getattr(defaults, f.name)), allowed, str(meta.get("doc", "")))
    return out


def schema_keys() -> list[str]:
    """Every dotted key a user can set (nested dataclasses flattened; lists stay one key)."""
    from sim.config.schema import Config

    def walk(cls: type, prefix: str) -> list[str]:
        keys = []
        for f in dataclasses.fields(cls):
            default = (f.default_factory() if f.default_factory is not dataclasses.MISSING
                       else f.default)  # fmt: skip
            if dataclasses.is_dataclass(default):
                keys += walk(type(default), f"{prefix}{f.name}.")
            else:
                keys.append(f"{prefix}{f.name}")
        return keys

    return walk(Config, "")


def unit_of(key: str) -> str | None:
    """The unit a key is given in: from a model parameter's metadata, else from its name."""
    if key.startswith("model."):
        from sim.model.params import ModelParams

        fields = {f.name: f for f in dataclasses.fields(ModelParams)}
        field = fields.get(key.removeprefix("model."))
        if field is not None:
            unit = str(field.metadata.get("unit", ""))
            return unit if unit not in ("", "-", "names") else None
    leaf = key.rsplit(".", 1)[-1]
    for suffix, unit in (("_km", "km"), ("_m", "m"), ("_kmh", "km/h"), ("_hours", "h"), ("_h", "h"),
                         ("_days", "days"), ("_mb", "MB")):  # fmt: skip
        if leaf.endswith(suffix):
            return unit
    return {"days": "days"}.get(leaf)
