"""The shipped posterior: its file, one draw per plausible world, and the overlay on a replicate.

Why: with ``parameters=point`` (the default) every replicate runs the point estimate -- the
ModelParams defaults and the scenario's own values -- and a comparison's intervals show run-to-run
noise only. With ``parameters=posterior`` every *world* gets one parameter set drawn from the
ABC posterior (``configs/posterior/<name>.yaml``, written by ``gapsim calibrate``), the same set
for every arm of that world, so a report can say in how many plausible worlds a scenario does
better, and how much of the spread is parameter uncertainty rather than noise.

Worlds and replicates: replicates ``2w`` and ``2w + 1`` form world ``w`` (``REPLICATES_PER_WORLD``)
and share its draw. The pair measures run-to-run noise at fixed parameters; the spread between
worlds measures parameter uncertainty (a one-way random-effects decomposition, ``plausible_worlds``).
A world's draw is keyed by the root seed and the world id only -- never by the scenario -- so every
arm of a replicate runs the same parameters, whatever the executor, worker count or order.

The file carries particles (values for canonical keys, ``sim.validation.parameters``) and
weights, plus its provenance. It is read, checked and cached per process by path and content.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.errors import ConfigError

if TYPE_CHECKING:  # pandas is imported where used: config validation imports this module
    import pandas as pd

#: File format tag written into and required from every posterior file.
FORMAT = "gapsim-posterior/1"
#: The posterior ``parameters=posterior`` uses (``configs/posterior/<DEFAULT>.yaml``).
DEFAULT = "status_quo_2020"
#: Replicates that share one posterior draw (one plausible world).
REPLICATES_PER_WORLD = 2
#: Fewer worlds than this: the report does not split the spread (the variance estimates of a
#: handful of worlds are noise themselves).
MIN_WORLDS_FOR_SPLIT = 5
#: Values of the top-level ``parameters`` key.
CHOICES = ("point", "posterior")
#: Spawn-key tag of the posterior draw stream (kept apart from the model's purposes).
_PURPOSE = 0x5057  # "PW"


def posterior_dir() -> Path:
    from sim.config import load

    return load.CONFIG_DIR / "posterior"


def posterior_path(name: str = DEFAULT) -> Path:
    """``configs/posterior/<name>.yaml`` for a plain name (no path, no traversal)."""
    from sim.validation.calibration import safe_name

    if not safe_name(name) or "." in name:
        raise ConfigError("posterior", name, "must be a plain name (letters, digits, _ and -)")
    return posterior_dir() / f"{name}.yaml"


@dataclass(frozen=True)
class Posterior:
    """A weighted particle set over canonical parameter keys.

    Attributes:
        keys: canonical keys (columns of ``values``).
        values: particles x keys.
        weights: normalised weights (sum 1).
        meta: the file's other fields (provenance, targets, parameters, predictive check).
        sha256: digest of the file's bytes (recorded with every run that uses it).
    """

    keys: tuple[str, ...]
    values: np.ndarray
    weights: np.ndarray
    meta: dict[str, Any]
    sha256: str

    @property
    def size(self) -> int:
        return len(self.weights)

    def ess(self) -> float:
        """Effective sample size of the weights."""
        return float(1.0 / np.sum(self.weights**2))

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        out = pd.DataFrame(self.values, columns=list(self.keys))
        out["weight"] = self.weights
        return out

    def draw_index(self, seed: int, world: int) -> int:
        """The particle of world ``world`` under root seed ``seed`` (weighted, keyed)."""
        ss = np.random.SeedSequence(int(seed), spawn_key=(_PURPOSE, int(world)))
        u = np.random.default_rng(ss).random()
        cum = np.cumsum(self.weights)
        return int(min(np.searchsorted(cum, u * cum[-1], side="right"), self.size - 1))

    def particle(self, index: int) -> dict[str, float]:
        return {k: float(v) for k, v in zip(self.keys, self.values[index], strict=True)}


def check(data: Any, where: str) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Structural and range checks of a posterior mapping; returns (keys, values, weights).

    Every key must be a canonical parameter key, every value inside its ModelParams range,
    weights finite, non-negative and not all zero.
    """
    from sim.validation.parameters import canonical_key, field_meta

    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ConfigError("posterior", where, f"not a posterior file (format: {FORMAT} missing)")
    particles = data.get("particles")
    if not isinstance(particles, Mapping):
        raise ConfigError("posterior", where, "has no particles: {keys, weights, values}")
    keys = particles.get("keys")
    weights = particles.get("weights")
    values = particles.get("values")
    if not (isinstance(keys, list) and keys and isinstance(weights, list)
            and isinstance(values, list) and len(values) == len(weights) and values):
        raise ConfigError("posterior", where, "particles need keys, and as many weights as values")
    try:
        arr = np.asarray(values, dtype=float)
        w = np.asarray(weights, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError("posterior", where, "particle values and weights must be numbers") from None
    if arr.shape != (len(weights), len(keys)):
        raise ConfigError("posterior", where, f"each particle needs {len(keys)} values")
    if not (np.isfinite(arr).all() and np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise ConfigError("posterior", where, "values and weights must be finite, weights >= 0")
    for j, key in enumerate(keys):
        canon, name, level = canonical_key(str(key))
        if canon != key or level == "*":
            raise ConfigError("posterior", where, f"key {key!r} is not a canonical parameter key")
        (lo, hi), unit, *_ = field_meta(name, canon)
        col = arr[:, j]
        if col.min() < lo or col.max() > hi:
            raise ConfigError("posterior", where,
                              f"{key} has values outside its allowed range [{lo}, {hi}] ({unit})")
    return tuple(map(str, keys)), arr, w / w.sum()


_CACHE: dict[tuple[str, str], Posterior] = {}


def load(path: Path) -> Posterior:
    """Read and check a posterior file (cached per process by path and content digest)."""
    import yaml

    try:
        raw = path.read_bytes()
    except OSError:
        raise ConfigError("parameters", "posterior",
                          f"no posterior at {path}; run gapsim calibrate first (docs/VALIDATION.md)"
                          ) from None
    digest = hashlib.sha256(raw).hexdigest()
    hit = _CACHE.get((str(path), digest))
    if hit is not None:
        return hit
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError("posterior", str(path), f"not valid YAML ({type(err).__name__})") from None
    keys, values, weights = check(data, str(path))
    meta = {k: v for k, v in data.items() if k != "particles"}
    post = Posterior(keys, values, weights, meta, digest)
    if len(_CACHE) > 8:
        _CACHE.clear()
    _CACHE[(str(path), digest)] = post
    return post


def to_yaml(meta: Mapping[str, Any], keys: Sequence[str], values: np.ndarray,
            weights: np.ndarray, header: Sequence[str]) -> str:
    """The text of a posterior file: comment header, provenance, then the particles."""
    import yaml

    from sim.validation.calibration import comment_text

    doc = {"format": FORMAT, **{k: v for k, v in meta.items() if k not in ("format", "particles")},
           "particles": {"keys": list(keys),
                         "weights": [float(f"{w:.8g}") for w in np.asarray(weights, float)],
                         "values": [[float(f"{x:.8g}") for x in row]
                                    for row in np.asarray(values, float)]}}
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
    return "".join(f"# {comment_text(line)}\n" for line in header) + body


def write(path: Path, text: str) -> Posterior:
    """Check ``text`` as a posterior (parse, structure, ranges) and only then write it
    atomically to ``path``; returns the loaded result (read back from disk)."""
    import os

    import yaml

    check(yaml.safe_load(text), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"_{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return load(path)


# ------------------------------------------------------------------------- the replicate hook


def world_of(replicate: int) -> int:
    return int(replicate) // REPLICATES_PER_WORLD


def overlay(config: Mapping[str, Any], replicate: int) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """The config a replicate runs and the columns to add to its ``runs`` row.

    ``parameters: point`` (or absent): the config unchanged, no columns. ``parameters:
    posterior``: the config with world ``replicate // 2``'s posterior draw set, and the columns
    ``posterior_world``, ``posterior_draw`` (particle index) and ``posterior_sha`` (12 hex digits
    of the file), so every row says which parameters it ran.
    """
    choice = config.get("parameters", "point")
    if choice in (None, "point"):
        return config, {}
    if choice != "posterior":
        raise ConfigError("parameters", choice, f"must be one of {', '.join(CHOICES)}")
    from sim.validation import parameters as pm

    post = load(posterior_path())
    world = world_of(replicate)
    index = post.draw_index(int(config.get("seed", 0)), world)
    values = post.particle(index)
    cfg = pm.apply(config, values, pm.items_for(post.keys))
    return cfg, {"posterior_world": world, "posterior_draw": index,
                 "posterior_sha": post.sha256[:12]}


def check_choice(choice: Any) -> None:
    """Validate the ``parameters`` key before any work (and that the posterior file is sound)."""
    if choice not in CHOICES:
        raise ConfigError("parameters", choice, f"must be one of {', '.join(CHOICES)}")
    if choice == "posterior":
        load(posterior_path())


# ------------------------------------------------------------------ comparisons across worlds


@dataclass(frozen=True)
class Worlds:
    """How a scenario compares with the baseline across plausible worlds, for one outcome.

    Attributes:
        worlds: worlds with both arms present.
        better: worlds in which the scenario does better (world mean of the paired differences).
        share_better: ``better / worlds``.
        mean_diff: mean paired difference (scenario minus baseline).
        var_parameter: variance between worlds attributable to parameters (>= 0).
        var_noise: run-to-run variance of a paired difference at fixed parameters.
        share_parameter: ``var_parameter / (var_parameter + var_noise)`` (NaN if both 0).
    """

    scenario: str
    outcome: str
    worlds: int
    better: int
    share_better: float
    mean_diff: float
    var_parameter: float
    var_noise: float
    share_parameter: float


def plausible_worlds(runs: pd.DataFrame, baseline: str, scenario: str, outcome: str,
                     lower_is_better: bool = True) -> Worlds:
    """Share of plausible worlds in which ``scenario`` beats ``baseline`` on ``outcome``.

    Pure function of a ``runs`` table with ``scenario``, ``replicate``, ``posterior_world`` and
    the outcome. Paired differences are taken replicate by replicate (common random numbers);
    a world's verdict uses the mean of its replicates' differences. Variance components: the
    within-world variance of differences is run-to-run noise (``var_noise``); the variance of
    world means minus ``var_noise / k`` (k replicates per world) is parameter uncertainty.
    """
    import pandas as pd

    need = {"scenario", "replicate", "posterior_world", outcome}
    if not need <= set(runs.columns):
        raise KeyError(f"runs lacks {', '.join(sorted(need - set(runs.columns)))}")
    a = runs[runs["scenario"] == baseline].set_index("replicate")
    b = runs[runs["scenario"] == scenario].set_index("replicate")
    common = a.index.intersection(b.index)
    d = pd.DataFrame({"diff": b.loc[common, outcome].astype(float) - a.loc[common, outcome].astype(float),
                      "world": a.loc[common, "posterior_world"].astype(int)}).dropna()
    by = d.groupby("world")["diff"]
    means = by.mean()
    sign = -1.0 if lower_is_better else 1.0
    better = int((sign * means > 0).sum())
    n = len(means)
    sizes = by.size()
    within = by.var(ddof=1)[sizes > 1]
    var_noise = float(within.mean()) if len(within) else math.nan
    k = float(sizes.mean()) if n else math.nan
    var_means = float(means.var(ddof=1)) if n > 1 else math.nan
    var_param = max(var_means - var_noise / k, 0.0) if math.isfinite(var_noise) else math.nan
    total = var_param + var_noise
    share = var_param / total if (math.isfinite(total) and total > 0) else math.nan
    return Worlds(scenario, outcome, n, better, better / n if n else math.nan,
                  float(d["diff"].mean()) if len(d) else math.nan, var_param, var_noise, share)


def version_note(name: str = DEFAULT) -> str | None:
    """A warning when the posterior was fitted to another model version than the one running:
    its draws are then plausible for that version, not necessarily for this one (None if same)."""
    from sim.model import MODEL_VERSION

    try:
        fitted = load(posterior_path(name)).meta.get("model_version")
    except (ConfigError, OSError):
        return None
    if fitted is None or int(fitted) == MODEL_VERSION:
        return None
    return (f"Caution: the posterior {name} was fitted to model version {fitted}; these runs used "
            f"model version {MODEL_VERSION}, for which it has not been refitted (docs/VALIDATION.md).")


def plausible_world_lines(runs: pd.DataFrame, baseline: str, scenarios: Sequence[str],
                          outcomes: Mapping[str, bool | None]) -> list[str]:
    """The report's sentences: how parameters were set, and (posterior) the share of plausible
    worlds in which each scenario does better, per outcome with a direction."""
    if "posterior_world" not in runs.columns:
        return ["Parameters: point estimate (ModelParams defaults and the scenarios' own values); "
                "intervals show run-to-run noise only. Rerun with parameters=posterior to compare "
                "across plausible worlds drawn from the calibration posterior."]
    sha = runs["posterior_sha"].iloc[0] if "posterior_sha" in runs.columns else "?"
    draws = runs.drop_duplicates("posterior_world")["posterior_draw"].nunique() \
        if "posterior_draw" in runs.columns else "?"
    lines = [f"Parameters: drawn from the posterior {DEFAULT} (sha {sha}), one draw per world "
             f"of {REPLICATES_PER_WORLD} replicates, the same draw for every scenario "
             f"({draws} distinct parameter set(s) among the worlds)."]
    stale = version_note()
    if stale:
        lines.append(stale)
    for scenario in scenarios:
        if scenario == baseline:
            continue
        for outcome, lower in outcomes.items():
            if lower is None or outcome not in runs.columns:
                continue
            w = plausible_worlds(runs, baseline, scenario, outcome, lower)
            if not w.worlds:
                continue
            verb = "lowers" if lower else "raises"
            if w.worlds < MIN_WORLDS_FOR_SPLIT or not math.isfinite(w.share_parameter):
                split = (f"; too few worlds (fewer than {MIN_WORLDS_FOR_SPLIT}) to split the "
                         f"spread into parameter uncertainty and noise")
            else:
                split = (f"; {w.share_parameter:.0%} of the spread between worlds is parameter "
                         f"uncertainty, {1 - w.share_parameter:.0%} run-to-run noise")
            lines.append(f"{scenario} {verb} {outcome} in {w.share_better:.0%} of plausible worlds "
                         f"({w.better} of {w.worlds}) compared with {baseline}{split}.")
    return lines
