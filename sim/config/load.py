"""Compose and validate a configuration from ``configs/`` plus command-line overrides.

Why a separate step before Hydra runs the job: every bad value must fail with one line, exit 2 and
nothing written. Hydra's own errors are multi-line and it creates the run directory before the task
starts, so the CLI composes and validates here first (Hydra's compose API, same config tree), and
only then hands over to ``hydra.main``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sim.config.schema import Config, validate_config
from sim.errors import ConfigError

#: The repository's Hydra config tree (the package is installed from the repository).
CONFIG_DIR: Path = Path(__file__).resolve().parents[2] / "configs"

#: Groups a user selects with ``group=name``.
GROUPS: tuple[str, ...] = ("scenario", "terrain", "executor")

SCHEMA_NAME = "gapsim_schema"


def register_schema() -> None:
    """Store the schema in Hydra's ConfigStore (outside the option groups)."""
    ConfigStore.instance().store(name=SCHEMA_NAME, node=Config)


def options(group: str) -> list[str]:
    """The option names of a config group (file stems under ``configs/<group>/``)."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def compose_cfg(overrides: list[str]) -> DictConfig:
    """Compose the config tree with overrides; raises ConfigError with one line on failure."""
    _precheck_groups(overrides)
    register_schema()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR), job_name="gapsim"):
            return compose(config_name="config", overrides=list(overrides))
    except ConfigError:
        raise
    except Exception as err:  # Hydra and OmegaConf raise many types; all are user input errors here
        raise translate_error(err, overrides) from None
    finally:
        GlobalHydra.instance().clear()


def to_config(cfg: DictConfig) -> Config:
    """Turn a composed DictConfig into a validated ``Config`` object."""
    try:
        obj = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as err:
        raise translate_error(err, []) from None
    assert isinstance(obj, Config)
    validate_config(obj)
    return obj


def load_config(overrides: list[str]) -> tuple[DictConfig, Config]:
    """Compose, convert and validate: the one call every command makes before doing work."""
    cfg = compose_cfg(overrides)
    return cfg, to_config(cfg)


def compose_config(overrides: list[str]) -> dict[str, Any]:
    """A validated, resolved plain dict (what the engine passes to workers)."""
    cfg, _ = load_config(overrides)
    return resolved_dict(cfg)


def resolved_dict(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python containers, without Hydra's own node."""
    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    data.pop("hydra", None)
    return data


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a validated Config from a saved resolved dict (``config.yaml`` of a run)."""
    merged = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.create(data))
    return to_config(merged)


def _precheck_groups(overrides: list[str]) -> None:
    """Name the valid options when a group override selects a missing file."""
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.lstrip("+~")
        if sep and key in GROUPS and "," not in value:
            valid = options(key)
            if value not in valid:
                raise ConfigError(key, value, f"must be one of {', '.join(valid)}")


def translate_error(err: Exception, overrides: list[str]) -> ConfigError:
    """One line naming the key, the value and what is allowed, from a Hydra/OmegaConf error."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    key = getattr(err, "full_key", None)
    cause = err.__cause__ or err.__context__
    if not key and cause is not None:
        key = getattr(cause, "full_key", None)
        if cause is not None and str(cause).strip():
            message = str(cause).strip().splitlines()[0]
    value: Any = None
    if key:
        for item in overrides:
            k, _, v = item.partition("=")
            if k.lstrip("+~") == key:
                value = v
    if "not in struct" in str(err) or "Key '" in message and "not in" in message:
        bad = key or message
        return ConfigError(str(bad), value, "unknown key; see `configs/config.yaml` for the keys")
    if "Could not override" in message and cause is not None:
        message = str(cause).strip().splitlines()[0]
    if key:
        return ConfigError(str(key), value, message)
    return ConfigError("overrides", " ".join(overrides), message)
