"""Scenario comparison tables and figures, from a results directory's tables only.

Why: a workshop needs, per policy option, what it changes against a baseline with honest
uncertainty. Replicate ``r`` of every scenario shares its random numbers (common random numbers),
so differences are paired replicate by replicate; intervals are 95 % t-intervals of the paired
mean difference, and percent changes use a delta-method interval of the ratio of means
(``sim.engine.stats.paired_differences``).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

#: Outcomes compared, with whether lower is better (None: neither, shown without a verdict).
OUTCOMES: dict[str, bool | None] = {
    "incidents": True,
    "kidnappings": True,
    "fake_checkpoints": True,
    "ambushes": True,
    "extortions": True,
    "incidents_gap": True,
    "hostages": True,
    "casualties_security": True,
    "casualties_civilian": True,
    "fighters_final": True,
    "insurgents_killed": False,
    "airstrikes": None,
    "tips_reaching_share": False,
    "informant_links_ia": False,
    "gap_control": False,
}
#: Outcomes in the forest plot (a readable subset; every outcome is in the tables).
FOREST = ("incidents", "kidnappings", "fake_checkpoints", "ambushes", "extortions", "incidents_gap",
          "hostages", "fighters_final", "tips_reaching_share", "gap_control")
#: Right edge of the forest plot (%); longer intervals are drawn to the edge with an arrow.
FOREST_MAX_PCT = 300.0
#: Outcomes named in the plain-language summary lines.
HEADLINE = ("incidents", "kidnappings", "fake_checkpoints", "fighters_final", "tips_reaching_share")


def comparison_tables(runs: pd.DataFrame, baseline: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-scenario summary, paired differences from the baseline)."""
    from sim.engine.stats import paired_differences, summarise

    outcomes = [o for o in OUTCOMES if o in runs.columns]
    summary = summarise(runs, by="scenario", outcomes=outcomes)
    lower = {o: (v if v is not None else True) for o, v in OUTCOMES.items()}
    diffs = paired_differences(runs, baseline, outcomes, by="scenario", lower_is_better=lower)
    return summary, diffs


def _fmt_pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:+.0f}%"


def summary_lines(diffs: pd.DataFrame, order: list[str]) -> list[str]:
    """One plain-language line per scenario and headline outcome."""
    lines = []
    for scenario in order:
        rows = diffs[diffs["scenario"] == scenario]
        if rows.empty:
            continue
        parts = []
        for outcome in HEADLINE:
            r = rows[rows["outcome"] == outcome]
            if r.empty:
                continue
            r = r.iloc[0]
            verdict = OUTCOMES.get(outcome)
            better = f", better in {r['share_better']:.0%} of replicates" if verdict is not None else ""
            # A count cannot fall by more than 100 %: the delta-method bound is clipped for reading.
            low = max(r["pct_low"], -100.0) if np.isfinite(r["pct_low"]) else r["pct_low"]
            parts.append(f"{outcome} {_fmt_pct(r['pct_change'])} "
                         f"[{_fmt_pct(low)}, {_fmt_pct(r['pct_high'])}]{better}")
        lines.append(f"{scenario}: " + "; ".join(parts) + f" vs {r['baseline']}")
    return lines


def plot_forest(diffs: pd.DataFrame, path: str | Path | None = None, outcomes=None):
    """Forest plot: percent change from the baseline with 95 % intervals, per outcome."""
    outcomes = outcomes or [o for o in FOREST if o in set(diffs["outcome"])]
    scenarios = list(dict.fromkeys(diffs["scenario"]))
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(outcomes) * max(len(scenarios), 1) + 1.8),
                           constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    y = 0.0
    ticks, labels = [], []
    for outcome in outcomes:
        for k, scenario in enumerate(scenarios):
            r = diffs[(diffs["outcome"] == outcome) & (diffs["scenario"] == scenario)]
            if r.empty:
                continue
            r = r.iloc[0]
            if np.isfinite(r["pct_change"]):
                c = colors[k % len(colors)]
                mid = min(r["pct_change"], FOREST_MAX_PCT)
                low = max(r["pct_low"], -100.0)
                high = min(r["pct_high"], FOREST_MAX_PCT)
                ax.plot([low, high], [y, y], color=c, lw=1.5)
                ax.plot(mid, y, "o", color=c, label=scenario if outcome == outcomes[0] else None)
                if r["pct_high"] > FOREST_MAX_PCT:
                    ax.plot(FOREST_MAX_PCT, y, ">", color=c, ms=6)
            y -= 1
        ticks.append(y + len(scenarios) / 2 + 0.5)
        labels.append(outcome)
        y -= 0.8
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlim(-105, FOREST_MAX_PCT + 10)
    ax.set_yticks(ticks, labels)
    ax.set_xlabel(f"change from baseline {diffs['baseline'].iloc[0]} (%), mean and 95% interval")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Paired differences from the baseline (common random numbers)")
    if path is not None:
        _save(fig, path)
    return fig


def _save(fig, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    fig.savefig(path.with_suffix(".svg"))
    plt.close(fig)
