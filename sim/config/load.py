"""Compose and validate a configuration from ``configs/`` plus command-line overrides.

Why a separate step before Hydra runs the job: every bad value must fail with one line, exit 2 and
nothing written. Hydra's own errors are multi-line and it creates the run directory before the task
starts, so the CLI composes and validates here first (Hydra's compose API, same config tree), and
only then hands over to ``hydra.main``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf, open_dict
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
    """Compose the config tree with overrides; raises ConfigError with one line on failure.

    ``hydra*`` overrides may be among them: they are checked against the allow-list
    (``sim.config.safety``) and composed too, so a bad one is named here, but the returned config
    holds gapsim's settings only. Every selected group file is checked alone before Hydra reads it.
    """
    from sim.config import safety

    _precheck_syntax(overrides)
    mine = [o for o in overrides if not safety.is_hydra_override(o)]
    hydra_over = [o for o in overrides if safety.is_hydra_override(o)]
    safety.check_overrides(mine, hydra_over, launcher_options())
    _precheck_groups(mine)
    check_selected_files(overrides)
    register_schema()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR), job_name="gapsim"):
            cfg = compose(config_name="config", overrides=list(overrides), return_hydra_config=True)
    except ConfigError:
        raise
    except Exception as err:  # Hydra and OmegaConf raise many types; all are user input errors here
        raise _bad_group_file(overrides) or translate_error(err, overrides) from None
    finally:
        GlobalHydra.instance().clear()
    safety.check_hydra_node(cfg.hydra)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def launcher_options() -> list[str]:
    """The launcher files shipped in ``configs/hydra/launcher/``."""
    return options("hydra/launcher")


def selected_options(overrides: list[str]) -> dict[str, str]:
    """Which file of each group (and which launcher) a request selects: defaults, then overrides."""
    chosen: dict[str, str] = {}
    for entry in OmegaConf.load(CONFIG_DIR / "config.yaml").get("defaults", []):
        if isinstance(entry, DictConfig):
            chosen.update({str(k): str(v) for k, v in entry.items() if str(k) in GROUPS})
    for item in overrides:
        key, _, value = item.partition("=")
        key = key.strip().lstrip("+~")
        if key in (*GROUPS, "hydra/launcher"):
            chosen[key] = value.strip()
    return chosen


def check_selected_files(overrides: list[str]) -> None:
    """The root config and every file the request selects, each checked alone (``safety``)."""
    from sim.config import safety

    safety.check_root_config(CONFIG_DIR / "config.yaml")
    for group, name in selected_options(overrides).items():
        if group == "hydra/launcher":
            safety.check_launcher_file(CONFIG_DIR, name)
        else:
            safety.check_group_file(CONFIG_DIR, group, name)


def _bad_group_file(overrides: list[str]) -> ConfigError | None:
    """A selected group file (``configs/scenario/NAME.yaml``, ...) that holds no mapping."""
    for group, name in selected_options(overrides).items():
        if group not in GROUPS:
            continue
        path = CONFIG_DIR / group / f"{name}.yaml"
        try:
            data = OmegaConf.load(path)
        except yaml.YAMLError:  # not YAML: translate_error names the file and line
            continue
        except Exception:  # noqa: BLE001 - OmegaConf refuses a lone number, string, ...
            data = None
        if not isinstance(data, DictConfig):
            return ConfigError(group, name, f"{path} must hold a mapping of settings (key: value)")
    return None


def to_config(cfg: DictConfig, overrides: list[str] | None = None, validate: bool = True) -> Config:
    """Turn a composed DictConfig into a ``Config`` object, validated unless told otherwise."""
    try:
        # `+key=value` adds keys the schema lacks and OmegaConf.to_object keeps them silently; the
        # workers rebuild the config strictly (config_from_dict), so refuse them here, up front.
        data = OmegaConf.to_container(cfg, resolve=False)
        assert isinstance(data, dict)
        data.pop("hydra", None)
        OmegaConf.merge(OmegaConf.structured(Config), data)
        obj = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as err:
        raise translate_error(err, list(overrides or [])) from None
    assert isinstance(obj, Config)
    if validate:
        validate_config(obj)
    return obj


def load_config(overrides: list[str]) -> tuple[DictConfig, Config]:
    """Compose, convert and validate: the one call every command makes before doing work.

    ``hydra*`` overrides may be included (checked against the allow-list, then left out of the
    returned config); a refusal names the closest valid value where there is one.
    """
    from sim.config.suggest import improve

    try:
        cfg = compose_cfg(overrides)
        config = to_config(cfg, overrides)
    except ConfigError as err:
        raise improve(err) from None
    from dataclasses import asdict

    from sim.engine.executors import executor_spec

    executor_spec(asdict(config.executor))  # ray installed? cluster address reachable? (fail fast)
    return cfg, config


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


def config_from_dict(data: dict[str, Any], validate: bool = True) -> Config:
    """Rebuild a Config from a saved resolved dict (``config.yaml`` of a run).

    Args:
        validate: run every range and cross-field check (workers skip it: the parent process
            validated the same dict before submitting it).
    """
    try:
        merged = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.create(data))
    except OmegaConfBaseException as err:
        raise translate_error(err, []) from None
    return to_config(merged, validate=validate)


def _precheck_syntax(overrides: list[str]) -> None:
    """Name the one override Hydra cannot parse (its own message lists them all)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from sim.config import suggest

    parser = OverridesParser.create()
    for item in overrides:
        key = item.partition("=")[0].lstrip("+~")
        if not key.strip():
            raise ConfigError("override", item, "overrides are key=value (e.g. gap_width_km=6)")
        if item.startswith("~"):  # would drop a schema key from the resolved config the engine reads
            raise ConfigError(key, item, "settings cannot be deleted; set a value instead (key=value)")
        value = item.partition("=")[2]
        try:
            parsed = parser.parse_overrides([item])
        except Exception as err:  # noqa: BLE001 - OverrideParseException and lexer errors
            if suggest.unbalanced(value):
                raise suggest.unclosed(key, value) from None
            if not value.isascii() or any(c.isspace() for c in value.strip()):
                raise ConfigError(key, value, f"a value with spaces or non-ASCII letters is "
                                              f"quoted, inside the shell's quotes: "
                                              f"\"{key}='{value.strip()}'\"") from None  # fmt: skip
            text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(key, value, f"not a valid override value ({text})") from None
        if parsed and parsed[0].is_sweep_override():
            raise ConfigError(key, value, "one value here (a sweep needs -m: gapsim run -m key=a,b)")


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
    from sim.config import suggest

    bad_yaml = _yaml_error(err)
    if bad_yaml is not None:  # a config file that is not (safe) YAML: name the file and line
        mark = getattr(bad_yaml, "problem_mark", None) or getattr(bad_yaml, "context_mark", None)
        name = getattr(mark, "name", None) or getattr(bad_yaml, "name", None) or "config file"
        where = (
            f"line {mark.line + 1}, column {mark.column + 1}"
            if mark
            else f"character {getattr(bad_yaml, 'position', '?')}"
        )
        problem = (
            getattr(bad_yaml, "problem", None)
            or getattr(bad_yaml, "context", None)
            or (str(bad_yaml).strip().splitlines() or [type(bad_yaml).__name__])[0]
        )
        return ConfigError(str(name), where, f"not valid YAML ({problem})")
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    key = getattr(err, "full_key", None)
    cause = err.__cause__ or err.__context__
    if not key and cause is not None:
        key = getattr(cause, "full_key", None)
        if cause is not None and str(cause).strip():
            message = str(cause).strip().splitlines()[0]
    value: Any = getattr(err, "value", None)
    if value is None and cause is not None:
        value = getattr(cause, "value", None)
    if key:
        for item in overrides:
            k, _, v = item.partition("=")
            if k.lstrip("+~") == key:
                value = v
    if "not in struct" in str(err) or "Key '" in message and "not in" in message:
        bad = key or message
        return ConfigError(str(bad), value, suggest.unknown_key(str(bad)))
    converted = re.search(r"could not be converted to (\w+)|is not a valid (bool)", message)
    if key and converted:
        target = converted[1] or converted[2]
        hint = suggest.number_hint(str(key), value, target)
        return ConfigError(str(key), value, hint or "true or false")
    if "Could not override" in message and cause is not None:
        message = str(cause).strip().splitlines()[0]
    if key:
        return ConfigError(str(key), value, message)
    where = re.match(r"In '([\w.-]+)/([^'/]+)'", str(err))  # e.g. "In 'terrain/mine': ..."
    if where and where[1] in GROUPS:
        path = CONFIG_DIR / where[1] / f"{where[2]}.yaml"
        return ConfigError(where[1], where[2], f"{path}: {message}")
    for item in overrides:  # Hydra names the key only in its text, e.g. "already at 'seed'"
        k, _, v = item.partition("=")
        if k.lstrip("+~") and f"'{k.lstrip('+~')}'" in str(err):
            return ConfigError(k.lstrip("+~"), v, message)
    return ConfigError("overrides", " ".join(overrides), message)


def _yaml_error(err: BaseException) -> yaml.YAMLError | None:
    """The YAML syntax (or unsafe tag) error behind a composition error, if there is one."""
    seen: BaseException | None = err
    for _ in range(8):
        if seen is None or isinstance(seen, yaml.YAMLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
