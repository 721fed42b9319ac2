"""Structured-config schema of a gapsim run (the Hydra ``ConfigStore`` node ``gapsim_schema``).

Why dataclasses: Hydra checks types against them for free (``seed=abc`` fails at composition), and
``validate_config`` adds the range and cross-field rules that must run before any work starts.
The schema is stored outside the option groups so it never shows up as a selectable option.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from sim.errors import ConfigError
from sim.model.params import ModelParams, coordination_value, validate_params
from sim.terrain.schema import TerrainConfig

EXECUTORS: tuple[str, ...] = ("local", "ray", "slurm")
START_METHODS: tuple[str, ...] = ("forkserver", "spawn")


@dataclass
class PostureConfig:
    """Which force holds each zone of the terrain (``none`` leaves it unheld)."""

    ridge: str = "PESH"
    gap: str = "none"
    plain: str = "IA"
    pmf_sector: str = "PMF"


@dataclass
class TimelineEvent:
    """A scheduled change inside a run (e.g. the October 2017 withdrawal).

    ``date`` is ISO (YYYY-MM-DD). ``posture`` keys override the current posture; ``coordination``
    changes the level. A force that loses ground loses its informant links there.
    """

    date: str = ""
    label: str = ""
    posture: dict[str, str] = field(default_factory=dict)
    coordination: str | None = None


@dataclass
class ScenarioConfig:
    """A named policy scenario (``configs/scenario/*.yaml``)."""

    name: str = "status_quo_2019"
    description: str = ""
    sources: list[str] = field(default_factory=list)
    start_date: str = "2020-01-01"
    posture: PostureConfig = field(default_factory=PostureConfig)
    timeline: list[TimelineEvent] = field(default_factory=list)
    links_intact: bool = False


@dataclass
class ExecutorConfig:
    """Where replicates run (``configs/executor/*.yaml``)."""

    name: str = "local"
    address: str | None = None
    start_method: str = "forkserver"
    options: dict[str, Any] = field(default_factory=dict)  # executor-specific (slurm: submitit)


def _key(default: Any, doc: str) -> Any:
    """A run key with its meaning (read by ``gapsim COMMAND --help``, ``sim.config.keys``)."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": doc})
    if callable(default):
        return field(default_factory=default, metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass
class Config:
    """A whole gapsim run: the keys a user types, plus the groups they select."""

    scenario: ScenarioConfig = _key(ScenarioConfig, "named policy scenario (configs/scenario/); "
                                    "sets posture, timeline, start date, gap and coordination")
    terrain: TerrainConfig = _key(TerrainConfig, "terrain preset (configs/terrain/)")
    executor: ExecutorConfig = _key(ExecutorConfig, "where replicates run (configs/executor/)")
    model: ModelParams = _key(ModelParams, "behavioural parameters of the model")
    gap_width_km: float = _key(4.0, "distance between the Peshmerga line and the Iraqi line (km)")
    coordination: str = _key("none", "coordination level between the forces (fractional "
                                     "numbers interpolate)")
    replicates: int = _key(8, "Monte Carlo replicates per configuration")
    seed: int = _key(20170, "root seed of every random stream")
    days: int = _key(365, "simulated days per replicate")
    workers: int = _key(0, "worker processes (0: all cores)")
    crn: bool = _key(True, "common random numbers across scenarios (paired comparisons)")
    retry_failed: bool = _key(False, "rerun replicates that failed in an earlier attempt")
    precision: float | None = _key(None, "target relative CI half-width for adding replicates "
                                         "(null: a fixed count)")
    min_replicates: int = _key(5, "replicates before the precision rule may stop")
    max_replicates: int = _key(200, "ceiling on replicates under the precision rule")
    progress: bool = _key(True, "show a progress bar")
    debug: bool = _key(False, "full tracebacks instead of one-line errors")
    scenarios: list[str] = _key([], "scenarios to compare, e.g. [status_quo_2019,joint_brigades]")
    baseline: str | None = _key(None, "the scenario the others are compared with (default: the "
                                      "first)")
    experiment: str | None = _key(None, "a study: a name from experiments/ or a path to a study "
                                        ".yaml file")
    design_size: int | None = _key(None, "overrides the study design's size (null: the study's "
                                         "own)")
    extra: dict[str, Any] = _key({}, "free-form settings of a command (e.g. animate's "
                                     "extra.replicate); not read by the model")
    parameters: str = _key("point", "point: the ModelParams defaults and scenario values; posterior: one "
                                    "draw per plausible world from configs/posterior/ (issue 15)")


def _check_int(key: str, value: Any, lo: int, hi: int, what: str) -> None:
    if not (isinstance(value, int) and lo <= value <= hi):
        raise ConfigError(key, value, what)


def validate_config(cfg: Config) -> None:
    """Range and cross-field checks on a composed config; raises ConfigError on the first problem.

    Terrain-specific checks (places inside the extent, cell size, DEM files) live in the terrain
    module and are run from here so that one call validates everything before any work starts.
    """
    if not (math.isfinite(cfg.gap_width_km) and 0.0 <= cfg.gap_width_km <= 20.0):
        raise ConfigError("gap_width_km", cfg.gap_width_km, "must be between 0 and 20 (km)")
    coordination_value(cfg.coordination)
    _check_int("replicates", cfg.replicates, 1, 100_000, "must be a whole number from 1 to 100000")
    _check_int("days", cfg.days, 1, 36_500, "must be a whole number of days from 1 to 36500")
    _check_int("seed", cfg.seed, 0, 2**63 - 1, "must be a non-negative whole number")
    _check_int("workers", cfg.workers, 0, 4096, "must be 0 (all cores) or a positive whole number")
    _check_int("min_replicates", cfg.min_replicates, 2, 100_000, "must be at least 2")
    _check_int("max_replicates", cfg.max_replicates, cfg.min_replicates, 100_000,
               f"must be at least min_replicates={cfg.min_replicates}")
    if cfg.precision is not None and not (0.0 < cfg.precision < 1.0):
        raise ConfigError("precision", cfg.precision,
                          "must be a relative CI half-width between 0 and 1 (e.g. 0.1), or null")
    if cfg.executor.name not in EXECUTORS:
        raise ConfigError("executor", cfg.executor.name, f"must be one of {', '.join(EXECUTORS)}")
    if cfg.executor.start_method not in START_METHODS:
        raise ConfigError("executor.start_method", cfg.executor.start_method,
                          f"must be one of {', '.join(START_METHODS)}")
    _validate_scenario(cfg.scenario)
    validate_params(cfg.model)
    from sim.validation.posterior import check_choice  # issue 15: parameters=point|posterior

    check_choice(cfg.parameters)
    from sim.terrain.validate import validate_terrain

    validate_terrain(cfg.terrain, cfg.gap_width_km)


def _parse_date(key: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ConfigError(key, text, "must be an ISO date YYYY-MM-DD") from None


def _validate_scenario(sc: ScenarioConfig) -> None:
    from sim.config.safety import check_name
    from sim.model.params import FORCES

    check_name("scenario.name", sc.name)
    holders = (*FORCES, "none")
    start = _parse_date("scenario.start_date", sc.start_date)
    for zone in ("ridge", "gap", "plain", "pmf_sector"):
        value = getattr(sc.posture, zone)
        if value not in holders:
            raise ConfigError(f"scenario.posture.{zone}", value, f"must be one of {', '.join(holders)}")
    for i, ev in enumerate(sc.timeline):
        day = _parse_date(f"scenario.timeline[{i}].date", ev.date)
        if day < start:
            raise ConfigError(f"scenario.timeline[{i}].date", ev.date,
                              f"must not be before scenario.start_date={sc.start_date}")
        for zone, value in ev.posture.items():
            if zone not in ("ridge", "gap", "plain", "pmf_sector"):
                raise ConfigError(f"scenario.timeline[{i}].posture", zone,
                                  "zones are ridge, gap, plain, pmf_sector")
            if value not in holders:
                raise ConfigError(f"scenario.timeline[{i}].posture.{zone}", value,
                                  f"must be one of {', '.join(holders)}")
        if ev.coordination is not None:
            try:
                coordination_value(ev.coordination)
            except ConfigError as err:
                raise ConfigError(f"scenario.timeline[{i}].coordination", ev.coordination,
                                  err.allowed) from None
