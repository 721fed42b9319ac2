"""What a config file or an override may ask of Hydra: nothing that creates objects or writes
outside the run folder.

Why: Hydra instantiates whatever its own config node names (``hydra.callbacks``, launchers,
sweepers, logging handlers), and a scenario file is packaged ``_global_``, so before this module a
copied scenario file with a ``hydra: callbacks:`` block, or a ``+hydra.callbacks...`` override,
wrote any file the user could write, exit 0. The rules, checked before Hydra composes anything:

* A group file (``configs/scenario|terrain|executor/*.yaml``) is checked alone: it is bounded YAML
  (``sim.config.yaml_files``), it carries no ``hydra`` key, no ``# @package`` header other than
  its group's (``_global_`` for scenarios), no interpolations, and a ``defaults`` list only of
  other files of its own group.
* ``hydra.*`` overrides are allow-listed: the run and sweep directories (inside the working
  directory, or an absolute path the user names), the job name, a launcher shipped with gapsim
  (Hydra's basic one, the joblib and submitit plugins, ``configs/hydra/launcher/*.yaml``) and that
  launcher's resource fields. Anything else is one line, exit 2.
* After composition, Hydra's node is checked once more (no callbacks, a known launcher and sweeper,
  logging only to the job's own log file): a rule above that misses a path still stops here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sim.config.yaml_files import has_interpolation, load_yaml, load_yaml_text
from sim.errors import ConfigError

#: Launchers a multirun may use: Hydra's own and the two plugins gapsim depends on, plus the
#: files in ``configs/hydra/launcher/`` (checked like group files).
PLUGIN_LAUNCHERS: dict[str, str] = {
    "basic": "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
    "joblib": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
    "submitit_local": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
    "submitit_slurm": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
}
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"

#: Launcher fields a user may set: resources and scheduling only. Left out on purpose: ``setup``
#: and ``srun_args`` (shell commands), ``submitit_folder``, ``temp_folder`` and
#: ``additional_parameters`` (paths and free-form sbatch options), ``_target_``.
LAUNCHER_FIELDS: frozenset[str] = frozenset({
    # joblib
    "n_jobs", "backend", "prefer", "require", "verbose", "timeout", "pre_dispatch", "batch_size",
    # submitit (local and Slurm)
    "timeout_min", "cpus_per_task", "gpus_per_node", "tasks_per_node", "mem_gb", "nodes", "name",
    "partition", "qos", "comment", "constraint", "exclude", "gres", "cpus_per_gpu",
    "gpus_per_task", "mem_per_gpu", "mem_per_cpu", "account", "signal_delay_s", "max_num_timeout",
    "array_parallelism", "stderr_to_stdout",
})  # fmt: skip

#: A launcher field's value: printable, no whitespace, quotes, ``$``, backslash or shell syntax.
_SAFE_FIELD_VALUE = re.compile(r"^[A-Za-z0-9_.:,@+\-\[\]&|!*%=/()]*$")

#: Interpolations a run or sweep directory may hold (Hydra's own defaults use them).
_DIR_INTERPOLATION = re.compile(
    r"\$\{(now:[%A-Za-z0-9_-]*|hydra\.job\.(name|num)|hydra:job\.(name|num))\}"
)

#: Job names and scenario names become directory and file names.
MAX_NAME_BYTES = 64
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

HYDRA_ALLOWED = ("hydra.run.dir, hydra.sweep.dir, hydra.sweep.subdir, hydra.job.name, "
                 "hydra/launcher=NAME and hydra.launcher.FIELD")  # fmt: skip


def override_key(item: str) -> str:
    """The key of an override without its ``+``/``++``/``~`` prefix and surrounding spaces."""
    return item.partition("=")[0].strip().lstrip("+~").strip()


def is_hydra_override(item: str) -> bool:
    """``hydra``, ``hydra.x`` or ``hydra/group``: Hydra's own node, not gapsim's config."""
    key = override_key(item)
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def _value(item: str) -> str:
    """An override's value, without one pair of surrounding quotes."""
    value = item.partition("=")[2].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


# ------------------------------------------------------------------------------------ overrides


def check_overrides(overrides: Iterable[str], hydra_overrides: Iterable[str],
                    launcher_names: Iterable[str]) -> None:  # fmt: skip
    """Refuse package overrides, unknown groups, interpolations and non-allow-listed Hydra keys.

    Args:
        overrides: gapsim's own settings (``key=value``, ``group=option``).
        hydra_overrides: the ``hydra*`` ones, checked against the allow-list.
        launcher_names: the launcher files shipped in ``configs/hydra/launcher/``.
    """
    for item in overrides:
        key = override_key(item)
        if is_hydra_override(item):
            raise ConfigError(key, _value(item), "Hydra settings go on the command line "
                                                 f"(allowed: {HYDRA_ALLOWED})")  # fmt: skip
        _check_plain_key(item, key)
        found = has_interpolation(_value(item))
        if found is not None:
            raise ConfigError(key, _value(item), "interpolations (${...}) are not allowed in "
                                                 "values; write the value itself")  # fmt: skip
    launchers = {*PLUGIN_LAUNCHERS, *launcher_names}
    for item in hydra_overrides:
        check_hydra_override(item, launchers)


def _check_plain_key(item: str, key: str) -> None:
    if "@" in key:
        raise ConfigError(key, _value(item), "package overrides (group@package) are not "
                                             "supported; select an option with group=name")  # fmt: skip
    if "/" in key:
        raise ConfigError(key, _value(item), "not a config group; the groups are scenario, "
                                             "terrain and executor")  # fmt: skip


def check_hydra_override(item: str, launchers: set[str]) -> None:
    """One ``hydra*`` override against the allow-list (see the module docstring)."""
    key, value = override_key(item), _value(item)
    stripped = item.strip()
    if stripped.startswith("~"):
        raise ConfigError(key, value, "Hydra settings cannot be deleted; set a value instead")
    if "@" in key:
        raise ConfigError(key, value, "package overrides (group@package) are not supported")
    if key in ("hydra.run.dir", "hydra.sweep.dir"):
        check_output_dir_value(key, value, absolute_ok=True)
    elif key == "hydra.sweep.subdir":
        check_output_dir_value(key, value, absolute_ok=False)
    elif key == "hydra.job.name":
        check_name(key, value, pattern=_JOB_NAME, what="letters, digits, _ . - (first a letter "
                                                       "or digit)")  # fmt: skip
    elif key == "hydra/launcher":
        if value not in launchers:
            raise ConfigError(key, value, f"must be one of {', '.join(sorted(launchers))}")
    elif key.startswith("hydra.launcher."):
        field = key.removeprefix("hydra.launcher.")
        if field not in LAUNCHER_FIELDS:
            raise ConfigError(key, value, "not an allowed launcher setting; allowed: "
                                          f"{', '.join(sorted(LAUNCHER_FIELDS))}")  # fmt: skip
        if not _SAFE_FIELD_VALUE.match(value) or "${" in value:
            raise ConfigError(key, value, "a launcher setting is a plain number or word (no "
                                          "spaces, quotes, $ or shell syntax)")  # fmt: skip
    else:
        raise ConfigError(key, value, f"not an allowed Hydra setting; gapsim allows "
                                      f"{HYDRA_ALLOWED}")  # fmt: skip


def check_output_dir_value(key: str, value: str, *, absolute_ok: bool) -> None:
    """A run/sweep directory: inside the working directory, or an absolute path the user names.

    Only Hydra's own interpolations (``${now:...}``, ``${hydra.job.name}``, ``${hydra.job.num}``)
    may appear; ``..`` may not lead out of the working directory.
    """
    if any(ord(c) < 32 for c in value):
        raise ConfigError(key, value, "a directory name holds no control characters")
    plain = _DIR_INTERPOLATION.sub("x", value)
    if "${" in plain:
        raise ConfigError(key, value, "only ${now:...}, ${hydra.job.name} and ${hydra.job.num} "
                                      "may appear in a directory; write the path itself")  # fmt: skip
    if not plain.strip():
        raise ConfigError(key, value, "name a directory (e.g. results/my_run); an empty one "
                                      "would write into the working directory")  # fmt: skip
    if os.path.isabs(plain):
        if not absolute_ok:
            raise ConfigError(key, value, "must be relative (a folder inside the sweep directory)")
        return
    normal = os.path.normpath(plain)
    if normal == ".":
        raise ConfigError(key, value, "would write into the working directory itself; name a "
                                      "folder (e.g. results/my_run)")  # fmt: skip
    if normal == ".." or normal.startswith(".." + os.sep):
        if absolute_ok:
            raise ConfigError(key, value, "must stay inside the working directory; give an "
                                          "absolute path to write elsewhere")  # fmt: skip
        raise ConfigError(key, value, "must stay inside the sweep directory")


def check_name(key: str, value: Any, *, pattern: re.Pattern[str] | None = None,
               what: str = "letters, digits, _ . - (not starting with a dot)") -> None:  # fmt: skip
    """A name that becomes a directory or file name: at most MAX_NAME_BYTES in UTF-8, no
    control characters, no path separators, not hidden (a leading dot)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(key, value, f"a non-empty name ({what})")
    size = len(value.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        chars = f"{len(value)} characters, {size} bytes"
        raise ConfigError(key, _shorten(value), f"at most {MAX_NAME_BYTES} bytes in UTF-8 (this "
                                                f"name is {chars}; it names files): shorten it")  # fmt: skip
    if pattern is not None:
        ok = bool(pattern.match(value))
    else:  # any script's letters and digits, plus _ . -
        ok = value[0] != "." and all(c.isalnum() or c in "_.-" for c in value)
    if not ok:
        raise ConfigError(key, value, f"names files, so it holds only {what}")


def _shorten(text: str, keep: int = 40) -> str:
    return text if len(text) <= keep else f"{text[:keep]}...({len(text)} characters)"


# ------------------------------------------------------------------------------------ files


def check_group_file(config_dir: Path, group: str, name: str, seen: set[Path] | None = None) -> None:
    """A selected group file, alone: bounded YAML, no ``hydra``, its own package, same-group
    defaults only (each of those checked too), no interpolations."""
    from hydra.plugins.config_source import ConfigSource

    path = config_dir / group / f"{name}.yaml"
    seen = set() if seen is None else seen
    if path in seen or not path.is_file():
        return  # a missing option is named by the group check, with the valid ones
    seen.add(path)
    what = f"{group} file"
    text, data = load_yaml_text(path, what)
    try:
        package = ConfigSource._get_header_dict(text)["package"]  # Hydra's own header parser
    except ValueError as err:
        raise ConfigError(str(path), "# @package", f"{err}; fix the header") from None
    allowed = {None, "_group_", group, *(("_global_",) if group == "scenario" else ())}
    if package not in allowed:
        shown = " or ".join(f"'# @package {p}'" for p in sorted(a for a in allowed if a))
        raise ConfigError(str(path), f"# @package {package}",
                          f"a {what} is packaged under its group ({shown} or no header)")
    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(group, name, f"{path} must hold a mapping of settings (key: value)")
    if "hydra" in data:
        raise ConfigError(str(path), "hydra", f"a {what} cannot set Hydra's own settings (they "
                                              "create objects and choose where files go): remove "
                                              "the hydra block")  # fmt: skip
    found = has_interpolation(data)
    if found is not None:
        raise ConfigError(str(path), found, f"interpolations (${{...}}) are not allowed in a "
                                            f"{what}; write the value itself")  # fmt: skip
    defaults = data.get("defaults")
    if defaults is None:
        return
    options = {p.stem for p in (config_dir / group).glob("*.yaml")}
    if not isinstance(defaults, list):
        raise ConfigError(str(path), "defaults", "a list of other files of the same group")
    for entry in defaults:
        if entry == "_self_":
            continue
        if not isinstance(entry, str) or entry not in options:
            raise ConfigError(str(path), f"defaults: {entry}",
                              f"a {what} may only build on other {group} files "
                              f"({', '.join(sorted(options))}) and _self_")  # fmt: skip
        check_group_file(config_dir, group, entry, seen)


def check_launcher_file(config_dir: Path, name: str) -> None:
    """A launcher file in ``configs/hydra/launcher/``: a plugin launcher plus resource fields."""
    path = config_dir / "hydra" / "launcher" / f"{name}.yaml"
    if not path.is_file():
        return
    data = load_yaml(path, "launcher file")
    if not isinstance(data, dict):
        raise ConfigError(str(path), type(data).__name__, "a launcher file is a mapping")
    for key, value in data.items():
        if key == "defaults":
            entries = value if isinstance(value, list) else [value]
            for entry in entries:
                if entry != "_self_" and entry not in PLUGIN_LAUNCHERS:
                    raise ConfigError(str(path), f"defaults: {entry}", "a launcher file builds "
                                      f"on one of {', '.join(PLUGIN_LAUNCHERS)} and _self_")  # fmt: skip
        elif key not in LAUNCHER_FIELDS or not _SAFE_FIELD_VALUE.match(str(value)):
            raise ConfigError(str(path), key, "a launcher file sets only resource fields ("
                                              f"{', '.join(sorted(LAUNCHER_FIELDS))}) to plain "
                                              "values")  # fmt: skip


def check_root_config(path: Path) -> None:
    """``configs/config.yaml``: bounded YAML whose hydra block sets only the output folders."""
    data = load_yaml(path, "root config")
    if not isinstance(data, dict):
        raise ConfigError(str(path), type(data).__name__, "the root config is a mapping")
    hydra = data.get("hydra") or {}
    allowed = {("run", "dir"), ("sweep", "dir"), ("sweep", "subdir"), ("job", "chdir")}
    for section, values in (hydra.items() if isinstance(hydra, dict) else [("hydra", hydra)]):
        for key in (values if isinstance(values, dict) else {None: values}):
            if (section, key) not in allowed:
                raise ConfigError(str(path), f"hydra.{section}.{key}",
                                  "the root config's hydra block sets only run.dir, sweep.dir, "
                                  "sweep.subdir and job.chdir")  # fmt: skip
    for key in ("run", "sweep"):
        check_output_dir_value(f"hydra.{key}.dir", str(hydra.get(key, {}).get("dir", "results")),
                               absolute_ok=True)  # fmt: skip


# ------------------------------------------------------------------------ the composed node


def check_hydra_node(hydra: Any) -> None:
    """The composed ``hydra`` node: a last check that nothing reached what Hydra instantiates."""
    from omegaconf import OmegaConf

    node = OmegaConf.to_container(hydra, resolve=False)
    assert isinstance(node, dict)
    problems = []
    if node.get("callbacks"):
        problems.append(("hydra.callbacks", list(node["callbacks"])))
    launcher = (node.get("launcher") or {}).get("_target_")
    if launcher not in PLUGIN_LAUNCHERS.values():
        problems.append(("hydra.launcher._target_", launcher))
    sweeper = (node.get("sweeper") or {}).get("_target_")
    if sweeper != BASIC_SWEEPER:
        problems.append(("hydra.sweeper._target_", sweeper))
    if node.get("searchpath"):
        problems.append(("hydra.searchpath", node["searchpath"]))
    if node.get("output_subdir") != ".hydra":
        problems.append(("hydra.output_subdir", node.get("output_subdir")))
    job = node.get("job") or {}
    if job.get("chdir") or job.get("env_set") or job.get("env_copy"):
        problems.append(("hydra.job", {k: job.get(k) for k in ("chdir", "env_set", "env_copy")}))
    for section in ("job_logging", "hydra_logging"):
        problems += [(f"hydra.{section}", p) for p in _logging_problems(node.get(section) or {})]
    if problems:
        key, value = problems[0]
        raise ConfigError(key, value, "a config file or override changed Hydra's own settings, "
                                      "which gapsim does not allow; remove it")  # fmt: skip


def _logging_problems(logging: dict[str, Any]) -> list[Any]:
    """Logging handlers other than the console and the job's own log file, or factories."""
    found = []
    text = repr(logging)
    if "'()'" in text:
        found.append("() factory")
    for name, handler in (logging.get("handlers") or {}).items():
        cls = handler.get("class") if isinstance(handler, dict) else handler
        if cls not in ("logging.StreamHandler", "logging.FileHandler"):
            found.append(f"handlers.{name}.class={cls}")
        elif cls == "logging.FileHandler" and handler.get("filename") != (
            "${hydra.runtime.output_dir}/${hydra.job.name}.log"
        ):
            found.append(f"handlers.{name}.filename={handler.get('filename')}")
    return found
