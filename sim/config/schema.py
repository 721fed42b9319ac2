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


@dataclass
class Config:
    """A whole gapsim run: the keys a user types, plus the groups they select."""

    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    terrain: TerrainConfig = field(default_factory=TerrainConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    model: ModelParams = field(default_factory=ModelParams)
    gap_width_km: float = 4.0
    coordination: str = "none"
    replicates: int = 8
    seed: int = 20170
    days: int = 365
    workers: int = 0
    crn: bool = True
    retry_failed: bool = False
    precision: float | None = None
    min_replicates: int = 5
    max_replicates: int = 200
    progress: bool = True
    debug: bool = False
    scenarios: list[str] = field(default_factory=list)
    baseline: str | None = None
    experiment: str | None = None
    design_size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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
    from sim.terrain.validate import validate_terrain

    validate_terrain(cfg.terrain, cfg.gap_width_km)


def _parse_date(key: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ConfigError(key, text, "must be an ISO date YYYY-MM-DD") from None


def _validate_scenario(sc: ScenarioConfig) -> None:
    from sim.model.params import FORCES

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
