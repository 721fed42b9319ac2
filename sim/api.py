"""gapsim from Python: the command line's verbs as functions, for notebooks and model frameworks.

Why a second face rather than a second implementation: every function here takes the command
line's own configuration words (``"gap_width_km=6"`` strings, or the same as keyword arguments:
``gap_width_km=6``, ``model__n_fighters=200`` or ``**{"model.n_fighters": 200}``), checks them
with the command line's own check (``sim.commands.common.check_request``, so a bad word raises the
same one-line ``ConfigError``), and runs the command's own body (``run_into``, ``compare_into``,
``sweep_into``) into the same kind of output directory. A Python call therefore writes exactly
what ``gapsim run ...`` writes, records the equivalent ``gapsim`` command in its manifest, resumes
like the command line, and ``gapsim reproduce DIR`` reruns it. The tables come back as pandas
DataFrames.

``evaluate`` is the exception: one replicate in this process, no files, a dict of outcome scalars
back. It is a plain module-level function (picklable), so ``multiprocessing``, EMA Workbench and
optimisers can call the model directly.

Scripts that run replicates in worker processes (``workers`` other than 1, or a
``multiprocessing.Pool`` around ``evaluate``) need the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import json
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import ConfigError
from sim.results import CompareResult, RunResult, SweepResult, load

__all__ = ["CompareResult", "ConfigError", "ReplicatesFailed", "RunResult", "SweepResult",
           "compare", "config", "discover", "evaluate", "load", "model", "run", "sweep", "words"]

if TYPE_CHECKING:
    from sim.experiments.discover import Discovery
    from sim.model.model import SecurityGapModel

#: Config keys that change how many replicates run and where, never one replicate's outcomes:
#: ``evaluate`` refuses them rather than ignore them silently.
_NOT_FOR_EVALUATE = ("replicates", "workers", "executor", "retry_failed", "precision",
                     "min_replicates", "max_replicates", "scenarios", "baseline", "experiment",
                     "design_size")  # fmt: skip

#: A value that needs no quoting in a Hydra override.
_PLAIN = re.compile(r"^[A-Za-z0-9_.\-/+]+$")


# ------------------------------------------------------------------------------------- the words


def _word_value(value: Any) -> str:
    """A Python value as the command line would type it (Hydra override grammar)."""
    if hasattr(value, "item") and callable(value.item):  # numpy scalars from optimisers
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_word_value(v) for v in value) + "]"
    text = str(value)
    if _PLAIN.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _flatten(key: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flatten(f"{key}.{k}", v)
    else:
        yield key, value


def words(*overrides: str, **params: Any) -> list[str]:
    """The command-line words for overrides and keyword arguments.

    ``model__n_fighters=200`` and ``model={"n_fighters": 200}`` both give ``model.n_fighters=200``
    (``__`` spells the dot in a Python name, as in scikit-learn). A key given twice is refused.

    Raises:
        ConfigError: an override that is not ``key=value``, or a key given twice.
    """
    out: list[str] = []
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError("override", item, "overrides are 'key=value' strings "
                              "(e.g. 'gap_width_km=6'), or keyword arguments (gap_width_km=6)")
        out.append(item)
    for name, value in params.items():
        for key, leaf in _flatten(name.replace("__", "."), value):
            out.append(f"{key}={_word_value(leaf)}")
    seen: dict[str, str] = {}
    for item in out:
        key = item.partition("=")[0].lstrip("+~")
        if key in seen:
            raise ConfigError(key, [seen[key], item.partition("=")[2]], "given twice; give it once")
        seen[key] = item.partition("=")[2]
    return out


def _split_out_dir(items: list[str], out_dir: str | Path | None) -> tuple[list[str], Path | None]:
    """Take ``hydra.run.dir=...`` out of the words; refuse other ``hydra.*`` words."""
    rest: list[str] = []
    for item in items:
        key, _, value = item.partition("=")
        key = key.lstrip("+~")
        if key == "hydra.run.dir":
            if out_dir is not None:
                raise ConfigError(key, value, "give the output directory once (out_dir=...)")
            out_dir = value
        elif key.startswith("hydra.") or key == "hydra":
            raise ConfigError(key, value, "the Python API takes out_dir=...; other hydra.* "
                              "settings (launchers, multirun) are for the command line")
        else:
            rest.append(item)
    return rest, Path(out_dir) if out_dir is not None else None


def _default_out_dir(command: str) -> Path:
    """``results/<command>/<timestamp>`` as the command line's default, never an existing one
    (two calls in the same second must not resume each other)."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    base = Path("results") / command / stamp
    path, n = base, 1
    while path.exists():
        path = base.with_name(f"{stamp}_{n}")
        n += 1
    return path


def config(*overrides: str, **params: Any) -> dict[str, Any]:
    """The validated, resolved configuration the words select (a plain dict)."""
    from sim.config.load import compose_config

    return compose_config(words(*overrides, **params))


# ---------------------------------------------------------------------------------- the verbs


class ReplicatesFailed(RuntimeError):
    """Some replicates raised; the completed ones are kept in ``out_dir`` (rerun to resume).

    Attributes:
        out_dir: the run directory; ``out_dir/shards/failures`` holds one record per failure.
    """

    def __init__(self, out_dir: Path, command: str) -> None:
        self.out_dir = out_dir
        super().__init__(f"{command}: replicates failed; details in {out_dir / 'shards' / 'failures'}"
                         f"; the completed ones are kept; call again with retry_failed=True")


@contextlib.contextmanager
def _keep_plotting_backend() -> Iterator[None]:
    """The commands draw their figures with Agg (``sim.analysis`` selects it) and save them; a
    notebook that called them keeps its own backend (inline plots) and shows only its own."""
    mpl = sys.modules.get("matplotlib")
    before = mpl.get_backend(auto_select=False) if mpl is not None else None
    pyplot = sys.modules.get("matplotlib.pyplot")
    open_before = set(pyplot.get_fignums()) if pyplot is not None else set()
    try:
        yield
    finally:
        pyplot = sys.modules.get("matplotlib.pyplot")
        for number in set(pyplot.get_fignums() if pyplot is not None else ()) - open_before:
            pyplot.close(number)  # the command's figures are in files; the notebook shows its own
        if before is not None and mpl.get_backend(auto_select=False) != before:
            mpl.use(before)
            shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
            if shell is not None and "inline" in before:
                shell.enable_matplotlib("inline")  # re-registers the hook that shows figures


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    if verbose:
        yield
    else:
        with contextlib.redirect_stdout(io.StringIO()):
            yield


def _execute(command: str, overrides: Sequence[str], params: dict[str, Any],
             out_dir: str | Path | None, verbose: bool) -> Path:
    """Check the words as the command line does, then run the command's body into a directory."""
    from sim.cli import _check_output_dir
    from sim.commands.common import check_request, invoked_as

    items, chosen = _split_out_dir(words(*overrides, **params), out_dir)
    cfg, _ = check_request(command, items)
    target = chosen if chosen is not None else _default_out_dir(command)
    _check_output_dir([f"hydra.run.dir={target}"], False, command)
    command_line = ["gapsim", command, *items, f"hydra.run.dir={target}"]
    with invoked_as(command_line), _quiet(verbose), _keep_plotting_backend():
        if command == "run":
            from sim.commands.run import run_into

            code = run_into(cfg, target)
        elif command == "compare":
            from sim.commands.compare import compare_into

            code = compare_into(cfg, target, items)
        else:
            from sim.commands.sweep import sweep_into

            code = sweep_into(cfg, target, items)
    if code:
        raise ReplicatesFailed(target, command)
    return target


def run(*overrides: str, out_dir: str | Path | None = None, verbose: bool = True,
        **params: Any) -> RunResult:
    """``gapsim run``: one scenario, ``replicates`` Monte Carlo replicates.

    Args:
        *overrides: command-line words, e.g. ``"gap_width_km=6"``.
        out_dir: the run directory (default ``results/run/<timestamp>``); an existing run
            directory resumes.
        verbose: print what the command prints (summary table, output path).
        **params: the same words as keyword arguments (``replicates=4``, ``model__n_fighters=200``).

    Returns:
        ``RunResult``: ``runs``, ``timeseries``, ``incidents``, ``summary``, ``out_dir``.

    Raises:
        ConfigError: a bad word (the command line's one-line message).
        ReplicatesFailed: some replicates raised (the others are kept).
    """
    return RunResult(_execute("run", overrides, params, out_dir, verbose))


def compare(*overrides: str, out_dir: str | Path | None = None, verbose: bool = True,
            **params: Any) -> CompareResult:
    """``gapsim compare``: scenarios with the same replicate ids, paired differences, a report.

    Name the scenarios as on the command line: ``compare(scenarios=["status_quo_2019",
    "joint_brigades"], baseline="status_quo_2019", replicates=10)``. Other arguments as ``run``.

    Returns:
        ``CompareResult``: ``summary``, ``differences``, ``runs``, ``report``, ``out_dir``, ...
    """
    return CompareResult(_execute("compare", overrides, params, out_dir, verbose))


def sweep(*overrides: str, out_dir: str | Path | None = None, verbose: bool = True,
          **params: Any) -> SweepResult:
    """``gapsim sweep``: a study from ``experiments/`` (design x replicates) with its figures.

    ``sweep(experiment="gap_vs_coordination", design_size=3, replicates=2, days=60)``; the
    experiment may also be a path to a study file. Other arguments as ``run``.

    Returns:
        ``SweepResult``: ``table`` (one row per design point and replicate), ``summary``,
        ``design``, ``indices``, ``figures``, ``out_dir``.
    """
    return SweepResult(_execute("sweep", overrides, params, out_dir, verbose))


def discover(directory: str | Path | RunResult, outcome: str, threshold: float | str, *,
             verbose: bool = True, **options: Any) -> Discovery:
    """``gapsim discover``: PRIM boxes of a finished sweep where ``outcome`` crosses ``threshold``.

    Args:
        directory: the sweep's directory (or the ``SweepResult`` of ``sweep``).
        threshold: a number, or ``"p75"`` for a percentile of the outcome.
        **options: as on the command line (``direction="below"``, ``per="quarter"``,
            ``on="points"``, ``min_coverage=0.6``, ``boxes=2``, ``box=12``, ``out=...``).

    Returns:
        ``Discovery``: ``boxes`` (limits, quasi-p, coverage, density), ``sentence(box)``,
        ``limits_table()``, ``trajectory_table()``; the figure and tables are written too.
    """
    from sim.commands.discover import discover_into

    where = directory.out_dir if isinstance(directory, RunResult) else directory
    args = [str(where), f"outcome={outcome}", f"threshold={threshold}"]
    args += [f"{k}={v}" for k, v in options.items()]
    with _keep_plotting_backend():
        return discover_into(args, verbose=verbose)


def model(*overrides: str, replicate: int = 0, **params: Any) -> SecurityGapModel:
    """A ready ``SecurityGapModel`` for the words, for step-by-step work (``m.step()``).

    Args:
        replicate: replicate id; with ``seed`` it fixes every random stream (as in ``run``).
    """
    from sim.config.load import load_config
    from sim.model.model import SecurityGapModel

    _, cfg = load_config(words(*overrides, **params))
    if "private_grid" in inspect.signature(SecurityGapModel).parameters:
        # several models may live at once in a notebook: none may take over another's grid
        return SecurityGapModel(cfg, int(replicate), private_grid=True)
    return SecurityGapModel(cfg, int(replicate))


# ----------------------------------------------------------------------------- evaluate (picklable)


@functools.lru_cache(maxsize=128)
def _resolved(items: tuple[str, ...]) -> str:
    """The resolved config for a tuple of words, as JSON (composition costs ~1 s; reuse it)."""
    from sim.config.load import compose_config

    return json.dumps(compose_config(list(items)))


def evaluate(params: Mapping[str, Any] | None = None, /, *, replicate: int = 0,
             **kwargs: Any) -> dict[str, Any]:
    """One replicate in this process: parameters in, a dict of outcome scalars out.

    A plain module-level function, so it pickles by reference: use it as EMA Workbench's model
    function, in ``multiprocessing.Pool.map`` (one dict of parameters per call) or inside an
    optimiser's objective. It writes no files; the outcomes equal the ``runs.parquet`` row of
    ``gapsim run`` with the same words, seed and replicate.

    Args:
        params: parameters as a mapping (``{"gap_width_km": 6, "model.n_fighters": 200}``); it
            may hold ``replicate`` too.
        replicate: replicate id (the random streams are ``(seed, replicate, purpose)``).
        **kwargs: more parameters: any top-level key (``gap_width_km``, ``coordination``,
            ``scenario``, ``days``, ``seed``, ``terrain``, ...) or ``model.<name>`` (spelled
            ``model__<name>`` as a Python keyword).

    Returns:
        The runner's outcome row (every outcome column of ``runs.parquet``), as Python scalars.

    Raises:
        ConfigError: a bad word, or a key that does not apply to one replicate (``replicates``).
    """
    merged = {**dict(params or {}), **kwargs}
    replicate = merged.pop("replicate", replicate)  # Pool.map passes one mapping with it all
    items = words(**merged)
    for item in items:
        key = item.partition("=")[0].lstrip("+~").split(".")[0]
        if key in _NOT_FOR_EVALUATE or key == "hydra":
            raise ConfigError(key, item.partition("=")[2], "does not apply to evaluate, which runs "
                              "one replicate here (choose it with replicate=<id>)")
    if isinstance(replicate, bool) or not isinstance(replicate, int) or replicate < 0:
        raise ConfigError("replicate", replicate, "must be a whole number >= 0")
    from sim.model.runner import run_replicate

    output = run_replicate(json.loads(_resolved(tuple(items))), int(replicate))
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in output.run.items()}
