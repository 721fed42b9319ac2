"""Scenario comparison tables and the plain-language summary, from a results directory's tables.

Why: a workshop needs, per policy option, what it changes against a baseline, with honest
uncertainty and in words: what improves, what gets worse, what else changes. Replicate ``r`` of
every scenario shares its random numbers (common random numbers), so differences are paired
replicate by replicate. Every interval is the bootstrap percentile interval over replicates of
``sim.engine.stats`` (one method for the tables, the summary, the CSVs and the figures); every
label, unit and direction comes from ``sim.outcomes``. Counts change in percent, shares in
percentage points. A change is "clear" when its 95 % interval excludes no change; below
``MIN_RELIABLE_N`` replicates the summary says the intervals are unreliable and quotes replicate
counts instead of intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.engine.stats import MIN_RELIABLE_N, Resampler, paired_differences, summarise
from sim.outcomes import NOT_OUTCOMES, directed, headline, outcome

#: Verdicts a paired difference can get.
VERDICTS = ("better", "worse", "changed", "unclear")


def compared_outcomes(runs: pd.DataFrame) -> list[str]:
    """Every numeric outcome column of a runs table, headline outcomes first."""
    numeric = [c for c in runs.columns if c not in NOT_OUTCOMES
               and pd.api.types.is_numeric_dtype(runs[c]) and runs[c].dtype != bool]  # fmt: skip
    first = [o for o in headline() if o in numeric]
    return first + [c for c in numeric if c not in first]


def comparison_tables(
    runs: pd.DataFrame, baseline: str, resampler: Resampler | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-scenario summary, paired differences from the baseline), with labels, units, the
    change in its display unit and a verdict per difference."""
    boot = resampler or Resampler()
    outcomes = compared_outcomes(runs)
    summary = summarise(runs, by="scenario", outcomes=outcomes, resampler=boot)
    summary.insert(2, "label", [outcome(o).label for o in summary["outcome"]])
    summary.insert(3, "unit", [outcome(o).unit for o in summary["outcome"]])
    diffs = paired_differences(runs, baseline, outcomes, by="scenario",
                               lower_is_better=directed(outcomes), resampler=boot)  # fmt: skip
    return summary, add_display_columns(diffs)


def add_display_columns(diffs: pd.DataFrame) -> pd.DataFrame:
    """``label``, ``direction``, ``change``/``change_low``/``change_high`` in ``change_unit``
    (percent for counts and amounts, percentage points for shares), ``significant`` and
    ``verdict``."""
    out = diffs.copy()
    specs = [outcome(o) for o in out["outcome"]]
    points = np.array([s.kind == "share" for s in specs])
    out["label"] = [s.label for s in specs]
    out["direction"] = [s.direction for s in specs]
    out["change_unit"] = np.where(points, "points", "%")
    for src_pct, src_diff, dst in (("pct_change", "diff_mean", "change"),
                                   ("pct_low", "diff_low", "change_low"),
                                   ("pct_high", "diff_high", "change_high")):  # fmt: skip
        out[dst] = np.where(points, 100 * out[src_diff], out[src_pct])
    low, high = out["diff_low"].to_numpy(float), out["diff_high"].to_numpy(float)
    sig = np.isfinite(low) & np.isfinite(high) & ((low > 0) | (high < 0))
    out["significant"] = sig
    verdicts = []
    for s, clear, d in zip(specs, sig, out["diff_mean"], strict=True):
        if not clear:
            verdicts.append("unclear")
        elif s.better is None:
            verdicts.append("changed")
        else:
            verdicts.append("better" if (d < 0) == (s.better == "lower") else "worse")
    out["verdict"] = verdicts
    return out


# ------------------------------------------------------------------------------------- formatting


def fmt_change(value: float, unit: str) -> str:
    """``-89%``, ``+24 points``, ``n/a``."""
    if value is None or not np.isfinite(value):
        return "no upper limit" if value == math.inf else "n/a"
    number = f"{value:+.0f}" if abs(value) >= 9.5 or unit == "%" else f"{value:+.1f}"
    return f"{number}%" if unit == "%" else f"{number} points"


def fmt_interval(low: float, high: float, unit: str) -> str:
    """``[-97%, -76%]`` or ``[+21, +30 points]``."""
    def one(x: float) -> str:
        if not np.isfinite(x):
            return "+inf" if x == math.inf else "n/a"
        return f"{x:+.0f}" if abs(x) >= 9.5 or unit == "%" else f"{x:+.1f}"
    suffix = "%" if unit == "%" else " points"
    if unit == "%":
        return f"[{one(low)}%, {one(high)}%]"
    return f"[{one(low)}, {one(high)}{suffix}]"


def change_phrase(row: Mapping[str, Any], reliable: bool) -> str:
    """One outcome's change in words: ``incidents (all types) -89% [-97%, -76%]`` (reliable) or
    ``incidents (all types) -89% (lower in 6 of 6 replicates)`` (too few replicates)."""
    unit = row["change_unit"]
    change = row["change"]
    if not np.isfinite(change) and unit == "%":  # the baseline had none: say so in counts
        return (f"{row['label']} {outcome(row['outcome']).display(row['mean'])} "
                f"(none in {row['baseline']})")  # fmt: skip
    text = f"{row['label']} {fmt_change(change, unit)}"
    if reliable:
        return f"{text} {fmt_interval(row['change_low'], row['change_high'], unit)}"
    n = int(row["n"])
    if n < 2:
        return text
    lower = row["diff_mean"] < 0
    count = int(row["n_lower"] if lower else row["n_higher"])
    word = "lower" if lower else "higher"
    return f"{text} ({word} in {count} of {n} replicates)"


@dataclass
class ScenarioSummary:
    """What one scenario changes against the baseline, grouped by verdict."""

    scenario: str
    baseline: str
    n: int
    better: list[str] = field(default_factory=list)
    more_better: int = 0
    worse: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unclear: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reliable(self) -> bool:
        return self.n >= MIN_RELIABLE_N

    def groups(self) -> list[tuple[str, list[str]]]:
        """(heading, phrases) of the non-empty groups, in reading order."""
        better = list(self.better)
        if self.more_better:
            better.append(f"and {self.more_better} more outcomes (see the table)")
        out = [("Better", better), ("Worse", self.worse),
               ("Also changes (neither better nor worse)", self.changed),
               ("No clear change", self.unclear)]  # fmt: skip
        if self.n < 2:
            out = [("Single-run differences (no verdicts with one replicate)",
                    self.better + self.worse + self.changed + self.unclear)]  # fmt: skip
        return [(h, items) for h, items in out if items]

    def text(self) -> str:
        """Plain text for the terminal and the handout."""
        lines = [f"{self.scenario} vs {self.baseline}:"]
        for heading, items in self.groups():
            lines.append(f"  {heading}: " + "; ".join(items))
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


#: Extra per-scenario summary lines: ``fn(runs, scenario, baseline) -> list[str]``. The place for
#: lines computed from the runs table beyond the paired differences; see :func:`scenario_notes`.
ScenarioNote = Callable[[pd.DataFrame, str, str], list[str]]


def scenario_notes(runs: pd.DataFrame, scenario: str, baseline: str) -> list[str]:
    """Extra summary lines for one scenario, computed from the runs table.

    The hook for comparisons over parameter uncertainty: when the runs carry a
    ``posterior_draw`` column (``gapsim compare parameters=posterior``), a line such as "better
    in N% of plausible worlds" goes here and appears under the scenario in the terminal
    summary, the report and the handout. Without that column there is nothing to add.
    """
    if "posterior_draw" not in runs.columns:
        return []
    # Runs over posterior draws: the "share of plausible worlds" line, computed per
    # posterior_draw from `runs`, belongs here (added with `parameters=posterior`).
    return []


def scenario_summaries(
    runs: pd.DataFrame,
    diffs: pd.DataFrame,
    order: Sequence[str],
    notes: Sequence[ScenarioNote] = (scenario_notes,),
) -> list[ScenarioSummary]:
    """Per scenario (in ``order``): headline outcomes that improve, every outcome that gets
    clearly worse, headline outcomes that change without a direction, and headline outcomes
    without a clear change."""
    heads = set(headline())
    out = []
    for scenario in order:
        rows = diffs[diffs["scenario"] == scenario]
        if rows.empty:
            continue
        n = int(rows["n"].max())
        reliable = n >= MIN_RELIABLE_N
        s = ScenarioSummary(scenario, str(rows["baseline"].iloc[0]), n)
        for _, r in rows.iterrows():
            is_head = r["outcome"] in heads
            phrase = change_phrase(r, reliable)
            if n < 2:
                if is_head:
                    s.unclear.append(phrase)
                continue
            verdict = r["verdict"]
            if verdict == "worse":
                s.worse.append(phrase)
            elif verdict == "better":
                if is_head:
                    s.better.append(phrase)
                else:
                    s.more_better += 1
            elif verdict == "changed" and is_head:
                s.changed.append(phrase)
            elif verdict == "unclear" and is_head:
                s.unclear.append(r["label"])
        for fn in notes:
            s.notes += fn(runs, scenario, s.baseline)
        out.append(s)
    return out


def reliability_note(n: int) -> str:
    """What the intervals mean at this number of replicates (one sentence)."""
    if n < 2:
        return (f"{n} replicate per scenario: no interval can be computed, and every difference "
                "is a single run's. Run at least 10 replicates for intervals.")  # fmt: skip
    if n < MIN_RELIABLE_N:
        return (f"Only {n} replicates per scenario: intervals from fewer than {MIN_RELIABLE_N} "
                "replicates are unreliable, so the summary gives replicate counts instead, and "
                "tables and figures mark every interval as unreliable. The verdicts are "
                f"indicative; run replicates={MIN_RELIABLE_N} or more before relying on them.")
    return ("Brackets are 95% intervals: bootstrap percentile intervals over the replicates "
            "(pairs resampled together), so they stay within what each outcome can take.")
