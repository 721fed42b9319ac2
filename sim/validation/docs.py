"""Fill the generated blocks of docs/VALIDATION.md from a validate run and the shipped posterior.

Why generated blocks in a prose page: the prose (what each check means, the limits) is written
once; the numbers (held, identifiable, the posterior, the predictive check) belong to one model
version and one run, and must be regenerated -- never retyped -- after the model changes::

    uv run gapsim validate parameters=posterior replicates=10 hydra.run.dir=results/validate
    uv run python -m sim.validation.docs results/validate     # rewrites the marked blocks

Blocks are delimited by ``<!-- BEGIN generated:NAME -->`` and ``<!-- END generated:NAME -->``;
text outside them is kept byte for byte.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "VALIDATION.md"
IMG = REPO / "docs" / "img"


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the block ``name`` replaced by ``body`` (ValueError if it is missing)."""
    pattern = re.compile(rf"(<!-- BEGIN generated:{name} -->\n)(.*?)(<!-- END generated:{name} -->)",
                         re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"docs/VALIDATION.md has no generated:{name} block")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(3), text)


def _cell(x: object) -> str:
    return str(x).replace("|", "/").replace("\n", " ")


def patterns_block(run_dir: Path | None) -> str:
    """The checks: fact, claim, source, mechanism, regime and (from a run) result and verdict."""
    from sim.validation.patterns import CHECKS

    table = None
    if run_dir is not None and (run_dir / "validation.csv").is_file():
        table = pd.read_csv(run_dir / "validation.csv").set_index("id")
    lines = []
    if table is not None:
        man = json.loads((run_dir / "manifest.json").read_text()) if (run_dir / "manifest.json").is_file() else {}
        git = (man.get("git") or {}).get("commit") or "?"
        s = man.get("summary", {})
        lines += [f"Run: `{man.get('command') or 'gapsim validate'}` ({man.get('created', '?')}, "
                  f"git {git[:10]}, parameters: {man.get('parameters', '?')}, "
                  f"{man.get('replicates', '?')} replicates). Checks counted (held and "
                  f"identifiable): **{s.get('checks_counted', '?')} of {s.get('checks', '?')}**; "
                  f"facts with an identifiable check: {s.get('facts_counted', '?')}.", ""]
    else:
        lines += ["No validate run recorded yet: the table lists the checks without results.", ""]
    lines += ["| fact | check | statistic and criterion | mechanism (ablated in the control) | "
              "regime | full model | without the mechanism | verdict | source |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in CHECKS:
        full = without = verdict = "-"
        if table is not None and c.id in table.index:
            r = table.loc[c.id]
            full = f"{r['value']:.3g} [{r['low']:.3g}, {r['high']:.3g}] {'held' if r['held'] else 'not held'}"
            if isinstance(r.get("held_without"), (bool, np.bool_)) or str(r.get("held_without")) in ("True", "False"):
                hw = str(r["held_without"]) == "True"
                without = (f"{r['control_value']:.3g} [{r['control_low']:.3g}, "
                           f"{r['control_high']:.3g}] {'held' if hw else 'gone'}")
            verdict = f"**{r['verdict']}**"
        mech = ", ".join(f"`{m}`" for m in c.mechanisms) or "none (input)"
        lines.append(f"| {c.fact} | {_cell(c.claim)} | {_cell(c.statistic)}; {_cell(c.criterion)} | "
                     f"{mech} | {_cell(c.regime)} | {full} | {without} | {verdict} | {_cell(c.source)} |")
    if table is not None and (run_dir / "targets_fit.csv").is_file():
        fit = pd.read_csv(run_dir / "targets_fit.csv")
        lines += ["", "Fitted targets on the same run (a check of the calibration, not validation):", "",
                  "| target | observed | simulated 90% band incl. observation error | covered |",
                  "|---|---|---|---|"]
        for _, r in fit.iterrows():
            lines.append(f"| {r['label']} | {r['observed']:.3g} | [{r['pred_low']:.3g}, "
                         f"{r['pred_high']:.3g}] | {'yes' if r['covered'] else 'no'} |")
        if (run_dir / "figures" / "validation.png").is_file():
            shutil.copyfile(run_dir / "figures" / "validation.png", IMG / "validation.png")
            lines += ["", "![validation](img/validation.png)"]
    return "\n".join(lines)


def calibration_block(path: Path | None = None) -> str:
    """The shipped posterior: provenance, ABC settings, marginals and the predictive check."""
    from sim.validation import posterior as po

    path = path or po.posterior_path()
    if not path.is_file():
        return "No posterior shipped yet: run `gapsim calibrate ... write=true` (above)."
    post = po.load(path)
    m = post.meta
    abc = m.get("abc", {})
    lines = [f"`{path.relative_to(REPO) if path.is_relative_to(REPO) else path}` (sha256 "
             f"{post.sha256[:12]}): created {m.get('created')}, model version "
             f"{m.get('model_version')}, git {(m.get('git') or {}).get('commit', '?')[:10]}"
             f"{' (dirty)' if (m.get('git') or {}).get('dirty') else ''}; study "
             f"`{(m.get('study') or {}).get('file')}`; scenario `{m.get('scenario')}`, "
             f"{m.get('days')} days, terrain `{m.get('terrain')}`, "
             f"{m.get('replicates_per_particle')} replicate(s) per particle.",
             "",
             f"ABC-SMC: population {abc.get('population')}, {abc.get('generations')} generations, "
             f"{abc.get('simulations')} simulations, final temperature "
             f"{abc.get('final_temperature')} ({'exact posterior under the stated observation error' if abc.get('exact') else 'TEMPERED: wider than the exact posterior; rerun with a larger budget'}), "
             f"ESS {abc.get('ess')} of {post.size} particles. Posterior predictive check: "
             f"{(m.get('predictive') or {}).get('covered')} of {len(m.get('targets') or {})} targets "
             f"covered by the 90 % band ({(m.get('predictive') or {}).get('draws')} draws).",
             "",
             *([f"**Warning: degenerate weights** (ESS {abc.get('ess')} of {post.size}): this "
                "posterior is close to a single parameter set, so `parameters=posterior` has "
                "almost no parameter spread; rerun `gapsim calibrate` with the study's production "
                "budget (or a larger population) before relying on it.", ""]
               if float(abc.get("ess") or 0) < 0.1 * post.size else []),
             "| target | observed (natural units) | 90% observation band | predictive 90% band (target scale) | covered |",
             "|---|---|---|---|---|"]
    for name, t in (m.get("targets") or {}).items():
        p = ((m.get("predictive") or {}).get("targets") or {}).get(name, {})
        band = p.get("pred90", [math.nan, math.nan])
        lines.append(f"| {t['label']} | {t['observed_natural']} | {t['band90_natural']} | "
                     f"[{band[0]:.3g}, {band[1]:.3g}] (observed {t['observed']:.3g}) | "
                     f"{'yes' if p.get('covered') else 'no'} |")
    frame = post.frame()
    w = frame["weight"].to_numpy()
    informed = set(m.get("informed") or [])
    lines += ["", "| parameter | prior | posterior mean | posterior 90% interval | informed by the targets |",
              "|---|---|---|---|---|"]
    priors = {p["key"]: p for p in m.get("parameters") or []}
    for key in post.keys:
        x = frame[key].to_numpy()
        order = np.argsort(x)
        cw = np.cumsum(w[order])
        lo, hi = x[order][np.searchsorted(cw, 0.05)], x[order][min(np.searchsorted(cw, 0.95), len(x) - 1)]
        p = priors.get(key, {})
        lines.append(f"| `{key}` | {p.get('scale', '?')} {p.get('low', '?')}-{p.get('high', '?')} "
                     f"{p.get('unit', '')} | {np.sum(w * x):.3g} | [{lo:.3g}, {hi:.3g}] | "
                     f"{'yes' if key in informed else 'no (prior: level unused in 2020)'} |")
    run_dir = Path(m.get("run_dir", ""))
    for fig in ("posterior_predictive.png", "posterior_marginals.png"):
        if (run_dir / "figures" / fig).is_file():
            shutil.copyfile(run_dir / "figures" / fig, IMG / fig)
        if (IMG / fig).is_file():
            lines += ["", f"![{fig[:-4]}](img/{fig})"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    run_dir = Path(args[0]) if args else None
    if run_dir is not None and not (run_dir / "validation.csv").is_file():
        print(f"gapsim: error: {run_dir}: no validation.csv (give a gapsim validate directory)",
              file=sys.stderr)
        return 2
    text = DOC.read_text(encoding="utf-8")
    text = replace_block(text, "patterns", patterns_block(run_dir))
    text = replace_block(text, "calibration", calibration_block())
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
