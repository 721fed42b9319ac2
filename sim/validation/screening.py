"""Morris screening before the Sobol study: which of the ~165 factors are worth Sobol runs.

Why two stages: a Sobol design over every factor costs N x (D + 3) one-year runs (5376 at N = 32
for the D = 165 factors of model version 3, about 7 h on 2 cores at 4.5 s per coarse year), and
most [EST] factors barely move the outcomes. Morris elementary effects (Morris 1991; Campolongo et
al. 2007) rank all D factors for r x (D + 2) runs (668 at r = 4); the Sobol study then estimates first- and total-order indices for the factors
that screen in, with the rest held at their defaults (Saltelli et al. 2008, ch. 3 and 4).

What screens a factor in is measured, not chosen: the realisation index (which only changes the
random seed, SALib #292) is a factor too, so its mean absolute elementary effect ``mu_star`` is
the size of a change that run-to-run noise alone produces. A factor screens in when its
``mu_star`` exceeds the realisation's for at least one outcome; if more than ``keep`` (12) do,
they are taken in turn from each outcome's ranking by ratio to the noise, so every outcome's
strongest factors reach the Sobol stage. The page says which factors were left out
and by how much they fell short, so a reader can see what the Sobol table does not cover.

Run (resumable, through the engine's results store)::

    uv run python -m sim.validation.screening hydra.run.dir=results/screening
    uv run python -m sim.validation.sensitivity screening=results/screening hydra.run.dir=results/sensitivity
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import ConfigError
from sim.validation import sensitivity as se

#: Morris grid levels (4 is the usual choice: Saltelli et al. 2008, 3.3).
LEVELS = 4
SELECTED = "selected.json"
INDICES = "morris_indices.csv"


def design(spec: se.SensitivitySpec, trajectories: int, seed: int) -> np.ndarray:
    """Morris trajectories over the study's factors plus the realisation index."""
    from SALib.sample import morris as morris_sample

    return morris_sample.sample(se.problem(spec.items), trajectories, num_levels=LEVELS, seed=seed)


def analyse(spec: se.SensitivitySpec, x: np.ndarray, runs: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``mu_star`` (with its 95 % bootstrap interval), ``mu`` and ``sigma`` per outcome and factor,
    and each factor's ratio to the realisation index's ``mu_star`` (the noise floor)."""
    from SALib.analyze import morris as morris_analyze

    prob = se.problem(spec.items)
    runs = runs.sort_values("design_point")
    rows = []
    for outcome in spec.outcomes:
        y = runs[outcome].to_numpy(dtype=float)
        y = np.where(np.isfinite(y), y, np.nanmean(y))
        res = morris_analyze.analyze(prob, x, y, num_resamples=spec.resamples, conf_level=0.95,
                                     num_levels=LEVELS, seed=seed, print_to_console=False)
        noise = float(res["mu_star"][-1])
        for i, name in enumerate(prob["names"]):
            rows.append({"outcome": outcome, "factor": name, "mu_star": float(res["mu_star"][i]),
                         "mu_star_conf": float(res["mu_star_conf"][i]), "mu": float(res["mu"][i]),
                         "sigma": float(res["sigma"][i]),
                         "ratio_to_noise": float(res["mu_star"][i]) / noise if noise > 0 else np.inf})
    return pd.DataFrame(rows)


def select(indices: pd.DataFrame, keep: int) -> list[str]:
    """At most ``keep`` factors whose ``mu_star`` beats the realisation's, taken in turn from each
    outcome's ranking (by ratio to the noise floor), so that every outcome's strongest factors get
    Sobol indices -- not only those of the outcome with the largest effects."""
    f = indices[(indices["factor"] != se.REALISATION) & (indices["ratio_to_noise"] > 1.0)]
    ranked = [list(g.sort_values("ratio_to_noise", ascending=False)["factor"])
              for _, g in f.groupby("outcome", sort=False)]
    out: list[str] = []
    for depth in range(max((len(r) for r in ranked), default=0)):
        for r in ranked:
            if depth < len(r) and r[depth] not in out and len(out) < keep:
                out.append(r[depth])
    return out


def render(indices: pd.DataFrame, selected: list[str], meta: Mapping[str, Any], top: int = 20) -> list[str]:
    """The screening section of docs/SENSITIVITY.md (Markdown lines)."""
    outcome = meta["outcomes"][0]
    sub = indices[indices["outcome"] == outcome].sort_values("mu_star", ascending=False)
    noise = float(sub.loc[sub["factor"] == se.REALISATION, "mu_star"].iloc[0])
    best = (indices[indices["factor"] != se.REALISATION].groupby("factor")["ratio_to_noise"].max())
    above = int((best > 1.0).sum())
    lines = [
        "## Screening (Morris elementary effects)", "",
        f"Model version {meta['model_version']}, git {meta['git']}, {meta['date']}: r = "
        f"{meta['trajectories']} trajectories over D = {meta['factors']} factors plus the "
        f"realisation index, {LEVELS} levels, {meta['runs']} runs of {meta['days']} days, "
        f"{meta['runtime_min']:.0f} min on {meta['workers']} worker(s). `mu_star` is the mean "
        "absolute elementary effect: the change of the outcome over a step of two thirds of the "
        "factor's range, scaled to its whole range (log-scaled factors in log space); the "
        "realisation index (the seed alone) gives the effect noise alone makes "
        f"(`mu_star` {noise:.1f} for {outcome}). {above} factors beat that floor for at least one "
        f"outcome of {', '.join(meta['outcomes'])}; {len(selected)} go on to the Sobol study, taken "
        "in turn from each outcome's ranking by ratio to the floor, and the rest are held at their "
        "defaults there.", "",
        f"Top {min(top, len(sub))} for {outcome} (every factor and outcome: `{INDICES}` in the "
        "screening run directory):", "",
        "| factor | mu_star [95% CI] | mu | sigma | x noise | Sobol stage |",
        "|---|---|---|---|---|---|"]
    for r in sub.head(top).itertuples():
        stage = "noise floor" if r.factor == se.REALISATION else ("kept" if r.factor in selected else "held at default")
        lines.append(f"| `{r.factor}` | {r.mu_star:.1f} [{r.mu_star - r.mu_star_conf:.1f}, "
                     f"{r.mu_star + r.mu_star_conf:.1f}] | {r.mu:+.1f} | {r.sigma:.1f} | "
                     f"{r.ratio_to_noise:.2f} | {stage} |")
    left = [f for f in best.sort_values(ascending=False).index if f not in selected and best[f] > 1.0]
    if left:
        lines += ["", "Above the noise floor but not kept (the `keep` cap): "
                  + ", ".join(f"`{f}` ({best[f]:.2f} x)" for f in left) + "."]
    lines.append("")
    return lines


def load_selected(run_dir: Path) -> tuple[list[str], list[str]]:
    """The kept factor keys and the screening page lines of a finished screening run."""
    path = run_dir / SELECTED
    if not path.is_file():
        raise ConfigError("screening", str(run_dir), f"has no {SELECTED}; run "
                          "`python -m sim.validation.screening hydra.run.dir=...` first")
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data["selected"]), list(data["page"])


_OPTS = ("trajectories", "keep", "days", "workers", "progress")


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation.screening [key=value ...]``; see the module docstring."""
    from sim.commands.common import git_state
    from sim.config.load import compose_config
    from sim.model import MODEL_VERSION

    parsed = se.parse_options(list(sys.argv[1:] if argv is None else argv), _OPTS, "screening")
    if parsed is None:
        return 2
    opts, out_dir = parsed
    try:
        trajectories = int(opts.get("trajectories", 4))
        keep = int(opts.get("keep", 12))
        if trajectories < 2 or keep < 1:
            raise ConfigError("trajectories" if trajectories < 2 else "keep",
                              trajectories if trajectories < 2 else keep, "must be at least 2 (1 for keep)")
        spec = se.load_spec()
        base = compose_config(se.base_overrides(spec, opts.get("days")))
        x = design(spec, trajectories, spec.seed)
        cfgs = se.configs(spec, base, x)
    except (ConfigError, ValueError) as err:
        print(f"gapsim: error: {err}", file=sys.stderr)
        return 2
    workers = int(opts.get("workers", 0))
    print(f"Morris: {len(spec.items)} factors + realisation, r={trajectories}: {len(cfgs)} runs of "
          f"{base['days']} days into {out_dir}", flush=True)
    started = time.perf_counter()
    result, runs = se.run_design(spec, cfgs, out_dir / "morris", workers,
                                 opts.get("progress", "true") == "true")
    if runs is None:
        return 1
    seconds = time.perf_counter() - started
    indices = analyse(spec, x, runs, spec.seed)
    indices.to_csv(out_dir / INDICES, index=False)
    selected = select(indices, keep)
    git = git_state()
    ran = {"runtime_min": seconds / 60, "workers": workers or "all", "date": dt.date.today().isoformat()}
    if result.done == 0 and (out_dir / SELECTED).is_file():  # re-analysed: the runs' own timing
        old = json.loads((out_dir / SELECTED).read_text(encoding="utf-8")).get("meta", {})
        ran = {k: old.get(k, v) for k, v in ran.items()}
    meta = {"model_version": MODEL_VERSION, "git": f"{(git['commit'] or '?')[:10]}"
            f"{' (dirty)' if git['dirty'] else ''}", **ran,
            "days": base["days"], "runs": len(cfgs),
            "trajectories": trajectories, "factors": len(spec.items),
            "outcomes": list(spec.outcomes)}
    page = render(indices, selected, meta)
    (out_dir / SELECTED).write_text(json.dumps({"selected": selected, "page": page, "meta": meta},
                                               indent=1), encoding="utf-8")
    print("\n".join(page))
    print(f"kept {len(selected)} factors; output: {out_dir}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
