"""A self-contained HTML report (figures embedded as base64 PNG) that opens offline.

Why one file: a workshop projects it, mails it and prints it; nothing may be fetched from the
internet. Tables are also written as CSV beside it. The order is the reader's: what was run and
what the intervals mean, then per scenario what improves, what gets worse and what else changes,
then the figures, the tables, the scenarios and how to reproduce it all.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.compare import ScenarioSummary, fmt_change, fmt_interval
from sim.engine.stats import MIN_RELIABLE_N
from sim.outcomes import outcome

#: Mark on an interval computed from too few replicates.
UNRELIABLE_MARK = "\u2020"


@dataclass
class ReportInputs:
    """Everything the report shows, computed by the compare command."""

    title: str
    run_facts: list[str]
    interval_note: str
    summaries: list[ScenarioSummary]
    summary: pd.DataFrame
    diffs: pd.DataFrame
    efficiency: pd.DataFrame
    controls: pd.DataFrame
    figures: list[tuple[Path, str]]
    scenarios: list[dict]
    provenance: dict
    notes: list[str] = field(default_factory=list)


def source_label(text: str) -> str:
    """A source citation as a reader should see it: ``seed 001: ...`` names the project's source
    article 001 (``seeds/``), not a random seed."""
    return re.sub(r"^seed (\d+):", r"source article \1:", text.strip())


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"/>'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")  # fmt: skip


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, classes="t", na_rep="n/a", escape=True)


def _interval_cell(mean: float, low: float, high: float, name: str, reliable: bool) -> str:
    spec = outcome(name)
    if not np.isfinite(mean):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return spec.display(mean)
    mark = "" if reliable else UNRELIABLE_MARK
    return f"{spec.display(mean)} [{spec.display(low)}, {spec.display(high)}]{mark}"


def outcomes_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Outcome label, unit and direction, then one column per scenario: mean [interval]."""
    scenarios = list(dict.fromkeys(summary["scenario"]))
    names = list(dict.fromkeys(summary["outcome"]))
    rows = []
    for name in names:
        spec = outcome(name)
        row = {"outcome": spec.label, "unit": spec.unit, "direction": spec.direction}
        for sc in scenarios:
            r = summary[(summary["scenario"] == sc) & (summary["outcome"] == name)]
            row[sc] = "" if r.empty else _interval_cell(
                r["mean"].iloc[0], r["ci_low"].iloc[0], r["ci_high"].iloc[0], name,
                bool(r["reliable"].iloc[0]))  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def differences_table(diffs: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and outcome: baseline and scenario means, the change with its interval,
    the verdict and how many replicates went each way."""
    rows = []
    for _, r in diffs.iterrows():
        spec = outcome(r["outcome"])
        unit = r["change_unit"]
        change = fmt_change(r["change"], unit)
        if np.isfinite(r["change_low"]) or np.isfinite(r["change_high"]):
            change += " " + fmt_interval(r["change_low"], r["change_high"], unit)
            change += "" if r["reliable"] else UNRELIABLE_MARK
        rows.append({
            "scenario": r["scenario"], "outcome": spec.label,
            "baseline": spec.display(r["baseline_mean"]), "scenario mean": spec.display(r["mean"]),
            "change [95% interval]": change, "verdict": r["verdict"],
            "replicates lower / higher": f"{int(r['n_lower'])} / {int(r['n_higher'])} of {int(r['n'])}",
        })  # fmt: skip
    return pd.DataFrame(rows)


def efficiency_table(eff: pd.DataFrame) -> pd.DataFrame:
    def iv(x: float, lo: float, hi: float) -> str:
        if not np.isfinite(x):
            return "n/a"
        return f"{x:.2f} [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else f"{x:.2f}"

    return pd.DataFrame([{
        "scenario": r["scenario"], "outcome": outcome(r["outcome"]).label, "pairs": int(r["n"]),
        "correlation of the arms": iv(r["correlation"], r["corr_low"], r["corr_high"]),
        "Var(diff) / (Var A + Var B)": iv(r["efficiency"], r["eff_low"], r["eff_high"]),
    } for _, r in eff.iterrows()])  # fmt: skip


def controls_table(cv: pd.DataFrame) -> pd.DataFrame:
    def iv(m: float, lo: float, hi: float) -> str:
        return f"{m:+.3g} [{lo:+.3g}, {hi:+.3g}]"

    return pd.DataFrame([{
        "scenario": r["scenario"], "outcome": outcome(r["outcome"]).label, "pairs": int(r["n"]),
        "controls": r["controls"], "coefficients": r["beta"],
        "difference [95%]": iv(r["diff_mean"], r["diff_low"], r["diff_high"]),
        "adjusted [95%]": iv(r["adj_mean"], r["adj_low"], r["adj_high"]),
        "variance ratio": f"{r['variance_ratio']:.2f}",
        "interval width ratio": f"{r['width_ratio']:.2f}",
        "pays": "yes" if r["width_ratio"] < 0.9 else "no",
    } for _, r in cv.iterrows()])  # fmt: skip


def _summary_html(summaries: Sequence[ScenarioSummary]) -> str:
    parts = []
    for s in summaries:
        items = "".join(
            f'<li class="g-{html.escape(h.split()[0].lower())}"><b>{html.escape(h)}:</b> '
            f"{html.escape('; '.join(xs))}</li>" for h, xs in s.groups())
        notes = "".join(f'<li class="note">{html.escape(n)}</li>' for n in s.notes)
        parts.append(f'<div class="scenario"><h3>{html.escape(s.scenario)} '
                     f'<small>vs {html.escape(s.baseline)}</small></h3>'
                     f'<ul class="summary">{items}{notes}</ul></div>')  # fmt: skip
    return "".join(parts)


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222;
       font-size: 17px; line-height: 1.45; }
h1 { font-size: 1.7em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
.facts { background: #f3f6fa; border: 1px solid #c9d6e6; padding: .6em 1.2em; }
.warn { background: #fff4e0; border: 1px solid #e6a23c; padding: .6em 1.2em; }
ul.summary li { margin: .3em 0; }
li.g-better b { color: #007a5a; } li.g-worse b { color: #b34700; }
li.g-also b { color: #0062a3; } li.g-no b { color: #555; }
li.note { font-style: italic; }
table.t { border-collapse: collapse; font-size: .85em; }
table.t td, table.t th { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
code { font-size: .9em; background: #f4f4f4; padding: 1px 3px; }
"""


def write_report(path: Path, r: ReportInputs) -> Path:
    """Write the HTML report."""
    esc = html.escape
    facts = "".join(f"<li>{esc(x)}</li>" for x in r.run_facts)
    n = int(r.diffs["n"].max()) if len(r.diffs) else 0
    box = "warn" if n < MIN_RELIABLE_N else "facts"
    desc = "".join(
        f"<li><b>{esc(s['name'])}</b> (starts {esc(str(s.get('start_date', '')))}): "
        f"{esc(s.get('description', ''))}<br/><small>"
        f"{esc('; '.join(source_label(x) for x in s.get('sources', [])))}</small></li>"
        for s in r.scenarios)  # fmt: skip
    prov = "".join(f"<tr><th>{esc(str(k))}</th><td><code>{esc(str(v))}</code></td></tr>"
                   for k, v in r.provenance.items())  # fmt: skip
    mark_note = (f"<p>{UNRELIABLE_MARK} interval from fewer than {MIN_RELIABLE_N} replicates: "
                 "unreliable.</p>" if n < MIN_RELIABLE_N else "")  # fmt: skip
    cv_intro = ("<p>Paired differences adjusted for quantities set outside the policy "
                "(control variates; <code>sim.engine.pairing</code>). The adjustment pays where "
                "the variance ratio is below 1 and the adjusted interval is narrower (width "
                "ratio below 0.9); the main tables stay unadjusted.</p>")
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"/><title>{esc(r.title)}</title>
<style>{CSS}</style></head><body>
<h1>{esc(r.title)}</h1>
<div class="{box}"><ul>{facts}</ul><p>{esc(r.interval_note)}</p></div>
{''.join(f'<p class="warn">{esc(x)}</p>' for x in r.notes)}
<h2>Summary</h2>
{_summary_html(r.summaries)}
<h2>Figures</h2>{''.join(_img(p, alt) for p, alt in r.figures)}
<h2>Outcomes per scenario: mean [95% interval]</h2>{mark_note}{_table(outcomes_table(r.summary))}
<h2>Changes from the baseline, paired replicate by replicate</h2>{mark_note}
{_table(differences_table(r.diffs))}
<h2>What the pairing bought (common random numbers)</h2>
<p>Per outcome: the correlation of the two arms across replicates and Var(diff) / (Var A + Var B)
from the same runs (1 for independent runs, below 1 when common random numbers help, above 1
when they hurt), with 95% bootstrap intervals.</p>{_table(efficiency_table(r.efficiency))}
<h2>Control variates</h2>{cv_intro}
{_table(controls_table(r.controls)) if len(r.controls) else '<p>No control varied: nothing to adjust.</p>'}
<h2>Scenarios</h2><ul>{desc}</ul>
<h2>Reproduce</h2><table class="t">{prov}</table>
</body></html>
"""
    path.write_text(body)
    return path
