"""ABC-SMC calibration of the 2020 status quo with pyabc, against targets with an explicit
observation error.

Why this form: the sources give a handful of noisy 2020 numbers (``sim.validation.targets``),
not a likelihood. pyabc's stochastic acceptor with an independent normal kernel treats each
target as ``observed = simulated + error``, error ~ N(0, sd^2) with the sd each target states, and
its temperature schedule ends at temperature 1, where the accepted particles are a sample of the
exact posterior under that error model (Wilkinson 2013; pyabc's "exact inference" variant). If a
budget (simulations, wall time) stops the run before temperature 1, the posterior is *tempered*
(wider than the exact one); the final temperature is recorded and printed.

What is calibrated is read from a study file (``experiments/validation/<name>.yaml``): the
scenario and base overrides, the uncertain parameters and their priors (``parameters``, checked
against ModelParams metadata), the targets, replicates per particle and the ABC budget. Entries of
per-level coordination tables at levels the calibration scenario never uses cannot be informed by
the 2020 targets: they are left out of the ABC and their posterior is their prior (independent
draws appended to each particle), which is exact, and says so in the file.

Everything here is model-agnostic: a particle's values are set into a resolved config dict and run
through ``sim.model.runner.run_replicate``; the model is never imported directly.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import ConfigError, RunError
from sim.validation import parameters as pm
from sim.validation import targets as tg

#: Where calibration, validation and sensitivity specs live (not ``gapsim sweep`` studies).
SPEC_DIR: Path = Path(__file__).resolve().parents[2] / "experiments" / "validation"

_TOP = ("name", "description", "scenario", "base", "replicates", "parameters", "targets", "abc",
        "output")
_ABC = ("population", "generations", "max_simulations", "min_acceptance", "seed", "predictive")


@dataclass(frozen=True)
class Budget:
    """ABC-SMC budget. ``generations`` populations at most; stop early after
    ``max_simulations`` model evaluations or when acceptance falls below ``min_acceptance``."""

    population: int = 100
    generations: int = 6
    max_simulations: int = 20000
    min_acceptance: float = 0.002
    seed: int = 2020
    predictive: int = 40


@dataclass(frozen=True)
class CalibrationSpec:
    """A validated calibration study."""

    name: str
    path: Path
    sha256: str
    description: str
    scenario: str
    base: dict[str, Any]
    replicates: int
    parameters: tuple[pm.Uncertain, ...]
    targets: tuple[tg.Target, ...]
    budget: Budget
    output: str

    def overrides(self) -> list[str]:
        from sim.experiments.study import _override_value

        return [f"scenario={self.scenario}",
                *(f"{k}={_override_value(v)}" for k, v in self.base.items())]


def spec_path(name: str) -> Path:
    from sim.validation.calibration import safe_name

    if not safe_name(name) or "." in name:
        raise ConfigError("study", name, "must be a plain name of a file in experiments/validation/")
    path = SPEC_DIR / f"{name}.yaml"
    if not path.is_file():
        have = ", ".join(sorted(p.stem for p in SPEC_DIR.glob("*.yaml")))
        raise ConfigError("study", name, f"no experiments/validation/{name}.yaml (have: {have})")
    return path


def _int(key: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(key, value, f"must be a whole number >= {low}")
    return value


def load_spec(name: str, changes: Mapping[str, Any] | None = None) -> CalibrationSpec:
    """Read and check ``experiments/validation/<name>.yaml``; ``changes`` override the budget
    (``population``, ``generations``, ...) and ``replicates`` from the command line."""
    import yaml

    from sim.validation.calibration import safe_name

    path = spec_path(name)
    raw = path.read_bytes()
    data = yaml.safe_load(raw.decode("utf-8"))
    where = f"(in experiments/validation/{path.name})"
    if not isinstance(data, dict):
        raise ConfigError("study", str(path), "a calibration study is a mapping")
    for key in data:
        if key not in _TOP:
            raise ConfigError(str(key), data[key], f"unknown key; allowed: {', '.join(_TOP)} {where}")
    abc = dict(data.get("abc") or {})
    for key in abc:
        if key not in _ABC:
            raise ConfigError(f"abc.{key}", abc[key], f"unknown key; allowed: {', '.join(_ABC)} {where}")
    changes = dict(changes or {})
    abc.update({k: v for k, v in changes.items() if k in _ABC})
    budget = Budget(**{k: v for k, v in abc.items()})
    for key in ("population", "generations", "max_simulations", "predictive"):
        _int(key, getattr(budget, key), 1)
    _int("seed", budget.seed, 0)
    if not 0.0 <= float(budget.min_acceptance) < 1.0:
        raise ConfigError("min_acceptance", budget.min_acceptance, "must be in [0, 1)")
    replicates = _int("replicates", changes.get("replicates", data.get("replicates", 2)), 1)
    output = data.get("output", name)
    if not safe_name(output) or "." in output:
        raise ConfigError("output", output, f"must be a plain name (the posterior's file name) {where}")
    base = data.get("base") or {}
    if not isinstance(base, dict):
        raise ConfigError("base", base, f"a mapping of config keys to values {where}")
    return CalibrationSpec(
        name=str(data.get("name", name)), path=path, sha256=hashlib.sha256(raw).hexdigest(),
        description=str(data.get("description", "")).strip(),
        scenario=str(data.get("scenario", "status_quo_2019")), base=dict(base),
        replicates=replicates, parameters=tuple(pm.parse(data.get("parameters"), where)),
        targets=tuple(tg.select(data.get("targets"))), budget=budget, output=str(output))


# ------------------------------------------------------------------------------- the model


def active_levels(config: Mapping[str, Any]) -> set[int]:
    """Coordination levels whose table entries a config's runs read (interpolation uses the
    level below and, for fractional levels, the one above; timeline events add theirs)."""
    from sim.model.params import coordination_value

    values = [coordination_value(config.get("coordination", "none"))]
    for ev in (config.get("scenario") or {}).get("timeline") or []:
        if ev.get("coordination") is not None:
            values.append(coordination_value(ev["coordination"]))
    out: set[int] = set()
    for v in values:
        out.add(int(math.floor(v)))
        if v != math.floor(v):
            out.add(int(math.floor(v)) + 1)
    return out


def split_informed(items: Sequence[pm.Uncertain], config: Mapping[str, Any]
                   ) -> tuple[list[pm.Uncertain], list[pm.Uncertain]]:
    """(items the targets can inform, table entries of levels the scenario never uses)."""
    active = active_levels(config)
    informed, prior_only = [], []
    for u in items:
        (prior_only if (u.level is not None and u.level not in active) else informed).append(u)
    return informed, prior_only


def particle_seed(root: int, values: Mapping[str, float]) -> int:
    """A simulation seed keyed by the particle's values: the same particle always simulates the
    same replicates, so a resumed or repeated calibration does not depend on worker order."""
    text = json.dumps({k: float(v) for k, v in sorted(values.items())}, sort_keys=True)
    return (int(root) * 1_000_003 + int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)) % 2**62


@dataclass
class Simulator:
    """pyabc's model: particle values -> target summaries over ``replicates`` replicates.

    Picklable (a plain dataclass) so pyabc's multicore sampler can ship it to its workers.
    """

    base: dict[str, Any]
    items: list[pm.Uncertain]
    names: dict[str, str]
    targets: list[tg.Target]
    replicates: int
    root_seed: int
    runner: str = "sim.model.runner:run_replicate"
    calls: int = field(default=0)

    def config_for(self, values: Mapping[str, float]) -> dict[str, Any]:
        cfg = pm.apply(self.base, values, self.items)
        cfg["seed"] = particle_seed(self.root_seed, values)
        return cfg

    def runs(self, values: Mapping[str, float]) -> pd.DataFrame:
        from sim.engine.worker import resolve_runner

        run = resolve_runner(self.runner)
        cfg = self.config_for(values)
        return pd.DataFrame([run(cfg, r).run for r in range(self.replicates)])

    def __call__(self, par: Mapping[str, float]) -> dict[str, float]:
        values = {self.names[k]: float(v) for k, v in par.items()}
        self.calls += 1
        return tg.summaries(self.runs(values), float(self.base["days"]), self.targets)


# --------------------------------------------------------------------------------- the run


@dataclass
class Result:
    """What ``run_abc`` returns."""

    keys: list[str]
    values: np.ndarray
    weights: np.ndarray
    informed: list[str]
    prior_only: list[str]
    generations: int
    temperature: float
    simulations: int
    acceptance: list[float]
    history_db: str
    epsilons: list[float] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return bool(abs(self.temperature - 1.0) < 1e-9)


def _pyabc_names(items: Sequence[pm.Uncertain]) -> dict[str, str]:
    """pyabc-safe parameter names (``p00``...) -> canonical keys."""
    return {f"p{i:02d}": u.key for i, u in enumerate(items)}


def run_abc(spec: CalibrationSpec, base: dict[str, Any], out_dir: Path, workers: int = 1,
            progress: bool = True, runner: str = "sim.model.runner:run_replicate") -> Result:
    """Run (or resume) ABC-SMC into ``out_dir/abc.db`` and return the final population.

    Resume: an existing ``abc.db`` whose stored study digest matches continues from its last
    population up to ``spec.budget.generations``; a digest mismatch is refused (start a new
    directory). Budgets: ``generations`` in all, ``max_simulations`` model evaluations in all.
    """
    import logging

    import pyabc

    for name in ("ABC", "Sampler", "Epsilon", "Acceptor", "Distance", "History", "Population",
                 "Adaptation"):
        logging.getLogger(f"ABC.{name}" if name != "ABC" else "ABC").setLevel(
            logging.INFO if progress else logging.WARNING)
    informed, prior_only = split_informed(spec.parameters, base)
    if not informed:
        raise ConfigError("parameters", [u.key for u in spec.parameters],
                          "none can be informed by the targets in this scenario")
    names = _pyabc_names(informed)
    sim = Simulator(base, list(informed), names, list(spec.targets), spec.replicates,
                    spec.budget.seed, runner)
    prior = pyabc.Distribution(**{n: pyabc.RV(*u.prior())
                                  for n, u in zip(names, informed, strict=True)})
    kernel = pyabc.IndependentNormalKernel(var=[t.sd**2 for t in spec.targets],
                                           keys=[t.name for t in spec.targets])
    if workers > 1:
        sampler = pyabc.sampler.MulticoreEvalParallelSampler(n_procs=workers)
    else:
        sampler = pyabc.sampler.SingleCoreSampler()
    np.random.seed(spec.budget.seed % 2**32)  # noqa: NPY002 - pyabc samples its priors from the legacy global generator
    abc = pyabc.ABCSMC(sim, prior, kernel, population_size=spec.budget.population,
                       eps=pyabc.Temperature(), acceptor=pyabc.StochasticAcceptor(),
                       sampler=sampler)
    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "abc.db"
    db = f"sqlite:///{db_path}"
    stamp = {"study_sha256": spec.sha256, "keys": [u.key for u in informed],
             "replicates": spec.replicates, "days": base["days"], "seed": spec.budget.seed,
             "config_sha256": hashlib.sha256(json.dumps(base, sort_keys=True, default=str)
                                             .encode()).hexdigest()}
    stamp_path = out_dir / "abc_study.json"
    if db_path.is_file() and stamp_path.is_file():
        old = json.loads(stamp_path.read_text())
        if old != stamp:
            raise ConfigError("hydra.run.dir", str(out_dir),
                              "holds an ABC run of another study, configuration or budget seed; "
                              "use a new directory")
        history = abc.load(db, 1)
        done = history.max_t + 1
    else:
        if db_path.exists():
            db_path.unlink()
        abc.new(db, tg.observed(spec.targets), meta_info={"gapsim_study": spec.name})
        stamp_path.write_text(json.dumps(stamp, indent=1))
        done = 0
    remaining = spec.budget.generations - done
    if remaining > 0:
        try:
            history = abc.run(max_nr_populations=remaining,
                              max_total_nr_simulations=spec.budget.max_simulations,
                              min_acceptance_rate=spec.budget.min_acceptance)
        except AssertionError as err:
            if "not normalized" not in str(err):
                raise
            # pyabc's proposal density underflows to 0 for a population whose weights sit on one
            # or two particles (measured: 21 informed parameters, population 50, ESS 1.1-1.6 at
            # generations 1-2, then NaN weights at generation 3); the finished generations stay
            # in the history.
            raise RunError(
                db_path,
                f"the ABC population degenerated (its weights could not be normalised: {err}) "
                f"with {len(informed)} informed parameters and population {spec.budget.population}",
                f"rerun into a new directory with a larger population= (several times "
                f"{len(informed)}); the finished generations are kept in {db_path.name}",
                exit_code=2,
            ) from None
    else:
        history = abc.history
    t = history.max_t
    df, w = history.get_distribution(m=0, t=t)
    pops = history.get_all_populations()
    pops = pops[pops["t"] >= 0]
    temps = [float(e) for e in pops["epsilon"]]
    acc = [float(p) / float(s) if s else math.nan for p, s in
           zip([spec.budget.population] * len(pops), pops["samples"], strict=True)]
    informed_keys = [names[c] for c in df.columns]
    values = df.to_numpy(dtype=float)
    # Table entries of unused levels: their prior, drawn independently for each particle.
    rng = np.random.default_rng(np.random.SeedSequence(spec.budget.seed, spawn_key=(0x5052,)))
    extra = np.column_stack([[u.from_unit(x) for x in rng.random(len(values))]
                             for u in prior_only]) if prior_only else np.empty((len(values), 0))
    keys = informed_keys + [u.key for u in prior_only]
    all_values = np.hstack([values, extra])
    items = {u.key: u for u in spec.parameters}
    for j, key in enumerate(keys):  # integer parameters are simulated rounded: store them so
        if items[key].integer:
            all_values[:, j] = np.round(all_values[:, j])
    return Result(keys, all_values, np.asarray(w, dtype=float), informed_keys,
                  [u.key for u in prior_only], int(t) + 1, temps[-1] if temps else math.nan,
                  int(history.total_nr_simulations), acc, str(db_path), temps)


def predictive(spec: CalibrationSpec, base: dict[str, Any], result: Result, draws: int,
               runner: str = "sim.model.runner:run_replicate") -> pd.DataFrame:
    """Posterior predictive samples: ``draws`` weighted draws, each simulated afresh with new
    seeds (``replicates`` replicates), one row of target summaries per draw."""
    items = pm.items_for(result.keys)
    names = {u.key: u.key for u in items}
    sim = Simulator(base, items, names, list(spec.targets), spec.replicates,
                    spec.budget.seed + 7919, runner)
    rng = np.random.default_rng(np.random.SeedSequence(spec.budget.seed, spawn_key=(0x5050,)))
    idx = rng.choice(len(result.weights), size=draws, p=result.weights / result.weights.sum())
    from sim.engine.worker import resolve_runner

    run = resolve_runner(sim.runner)
    rows = []
    for k, i in enumerate(idx):
        values = dict(zip(result.keys, result.values[i], strict=True))
        cfg = sim.config_for(values)
        cfg["seed"] = (cfg["seed"] + k) % 2**62
        runs = pd.DataFrame([run(cfg, r).run for r in range(spec.replicates)])
        rows.append({"draw": int(i), **tg.summaries(runs, float(base["days"]), spec.targets)})
    return pd.DataFrame(rows)
