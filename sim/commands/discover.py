"""`gapsim discover DIR outcome=... threshold=...`: scenario discovery (PRIM) on a finished sweep.

Why a command of its own (not part of `gapsim sweep`): the question ("where do incidents exceed
20 per quarter?") comes after the sweep, is asked many times with other outcomes and thresholds,
and costs seconds, not a rerun. Everything is checked before anything is written (a missing or
unfinished sweep, an unknown outcome or option, a threshold no run crosses: one line, exit 2);
the outputs go to ``DIR/discovery/<outcome>_<direction>_<threshold>/``: ``discovery.png`` (and
SVG), ``boxes.csv`` (limits, quasi-p, reproducibility), ``trajectory.csv`` (every box on the
coverage-density trade-off) and ``discovery.json`` (settings, counts, the plain-language lines).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.errors import ConfigError
from sim.experiments.discover import CASES, DIRECTIONS, PERIOD_DAYS, Discovery, discover

USAGE = ("gapsim discover DIR outcome=NAME threshold=NUMBER|pNN [direction=above|below] "
         "[per=day|week|month|quarter|year] [on=runs|points] [min_coverage=0.5] [alpha=0.05] "
         "[boxes=1] [box=ID] [simplify=true] [resamples=10] [seed=0] [out=DIR]")  # fmt: skip

#: Option -> (parser, default). Parsers raise ValueError with the allowed values.
_OPTIONS: dict[str, Any] = {
    "outcome": None, "threshold": None, "direction": "above", "per": None, "on": "runs",
    "min_coverage": 0.5, "alpha": 0.05, "boxes": 1, "box": None, "simplify": "true",
    "resamples": 10, "seed": 0, "out": None,
}  # fmt: skip

#: Columns of a sweep table that are neither factors nor outcomes.
_LABELS = ("scenario", "design_point", "replicate", "run_id", "realisation")


def discover_command(args: list[str]) -> int:
    """Entry point of `gapsim discover` (bad input raises ConfigError: one line, exit 2)."""
    discover_into(args)
    return 0


def _parse(args: list[str]) -> tuple[Path, dict[str, Any]]:
    paths = [a for a in args if "=" not in a]
    given = dict(a.split("=", 1) for a in args if "=" in a)
    for key, value in given.items():
        if key not in _OPTIONS:
            near = difflib.get_close_matches(key, list(_OPTIONS), n=1)
            hint = f"did you mean {near[0]}? " if near else ""
            raise ConfigError(key, value, f"{hint}gapsim discover takes {', '.join(_OPTIONS)}")
    if len(paths) != 1:
        raise ConfigError("discover", " ".join(args) or "(nothing)",
                          f"give one sweep directory: {USAGE}")
    opts = {**_OPTIONS, **given}
    opts["direction"] = _choice("direction", opts["direction"], DIRECTIONS)
    opts["on"] = _choice("on", opts["on"], CASES)
    if opts["per"] is not None:
        opts["per"] = _choice("per", opts["per"], tuple(PERIOD_DAYS))
    opts["min_coverage"] = _number("min_coverage", opts["min_coverage"], 0.0, 1.0, "a share in (0, 1]")
    opts["alpha"] = _number("alpha", opts["alpha"], 0.0, 1.0, "a significance level in (0, 1)")
    opts["boxes"] = _whole("boxes", opts["boxes"], 1, 10)
    opts["simplify"] = _choice("simplify", str(opts["simplify"]).lower(), ("true", "false")) == "true"
    opts["resamples"] = _whole("resamples", opts["resamples"], 0, 1000)
    opts["seed"] = _whole("seed", opts["seed"], 0, 2**32 - 1)
    if opts["box"] is not None:
        opts["box"] = _whole("box", opts["box"], 0, 10**6)
        if opts["boxes"] != 1:
            raise ConfigError("box", opts["box"], "picks the first box; use it with boxes=1")
    return Path(paths[0]), opts


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if str(value) not in allowed:
        raise ConfigError(key, value, f"must be one of {', '.join(allowed)}")
    return str(value)


def _number(key: str, value: Any, lo: float, hi: float, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not lo < number <= hi or (key == "alpha" and number >= 1):
        raise ConfigError(key, value, f"must be {what}")
    return number


def _whole(key: str, value: Any, lo: int, hi: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ConfigError(key, value, f"must be a whole number from {lo} to {hi}") from None
    if not lo <= number <= hi:
        raise ConfigError(key, value, f"must be a whole number from {lo} to {hi}")
    return number


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        data = None
    return data if isinstance(data, dict) else {}


def sweep_factors(table: pd.DataFrame, study: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The factor columns of a sweep table and their config keys.

    From the sweep's ``study.yaml`` when there is one; otherwise (a collected multirun) the
    columns before ``replicate`` that are not labels, as ``gapsim collect`` orders them.
    """
    keys: dict[str, str] = {}
    for key, spec in (study.get("factors") or {}).items():
        name = (spec or {}).get("name", key) if isinstance(spec, dict) else key
        keys[str(name)] = str(key)
    if keys:
        names = [n for n in keys if n in table.columns and n not in _LABELS]
    else:
        head = list(table.columns[: list(table.columns).index("replicate")]) \
            if "replicate" in table.columns else []  # fmt: skip
        names = [c for c in head if c not in _LABELS]
        keys = {n: n for n in names}
    return names, keys


def factor_unit(name: str, key: str) -> str:
    """The unit of a factor for the plain-language line ("" when dimensionless)."""
    if key == "gap_width_km" or name == "gap_width_km":
        return "km"
    if key == "days":
        return "days"
    field = key.split(".", 1)[1] if key.startswith("model.") else name
    from dataclasses import fields

    from sim.model.params import ModelParams

    meta = {f.name: f.metadata for f in fields(ModelParams)}.get(field)
    unit = (meta or {}).get("unit", "")
    return "" if unit in ("-", "", "names") else str(unit)


def load_sweep(directory: Path) -> tuple[pd.DataFrame, dict[str, Any], float | None]:
    """The sweep table, its study description and the run length, or a one-line ConfigError."""
    if not directory.exists():
        raise ConfigError("DIR", str(directory), "no such directory; give a finished sweep's "
                          "directory (results/sweep/<timestamp>)")
    if not directory.is_dir():
        raise ConfigError("DIR", str(directory), "is a file; give a finished sweep's directory")
    path = directory / "sweep.parquet"
    if not path.is_file():
        raise ConfigError("DIR", str(directory), "not a finished sweep (no sweep.parquet); run "
                          "gapsim sweep experiment=NAME (or gapsim collect DIR) first")
    try:
        table = pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises many types for a damaged file
        raise ConfigError("DIR", str(directory), f"sweep.parquet cannot be read ({err})") from None
    if table.empty:
        raise ConfigError("DIR", str(directory), "the sweep table has no rows")
    base = _read_yaml(directory / "base_config.yaml") or _read_yaml(directory / "config.yaml")
    days = base.get("days")
    return table, _read_yaml(directory / "study.yaml"), float(days) if days else None


def _outcome(table: pd.DataFrame, name: Any, factors: list[str]) -> str:
    from sim.engine.stats import numeric_outcomes

    outcomes = numeric_outcomes(table, exclude=[*factors, *_LABELS])
    if name is None:
        raise ConfigError("outcome", None, f"name the outcome, e.g. outcome=incidents; this "
                          f"sweep has {', '.join(outcomes)}")
    if name not in outcomes:
        near = difflib.get_close_matches(str(name), outcomes, n=1)
        hint = f"did you mean {near[0]}? " if near else ""
        raise ConfigError("outcome", name, f"{hint}not an outcome of this sweep; it has "
                          f"{', '.join(outcomes)}")
    return str(name)


def _slug(opts: dict[str, Any]) -> str:
    parts = [opts["outcome"], opts["direction"], str(opts["threshold"])]
    if opts["per"]:
        parts.append(f"per_{opts['per']}")
    if opts["on"] == "points":
        parts.append("points")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(parts))


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f"_{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def discover_into(args: list[str], verbose: bool = True) -> Discovery:
    """Parse, check, run PRIM and write the outputs; the ``Discovery`` (for ``sim.api``)."""
    directory, opts = _parse(args)
    table, study, days = load_sweep(directory)
    factors, keys = sweep_factors(table, study)
    if not factors:
        raise ConfigError("DIR", str(directory), "the sweep table names no factors")
    opts["outcome"] = _outcome(table, opts["outcome"], factors)
    if opts["threshold"] is None:
        raise ConfigError("threshold", None, "give the threshold, e.g. threshold=20 (or a "
                          "percentile: threshold=p75)")
    units = {n: factor_unit(n, keys.get(n, n)) for n in factors}
    result = discover(table, factors, opts["outcome"], opts["threshold"],
                      direction=opts["direction"], per=opts["per"], days=days, on=opts["on"],
                      min_coverage=opts["min_coverage"], alpha=opts["alpha"],
                      boxes=opts["boxes"], box=opts["box"], simplify_box=opts["simplify"],
                      resamples=opts["resamples"],
                      seed=opts["seed"], units=units)  # fmt: skip
    out = Path(opts["out"]) if opts["out"] else directory / "discovery" / _slug(opts)
    written = write_outputs(result, out, table, factors, opts)
    if verbose:
        print(report_text(result))
        for path in written:
            print(f"  {path}")
        print(f"output: {out}")
    return result


def write_outputs(result: Discovery, out: Path, table: pd.DataFrame, factors: list[str],
                  opts: dict[str, Any]) -> list[Path]:
    """Figure, boxes, trajectory and a JSON record, each written atomically."""
    from sim.analysis.discover_figure import plot_discovery
    from sim.experiments.discover import cases

    out.mkdir(parents=True, exist_ok=True)
    x, _ = cases(table, factors, result.outcome, per=result.per, days=result.days, on=result.on)
    written = plot_discovery(result, out / "discovery.png", x)
    for name, frame in (("boxes", result.limits_table()), ("trajectory", result.trajectory_table())):
        _write_text(out / f"{name}.csv", frame.to_csv(index=False))
        written.append(out / f"{name}.csv")
    record = {
        "settings": {k: v for k, v in opts.items() if k != "out"},
        "threshold_value": result.threshold, "days": result.days, "cases": result.cases,
        "of_interest": result.of_interest, "base_rate": result.base_rate,
        "factors": result.factors, "lines": [result.sentence(b) for b in result.boxes],
        "boxes": [{"number": b.number, "trajectory_id": b.trajectory_id, "start_id": b.start_id,
                   "dropped": list(b.dropped), "coverage": b.coverage,
                   "density": b.density, "mass": b.mass, "n": b.n, "k": b.k,
                   "significant": b.significant, "note": b.note} for b in result.boxes],
    }  # fmt: skip
    _write_text(out / "discovery.json", json.dumps(record, indent=1, default=str))
    written.append(out / "discovery.json")
    return [p for p in written if p.suffix != ".svg"]


def report_text(result: Discovery) -> str:
    """What `gapsim discover` prints: counts, each box's limits with quasi-p, the lines."""
    lines = [f"{result.of_interest} of {result.cases} {result.on} have {result.condition()}; "
             f"base rate {result.base_rate:.0%}; factors: {', '.join(result.factors)}"]
    for box in result.boxes:
        origin = (f"trajectory box {box.start_id} without its insignificant limits "
                  f"{', '.join(box.dropped)}; id {box.trajectory_id}" if box.dropped
                  else f"trajectory box {box.trajectory_id}")  # fmt: skip
        lines.append(f"box {box.number} ({origin}): coverage "
                     f"{box.coverage:.0%}, density {box.density:.0%}, {box.n} {result.on} "
                     f"({box.mass:.0%} of all)")
        for lim in box.limits:
            if lim.levels:
                rng = "{" + ", ".join(map(str, lim.levels)) + "}"
            else:
                lo = f"{lim.low:.4g}" if lim.low is not None else "-"
                hi = f"{lim.high:.4g}" if lim.high is not None else "-"
                rng = f"[{lo}, {hi}]"
            qp = ", ".join(f"{side} qp {v:.2g}" for side, v in (("low", lim.qp_low),
                                                                 ("high", lim.qp_high)) if v is not None)  # fmt: skip
            rep = (f", restricted in {lim.reproduce[0]:.0f}%/{lim.reproduce[1]:.0f}% of resamples"
                   if lim.reproduce is not None else "")
            lines.append(f"  {lim.factor:<28} {rng:<24} {qp}{rep}")
        if box.note:
            lines.append(f"  note: {box.note}")
    if any(lim.reproduce for box in result.boxes for lim in box.limits):
        lines.append("(resamples: PRIM on random halves of the cases; the share whose box, matched "
                     "on coverage / on density, restricts the factor too)")
    if not result.boxes:
        lines.append("no box found")
    lines += [result.sentence(b) for b in result.boxes]
    return "\n".join(lines)
