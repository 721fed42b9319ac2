"""Monte Carlo statistics: confidence intervals, paired scenario differences, sequential stopping.

Why: every figure and report quotes the same few numbers -- a replicate mean with its 95% t-interval,
the paired difference between a scenario and the baseline under common random numbers, and how many
replicates were enough. Keeping them as pure functions over tidy ``runs`` tables (one row per
replicate) makes them easy to test and reuse by the CLI, plots and reports alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

#: Hoad, Robinson & Davies (2010) use a look-ahead of 5 replications up to n = 100.
DEFAULT_MIN_LOOKAHEAD = 5


class Interval(NamedTuple):
    """A sample mean with its two-sided t confidence interval."""

    n: int
    mean: float
    sd: float
    low: float
    high: float
    half_width: float


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Interval:
    """Mean and two-sided Student-t interval of a sample (NaNs dropped).

    An interval needs n >= 2; with fewer values the bounds are NaN. A constant sample has a
    zero-width interval.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Interval(n, mean, math.nan, math.nan, math.nan, math.nan)
    sd = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n))
    return Interval(n, mean, sd, mean - half, mean + half, half)


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def numeric_outcomes(runs: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric columns of a runs table, minus ``replicate`` and ``exclude`` (labels, factors)."""
    skip = {"replicate", "design_point", *exclude}
    return [
        c
        for c in runs.columns
        if c not in skip and pd.api.types.is_numeric_dtype(runs[c]) and runs[c].dtype != bool
    ]


def summarise(
    runs: pd.DataFrame,
    by: str | Sequence[str] = ("scenario",),
    outcomes: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per group and outcome: n, mean, sd, t-interval and (relative) half-width.

    Args:
        runs: one row per replicate.
        by: grouping columns (e.g. ``scenario``, or ``design_point``).
        outcomes: outcome columns; default every numeric column not in ``by``.
        confidence: interval coverage.

    Returns:
        A tidy frame: ``by`` columns, ``outcome``, ``n``, ``mean``, ``sd``, ``ci_low``,
        ``ci_high``, ``half_width``, ``rel_half_width`` (half-width / |mean|).
    """
    keys = _as_list(by)
    names = list(outcomes) if outcomes is not None else numeric_outcomes(runs, keys)
    rows = []
    for group, frame in runs.groupby(keys, sort=True, dropna=False):
        group = group if isinstance(group, tuple) else (group,)
        for outcome in names:
            ci = t_interval(frame[outcome].to_numpy(dtype=float), confidence)
            rel = abs(ci.half_width / ci.mean) if ci.mean else math.nan
            rows.append(
                {
                    **dict(zip(keys, group, strict=True)),
                    "outcome": outcome,
                    "n": ci.n,
                    "mean": ci.mean,
                    "sd": ci.sd,
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "half_width": ci.half_width,
                    "rel_half_width": rel,
                }
            )
    return pd.DataFrame(rows)


def _ratio_interval(
    base: np.ndarray, other: np.ndarray, confidence: float
) -> tuple[float, float, float]:
    """Percent change of the mean, ``100 (mean(other) / mean(base) - 1)``, with a delta-method
    t-interval for paired samples: ``se(R) = sd(other - R base) / (sqrt(n) |mean(base)|)``."""
    n = base.size
    mb = float(base.mean())
    if n < 2 or mb == 0:
        return math.nan, math.nan, math.nan
    ratio = float(other.mean()) / mb
    se = float(np.std(other - ratio * base, ddof=1)) / (math.sqrt(n) * abs(mb))
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * se
    return 100 * (ratio - 1), 100 * (ratio - half - 1), 100 * (ratio + half - 1)


def paired_differences(
    runs: pd.DataFrame,
    baseline: str,
    outcomes: Sequence[str],
    by: str = "scenario",
    pair_on: str | Sequence[str] = "replicate",
    lower_is_better: Mapping[str, bool] | bool = True,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Each scenario minus the baseline, paired replicate by replicate (common random numbers).

    Args:
        runs: one row per replicate, with ``by`` and ``pair_on`` columns.
        baseline: the value of ``by`` every other value is compared with.
        outcomes: outcome columns to compare.
        by: the column naming the arms (usually ``scenario``).
        pair_on: column(s) matching rows across arms (``replicate``; add ``design_point`` etc.).
        lower_is_better: per outcome (or for all): is a smaller value an improvement? Outcomes
            missing from a mapping count as lower-is-better.
        confidence: interval coverage.

    Returns:
        One row per (scenario, outcome): ``n`` pairs, ``baseline_mean``, ``mean``, ``diff_mean``,
        ``diff_sd``, ``diff_low``/``diff_high`` (t-interval of the mean difference),
        ``pct_change`` with ``pct_low``/``pct_high`` (delta-method interval of the ratio of means),
        ``share_better`` and ``share_worse`` (fractions of pairs; ties count as neither).

    Raises:
        KeyError: the baseline is not among the values of ``by``.
    """
    keys = _as_list(pair_on)
    if baseline not in set(runs[by]):
        raise KeyError(f"baseline {baseline!r} not found in column {by!r}")
    base = runs[runs[by] == baseline].set_index(keys)
    rows = []
    for arm in sorted(set(runs[by]) - {baseline}, key=str):
        other = runs[runs[by] == arm].set_index(keys)
        common = base.index.intersection(other.index).sort_values()
        for outcome in outcomes:
            b = base.loc[common, outcome].to_numpy(dtype=float)
            o = other.loc[common, outcome].to_numpy(dtype=float)
            diff = o - b
            ci = t_interval(diff, confidence)
            pct, pct_low, pct_high = _ratio_interval(b, o, confidence)
            lower = (
                lower_is_better
                if isinstance(lower_is_better, bool)
                else lower_is_better.get(outcome, True)
            )
            better = diff < 0 if lower else diff > 0
            worse = diff > 0 if lower else diff < 0
            n = max(len(diff), 1)
            rows.append(
                {
                    by: arm,
                    "baseline": baseline,
                    "outcome": outcome,
                    "n": ci.n,
                    "baseline_mean": float(b.mean()) if b.size else math.nan,
                    "mean": float(o.mean()) if o.size else math.nan,
                    "diff_mean": ci.mean,
                    "diff_sd": ci.sd,
                    "diff_low": ci.low,
                    "diff_high": ci.high,
                    "pct_change": pct,
                    "pct_low": pct_low,
                    "pct_high": pct_high,
                    "share_better": float(better.sum()) / n,
                    "share_worse": float(worse.sum()) / n,
                }
            )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ sequential


def relative_half_widths(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> np.ndarray:
    """Relative t-interval half-width of the first n values, for n = 1..len(values).

    ``d_n = t_{n-1} s_n / (sqrt(n) |mean_n|)``; ``inf`` for n = 1 or a zero mean with spread, and
    ``0`` for a constant prefix (including all zeros).
    """
    x = np.asarray(values, dtype=float)
    n = np.arange(1, x.size + 1, dtype=float)
    shifted = x - (x[0] if x.size else 0.0)  # shift for numerical stability
    s1 = np.cumsum(shifted)
    s2 = np.cumsum(shifted**2)
    mean = s1 / n + (x[0] if x.size else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.maximum(s2 - s1**2 / n, 0.0) / (n - 1)
        half = sps.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)) * np.sqrt(var / n)
        rel = np.where(half == 0, 0.0, half / np.abs(mean))
    rel[np.isnan(rel)] = np.inf
    if x.size:
        rel[0] = np.inf
    return rel


def lookahead_k(n: int, lookahead: float = 0.05, min_lookahead: int = DEFAULT_MIN_LOOKAHEAD) -> int:
    """kLimit: how many further replicates must keep the precision once it is first met at n."""
    return max(int(min_lookahead), math.ceil(lookahead * n))


@dataclass(frozen=True)
class StoppingDecision:
    """Outcome of the sequential rule on the replicates available so far.

    Attributes:
        n_available: replicates evaluated (ids 0..n_available-1, in order).
        n_required: Nsol, the first n at which the precision held with its look-ahead; None if
            not reached (yet).
        n_used: replicates the rule needs in the results: ``n_required + kLimit`` when met,
            ``max_replicates`` when given up, else None (run more).
        met: whether the precision target was met.
        more: whether more replicates should be run.
    """

    n_available: int
    n_required: int | None
    n_used: int | None
    met: bool
    more: bool


def sequential_decision(
    values: Mapping[str, Sequence[float] | np.ndarray],
    precision: float,
    min_replicates: int,
    max_replicates: int,
    lookahead: float = 0.05,
    min_lookahead: int = DEFAULT_MIN_LOOKAHEAD,
    confidence: float = 0.95,
) -> StoppingDecision:
    """The replication algorithm of Hoad, Robinson & Davies (2010), for several outcomes at once.

    Hoad K., Robinson S., Davies R. (2010) "Automated selection of the number of replications for
    a discrete-event simulation", Journal of the Operational Research Society 61(11):1632-1644.
    A confidence-interval rule alone can stop early when the interval happens to be narrow; their
    algorithm accepts Nsol only if the relative half-width ``d_n <= precision`` at n = Nsol *and*
    stays there for the next kLimit replicates (kLimit = ``lookahead_k(Nsol)``: 5 in the paper up
    to n = 100, about 5% of n beyond). Here the rule must hold for every outcome at once, and
    replicates are taken in id order, so the decision depends only on the values -- never on the
    batch sizes or worker count that produced them.

    Args:
        values: per outcome, the values of replicates 0..n-1 in order (equal lengths).
        precision: target relative half-width (e.g. 0.05 for +-5% of the mean).
        min_replicates: never stop before this many.
        max_replicates: give up (unmet) at this many.
        lookahead: kLimit as a fraction of n.
        min_lookahead: kLimit's floor.
        confidence: interval coverage.
    """
    series = [np.asarray(v, dtype=float) for v in values.values()]
    n_avail = min((s.size for s in series), default=0)
    ok = np.ones(n_avail + 1, dtype=bool)  # ok[n]: precision holds with the first n values
    ok[:2] = False
    for s in series:
        ok[1:] &= relative_half_widths(s[:n_avail], confidence) <= precision
    limit = min(n_avail, max_replicates)
    for n in range(max(min_replicates, 2), limit + 1):
        end = n + lookahead_k(n, lookahead, min_lookahead)
        if end > limit:
            break
        if ok[n : end + 1].all():
            return StoppingDecision(n_avail, n, end, True, False)
    if n_avail >= max_replicates:
        return StoppingDecision(n_avail, None, max_replicates, False, False)
    return StoppingDecision(n_avail, None, None, False, True)


def needs_more(
    runs: pd.DataFrame,
    outcomes: Sequence[str],
    precision: float,
    min_replicates: int,
    max_replicates: int,
    lookahead: float = 0.05,
    min_lookahead: int = DEFAULT_MIN_LOOKAHEAD,
) -> bool:
    """Whether one point's replicates (a runs table) are still short of the precision target.

    Applies :func:`sequential_decision` (Hoad, Robinson & Davies 2010 look-ahead rule) to the
    rows ordered by ``replicate``.
    """
    ordered = runs.sort_values("replicate")
    values = {o: ordered[o].to_numpy(dtype=float) for o in outcomes}
    return sequential_decision(
        values, precision, min_replicates, max_replicates, lookahead, min_lookahead
    ).more
