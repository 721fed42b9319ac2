"""`gapsim calibrate DIR [write=true] [reference=RUN_DIR] [reference_scenario=LABEL]
[scenario_file=PATH]` -- and, without DIR, the ABC-SMC calibration (``sim.commands.calibrate_abc``).

Post-processing of a finished calibration sweep (``gapsim sweep experiment=calibration_status_quo
hydra.run.dir=DIR``), like ``gapsim collect``: no model runs. It reads ``DIR/sweep.parquet``,
keeps the design points whose replicate means meet every criterion of
``sim.validation.calibration.CRITERIA``, ranks them by their distance to the strike targets, and
writes ``DIR/calibration.csv`` (every point, pass/fail per criterion) and
``DIR/calibration_chosen.yaml`` (the chosen set, its outcomes, the current values, the counts).

Why the scenario file is only touched on request (``write=true``): the chosen set rests on a few
replicates per point on whatever terrain the sweep used; it should be confirmed with more
replicates and the whole validation suite (``gapsim validate``) before it becomes the default.
``reference=RUN_DIR`` scores a ``gapsim run`` directory (e.g. the current defaults, or the chosen
set rerun with more replicates; a ``gapsim validate`` directory with
``reference_scenario=status_quo``) by the same criteria and distance, for that comparison.

Exit codes: 0 when at least one set is accepted, 1 when none is, 2 for a bad request.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd

from sim.commands.common import write_text_atomic
from sim.errors import ConfigError
from sim.validation import calibration as cal

_OPTIONS = ("write", "reference", "reference_scenario", "scenario_file")
_HOW = ("give one finished sweep directory: gapsim calibrate DIR [write=true] "
        "[reference=RUN_DIR] [scenario_file=PATH], after gapsim sweep "
        "experiment=calibration_status_quo hydra.run.dir=DIR")  # fmt: skip

#: Statistics printed for the chosen set (and the reference), in order.
_SHOWN = (
    ("strikes_per_month", "strikes/month", f"target {cal.TARGET_STRIKES_PER_MONTH:.2f}"),
    ("kills_per_strike", "killed/strike", f"target {cal.TARGET_KILLS_PER_STRIKE:.2f}"),
    ("strikes_per_year", "strikes/year", ""),
    ("fighters_mean", "fighters, mean", ""),
    ("fighters_final", "fighters at year end", ""),
    ("incidents_per_month", "incidents/month", ""),
    ("kidnappings_per_month", "kidnappings/month", ""),
    ("fake_checkpoints_per_month", "fake checkpoints/month", ""),
    ("ambushes_per_month", "ambushes/month", ""),
    ("arsons_per_month", "arsons/month", ""),
)


def calibrate_command(args: list[str]) -> int:
    """The ``gapsim calibrate`` subcommand (dispatched by ``sim.cli.main`` before Hydra)."""
    import yaml

    if not any("=" not in a for a in args):  # no sweep directory: the ABC-SMC calibration
        from sim.commands.calibrate_abc import abc_command

        return abc_command(args)
    paths = [a for a in args if "=" not in a]
    options: dict[str, str] = dict(a.split("=", 1) for a in args if "=" in a)
    for key, value in options.items():
        if key not in _OPTIONS:
            raise ConfigError(key, value, f"unknown option; gapsim calibrate takes "
                                          f"{', '.join(_OPTIONS)}")  # fmt: skip
    if len(paths) != 1:
        raise ConfigError("calibrate", " ".join(args), _HOW)
    write = _flag("write", options.get("write", "false"))
    directory = Path(paths[0]).expanduser()
    table = _read_table(directory / "sweep.parquet", "calibrate", str(directory), "sweep.parquet")
    info = sweep_info(directory)
    factors = cal.factor_columns(table)
    if not factors:
        raise ConfigError("calibrate", str(directory), "sweep.parquet has no factor columns")
    keys = {name: info["factor_keys"].get(name, name) for name in factors}
    reference = None
    if "reference" in options:
        ref_dir = Path(options["reference"]).expanduser()
        runs = _read_table(ref_dir / "runs.parquet", "reference", str(ref_dir), "runs.parquet")
        reference = _reference_row(
            runs, ref_dir, options.get("reference_scenario"), info["scenario"]
        )
    scenario_file = (
        _scenario_file(options.get("scenario_file"), info["scenario"]) if write else None
    )
    if scenario_file is not None:
        _check_writable(scenario_file, keys)

    result = cal.calibrate(table, info["days"], factors)
    counts = result.counts()
    defaults = current_values(keys, info["scenario"])
    result.points.to_csv(directory / "calibration.csv", index=False)
    ref_stats = _score(reference, info["days"]) if reference is not None else None

    print(f"calibration of {info['scenario']} from {directory}: study {info['study']}, "
          f"{counts['total']} parameter sets x {_reps(result.points)} replicates, "
          f"{info['days']:g} days, terrain {info['terrain']}, design {info['design']}")  # fmt: skip
    print(f"accepted: {counts['accepted']} of {counts['total']} "
          f"(passing each criterion: "
          f"{', '.join(f'{c.name} {counts[c.name]}' for c in cal.CRITERIA)})")  # fmt: skip
    chosen_values: dict[str, Any] = {}
    if result.chosen is not None:
        row = result.chosen
        chosen_values = {keys[f]: cal.rounded(row[f]) for f in factors}
        print(f"chosen: design point {int(row['design_point'])}, distance to the strike targets "
              f"{row['distance']:.3f} (best of the accepted; nearest-ranked next: "
              f"{_next(result.accepted)})")  # fmt: skip
        print(f"  {'parameter':<32} {'chosen':>10} {'current':>10}")
        for f in factors:
            print(f"  {keys[f]:<32} {_fmt(chosen_values[keys[f]]):>10} "
                  f"{_fmt(defaults.get(keys[f])):>10}")  # fmt: skip
        head = f"  {'outcome (mean over replicates)':<32} {'chosen':>10}"
        print(head + (f" {'reference':>10}" if ref_stats is not None else ""))
        for stat, label, note in _SHOWN:
            line = f"  {label:<32} {_fmt(row[stat]):>10}"
            if ref_stats is not None:
                line += f" {_fmt(ref_stats[stat]):>10}"
            print(line + (f"   ({note})" if note else ""))
        if ref_stats is not None:
            print(f"  {'distance to the strike targets':<32} {row['distance']:>10.3f} "
                  f"{ref_stats['distance']:>10.3f}")  # fmt: skip
            failed = [c.name for c in cal.CRITERIA if not ref_stats[f"ok_{c.name}"]]
            print(f"reference {reference['dir']} ({reference['replicates']} replicates): "
                  f"{'accepted' if not failed else 'fails ' + ', '.join(failed)}")  # fmt: skip
        overrides = " ".join(f"{k}={v}" for k, v in chosen_values.items())
        print(f"confirm with more replicates: uv run gapsim run terrain={info['terrain']} "
              f"replicates=10 {overrides}")  # fmt: skip
    else:
        print("chosen: none (no parameter set met every criterion; see calibration.csv)")

    today = dt.date.today().isoformat()
    chosen_doc = {
        "study": info["study"], "sweep_dir": str(directory.resolve()), "date": today,
        "scenario": info["scenario"], "terrain": info["terrain"], "days": info["days"],
        "seed": info["seed"], "design": info["design_info"],
        "accepted": counts["accepted"], "total": counts["total"],
        "passing": {c.name: counts[c.name] for c in cal.CRITERIA},
        "criteria": {c.name: {"statistic": c.statistic, "accept": c.describe(),
                              "source": c.source} for c in cal.CRITERIA},
        "targets": {"strikes_per_month": round(cal.TARGET_STRIKES_PER_MONTH, 3),
                    "kills_per_strike": round(cal.TARGET_KILLS_PER_STRIKE, 3)},
        "current": {k: defaults.get(k) for k in keys.values()},
        "chosen": None if result.chosen is None else {
            "design_point": int(result.chosen["design_point"]),
            "distance": _plain(result.chosen["distance"]),
            "replicates": int(result.chosen["replicates"]),
            "model_values": chosen_values,
            "outcomes": {s: _plain(result.chosen[s]) for s, _, _ in _SHOWN},
        },
        "reference": None if ref_stats is None else {
            "dir": reference["dir"], "replicates": reference["replicates"],
            "accepted": bool(ref_stats["accepted"]), "distance": _plain(ref_stats["distance"]),
            "outcomes": {s: _plain(ref_stats[s]) for s, _, _ in _SHOWN},
        },
    }  # fmt: skip
    write_text_atomic(directory / "calibration_chosen.yaml",
                      yaml.safe_dump(_plain(chosen_doc), sort_keys=False))  # fmt: skip
    print(f"wrote {directory / 'calibration.csv'} and {directory / 'calibration_chosen.yaml'}")

    if write:
        assert scenario_file is not None
        if result.chosen is None:
            print(f"write=true: nothing written to {scenario_file} (no set accepted)")
            return 1
        model_values = {k.removeprefix("model."): v for k, v in chosen_values.items()}
        comments = scenario_comment(info, counts, result.chosen, directory.resolve(), today)
        text = scenario_file.read_text(encoding="utf-8")
        new = cal.replace_model_block(text, cal.model_block(model_values, comments))
        revalidate_scenario(text, new, model_values, scenario_file)
        write_text_atomic(scenario_file, new)
        print(f"wrote the chosen values into {scenario_file} (model: block between the "
              f"calibration markers); check them with: uv run gapsim validate replicates=10")  # fmt: skip
    return 0 if counts["accepted"] else 1


# ----------------------------------------------------------------------------------- helpers


def sweep_info(directory: Path) -> dict[str, Any]:
    """Days, scenario, terrain, seeds, study name and factor keys of a sweep directory (from its
    ``base_config.yaml`` and ``study.yaml``; defaults where a file is missing)."""
    import yaml

    def load(name: str) -> dict[str, Any]:
        path = directory / name
        if not path.is_file():
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            raise ConfigError("calibrate", str(path), "not valid YAML") from None
        return data if isinstance(data, dict) else {}

    base = load("base_config.yaml") or load("config.yaml")
    study = load("study.yaml")
    design = study.get("design_info") or study.get("design") or {}
    days = base.get("days", 365)
    if isinstance(days, bool) or not isinstance(days, int | float) or days <= 0:
        raise ConfigError("calibrate", str(directory), f"base_config.yaml has days={days!r}")
    factor_keys = {}
    for key, spec in (study.get("factors") or {}).items():
        name = spec.get("name", key) if isinstance(spec, dict) else key
        factor_keys[str(name)] = str(key)
    scenario = base.get("scenario") or {}
    terrain = base.get("terrain") or {}
    names = {
        "scenario": scenario.get("name", "status_quo_2019") if isinstance(scenario, dict) else scenario,
        "terrain": terrain.get("name", "?") if isinstance(terrain, dict) else terrain,
        "study": study.get("name", directory.name),
    }
    for what, name in names.items():  # they reach file names and the comments of a config file
        if not (name == "?" or cal.safe_name(name)):
            source = "study.yaml name" if what == "study" else f"base_config.yaml {what}.name"
            raise ConfigError(source, cal.comment_text(name)[:60],
                              "must be a plain name (letters, digits, _ - .; no path, no newline)")
    return {
        "days": float(days),
        "scenario": str(names["scenario"]),
        "terrain": str(names["terrain"]),
        "seed": base.get("seed"),
        "study": str(names["study"]),
        "design_info": {k: design[k] for k in ("type", "size", "seed") if k in design},
        "design": _design_text(design),
        "factor_keys": factor_keys,
    }  # fmt: skip


def current_values(keys: dict[str, str], scenario: str) -> dict[str, Any]:
    """The values the factors have now: the scenario file's ``model:`` block, else the
    ``ModelParams`` defaults (None for keys that are not model parameters)."""
    import yaml

    from sim.config.load import CONFIG_DIR
    from sim.model.params import ModelParams

    defaults = {f"model.{f.name}": f.default for f in fields(ModelParams)}
    path = CONFIG_DIR / "scenario" / f"{scenario}.yaml"
    block: dict[str, Any] = {}
    if path.is_file():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        block = data.get("model") or {} if isinstance(data, dict) else {}
    return {k: block.get(k.removeprefix("model."), defaults.get(k)) for k in keys.values()}


def scenario_comment(
    info: dict[str, Any], counts: dict[str, int], chosen: pd.Series, directory: Path, today: str
) -> list[str]:
    """The comment lines above the written ``model:`` block: where the values come from."""
    return [
        f"Calibrated {today} by experiments/{info['study']}.yaml ({info['design']}, root seed "
        f"{info['seed']}),",
        f"{_reps_of(chosen)} replicates x {info['days']:g} days per set, terrain {info['terrain']}; "
        f"sweep {directory}.",
        f"{counts['accepted']} of {counts['total']} sets met every criterion of "
        f"sim/validation/calibration.py (DOMAIN.md 5). This one",
        f"(design point {int(chosen['design_point'])}) is nearest to "
        f"{cal.TARGET_STRIKES_PER_MONTH:.1f} strikes/month and {cal.TARGET_KILLS_PER_STRIKE:.2f} "
        f"killed/strike: {chosen['strikes_per_month']:.2f} strikes/month,",
        f"{chosen['kills_per_strike']:.2f} killed/strike, {chosen['fighters_mean']:.0f} fighters "
        f"(replicate means).",
        "These values apply to this scenario only; the other scenarios keep the ModelParams "
        "defaults.",
    ]  # fmt: skip


def revalidate_scenario(old: str, new: str, values: dict[str, Any], path: Path) -> None:
    """Check the text about to be written before it replaces ``path``: it parses, it changes
    nothing but the ``model:`` block, and that block holds exactly ``values``, each within its
    ModelParams range (``validate_params``).

    Raises:
        ConfigError: the generated text fails any check (nothing is written).
    """
    import dataclasses

    import yaml

    from sim.model.params import ModelParams, validate_params

    try:
        before = yaml.safe_load(old) or {}
        after = yaml.safe_load(new) or {}
    except yaml.YAMLError as err:
        raise ConfigError("scenario_file", str(path), f"the generated text is not YAML ({err})") from None
    rest = {k: v for k, v in after.items() if k != "model"}
    if rest != {k: v for k, v in before.items() if k != "model"} or after.get("model") != values:
        raise ConfigError("scenario_file", str(path),
                          "the generated text would change more than the model: block")
    params = ModelParams()
    try:
        params = dataclasses.replace(params, **values)
    except TypeError as err:
        raise ConfigError("scenario_file", str(path), str(err)) from None
    validate_params(params)


def _design_text(design: dict[str, Any]) -> str:
    """``lhs, n 40, design seed 2020`` from a study's ``design_info``."""
    parts = [str(design["type"])] if "type" in design else []
    if design.get("size") is not None:
        parts.append(f"n {design['size']}")
    if design.get("seed") is not None:
        parts.append(f"design seed {design['seed']}")
    return ", ".join(parts) or "?"


def _flag(key: str, value: str) -> bool:
    text = value.strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    raise ConfigError(key, value, "must be true or false")


def _read_table(path: Path, key: str, shown: str, name: str) -> pd.DataFrame:
    if not path.parent.is_dir():
        raise ConfigError(key, shown, f"no such directory; {_HOW}")
    if not path.is_file():
        raise ConfigError(key, shown, f"no {name} there; {_HOW}")
    try:
        table = pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad input file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(key, str(path), f"not a readable Parquet table ({first})") from None
    missing = [c for c in cal.OUTCOMES if c not in table.columns]
    if key == "calibrate" and (
        "design_point" not in table.columns or "replicate" not in table.columns
    ):
        missing = ["design_point", "replicate", *missing]
    if missing:
        raise ConfigError(key, str(path), f"lacks the columns {', '.join(missing)}")
    if not len(table):
        raise ConfigError(key, str(path), "has no rows (did every replicate fail?)")
    return table


def _reference_row(
    runs: pd.DataFrame, ref_dir: Path, label: str | None, scenario: str
) -> dict[str, Any]:
    """A ``gapsim run`` table scored as one design point: the scenario ``label`` (default: the
    only one, else the sweep's own scenario)."""
    import yaml

    labels = sorted(map(str, runs["scenario"].unique())) if "scenario" in runs.columns else []
    if label is None and len(labels) > 1:
        label = scenario
    if label is not None:
        if label not in labels:
            raise ConfigError("reference_scenario", label, f"must be one of {', '.join(labels)} "
                                                           f"(the scenarios in {ref_dir})")  # fmt: skip
        runs = runs[runs["scenario"] == label]
    days = 365.0
    config = ref_dir / "config.yaml"
    if config.is_file():
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        days = float(data.get("days", days)) if isinstance(data, dict) else days
    table = runs.assign(design_point=-1)
    return {"table": table, "days": days, "dir": str(ref_dir), "replicates": len(table)}


def _score(reference: dict[str, Any], days: float) -> pd.Series:
    stats = cal.apply_criteria(cal.point_statistics(reference["table"], [], reference["days"]))
    stats["distance"] = cal.target_distance(stats["strikes_per_month"], stats["kills_per_strike"])
    if reference["days"] != days:
        print(f"note: the reference simulated {reference['days']:g} days, the sweep {days:g}")
    return stats.iloc[0]


def _scenario_file(option: str | None, scenario: str) -> Path:
    """The file to write into: ``scenario_file=`` as given, else the sweep's own scenario under
    ``configs/scenario/`` -- and then only a file that really lies in that folder."""
    from sim.config import load

    if option:
        path = Path(option).expanduser()
    else:
        folder = (load.CONFIG_DIR / "scenario").resolve()
        path = (folder / f"{scenario}.yaml").resolve()
        if not cal.safe_name(scenario) or path.parent != folder:
            raise ConfigError("scenario", scenario, f"must name a file in {folder}")
    if not path.is_file():
        raise ConfigError("scenario_file", str(path), "no such scenario file to write into")
    return path


def _check_writable(path: Path, keys: dict[str, str]) -> None:
    """Refuse before any output if the chosen values could not be written."""
    import os

    from sim.model.params import param_fields

    names = {f.name for f in param_fields()}
    others = [k for k in keys.values()
              if not (k.startswith("model.") and k.removeprefix("model.") in names)]
    if others:
        raise ConfigError("write", "true", f"only model parameters can be written into the "
                                           f"scenario; the sweep varies "
                                           f"{cal.comment_text(', '.join(others))[:80]}")  # fmt: skip
    if not os.access(path, os.W_OK):
        raise ConfigError("scenario_file", str(path), "not writable")
    try:
        cal.replace_model_block(path.read_text(encoding="utf-8"), cal.model_block({}, []))
    except ValueError as err:
        raise ConfigError("scenario_file", str(path), str(err)) from None


def _reps(points: pd.DataFrame) -> str:
    reps = sorted(set(points["replicates"].astype(int)))
    return str(reps[0]) if len(reps) == 1 else f"{reps[0]}-{reps[-1]}"


def _reps_of(row: pd.Series) -> int:
    return int(row["replicates"])


def _next(accepted: pd.DataFrame) -> str:
    rest = accepted.iloc[1:4]
    if not len(rest):
        return "none"
    return ", ".join(f"point {int(r.design_point)} at {r.distance:.3f}" for r in rest.itertuples())


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    x = float(value)
    if not math.isfinite(x):
        return "nan"
    return f"{x:.4g}"


def _plain(value: Any) -> Any:
    """Numpy and pandas scalars as plain Python values (for YAML)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value
