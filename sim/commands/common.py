"""Pieces every command shares: the task guard, the run directory, the manifest, the summary.

Why: a command's output directory must always hold the resolved ``config.yaml`` and a
``manifest.json`` (versions, git commit, seeds, timings) so that anyone can rerun it and get the
same numbers; and every command reports bad input the same way, from inside Hydra's job too.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sim.errors import ConfigError, RunError

PACKAGES = ("gapsim", "mesa", "numpy", "scipy", "pandas", "pyarrow", "matplotlib", "hydra-core",
            "omegaconf", "ray")
REPO_DIR = Path(__file__).resolve().parents[2]

#: Outcomes shown in the summary table of `gapsim run`, in order.
SUMMARY_OUTCOMES = (
    "incidents", "kidnappings", "fake_checkpoints", "ambushes", "arsons", "extortions",
    "village_attacks", "retributions", "incidents_gap", "hostages", "casualties_security",
    "airstrikes", "insurgents_killed", "insurgents_killed_air", "fighters_final", "tips",
    "tips_reaching_share", "informant_links_ia", "gap_control",
)


#: The command line a command records (manifest, report) when it was not started from the shell:
#: ``sim.api`` sets the equivalent ``gapsim ...`` words so that a Python call is rerunnable too.
_INVOCATION: ContextVar[list[str] | None] = ContextVar("gapsim_invocation", default=None)


def invocation() -> list[str]:
    """The ``gapsim ...`` words of the current command (from ``sys.argv`` or ``invoked_as``)."""
    words = _INVOCATION.get()
    if words is not None:
        return list(words)
    return ["gapsim", *sys.argv[1:]] if sys.argv else ["gapsim"]


@contextlib.contextmanager
def invoked_as(words: list[str]) -> Iterator[None]:
    """Within the block, commands record ``words`` as their command line (Python API calls)."""
    token = _INVOCATION.set(list(words))
    try:
        yield
    finally:
        _INVOCATION.reset(token)


def check_request(command: str, overrides: list[str]):
    """Compose and validate everything a command will need, before any work or any file.

    The one check the command line (``sim.cli``) and the Python API (``sim.api``) both make, so
    a bad word fails the same way, with the same one-line ``ConfigError``, from either face.

    Returns:
        ``(cfg, config)``: the composed DictConfig and the validated ``Config``.
    """
    from sim.config.load import load_config

    cfg, config = load_config(overrides)
    if command == "compare":
        from sim.commands.compare import validate_request

        names, _ = validate_request(config)
        for name in names:
            load_config([*overrides, f"scenario={name}"])
    if command == "sweep":
        from sim.commands.sweep import validate_request as validate_sweep

        validate_sweep(config, overrides)
    return cfg, config


def guarded(task: Callable[[DictConfig], int | None]) -> Callable[[DictConfig], None]:
    """Run a Hydra task holding its output folder's lock (one run per folder).

    A ConfigError becomes one line and exit 2; a RunError (folder in use, full disk, damaged
    file) or any other OSError one line naming the file and the fix, exit 1 (2 when the request
    must change); a result code exits. ``debug=true`` shows the traceback instead.
    """

    @functools.wraps(task)
    def wrapper(cfg: DictConfig) -> None:
        debug = cfg.get("debug", False) or os.environ.get("GAPSIM_DEBUG", "") not in ("", "0")
        try:
            with _folder_lock():
                code = task(cfg) or 0
        except ConfigError as err:
            if debug:
                raise
            print(f"gapsim: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        except RunError as err:
            if debug:
                raise
            print(f"gapsim: error: {err}", file=sys.stderr)
            raise SystemExit(err.exit_code) from None
        except OSError as err:
            if debug:
                raise
            print(f"gapsim: error: {describe_os_error(err)}", file=sys.stderr)
            raise SystemExit(1) from None
        except KeyboardInterrupt as err:
            print(f"gapsim: {err or 'interrupted'}", file=sys.stderr)
            raise SystemExit(130) from None
        if code:
            raise SystemExit(code)

    return wrapper


def _folder_lock() -> contextlib.AbstractContextManager[Any]:
    """The output folder's lock inside a Hydra job (nothing outside one)."""
    from hydra.core.hydra_config import HydraConfig

    from sim.engine.lock import run_dir_lock

    if not HydraConfig.initialized():
        return contextlib.nullcontext()
    return run_dir_lock(output_dir())


def describe_os_error(err: OSError) -> str:
    """An OSError as one line: the file, what happened, what to do."""
    import errno

    where = err.filename or "(no file named)"
    what = err.strerror or str(err)
    if err.errno == errno.ENOSPC or "No space left" in str(err):
        fix = "free space and rerun the same command (finished replicates are kept)"
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "make it writable, or write elsewhere (hydra.run.dir=...)"
    else:
        fix = "check that file and rerun the same command"
    return " ".join(f"{where}: {what}; {fix}".split("\n"))


def output_dir() -> Path:
    """The job's output directory (Hydra's ``runtime.output_dir``)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"_{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_config(data: dict[str, Any], out_dir: Path) -> Path:
    """The resolved config (no Hydra node) as ``config.yaml``: what `gapsim reproduce` reruns."""
    path = out_dir / "config.yaml"
    write_text_atomic(path, OmegaConf.to_yaml(OmegaConf.create(data)))
    return path


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the repository the package runs from (None outside git)."""
    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", "-C", str(REPO_DIR), *args], capture_output=True,
                                 text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def reproducing_argv() -> list[str]:
    """The arguments after ``gapsim`` that recreate this job's output: the subcommand, the
    user's overrides as typed, and ``hydra.run.dir`` if the user chose it.

    Why not ``sys.argv``: inside the Hydra job it reads ``gapsim-compare ... hydra.job.name=
    compare`` (the CLI's own rewrite), which run verbatim fails. A multirun job is recorded as
    the single ``gapsim run`` of its own overrides (without the sweep's directory).
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    prog = Path(sys.argv[0]).name if sys.argv else ""
    command = prog.removeprefix("gapsim-") if prog.startswith("gapsim-") else str(hc.job.name)
    args = [command, *hc.overrides.task]
    if hc.mode != RunMode.MULTIRUN:
        args += [o for o in hc.overrides.hydra if o.startswith("hydra.run.dir=")]
    return args


def write_manifest(out_dir: Path, data: dict[str, Any], extra: dict[str, Any]) -> Path:
    """``manifest.json``: the command that recreates the directory, versions, git state, seeds
    and how they are derived, timings."""
    import shlex

    if _INVOCATION.get() is not None:  # a Python API call records its equivalent command line
        argv = invocation()[1:]
    else:
        try:
            argv = reproducing_argv()
        except ValueError:  # outside a Hydra job (tests calling a task directly)
            argv = []
    manifest = {
        "command": shlex.join(["gapsim", *argv]) if argv else None,
        "command_argv": argv,
        "argv": sys.argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "platform": platform.platform(),
        "versions": versions(),
        "git": git_state(),
        "model_version": _model_version(),
        "inputs": _inputs(data),
        "seeds": {
            "root_seed": data.get("seed"),
            "crn": data.get("crn"),
            "scheme": "keyed draws: hash(root_seed, replicate, salt, purpose, entity, counter) with "
                      "splitmix64 folding; salt 0 under crn, else the scenario name's hash; "
                      "purposes: sim.rng.PURPOSES",
        },
        **extra,
    }
    path = out_dir / "manifest.json"
    write_text_atomic(path, json.dumps(manifest, indent=2, default=str))
    return path


def _model_version() -> str | None:
    """The model's version (``sim.model.MODEL_VERSION``): run ids cover it too."""
    from sim.engine.experiment import DEFAULT_RUNNER
    from sim.engine.identity import model_version

    return model_version(DEFAULT_RUNNER)


def _inputs(data: dict[str, Any]) -> dict[str, Any]:
    """Input files the config names, with their SHA-256 (run ids cover their content)."""
    from sim.engine.identity import input_digests

    return input_digests(data)


def summary_table(runs, outcomes=SUMMARY_OUTCOMES, by: str = "scenario") -> str:
    """Mean [95% interval] per outcome and scenario, as aligned text, in the outcome table's
    words (``sim.outcomes``), with what the intervals can and cannot say at this many replicates."""
    from sim.engine.stats import MIN_RELIABLE_N, summarise
    from sim.outcomes import outcome

    present = [o for o in outcomes if o in runs.columns]
    table = summarise(runs, by=by, outcomes=present)
    lines = []
    for group, rows in table.groupby(by, sort=False):
        n = int(rows["n"].max())
        lines.append(f"{by} {group} ({n} replicate{'s' if n != 1 else ''}): mean [95% interval]")
        if n < 2:
            lines.append("  (one replicate: no interval can be computed; run replicates=10 or more)")
        elif n < MIN_RELIABLE_N:
            lines.append(f"  (intervals from fewer than {MIN_RELIABLE_N} replicates are unreliable)")
        for _, r in rows.iterrows():
            spec = outcome(r["outcome"])
            interval = (f"[{spec.display(r['ci_low'])}, {spec.display(r['ci_high'])}]"
                        if n > 1 else "")  # fmt: skip
            lines.append(f"  {spec.label[:52]:<52} {spec.display(r['mean']):>8}  {interval:<20} "
                         f"{spec.unit}")  # fmt: skip
    return "\n".join(lines)
