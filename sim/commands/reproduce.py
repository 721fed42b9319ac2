"""`gapsim reproduce DIR`: rerun the command that made a result directory and compare outputs.

Why rerun the recorded command: a run, a comparison, a sweep and a validation each build their
configurations differently (scenarios, design points, validation arms), and the one description
that recreates any of them is the command line itself. Every command records it in
``manifest.json`` (``command_argv``); here it runs again, as a child process, into a temporary
directory, and every table (``runs``, ``timeseries``, ``incidents``, ``sweep``), every top-level
CSV and ``config.yaml`` is compared exactly with the original. The child's progress lines pass
through to stderr. Directories written before commands were recorded (plain runs only) are rerun
from their ``config.yaml`` as before.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sim.errors import ConfigError


def reproduce_command(args: list[str]) -> int:
    """Exit 0 printing "identical", or 1 naming what differs."""
    if len(args) != 1:
        raise ConfigError("reproduce", " ".join(args), "takes exactly one result directory")
    run_dir = Path(args[0])
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError("reproduce", str(run_dir), "must be a gapsim result directory with config.yaml")
    from sim.config.yaml_files import load_saved_config

    load_saved_config(run_dir / "config.yaml")  # a damaged or edited file: one line, before work
    argv = _recorded_argv(run_dir)
    diffs = _rerun_command(run_dir, argv) if argv else _rerun_config(run_dir)
    if diffs:
        print("differs:", file=sys.stderr)
        for d in diffs:
            print(f"  {d}", file=sys.stderr)
        return 1
    how = f"`{shlex.join(['gapsim', *argv])}`" if argv else "its config.yaml"
    print(f"identical: {run_dir} reproduces exactly from {how}")
    return 0


def _recorded_argv(run_dir: Path) -> list[str]:
    """The recorded command (without its output directory), or [] for older directories."""
    path = run_dir / "manifest.json"
    if not path.is_file():
        return []
    try:
        argv = json.loads(path.read_text()).get("command_argv") or []
    except (json.JSONDecodeError, AttributeError):
        raise ConfigError("reproduce", str(path), "is not a readable manifest.json") from None
    return [a for a in argv if not a.startswith("hydra.run.dir=")]


def _rerun_command(run_dir: Path, argv: list[str]) -> list[str]:
    from sim.engine.reproduce import ALL_TABLES, compare_tables, compare_text_files, derived_files

    print(f"reproduce: rerunning `{shlex.join(['gapsim', *argv])}` into a temporary directory",
          file=sys.stderr, flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="gapsim-reproduce-") as tmp:
        out = Path(tmp) / "rerun"
        child = subprocess.run([sys.executable, "-m", "sim.cli", *argv, f"hydra.run.dir={out}"],
                               stdout=subprocess.PIPE, text=True, check=False)  # fmt: skip
        if child.returncode not in (0, 1) or not (out / "runs.parquet").exists():
            tail = child.stdout.strip().splitlines()[-3:]
            return [f"the recorded command exited with {child.returncode} and wrote no tables"
                    + (f" ({' / '.join(tail)})" if tail else "")]  # fmt: skip
        return (compare_tables(run_dir, out, ALL_TABLES)
                + compare_text_files(run_dir, out, derived_files(run_dir)))


def _rerun_config(run_dir: Path) -> list[str]:
    """Older directories (no recorded command): rerun a plain run from its config.yaml."""
    from sim.config.load import config_from_dict
    from sim.config.yaml_files import load_saved_config
    from sim.engine.experiment import run_from_config
    from sim.engine.reproduce import reproduce

    if any((run_dir / n).exists() for n in ("scenarios.json", "sweep.parquet", "validation.csv")):
        raise ConfigError("reproduce", str(run_dir), "was written before gapsim recorded its "
                          "command in manifest.json; rerun the original command instead")
    config = load_saved_config(run_dir / "config.yaml")  # bounded, safe, resolved values only
    try:
        config_from_dict(config)  # validate before any work
    except ConfigError as err:
        raise ConfigError(err.key, err.value, f"{err.allowed} (in {run_dir / 'config.yaml'})") from None

    def rerun(cfg: dict[str, Any], out: Path) -> object:
        return run_from_config(cfg, out, progress=False)

    return reproduce(run_dir, rerun)
