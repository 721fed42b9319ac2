"""`gapsim calibrate [study=NAME] [write=true] [budget and config overrides] [hydra.run.dir=DIR]`:
ABC-SMC calibration with an explicit observation error, writing a posterior with provenance.

Why a command of its own (``gapsim calibrate DIR`` stays the post-processing of a Latin-hypercube
sweep): it runs the model, resumes, and produces the file ``parameters=posterior`` reads. Steps:

1. read ``experiments/validation/<study>.yaml`` (parameters and priors, targets, budget) and
   compose the scenario's config with the overrides (every value checked before any work);
2. run or resume ABC-SMC (``sim.validation.abc``) into ``DIR/abc.db``;
3. simulate ``predictive`` posterior draws afresh: the posterior predictive check
   (``DIR/predictive.csv``, ``DIR/figures/posterior_predictive.png``) and the marginals;
4. write ``DIR/posterior.yaml`` (particles, weights, provenance, the check) -- and with
   ``write=true`` the same text to ``configs/posterior/<output>.yaml``, after re-validating it.

Budget keys: population, generations, max_simulations, min_acceptance, seed (of the ABC),
predictive, replicates; ``workers`` (1: in process; more: pyabc's multicore sampler);
anything else is a config override (``days=60``, ``terrain=qarachogh``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import ConfigError

_BUDGET = ("population", "generations", "max_simulations", "min_acceptance", "seed",
           "predictive", "replicates")
_OWN = ("study", "write", "workers", "progress")
DEFAULT_STUDY = "calibration_2020"


def _number(key: str, text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(key, text, "must be a number") from None


def abc_command(args: list[str]) -> int:
    """Entry point (dispatched by ``sim.commands.calibrate.calibrate_command``)."""
    from sim.commands.calibrate import _flag
    from sim.commands.common import git_state, versions, write_text_atomic
    from sim.config.load import compose_config
    from sim.validation import abc, posterior
    from sim.validation import parameters as pm
    from sim.validation import targets as tg

    started = time.perf_counter()
    own: dict[str, str] = {}
    budget: dict[str, Any] = {}
    overrides: list[str] = []
    out_dir: Path | None = None
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise ConfigError("calibrate", arg, "give key=value options (or one sweep directory)")
        if key == "hydra.run.dir":
            out_dir = Path(value).expanduser()
        elif key in _OWN:
            own[key] = value
        elif key in _BUDGET:
            budget[key] = _number(key, value)
        elif key.lstrip("+~").startswith("hydra."):
            raise ConfigError(key, value, "gapsim calibrate takes hydra.run.dir= only")
        else:
            overrides.append(arg)
    write = _flag("write", own.get("write", "false"))
    progress = _flag("progress", own.get("progress", "true"))
    spec = abc.load_spec(own.get("study", DEFAULT_STUDY), budget)
    workers = _number("workers", own.get("workers", "0"))
    if not isinstance(workers, int) or workers < 0:
        raise ConfigError("workers", workers, "must be 0 (all cores) or a positive whole number")
    if workers == 0:
        from sim.engine.executors import available_cpus

        workers = available_cpus()
    base = compose_config([*spec.overrides(), *overrides])
    if base.get("parameters", "point") != "point":
        raise ConfigError("parameters", base.get("parameters"),
                          "calibration starts from the point estimate: leave parameters=point")
    for u in spec.parameters:  # both ends of every prior give a valid configuration
        for end in (u.low, u.high):
            pm.check_values(pm.apply(base, {u.key: end}, [u]))
    if out_dir is None:
        out_dir = Path("results") / "calibrate" / dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    target_file = posterior.posterior_path(spec.output) if write else None
    _check_dir(out_dir)

    print(f"calibrating {spec.scenario} with {spec.name} ({len(spec.parameters)} parameters, "
          f"{len(spec.targets)} targets): population {spec.budget.population}, up to "
          f"{spec.budget.generations} generations and {spec.budget.max_simulations} simulations, "
          f"{spec.replicates} replicate(s) x {base['days']} days per particle, {workers} worker(s); "
          f"history {out_dir / 'abc.db'} (rerun into the same directory to resume)", flush=True)
    result = abc.run_abc(spec, base, out_dir, workers=workers, progress=progress)
    state = "exact (temperature 1)" if result.exact else \
        f"TEMPERED (final temperature {result.temperature:.3g} > 1: wider than the exact posterior)"
    post_ess = float(1.0 / np.sum((result.weights / result.weights.sum()) ** 2))
    print(f"ABC done: {result.generations} generations, {result.simulations} simulations, "
          f"posterior {state}, ESS {post_ess:.0f} of {len(result.weights)}", flush=True)
    if post_ess < 0.1 * len(result.weights):
        print(f"WARNING: the weights are degenerate (ESS {post_ess:.1f} of {len(result.weights)}): "
              f"the posterior is close to a few points; raise population (and generations) "
              f"before shipping it", flush=True)

    samples = abc.predictive(spec, base, result, spec.budget.predictive)
    table = tg.predictive_table(samples, list(spec.targets))
    samples.to_csv(out_dir / "predictive_samples.csv", index=False)
    table.to_csv(out_dir / "predictive.csv", index=False)
    from sim.validation.figures import plot_marginals, plot_predictive

    fig = plot_predictive(samples, table, out_dir / "figures" / "posterior_predictive.png")
    items = {u.key: u for u in spec.parameters}
    frame = _frame(result)
    frame.to_csv(out_dir / "posterior_particles.csv", index=False)
    plot_marginals(frame, result.informed, {k: (items[k].low, items[k].high)
                                             for k in result.informed},
                   out_dir / "figures" / "posterior_marginals.png")
    print(f"{'target':<28} {'observed':>9} {'pred. 90% band':>22}  covered")
    for _, r in table.iterrows():
        print(f"{r['target']:<28} {r['observed']:>9.3g} "
              f"{'[' + format(r['pred_low'], '.3g') + ', ' + format(r['pred_high'], '.3g') + ']':>22}"
              f"  {'yes' if r['covered'] else 'NO'}")
    covered = int(table["covered"].sum())

    from sim.model import MODEL_VERSION

    meta = {
        "name": spec.output,
        "created": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "model_version": MODEL_VERSION,
        "git": git_state(),
        "versions": versions() | {"pyabc": _version("pyabc")},
        "command": "gapsim calibrate " + " ".join(args),
        "run_dir": str(out_dir.resolve()),
        "study": {"name": spec.name, "file": f"experiments/validation/{spec.path.name}",
                  "sha256": spec.sha256},
        "scenario": spec.scenario, "terrain": (base.get("terrain") or {}).get("name"),
        "days": base["days"], "replicates_per_particle": spec.replicates,
        "seed": spec.budget.seed, "coordination": base.get("coordination"),
        "targets": tg.as_mapping(list(spec.targets)),
        "parameters": pm.describe(spec.parameters),
        "informed": result.informed, "prior_only": result.prior_only,
        "abc": {"method": "pyabc ABC-SMC, StochasticAcceptor + IndependentNormalKernel "
                          "(observation error s.d. per target), Temperature schedule",
                "population": spec.budget.population, "generations": result.generations,
                "simulations": result.simulations, "final_temperature": result.temperature,
                "exact": result.exact, "temperatures": result.epsilons,
                "acceptance_rates": result.acceptance, "ess": round(post_ess, 1),
                "budget": {"generations": spec.budget.generations,
                           "max_simulations": spec.budget.max_simulations,
                           "min_acceptance": spec.budget.min_acceptance}},
        "predictive": {"draws": spec.budget.predictive, "covered": covered,
                       "targets": {r["target"]: {"observed": round(float(r["observed"]), 5),
                                                 "pred90": [round(float(r["pred_low"]), 5),
                                                            round(float(r["pred_high"]), 5)],
                                                 "covered": bool(r["covered"])}
                                   for _, r in table.iterrows()}},
    }
    header = [f"Posterior {spec.output}: generated by `gapsim calibrate` -- do not edit by hand.",
              f"Study experiments/validation/{spec.path.name}; {result.generations} generations, "
              f"{result.simulations} simulations; {state}.",
              "Used by parameters=posterior (sim/validation/posterior.py); provenance below."]
    text = posterior.to_yaml(_plain(meta), result.keys, result.values, result.weights, header)
    written = posterior.write(out_dir / "posterior.yaml", text)
    print(f"wrote {out_dir / 'posterior.yaml'} ({written.size} particles, sha "
          f"{written.sha256[:12]}), {fig} and {out_dir / 'predictive.csv'}")
    if target_file is not None:
        shipped = posterior.write(target_file, text)
        print(f"wrote {target_file} (sha {shipped.sha256[:12]}): parameters=posterior now uses it")
    write_text_atomic(out_dir / "manifest.json", json.dumps(
        {**_plain(meta), "timings_s": {"total": round(time.perf_counter() - started, 1)}},
        indent=1, default=str))
    print(f"predictive check: {covered} of {len(table)} targets covered by the 90% band")
    print(f"output: {out_dir}")
    return 0


def _frame(result):
    import pandas as pd

    frame = pd.DataFrame(result.values, columns=result.keys)
    frame["weight"] = result.weights / result.weights.sum()
    return frame


def _check_dir(path: Path) -> None:
    import os

    probe = path.resolve()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError("hydra.run.dir", str(path), f"cannot write there ({probe})")


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def _plain(value: Any) -> Any:
    from sim.commands.calibrate import _plain as plain

    return plain(value)
