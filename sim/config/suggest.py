"""Hints that turn a refusal into its fix: "did you mean", where keys are listed, how to quote.

Why: a one-line error should say what to type instead. ``replicate=2`` should point to
``replicates``, ``model.n_fighter`` to ``model.n_fighters`` and to the model's parameter list (not
``configs/config.yaml``, which lists no model keys), ``coordination=joint_operations`` (a
scenario's name) to ``joint_ops``, ``scenarios=[a, b]`` (split by the shell at the space) to
quoting, and ``gap_width_km=6km`` to the plain number. Candidate names always come from the
sources the checks use (the schema, the config folders, the coordination levels, the mechanisms),
so the hints cannot drift from what is accepted.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any

from sim.errors import ConfigError

HELP = "gapsim COMMAND --help lists the keys"
MODEL_HELP = ("the model parameters are listed by `gapsim help model` and in the parameter table "
              "of docs/ODD.md")  # fmt: skip

#: A number followed by a unit, e.g. ``6km``, ``6 km``, ``2.5h``, ``-3m``, ``10%``.
_NUMBER_WITH_UNIT = re.compile(r"^\s*(?P<num>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*"
                               r"(?P<unit>[A-Za-z%/\u00b5\u00b0]+)\s*$")  # fmt: skip


def close(word: str, candidates: Sequence[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The candidates closest to ``word`` (difflib), also matching a candidate it prefixes."""
    found = difflib.get_close_matches(word, list(candidates), n=n, cutoff=cutoff)
    if not found and len(word) >= 4:
        found = [c for c in candidates if c.startswith(word) or word.startswith(c)][:n]
    return found


# ------------------------------------------------------------------------------- unknown keys


def unknown_key(key: str) -> str:
    """What to say about an unknown key: the closest real key, and where the keys are listed."""
    from sim.config.keys import schema_keys

    keys = schema_keys()
    section = key.split(".")[0]
    pool = [k for k in keys if k.startswith(section + ".")] if "." in key else (
        [k for k in keys if "." not in k] + [k.split(".")[0] for k in keys])  # fmt: skip
    leaf = key.rsplit(".", 1)[-1]
    guess = [] if leaf.startswith("_") else close(key, sorted(set(pool)), cutoff=0.75)
    mean = f"did you mean {guess[0]}? " if guess else ""
    if section == "model" and "." in key:
        return f"unknown key (not a model parameter); {mean}{MODEL_HELP}"
    if section == "terrain" and "." in key:
        return (f"unknown key (not a terrain setting); {mean}the terrain settings are those of "
                f"configs/terrain/qarachogh.yaml")  # fmt: skip
    return f"unknown key; {mean}({HELP})"


# ------------------------------------------------------------------------ numbers with units


def number_hint(key: str, value: Any, target: str) -> str | None:
    """A clear line for a value that is not a number; None if ``target`` is not numeric."""
    from sim.config.keys import unit_of

    whole = target.lower().startswith("int")
    if not (whole or target.lower().startswith("float")):
        return None
    kind = "a whole number" if whole else "a number"
    unit = unit_of(key)
    match = _NUMBER_WITH_UNIT.match(str(value))
    if match:
        given = match["unit"]
        if unit and given.lower() in _aliases(unit):
            return (f"{kind} without a unit: the unit ({unit}) is part of the key's name; "
                    f"write {key}={match['num']}")  # fmt: skip
        factor = _conversion(given, unit)
        if unit and factor is not None:
            number = float(match["num"]) * factor
            shown = f"{number:g}" if not whole else str(round(number))
            return (f"{kind} in {unit}, without a unit ({value} is {key}={shown}); the unit is "
                    f"part of the key's name")  # fmt: skip
        if unit:
            return f"{kind} in {unit}, without a unit after it ({given!r} is not {unit})"
        return f"{kind} without a unit after it: write {key}={match['num']}"
    return f"{kind}" + (f" (in {unit})" if unit else "")


def _conversion(given: str, unit: str) -> float | None:
    """Factor from ``given`` (a unit as typed) to ``unit``; None when they do not convert."""
    scale = {"m": ("m", 1.0), "km": ("m", 1000.0), "h": ("s", 3600.0), "days": ("s", 86400.0),
             "min": ("s", 60.0), "s": ("s", 1.0)}  # fmt: skip
    source = next((u for u in scale if given.lower() in _aliases(u)), None)
    if source is None or unit not in scale or scale[source][0] != scale[unit][0]:
        return None
    return scale[source][1] / scale[unit][1]


def _aliases(unit: str) -> set[str]:
    table = {"km": {"km", "kms", "kilometre", "kilometres", "kilometer", "kilometers"},
             "m": {"m", "metre", "metres", "meter", "meters"},
             "h": {"h", "hr", "hrs", "hour", "hours"},
             "days": {"d", "day", "days"}, "km/h": {"km/h", "kmh", "kph"},
             "min": {"min", "mins", "minute", "minutes"}, "s": {"s", "sec", "second", "seconds"},
             "%": {"%"}}  # fmt: skip
    return table.get(unit, {unit.lower()})


# ------------------------------------------------------------------------------- list syntax


def no_equals_error(args: Sequence[str], index: int) -> ConfigError:
    """``args[index]`` has no ``=``. If the override before it was left open (``scenarios=[a,``
    from ``scenarios=[a, b]`` split by the shell at the space), name it and say how to quote it;
    otherwise say that overrides are key=value, and how to quote a value with spaces."""
    start = index
    while start > 0 and "=" not in args[start - 1] and not args[start - 1].startswith("-"):
        start -= 1
    arg = args[index]
    plain = ConfigError("override", arg, "overrides are key=value (e.g. gap_width_km=6)")
    if start == 0 or args[start - 1].startswith("-"):
        return plain
    end = index
    while end + 1 < len(args) and "=" not in args[end + 1] and not args[end + 1].startswith("-"):
        end += 1
    key, _, value = " ".join(args[start - 1 : end + 1]).partition("=")
    if unbalanced(args[start - 1].partition("=")[2]):
        return spaced_value(key, value)
    return ConfigError("override", arg, f"overrides are key=value (e.g. gap_width_km=6); if "
                                        f"{arg!r} belongs to the value before it, quote that "
                                        f"whole override: '{key}={value}'")  # fmt: skip


def spaced_value(key: str, value: str) -> ConfigError:
    """The fix for a value the shell split at its spaces: quote the override, or drop them."""
    if value.lstrip().startswith(("[", "{")):
        compact = re.sub(r"\s*([,:\[\]{}])\s*", r"\1", value.strip())
        return ConfigError(key, value, f"the shell split this list at its spaces; quote the whole "
                                       f"override ('{key}={value}') or drop the spaces "
                                       f"({key}={compact})")  # fmt: skip
    return ConfigError(key, value, f"the shell split this value at a space; quote the whole "
                                   f"override: '{key}={value}'")  # fmt: skip


def unclosed(key: str, value: str) -> ConfigError:
    """The fix for a list left open at the end of the command line (``scenarios=[a,``)."""
    return ConfigError(key, value, f"this list is not closed with ]; if it held spaces the shell "
                                   f"split it: write it without spaces ({key}=[a,b]) or quote "
                                   f"the whole override ('{key}=[a, b]')")  # fmt: skip


def unbalanced(value: str) -> bool:
    """A list or mapping left open (``[a,`` from ``scenarios=[a, b]`` split by the shell)."""
    return value.count("[") > value.count("]") or value.count("{") > value.count("}")


# ---------------------------------------------------------------------- names from a fixed set


def _scenarios() -> list[str]:
    from sim.config.load import options

    return options("scenario")


def _levels() -> list[str]:
    from sim.model.params import COORDINATION_LEVELS

    return list(COORDINATION_LEVELS)


def _mechanisms() -> list[str]:
    from sim.model.mechanisms import MECHANISMS

    return list(MECHANISMS)


def _group(name: str) -> Callable[[], list[str]]:
    def names() -> list[str]:
        from sim.config.load import options

        return options(name)

    return names


def _studies() -> list[str]:
    from sim.experiments.study import list_studies

    return list_studies()


#: Keys whose values are names from a fixed set, and where that set comes from.
CHOICES: dict[str, Callable[[], list[str]]] = {
    "coordination": _levels,
    "scenario": _scenarios,
    "scenarios": _scenarios,
    "baseline": _scenarios,
    "terrain": _group("terrain"),
    "executor": _group("executor"),
    "experiment": _studies,
    "model.ablate": _mechanisms,
}


def _names_in(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value).strip("[]")] if value is not None else []


def improve(err: ConfigError) -> ConfigError:
    """``err`` with a "did you mean" added where the bad value is close to an allowed name."""
    if "did you mean" in err.allowed:
        return err
    key = re.sub(r"\[\d+\]", "", str(err.key))
    key = "coordination" if key.endswith(".coordination") else key
    source = CHOICES.get(key)
    if source is None:
        return err
    try:
        valid = source()
    except Exception:  # noqa: BLE001 - a hint must never replace the error it improves
        return err
    bad = [n for n in _names_in(err.value) if n not in valid]
    if not bad:
        return err
    hints = []
    for name in bad[:1]:
        guess = close(name, valid)
        if key == "coordination" and name in _scenarios():
            level = scenario_coordination(name)
            hints.append(f"{name} is a scenario (its coordination is {level}): did you mean "
                         f"coordination={level}, or scenario={name}?")  # fmt: skip
        elif guess:
            hints.append(f"did you mean {guess[0]}?")
    if not hints:
        return err
    return ConfigError(err.key, err.value, f"{err.allowed}; {' '.join(hints)}")


def scenario_coordination(name: str) -> str:
    """The coordination level a scenario file sets (the schema default if it sets none)."""
    from sim.config.load import CONFIG_DIR
    from sim.config.schema import Config
    from sim.config.yaml_files import load_yaml

    data = load_yaml(CONFIG_DIR / "scenario" / f"{name}.yaml", "scenario file")
    level = data.get("coordination") if isinstance(data, dict) else None
    return str(level if level is not None else Config().coordination)
