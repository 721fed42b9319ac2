"""A self-contained HTML report (figures embedded as base64 PNG) that opens offline.

Why one file: a workshop projects it, mails it and prints it; nothing may be fetched from the
internet. Tables are also written as CSV beside it.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"/>' \
           f"<figcaption>{html.escape(alt)}</figcaption></figure>"


def _table(frame: pd.DataFrame, floatfmt: str = "{:.3g}") -> str:
    return frame.to_html(index=False, border=0, classes="t",
                         float_format=lambda x: floatfmt.format(x), na_rep="n/a")


def write_report(path: Path, *, title: str, lines: list[str], scenarios: list[dict],
                 summary: pd.DataFrame, diffs: pd.DataFrame, figures: list[tuple[Path, str]],
                 provenance: dict) -> Path:
    """Write the HTML report."""
    desc = "".join(f"<li><b>{html.escape(s['name'])}</b>: {html.escape(s.get('description', ''))}"
                   f"<br/><small>{html.escape('; '.join(s.get('sources', [])))}</small></li>"
                   for s in scenarios)
    # dropna=False: an outcome undefined in every replicate (kills_per_strike without strikes)
    # or an interval undefined for n=1 keeps its row and column instead of misaligning the table
    wide, lo, hi = (summary.pivot_table(index="outcome", columns="scenario", values=v, sort=False,
                                        dropna=False) for v in ("mean", "ci_low", "ci_high"))
    cells = wide.copy().astype(object)
    for c in wide.columns:
        cells[c] = [f"{m:.3g} [{a:.3g}, {b:.3g}]" for m, a, b in zip(wide[c], lo[c], hi[c], strict=True)]
    cells = cells.reset_index()
    dcols = ["scenario", "outcome", "n", "baseline_mean", "mean", "diff_mean", "diff_low",
             "diff_high", "pct_change", "pct_low", "pct_high", "share_better"]
    prov = "".join(f"<tr><th>{html.escape(str(k))}</th><td><code>{html.escape(str(v))}</code></td></tr>"
                   for k, v in provenance.items())
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"/><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
h1 {{ font-size: 1.6em; }} h2 {{ border-bottom: 1px solid #ccc; margin-top: 1.6em; }}
ul.summary li {{ margin: .4em 0; }}
table.t {{ border-collapse: collapse; font-size: .85em; }}
table.t td, table.t th {{ border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }}
figure {{ margin: 1em 0; }} figure img {{ max-width: 100%; border: 1px solid #eee; }}
figcaption {{ font-size: .85em; color: #555; }}
code {{ font-size: .85em; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Summary</h2>
<p>Changes against the baseline, paired replicate by replicate (common random numbers);
brackets are 95% intervals.</p>
<ul class="summary">{''.join(f'<li>{html.escape(x)}</li>' for x in lines)}</ul>
<h2>Scenarios</h2><ul>{desc}</ul>
<h2>Outcomes per scenario: mean [95% CI]</h2>{_table(cells)}
<h2>Paired differences from the baseline</h2>{_table(diffs[dcols])}
<h2>Figures</h2>{''.join(_img(p, alt) for p, alt in figures)}
<h2>Reproduce</h2><table class="t">{prov}</table>
</body></html>
"""
    path.write_text(body)
    return path
