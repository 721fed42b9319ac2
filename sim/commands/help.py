"""`gapsim COMMAND --help` and `gapsim help [COMMAND|model]`: a command's keys, defaults and
allowed values.

Why generated: the keys, defaults and allowed values are those of the schema and of
``validate_config`` (``sim.config.keys``), composed with whatever else is on the command line, so
``gapsim run scenario=joint_brigades --help`` shows that scenario's gap and coordination and the
help cannot promise a value the checks refuse. Which keys a command reads is listed here, once.
"""

from __future__ import annotations

import shutil
import textwrap

from sim.config.keys import KeyInfo, model_keys, run_keys
from sim.errors import ConfigError

#: Keys every Hydra command reads.
COMMON = ("scenario", "terrain", "executor", "gap_width_km", "coordination", "seed", "days",
          "model.<name>", "debug")  # fmt: skip
#: Keys of commands that run replicates through the engine.
ENGINE = ("replicates", "workers", "crn", "parameters", "retry_failed", "precision", "min_replicates",
          "max_replicates", "progress")  # fmt: skip

COMMAND_KEYS: dict[str, tuple[str, ...]] = {
    "run": (*COMMON, *ENGINE),
    "compare": ("scenarios", "baseline", *COMMON, *ENGINE),
    "sweep": ("experiment", "design_size", *COMMON, *ENGINE),
    "validate": ("terrain", "executor", "seed", "model.<name>", "debug", *ENGINE),
    "map": ("scenario", "terrain", "gap_width_km", "debug"),
    "animate": (*COMMON, "extra"),
    "channels": ("experiment", *COMMON, *ENGINE),
}

#: Settings of `gapsim animate` kept under ``extra`` (read in ``sim/commands/animate.py``).
ANIMATE_EXTRA = (
    KeyInfo("+extra.replicate", "0", "a replicate id (a whole number >= 0)", "which replicate"),
    KeyInfo("+extra.every_days", "2", "a whole number >= 1", "days between frames"),
)

#: Commands that take no Hydra overrides: usage and their own keys.
PLAIN_COMMANDS: dict[str, tuple[str, list[KeyInfo]]] = {
    "reproduce": ("gapsim reproduce DIR", [
        KeyInfo("DIR", "-", "a gapsim result directory (holds config.yaml)",
                "rerun it from its own config.yaml and seeds; prints identical or what differs"),
    ]),
    "collect": ("gapsim collect DIR [out=DIR2]", [
        KeyInfo("DIR", "-", "a multirun directory (hydra.sweep.dir of `gapsim run -m`)",
                "gather its jobs' runs.parquet into sweep.parquet and sweep.csv"),
        KeyInfo("out", "DIR", "a directory", "where the table is written"),
    ]),
    "discover": ("gapsim discover DIR outcome=NAME threshold=VALUE [key=value ...]", [
        KeyInfo("DIR", "-", "a finished `gapsim sweep` folder", "the sweep whose factor space is searched"),
        KeyInfo("outcome", "-", "an outcome column of the sweep's runs table", "what crosses the threshold"),
        KeyInfo("threshold", "-", "a number, or pNN (a percentile of the outcome)", "the line it crosses"),
        KeyInfo("direction", "above", "above | below", "which side counts as a case of interest"),
        KeyInfo("min_coverage", "0.5", "a share between 0 and 1", "the least coverage a chosen box keeps"),
        KeyInfo("alpha", "0.05", "a share between 0 and 1", "significance level for keeping a box limit"),
        KeyInfo("boxes", "1", "a whole number >= 1", "how many boxes to find in turn"),
        KeyInfo("out", "DIR/discover", "a directory", "where boxes and the trade-off figure go"),
    ]),
    "export": ("gapsim export DIR [format=gpkg|geojson|all] [out=DIR/gis]", [
        KeyInfo("DIR", "-", "a gapsim run directory", "the run whose incidents and terrain are exported"),
        KeyInfo("format", "gpkg", "gpkg | geojson | all", "GeoPackage, GeoJSON files, or both"),
        KeyInfo("out", "DIR/gis", "a directory", "where the files go"),
    ]),
}  # fmt: skip


def help_command(command: str, rest: list[str]) -> int:
    """Print the help asked for (``gapsim COMMAND --help`` or ``gapsim help [TOPIC]``); exit 0."""
    from sim.cli import HYDRA_COMMANDS, USAGE

    args = [a for a in rest if a not in ("-h", "--help")]
    if command == "help":
        topic = next((a for a in args if "=" not in a), None)
        if topic is None:
            print(USAGE)
            return 0
        if topic == "model":
            print(model_help())
            return 0
        command, args = topic, [a for a in args if a != topic]
    if command in HYDRA_COMMANDS:
        print(hydra_command_help(command, [a for a in args if "=" in a]))
    elif command in PLAIN_COMMANDS:
        usage, keys = PLAIN_COMMANDS[command]
        print(_page(command, usage, [("arguments", keys)]))
    elif command == "dashboard":
        print(dashboard_help())
    elif command == "calibrate":
        print(calibrate_help())
    else:
        from sim.config.suggest import close

        known = (*HYDRA_COMMANDS, *PLAIN_COMMANDS, "dashboard", "calibrate", "model")
        guess = close(command, known)
        mean = f"; did you mean {guess[0]}?" if guess else ""
        raise ConfigError("help", command, f"one of {', '.join(known)}{mean}")
    return 0


def describe(command: str) -> str:
    """A command's line from the top-level usage."""
    from sim.cli import USAGE

    for line in USAGE.splitlines():
        head, _, text = line.strip().partition(" ")
        if head == command:
            return text.strip()
    return ""


def hydra_command_help(command: str, overrides: list[str]) -> str:
    """Keys of a Hydra command, defaults composed with ``overrides`` (schema defaults if those
    do not compose)."""
    from sim.config.load import launcher_options, load_config
    from sim.config.safety import PLUGIN_LAUNCHERS

    note = ""
    try:
        _, config = load_config(overrides)
        defaults = run_keys(config)
        if overrides:
            note = f"defaults shown with {' '.join(overrides)}"
    except ConfigError as err:
        defaults = run_keys()
        note = f"(schema defaults: the other arguments were refused: {err})"
    keys = [defaults[k] for k in COMMAND_KEYS[command]]
    if command == "animate":
        keys = [k for k in keys if k.key != "extra"] + list(ANIMATE_EXTRA)
    launchers = " | ".join(sorted({*PLUGIN_LAUNCHERS, *launcher_options()}))
    output = [
        KeyInfo("hydra.run.dir", f"results/{command}/<timestamp>",
                "a folder inside the working directory, or an absolute path",
                "where the outputs go; rerunning into the same folder resumes"),
        KeyInfo("hydra.job.name", command, "letters, digits, _ . -", "names the default folder"),
        KeyInfo("-m", "-", "-m key=a,b,c ...", "multirun: one job per combination of values"),
        KeyInfo("hydra.sweep.dir", "results/multirun/<timestamp>",
                "as hydra.run.dir", "the multirun's folder (one subfolder per job)"),
        KeyInfo("hydra/launcher", "basic", launchers,
                "how multirun jobs run (hydra.launcher.n_jobs, .partition, ... set resources)"),
    ]  # fmt: skip
    usage = f"gapsim {command} [key=value ...]   (gapsim {command} -m key=a,b ... for a multirun)"
    sections = [("keys", keys), ("output and multirun", output)]
    return _page(command, usage, sections, note)


def model_help() -> str:
    """Every model parameter: default, range and unit, meaning (from ``ModelParams``)."""
    keys = list(model_keys().values())
    usage = "gapsim run model.NAME=VALUE ...   (any command that runs the model)"
    note = "sources and evidence: the parameter table of docs/ODD.md"
    return _page("model", usage, [("model parameters", keys)], note)


def dashboard_help() -> str:
    from sim.commands import dashboard

    keys = [
        KeyInfo("port", str(dashboard.DEFAULT_PORT), "a whole number from 1 to 65535", "TCP port"),
        KeyInfo("host", dashboard.DEFAULT_HOST, "an IP address or localhost",
                "where it listens (another host than loopback is reachable from the network)"),
    ]  # fmt: skip
    return _page("dashboard", "gapsim dashboard [port=N] [host=ADDRESS]", [("keys", keys)])


def calibrate_help() -> str:
    """The calibrate command's own help text if it has one, else its module's summary."""
    from sim.commands import calibrate

    own = getattr(calibrate, "HELP", None)
    if own:
        return str(own)
    summary = (calibrate.__doc__ or "").strip().split("\n\n")[0]
    return f"usage: gapsim calibrate DIR [key=value ...]\n\n{summary}\n\nSee README.md (calibration)."


def _page(command: str, usage: str, sections: list[tuple[str, list[KeyInfo]]],
          note: str = "") -> str:  # fmt: skip
    width = min(100, max(60, shutil.get_terminal_size((100, 24)).columns))
    lines = [f"usage: {usage}", ""]
    text = describe(command)
    if text:
        lines += [textwrap.fill(text, width), ""]
    if note:
        lines += [textwrap.fill(note, width), ""]
    for title, keys in sections:
        lines.append(f"{title} (default; allowed):")
        for k in keys:
            lines.append(f"  {k.key}={k.default}" if k.default != "-" else f"  {k.key}")
            body = f"{k.doc}. Allowed: {k.allowed}" if k.doc else f"Allowed: {k.allowed}"
            lines += textwrap.wrap(body, width, initial_indent=" " * 6, subsequent_indent=" " * 6)
        lines.append("")
    if command != "model" and any(k.key == "model.<name>" for _, ks in sections for k in ks):
        lines.append("Model parameters: gapsim help model (or the parameter table of docs/ODD.md).")
    return "\n".join(lines).rstrip()
