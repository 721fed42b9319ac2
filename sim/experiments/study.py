"""Studies: named experiments in ``experiments/*.yaml``, validated and turned into engine points.

Why a file per study: a sweep that a paper or a workshop cites must rerun with one command
(``gapsim sweep experiment=NAME``) and say in one place what varies (factors with ranges or
levels), how (the design), how often (replicates or a precision target), from which base scenario,
and what is measured and drawn. Loading checks everything a user can get wrong -- unknown keys,
factor keys that are not config keys, ranges outside a parameter's allowed range, designs that do
not fit their factors, unknown outcomes and figures -- and reports the first problem as one
``ConfigError`` line before anything is written.

A study file::

    description: Incidents over gap width and coordination level
    base: {scenario: status_quo_2019}         # overrides for every point; the command line wins
    factors:                                  # config key -> range/steps, values or levels
      gap_width_km: {range: [0, 10], steps: 6}
      coordination: {levels: [none, liaison, jcc, joint_ops, joint_brigades]}
    design: {type: full_factorial}            # full_factorial | lhs | nolh | sobol | morris
    replicates: 10                            # or precision: 0.1 (with min/max_replicates)
    outcomes: [incidents, kidnappings]
    figures: [{kind: heatmap, x: gap_width_km, y: coordination}]

Design points become ``Point(config, labels)`` for ``sim.engine.experiment.run_experiment``: the
labels (``design_point`` and one column per factor) land on every output row. Design points
that share a model configuration (a dummy factor, a Morris step that rounds to the same integer)
run once and are copied into the sweep table.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.engine.experiment import EXECUTION_ONLY
from sim.errors import ConfigError
from sim.experiments.study_file import REALISATION, parse_study_file
from sim.experiments.study_file import design_size as size_of

#: Where named studies live (the repository's ``experiments/``).
STUDY_DIR: Path = Path(__file__).resolve().parents[2] / "experiments"

#: ``REALISATION`` names the factor that indexes the random realisation (SALib issue #292).
#: Realisation indices are drawn from ``0 .. REALISATIONS - 1`` (added to the root seed).
REALISATIONS = 2**20

#: Config keys that cannot be factors (execution settings, selections, the root seed).
NOT_FACTORS = EXECUTION_ONLY | {"seed", "crn"}

#: Outcome columns of ``runs.parquet`` (``SecurityGapModel.outcomes``); a test checks each
#: appears in a real runs table.
OUTCOMES: tuple[str, ...] = (
    "incidents", "kidnappings", "fake_checkpoints", "ambushes", "arsons", "extortions",
    "village_attacks", "retributions", "incidents_gap", "incidents_ridge", "incidents_plain",
    "incidents_camp", "incident_density_ratio_gap", "hostages", "casualties_security",
    "casualties_civilian", "airstrikes", "airstrikes_requested", "insurgents_killed_air",
    "insurgents_killed_ground", "insurgents_arrested", "insurgents_killed", "kills_per_strike",
    "fighters_final", "fighters_mean", "fighters_max", "cells_final", "recruits", "inflow",
    "tips", "tips_pesh", "tips_ia", "tips_pmf", "tips_reaching_actor", "tips_reaching_share",
    "informant_links_pesh", "informant_links_ia", "informant_links_pmf", "trust_kurd_pesh",
    "trust_kurd_ia", "trust_kurd_pmf", "trust_arab_pesh", "trust_arab_ia", "trust_arab_pmf",
    "gap_control", "detections", "clashes", "clearing_ops", "joint_ops", "displacements",
    "resupply_trips", "collateral_events", "daylight_move_share",
)  # fmt: skip

# ------------------------------------------------------------------------------------- factors


@dataclass(frozen=True)
class Factor:
    """One varied input.

    Attributes:
        key: dotted config key (``gap_width_km``, ``model.detect_rate_per_h``); None for a dummy
            or the realisation index.
        name: the column name in every table (default: the key).
        kind: ``continuous``, ``integer``, ``categorical``, ``dummy`` or ``realisation``.
        low, high: the range (continuous, integer, dummy).
        levels: categorical levels, in order (names or numbers).
        values: explicit factorial values (continuous/integer, optional).
        steps: evenly spaced factorial values over the range (continuous/integer, optional).
        scale: ``linear`` or ``log`` (continuous: map the unit interval log-uniformly).
    """

    key: str | None
    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    levels: tuple[Any, ...] = ()
    values: tuple[float, ...] = ()
    steps: int | None = None
    scale: str = "linear"

    def from_unit(self, u: float) -> Any:
        """The factor value at unit coordinate ``u`` in ``[0, 1]``.

        Continuous: linear (or log) interpolation of the range. Integer: the nearest whole number.
        Categorical: level ``floor(u * L)`` (equal shares of the unit interval, so Latin
        hypercube strata and Sobol points spread evenly over the levels; ``u = 1`` is the last
        level). Realisation: an index in ``0 .. REALISATIONS - 1``.
        """
        u = min(max(float(u), 0.0), 1.0)
        if self.kind == "categorical":
            return self.levels[min(int(math.floor(u * len(self.levels))), len(self.levels) - 1)]
        if self.kind == REALISATION:
            return min(int(u * REALISATIONS), REALISATIONS - 1)
        assert self.low is not None and self.high is not None
        if self.scale == "log":
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        if self.kind == "integer":
            return int(round(value))
        return float(f"{value:.12g}")  # 6.0, not 6.000000000000001

    def grid(self, steps: int | None = None) -> list[Any]:
        """The values of a full factorial (``steps`` overrides a ``range``+``steps`` factor)."""
        if self.kind == "categorical":
            return list(self.levels)
        if self.values:
            return [int(v) if self.kind == "integer" else float(v) for v in self.values]
        n = steps or self.steps or 2
        out: list[Any] = []
        for u in np.linspace(0.0, 1.0, n):
            v = self.from_unit(float(u))
            if v not in out:
                out.append(v)
        return out

    def unit_of(self, value: Any) -> float:
        """Inverse of ``from_unit`` for analysis (categorical: level index / (L - 1))."""
        if self.kind == "categorical":
            idx = self.levels.index(value)
            return idx / (len(self.levels) - 1) if len(self.levels) > 1 else 0.0
        if self.kind == REALISATION:
            return float(value) / REALISATIONS
        assert self.low is not None and self.high is not None
        if self.high == self.low:
            return 0.0
        if self.scale == "log":
            return (math.log(value) - math.log(self.low)) / (
                math.log(self.high) - math.log(self.low)
            )
        return (float(value) - self.low) / (self.high - self.low)


@dataclass(frozen=True)
class FigureSpec:
    """A figure a study asks for: ``kind`` plus the factors on its axes and its outcomes."""

    kind: str
    x: str | None = None
    y: str | None = None
    by: str | None = None
    outcomes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DesignSpec:
    """How design points are chosen.

    Attributes:
        type: one of ``DESIGNS``.
        size: runs (lhs, nolh; None: the Cioppa-Lucas size), base samples N (sobol), trajectories
            (morris), or steps per ranged factor (full_factorial; None: each factor's own).
        seed: design seed (None: the config's ``seed``).
        second_order: Sobol second-order indices (N * (2D + 2) runs instead of N * (D + 2)).
        noise: ``realisation`` (add a factor indexing the random realisation) or ``average``.
        levels: Morris grid levels.
        resamples: bootstrap resamples for SALib confidence intervals.
    """

    type: str
    size: int | None = None
    seed: int | None = None
    second_order: bool = False
    noise: str = "realisation"
    levels: int = 4
    resamples: int = 500


@dataclass(frozen=True)
class Study:
    """A validated study file (factors are checked against a config by ``plan_study``)."""

    name: str
    path: Path
    description: str
    base: dict[str, Any]
    factors: tuple[Factor, ...]
    design: DesignSpec
    outcomes: tuple[str, ...]
    figures: tuple[FigureSpec, ...]
    execution: dict[str, Any] = field(default_factory=dict)

    @property
    def factor_names(self) -> list[str]:
        """Column names of the factors (the realisation index included when present)."""
        return [f.name for f in self.all_factors]

    @property
    def all_factors(self) -> tuple[Factor, ...]:
        """The study's factors plus the realisation index where the design adds it."""
        if self.design.type in ("sobol", "morris") and self.design.noise == REALISATION:
            return (*self.factors, Factor(None, REALISATION, REALISATION, 0.0, 1.0))
        return self.factors

    def base_overrides(self) -> list[str]:
        """The study's base settings and execution keys as Hydra overrides."""
        items = {**self.base, **self.execution}
        return [f"{k}={_override_value(v)}" for k, v in items.items()]

    def to_dict(self) -> dict[str, Any]:
        """A plain, resolved description (written as ``study.yaml`` next to the results)."""
        return {
            "name": self.name,
            "path": str(self.path),
            "description": self.description,
            "base": dict(self.base),
            **self.execution,
            "factors": {
                (f.key or f.name): {
                    k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in vars(f).items()
                    if k != "key" and v not in (None, (), "linear")
                }
                for f in self.factors
            },
            "design": {k: v for k, v in vars(self.design).items() if v is not None},
            "outcomes": list(self.outcomes),
            "figures": [
                {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(f).items() if v}
                for f in self.figures
            ],
        }


def _override_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_override_value(v) for v in value) + "]"
    return str(value)


# ------------------------------------------------------------------------------------- loading


def list_studies() -> list[str]:
    """Names of the shipped studies (``experiments/*.yaml``)."""
    return sorted(p.stem for p in STUDY_DIR.glob("*.yaml"))


def study_path(name: str | None) -> Path:
    """The file of a study name (``experiments/NAME.yaml``) or of a path to a YAML file."""
    valid = list_studies()
    allowed = f"one of {', '.join(valid)} (experiments/*.yaml), or a path to a study .yaml file"
    if name is None or not str(name).strip():
        raise ConfigError("experiment", name, f"name a study: {allowed}")
    text = str(name).strip()
    if text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError("experiment", text, f"no such study file; {allowed}")
        return path.resolve()
    if text not in valid:
        raise ConfigError("experiment", text, f"must be {allowed}")
    return STUDY_DIR / f"{text}.yaml"


def load_study(name: str | None, design_size: int | None = None) -> Study:
    """Read and validate a study file (factors' config keys are checked by ``plan_study``).

    Args:
        name: study name (``experiments/NAME.yaml``) or a path to a YAML file.
        design_size: command-line override of the design size (see ``DesignSpec.size``).

    Raises:
        ConfigError: the first problem, in one line naming the study key
            (schema: :mod:`sim.experiments.study_file`).
    """
    from sim.config.yaml_files import load_yaml

    path = study_path(name)
    data = load_yaml(path, "study file")  # bounded: size, alias expansion, nesting; safe tags only
    spec = parse_study_file(data, f"(in {_shown(path)})", OUTCOMES)
    d = spec.design
    design = DesignSpec(
        type=d.type,
        size=size_of(spec, design_size),
        seed=getattr(d, "seed", None),
        second_order=getattr(d, "second_order", False),
        noise=getattr(d, "noise", REALISATION),
        levels=getattr(d, "levels", 4),
        resamples=getattr(d, "resamples", 500),
    )
    execution = {
        k: getattr(spec, k)
        for k in ("replicates", "precision", "min_replicates", "max_replicates")
        if getattr(spec, k) is not None
    }
    return Study(
        name=str(spec.name or path.stem),
        path=path,
        description=spec.description.strip(),
        base=dict(spec.base),
        factors=tuple(_factor(key, f) for key, f in spec.factors.items()),
        design=design,
        outcomes=tuple(spec.outcomes),
        figures=tuple(
            FigureSpec(f.kind, x=f.x, y=f.y, by=f.by, outcomes=tuple(f.outcomes))
            for f in spec.figures
        ),
        execution=execution,
    )


def _factor(key: str, f: Any) -> Factor:
    """A validated factor entry as a :class:`Factor`."""
    name = f.name or key
    if f.levels is not None:
        return Factor(key, name, "categorical", levels=tuple(f.levels))
    if f.dummy:
        return Factor(None, name, "dummy", 0.0, 1.0)
    low, high = f.bounds
    values = tuple(float(v) for v in f.values or ())
    return Factor(key, name, "continuous", low, high, values=values, steps=f.steps, scale=f.scale)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(STUDY_DIR.parent))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------- the plan


@dataclass
class StudyPlan:
    """A study resolved against a configuration: the design and the engine's points.

    Attributes:
        study: the study.
        base: the validated base config (study base + command-line overrides).
        design: one row per design point: ``design_point`` and one column per factor.
        unit: unit coordinates of the design points (rows) per factor in ``study.all_factors``.
        points: engine points, one per distinct model configuration.
        point_of: for each design point, the index of its engine point.
        info: design facts for the manifest (type, size, runs, max |correlation|, seed, ...).
    """

    study: Study
    base: dict[str, Any]
    design: pd.DataFrame
    unit: np.ndarray
    points: list[Any]
    point_of: list[int]
    info: dict[str, Any]


def user_overrides(overrides: Sequence[str]) -> list[str]:
    """The command-line overrides that apply to every design point (not the sweep selectors)."""
    out = []
    for item in overrides:
        key = item.partition("=")[0].lstrip("+~")
        if key in ("experiment", "design_size") or key.startswith("hydra"):
            continue
        out.append(item)
    return out


def plan_study(study: Study, overrides: Sequence[str] = ()) -> StudyPlan:
    """Compose the base config, check the factors against it and build the design's points.

    Args:
        study: a loaded study.
        overrides: the command line's overrides (sweep selectors and ``hydra*`` are dropped; the
            rest apply to every point and win over the study's base).

    Raises:
        ConfigError: a factor key that is not a config key, a range outside the allowed values,
            a command-line override of a factor, or an invalid base.
    """
    from sim.config.load import compose_config

    mine = user_overrides(overrides)
    for item in mine:
        key = item.partition("=")[0].lstrip("+~")
        for f in study.factors:
            if f.key is not None and (key == f.key or f.key.startswith(key + ".")):
                raise ConfigError(
                    key,
                    item.partition("=")[2],
                    f"is a factor of study "
                    f"{study.name}; remove it from the command line (or edit "
                    f"{_shown(study.path)})",
                )
    base = compose_config([*study.base_overrides(), *mine])
    base["experiment"] = None
    base["design_size"] = None
    where = f"(in {_shown(study.path)})"
    study = dataclasses.replace(
        study,
        factors=tuple(
            _check_factor(f, base, where) if f.key is not None else f for f in study.factors
        ),
    )
    seed = study.design.seed if study.design.seed is not None else int(base["seed"])
    design, unit, info = build_design(study, seed)
    configs = [apply_factors(base, study.all_factors, row) for row in design.to_dict("records")]
    for i, cfg in enumerate(configs):
        _check_model(cfg, design.iloc[i].to_dict(), where)
    from sim.engine.experiment import Point, config_hash

    index: dict[str, int] = {}
    points: list[Point] = []
    point_of: list[int] = []
    for row, cfg in zip(design.to_dict("records"), configs, strict=True):
        h = config_hash(cfg)
        if h not in index:
            index[h] = len(points)
            points.append(Point(cfg, {k: _plain(v) for k, v in row.items()}))
        point_of.append(index[h])
    info.update({"design_points": len(design), "distinct_configs": len(points), "seed": seed})
    return StudyPlan(study, base, design, unit, points, point_of, info)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _get(config: Mapping[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def _set(config: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = config
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


def _typed(current: Any, value: Any) -> Any:
    """A factor value in the config's own type (numbers as text for ``coordination``)."""
    if isinstance(current, bool):
        return bool(value)
    if isinstance(current, str) and not isinstance(value, str):
        return format(float(value), ".12g")
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float) and isinstance(value, int | float):
        return float(value)
    return value


def apply_factors(base: Mapping[str, Any], factors: Sequence[Factor], row: Mapping[str, Any]):
    """A copy of ``base`` with each factor's value from ``row`` (by factor name) set."""
    cfg = copy.deepcopy(dict(base))
    for f in factors:
        if f.kind == REALISATION:
            cfg["seed"] = int(base["seed"]) + int(row[f.name])
        elif f.key is not None:
            _set(cfg, f.key, _typed(_get(base, f.key), row[f.name]))
    return cfg


def _check_factor(f: Factor, base: dict[str, Any], where: str) -> Factor:
    """The key exists and is a scalar, and the range ends (or every level) are valid.

    Returns the factor with its kind settled (``integer`` for whole-number config keys).
    """
    from sim.config.load import config_from_dict
    from sim.model.params import coordination_value

    assert f.key is not None
    label = f"factors.{f.key}"
    top = f.key.split(".")[0]
    try:
        current = _get(base, f.key)
    except KeyError:
        import difflib

        near = difflib.get_close_matches(f.key, _scalar_keys(base), n=1, cutoff=0.6)
        hint = f"did you mean {near[0]}? " if near else ""
        raise ConfigError(
            label,
            f.key,
            f"not a config key; {hint}factors are keys such as "
            f"gap_width_km, coordination, model.<parameter> "
            f"(docs/ODD.md) {where}",
        ) from None
    if top in NOT_FACTORS:
        raise ConfigError(
            label,
            f.key,
            f"cannot be a factor (an execution setting or selection; "
            f"use design.noise for random realisations) {where}",
        )
    if isinstance(current, dict | list) or current is None:
        raise ConfigError(
            label, f.key, f"is not a single value; factors vary one number or name {where}"
        )
    if f.kind != "categorical" and isinstance(current, bool):
        raise ConfigError(label, f.key, f"is true/false: give levels [false, true] {where}")
    if f.kind == "continuous" and isinstance(current, str) and f.key != "coordination":
        raise ConfigError(label, f.key, f"takes names: give levels [...] {where}")
    if f.kind == "continuous" and isinstance(current, int) and not isinstance(current, bool):
        for v in (f.low, f.high, *f.values):
            if v is not None and float(v) != int(v):
                raise ConfigError(
                    f"{label}.range", [f.low, f.high], f"{f.key} is a whole number {where}"
                )
        f = dataclasses.replace(f, kind="integer")
    if f.kind == "categorical":
        probes = list(f.levels)
        key_label = f"{label}.levels"
        shown: Any = list(f.levels)
    else:
        probes = sorted({f.low, f.high, *f.values})
        key_label = f"{label}.range" if not f.values else f"{label}.values"
        shown = [f.low, f.high] if not f.values else list(f.values)
    for value in probes:
        cfg = copy.deepcopy(base)
        try:
            typed = _typed(current, value)
            if isinstance(current, str) and isinstance(value, bool):
                raise ConfigError(f.key, value, "takes a name, not true/false")
            _set(cfg, f.key, typed)
            if top == "model":
                _check_model_dict(cfg["model"])
            elif f.key == "coordination":  # the only rule on it (saves composing a config)
                coordination_value(typed)
            else:
                config_from_dict(cfg)
        except ConfigError as err:
            raise ConfigError(key_label, shown, f"{err} {where}") from None
        except (TypeError, ValueError) as err:
            raise ConfigError(key_label, shown, f"{f.key}={value!r}: {err} {where}") from None
    return f


def _scalar_keys(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for k, v in config.items():
        if isinstance(v, Mapping):
            out += _scalar_keys(v, f"{prefix}{k}.")
        elif not isinstance(v, list):
            out.append(f"{prefix}{k}")
    return out


def _model_fields() -> list[Any]:
    from sim.model.params import ModelParams

    return list(fields(ModelParams))


def _check_model_dict(model: Mapping[str, Any]) -> None:
    """Range, type and cross-field checks of ``model.*`` (fast: no config composition)."""
    from sim.model.params import ModelParams, validate_params

    types = {f.name: f.type for f in _model_fields()}
    for name, value in model.items():
        if types.get(name) in ("int", int) and not isinstance(value, int):
            raise ConfigError(f"model.{name}", value, "must be a whole number")
    validate_params(ModelParams(**dict(model)))


def _check_model(cfg: Mapping[str, Any], row: Mapping[str, Any], where: str) -> None:
    try:
        _check_model_dict(cfg["model"])
    except ConfigError as err:
        point = ", ".join(f"{k}={_plain(v)}" for k, v in row.items() if k != "design_point")
        raise ConfigError(
            f"design point {row.get('design_point')}", point, f"{err} {where}"
        ) from None


# -------------------------------------------------------------------------------------- designs


def build_design(study: Study, seed: int) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
    """The design table (``design_point`` + factor values), unit coordinates and facts."""
    from sim.experiments import designs

    spec = study.design
    factors = study.all_factors
    d = len(factors)
    info: dict[str, Any] = {"type": spec.type}
    if spec.type == "full_factorial":
        grids = [f.grid(spec.size if (f.steps and not f.values) else None) for f in factors]
        idx = designs.full_factorial([len(g) for g in grids])
        rows = [[grids[j][i] for j, i in enumerate(r)] for r in idx]
        table = pd.DataFrame(rows, columns=[f.name for f in factors])
        unit = np.array([[f.unit_of(v) for f, v in zip(factors, r, strict=True)] for r in rows])
        info["levels"] = {f.name: len(g) for f, g in zip(factors, grids, strict=True)}
    else:
        if spec.type == "lhs":
            assert spec.size is not None
            unit = designs.latin_hypercube(spec.size, d, seed)
        elif spec.type == "nolh":
            result = designs.nolh(d, spec.size, seed)
            unit = result.unit
            info.update(method=result.method, max_abs_corr=round(result.max_abs_corr, 5))
        elif spec.type == "sobol":
            assert spec.size is not None
            unit = designs.sobol_sample(d, spec.size, seed, spec.second_order)
            info.update(base_samples=spec.size, second_order=spec.second_order)
        else:
            assert spec.size is not None
            unit = designs.morris_sample(d, spec.size, spec.levels, seed)
            info.update(trajectories=spec.size, levels=spec.levels)
        rows = [[f.from_unit(u) for f, u in zip(factors, r, strict=True)] for r in unit]
        table = pd.DataFrame(rows, columns=[f.name for f in factors])
        for f in factors:
            if f.kind in ("continuous", "dummy"):
                table[f.name] = table[f.name].astype(float)
        info["size"] = spec.size
    table.insert(0, "design_point", np.arange(len(table), dtype=np.int64))
    info["runs"] = len(table)
    return table, np.asarray(unit, dtype=float), info
