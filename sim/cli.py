"""The ``gapsim`` command line: subcommands that take Hydra overrides.

Why this wrapper around ``hydra.main``: a bad value must fail with one line naming the key, the
value and what is allowed, exit code 2, no traceback and nothing written. So every request is
composed and validated first (``sim.config.load``), sweeps value by value, and the output
directory is checked; only then does Hydra take over (run directory, multirun, launchers).
``debug=true`` (or ``GAPSIM_DEBUG=1``) shows tracebacks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from sim.errors import ConfigError, RunError

USAGE = """usage: gapsim <command> [key=value ...]

commands:
  run         run one scenario for `replicates` Monte Carlo replicates (the main job)
  compare     gapsim compare scenarios=[a,b,...] baseline=a: paired comparison and HTML report
  validate    run the pattern-oriented validation suite and print a table (exit 1 if one fails)
  channels    which mechanisms carry each coordination scenario's effect (experiments/coordination_channels.yaml)
  map         draw the terrain map for a configuration
  animate     one replicate as a GIF of agents and incidents (+extra.every_days=2 +extra.replicate=0)
  sweep       gapsim sweep experiment=NAME: a study from experiments/ (design x replicates, figures)
  collect     gapsim collect DIR: gather a multirun's jobs into one sweep table (sweep.parquet)
  calibrate   ABC-SMC posterior (gapsim calibrate [write=true]); gapsim calibrate DIR scores a sweep
  discover    gapsim discover DIR outcome=incidents threshold=20: PRIM boxes of a finished sweep
  reproduce   gapsim reproduce DIR: rerun a saved result and confirm identical tables
  export      gapsim export DIR [format=gpkg|geojson|all]: incidents, lines, zones, places as a
              GeoPackage in WGS84 (QGIS, geopandas) and the elevation as a GeoTIFF
  dashboard   interactive browser dashboard on 127.0.0.1 (port=8765, host=127.0.0.1)

`gapsim COMMAND --help` lists a command's keys with their defaults and allowed values;
`gapsim help model` lists the model's parameters. Every command but reproduce, collect,
calibrate and dashboard takes Hydra overrides, e.g.
  gapsim run scenario=joint_brigades gap_width_km=6 coordination=jcc replicates=20 seed=7
  gapsim run -m gap_width_km=1,3,5 coordination=none,joint_brigades   (one job per point)
Outputs go to hydra.run.dir (default results/<command>/<timestamp>); rerunning into the same
directory resumes. See README.md.
"""

#: Free space an output directory's disk must have before any work starts (a run of the defaults
#: writes a few MB; sweeps more, but a nearly full disk is caught here rather than mid-run).
MIN_FREE_MB = 20

HYDRA_COMMANDS = ("run", "compare", "validate", "map", "sweep", "animate", "channels")
START_METHOD_CALLBACK = "sim.experiments.launch.StartMethodCallback"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    try:
        if command == "help" or any(a in ("-h", "--help") for a in rest):
            from sim.commands.help import help_command

            return help_command(command, rest)
        if command == "reproduce":
            from sim.commands.reproduce import reproduce_command

            return reproduce_command(rest)
        if command == "dashboard":
            from sim.commands.dashboard import dashboard_command

            return dashboard_command(rest)
        if command == "collect":
            from sim.commands.sweep import collect_command

            return collect_command(rest)
        if command == "export":
            from sim.commands.export import export_command

            return export_command(rest)
        if command == "calibrate":
            from sim.commands.calibrate import calibrate_command

            return calibrate_command(rest)
        if command == "discover":
            from sim.commands.discover import discover_command

            return discover_command(rest)
        if command in HYDRA_COMMANDS:
            return _hydra_command(command, rest)
        from sim.config.suggest import close

        known = (*HYDRA_COMMANDS, "reproduce", "collect", "calibrate", "discover", "export", "dashboard", "help")
        guess = close(command, known)
        mean = f"; did you mean {guess[0]}?" if guess else ""
        raise ConfigError("command", command, f"must be one of {', '.join(known)}{mean}")
    except ConfigError as err:
        if debug:
            raise
        from sim.config.suggest import improve

        print(f"gapsim: error: {improve(err)}", file=sys.stderr)
        return 2
    except RunError as err:
        if debug:
            raise
        print(f"gapsim: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt as err:
        print(f"gapsim: {err or 'interrupted'}", file=sys.stderr)
        return 130


def _debug_requested(argv: list[str]) -> bool:
    return os.environ.get("GAPSIM_DEBUG", "") not in ("", "0") or any(
        a in ("debug=true", "debug=True", "+debug=true") for a in argv)


def split_args(rest: list[str]) -> tuple[bool, list[str], list[str]]:
    """(multirun?, overrides for the config, hydra* overrides: ``hydra.x=`` and ``hydra/x=``)."""
    from sim.config.safety import is_hydra_override
    from sim.config.suggest import no_equals_error

    multirun = False
    overrides: list[str] = []
    hydra_over: list[str] = []
    for i, arg in enumerate(rest):
        if arg in ("-m", "--multirun"):
            multirun = True
        elif arg.startswith("-"):
            raise ConfigError("option", arg, "gapsim takes key=value overrides and -m for multirun "
                                             "(gapsim COMMAND --help lists the keys)")  # fmt: skip
        elif "=" not in arg:
            raise no_equals_error(rest, i)
        elif is_hydra_override(arg):
            hydra_over.append(arg)
        else:
            overrides.append(arg)
    return multirun, overrides, hydra_over


def sweep_variants(overrides: list[str]) -> list[list[str]]:
    """One override list per value of each comma-separated sweep (each value checked once)."""
    base: list[str] = []
    sweeps: list[tuple[int, str, list[str]]] = []
    for item in overrides:
        key, _, value = item.partition("=")
        if "," in value and not value.strip().startswith(("[", "{", "'", '"')):
            sweeps.append((len(base), key, [v for v in value.split(",")]))
            base.append(f"{key}={value.split(',')[0]}")
        else:
            base.append(item)
    variants = [base]
    for pos, key, values in sweeps:
        for v in values[1:]:
            variant = list(base)
            variant[pos] = f"{key}={v}"
            variants.append(variant)
    return variants


def _hydra_command(command: str, rest: list[str]) -> int:
    from sim.commands.common import check_request

    multirun, overrides, hydra_over = split_args(rest)
    for variant in sweep_variants(overrides) if multirun else [overrides]:
        _, config = check_request(command, [*variant, *hydra_over])
    _check_output_dir(hydra_over, multirun, command)
    if command == "run" and not multirun:
        _prestart_workers(config)
    with _output_dir_lock(hydra_over, multirun):
        return _run_hydra(command, overrides, hydra_over, multirun)


def _prestart_workers(config) -> None:
    """Start the process pool's forkserver now that the request is valid: it imports pandas, Mesa
    and the model (about 2 s) while Hydra composes the config again and the engine plans, so the
    first replicate starts as soon as it is handed out. A no-op unless the executor is local on a
    forkserver; ``run_into`` calls it again (for the Python API), which then changes nothing.
    """
    from dataclasses import asdict

    if config.executor.name != "local":
        return
    from sim.engine.experiment import prestart

    prestart({"executor": asdict(config.executor)})


@contextlib.contextmanager
def _output_dir_lock(hydra_over: list[str], multirun: bool) -> Iterator[None]:
    """Hold a named run folder's lock before Hydra writes its ``.hydra/`` there (see lock.py)."""
    from sim.engine import lock

    target = next((v for k, _, v in (o.partition("=") for o in hydra_over)
                   if k == "hydra.run.dir" and v and "${" not in v), None)
    if multirun or target is None:
        yield
        return
    try:
        lock.acquire(target)
    except RunError as err:
        raise ConfigError("hydra.run.dir", target, f"{err.problem}; {err.fix}") from None
    try:
        yield
    finally:
        lock.release(target)


def _check_output_dir(hydra_over: list[str], multirun: bool, command: str) -> None:
    """Fail before any work if the output directory cannot be written."""
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    target = Path("results")
    for item in hydra_over:
        k, _, v = item.partition("=")
        if k == key and "${" not in v:
            target = Path(v)
    probe = target.resolve()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(key, str(target), f"cannot write there ({probe} is not a writable directory)")
    free_mb = shutil.disk_usage(probe).free / 2**20
    if free_mb < MIN_FREE_MB:
        raise ConfigError(key, str(target), f"needs at least {MIN_FREE_MB} MB free on its disk "
                                            f"({free_mb:.1f} MB free at {probe})")


def _run_hydra(command: str, overrides: list[str], hydra_over: list[str], multirun: bool) -> int:
    import hydra

    from sim.config.load import CONFIG_DIR, register_schema

    register_schema()
    task = _TASKS[command]()
    wrapped = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")(task)
    argv = [f"gapsim-{command}", *(["--multirun"] if multirun else []), *overrides, *hydra_over]
    if not any(o.startswith("hydra.job.name=") for o in hydra_over):
        argv.append(f"hydra.job.name={command}")
    if multirun:  # jobs in joblib's loky workers need a standard start method for the engine's pool
        argv.append(f"+hydra.callbacks.gapsim_start_method._target_={START_METHOD_CALLBACK}")
    saved = sys.argv
    sys.argv = argv
    try:
        wrapped()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        sys.argv = saved
    return 0


def _task_run() -> Callable:
    from sim.commands.run import run_task

    return run_task


def _task_map() -> Callable:
    from sim.commands.map import map_task

    return map_task


def _task_compare() -> Callable:
    from sim.commands.compare import compare_task

    return compare_task


def _task_validate() -> Callable:
    from sim.commands.validate import validate_task

    return validate_task


def _task_sweep() -> Callable:
    from sim.commands.sweep import sweep_task

    return sweep_task


def _task_channels() -> Callable:
    from sim.commands.channels import channels_task

    return channels_task


def _task_animate() -> Callable:
    from sim.commands.animate import animate_task

    return animate_task


_TASKS: dict[str, Callable[[], Callable]] = {
    "animate": _task_animate,
    "run": _task_run, "map": _task_map, "compare": _task_compare, "validate": _task_validate,
    "sweep": _task_sweep, "channels": _task_channels}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
