"""Monte Carlo statistics: intervals, paired scenario differences, sequential stopping.

Why: every figure and report quotes the same few numbers -- a replicate mean with its 95%
interval, the paired difference between a scenario and the baseline under common random numbers,
and how many replicates were enough. Keeping them as pure functions over tidy ``runs`` tables
(one row per replicate) makes them easy to test and reuse by the CLI, plots and reports alike.

One interval method for everything a reader sees (tables, summaries, CSVs, figures): the
bootstrap percentile interval over replicates. It stays inside what an outcome can take (a count
is never negative, a share stays in 0-1, a percent change never falls below -100 %) because every
resampled statistic is one the outcome could produce. Below ``MIN_RELIABLE_N`` replicates the
intervals are flagged unreliable. The t-interval remains for the sequential stopping rule (a
precision target, Hoad et al. 2010) and for callers that want it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

from sim.engine.bootstrap import (
    MIN_RELIABLE_N,
    Resampler,
    percentile_bounds,
    zero_count_bound,
)

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


def integer_outcomes(runs: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """The columns among ``names`` stored as integers (event counts in a runs table)."""
    return [c for c in names if c in runs.columns and pd.api.types.is_integer_dtype(runs[c])
            and runs[c].dtype != bool]  # fmt: skip


def bootstrap_interval(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95, counts: bool = False
) -> Interval:
    """Mean and bootstrap percentile interval of a sample (NaNs dropped), as an ``Interval``.

    The drop-in for :func:`t_interval` wherever an interval is shown to a reader: it stays inside
    the values the sample can take. ``counts``: the values are event counts, so an all-zero
    sample gets the Poisson bound (:func:`zero_count_bound`). ``half_width`` is half the
    interval's width (the interval need not be symmetric).
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Interval(n, mean, math.nan, math.nan, math.nan, math.nan)
    low, high = Resampler().mean_interval(x, confidence)
    if counts and not x.any():
        high = max(high, zero_count_bound(n, confidence))
    return Interval(n, mean, float(x.std(ddof=1)), low, high, (high - low) / 2)


def summarise(
    runs: pd.DataFrame,
    by: str | Sequence[str] = ("scenario",),
    outcomes: Sequence[str] | None = None,
    confidence: float = 0.95,
    counts: Collection[str] | None = None,
    resampler: Resampler | None = None,
) -> pd.DataFrame:
    """Per group and outcome: n, mean, sd and a bootstrap interval of the mean.

    The interval is the bootstrap percentile interval over replicates (:class:`Resampler`), so it
    never leaves the values the outcome can take; an event count that is zero in every
    replicate gets the exact Poisson upper bound ``-ln(alpha/2) / n`` instead of a zero-width
    interval. ``reliable`` is False below :data:`MIN_RELIABLE_N` replicates.

    Args:
        runs: one row per replicate.
        by: grouping columns (e.g. ``scenario``, or ``design_point``).
        outcomes: outcome columns; default every numeric column not in ``by``.
        confidence: interval coverage.
        counts: columns holding event counts (for the all-zero bound); default: the integer
            columns.
        resampler: the bootstrap resamples (default: :class:`Resampler` with its fixed seed).

    Returns:
        A tidy frame: ``by`` columns, ``outcome``, ``n``, ``mean``, ``sd``, ``ci_low``,
        ``ci_high``, ``half_width`` ((high - low) / 2), ``rel_half_width`` (half-width / |mean|),
        ``reliable``.
    """
    keys = _as_list(by)
    names = list(outcomes) if outcomes is not None else numeric_outcomes(runs, keys)
    count_cols = set(integer_outcomes(runs, names) if counts is None else counts)
    boot = resampler or Resampler()
    rows = []
    for group, frame in runs.groupby(keys, sort=True, dropna=False):
        group = group if isinstance(group, tuple) else (group,)
        for outcome in names:
            x = frame[outcome].to_numpy(dtype=float)
            x = x[~np.isnan(x)]
            n = int(x.size)
            mean = float(x.mean()) if n else math.nan
            sd = float(x.std(ddof=1)) if n > 1 else math.nan
            low, high = boot.mean_interval(x, confidence)
            if outcome in count_cols and n > 1 and not x.any():
                high = max(high, zero_count_bound(n, confidence))
            half = (high - low) / 2 if n > 1 else math.nan
            rows.append(
                {
                    **dict(zip(keys, group, strict=True)),
                    "outcome": outcome,
                    "n": n,
                    "mean": mean,
                    "sd": sd,
                    "ci_low": low,
                    "ci_high": high,
                    "half_width": half,
                    "rel_half_width": abs(half / mean) if mean else math.nan,
                    "reliable": n >= MIN_RELIABLE_N,
                }
            )
    return pd.DataFrame(rows)


def paired_differences(
    runs: pd.DataFrame,
    baseline: str,
    outcomes: Sequence[str],
    by: str = "scenario",
    pair_on: str | Sequence[str] = "replicate",
    lower_is_better: Mapping[str, bool | None] | bool = True,
    confidence: float = 0.95,
    counts: Collection[str] | None = None,
    resampler: Resampler | None = None,
) -> pd.DataFrame:
    """Each scenario minus the baseline, paired replicate by replicate (common random numbers).

    Intervals are bootstrap percentile intervals over the pairs (each resample keeps a
    replicate's two arms together), the same resamples for the difference and the percent
    change: the percent change is a ratio of resampled means, so it never falls below -100 %.
    Where an arm's count is zero in every pair, the exact Poisson bound on that arm's mean
    (``-ln(alpha/2) / n``) widens the interval, so "none in 6 replicates" is not read as "never".

    Args:
        runs: one row per replicate, with ``by`` and ``pair_on`` columns.
        baseline: the value of ``by`` every other value is compared with.
        outcomes: outcome columns to compare.
        by: the column naming the arms (usually ``scenario``).
        pair_on: column(s) matching rows across arms (``replicate``; add ``design_point`` etc.).
        lower_is_better: per outcome (or for all): is a smaller value an improvement? Outcomes
            missing from a mapping, or mapped to None, count pairs as lower-is-better.
        confidence: interval coverage.
        counts: event-count columns (default: the integer columns).
        resampler: the bootstrap resamples (default: :class:`Resampler`).

    Returns:
        One row per (scenario, outcome): ``n`` pairs, ``baseline_mean``, ``mean``,
        ``diff_mean``, ``diff_sd``, ``diff_low``/``diff_high``, ``pct_change`` (100 (mean /
        baseline_mean - 1)) with ``pct_low``/``pct_high``, ``n_lower``/``n_higher`` (pairs
        where the arm is below / above the baseline), ``n_better``/``n_worse`` and
        ``share_better``/``share_worse`` (pairs; ties count as neither), ``reliable``.

    Raises:
        KeyError: the baseline is not among the values of ``by``.
    """
    keys = _as_list(pair_on)
    if baseline not in set(runs[by]):
        raise KeyError(f"baseline {baseline!r} not found in column {by!r}")
    count_cols = set(integer_outcomes(runs, outcomes) if counts is None else counts)
    boot = resampler or Resampler()
    rows = []
    for arm, b, o in paired_arrays(runs, baseline, outcomes, by, keys):
        for outcome in outcomes:
            bx, ox = b[outcome], o[outcome]
            ok = ~(np.isnan(bx) | np.isnan(ox))
            bx, ox = bx[ok], ox[ok]
            lower = (
                lower_is_better
                if isinstance(lower_is_better, bool)
                else lower_is_better.get(outcome, True)
            )
            lower = True if lower is None else lower
            diff = ox - bx
            n = int(diff.size)
            rows.append(
                {
                    by: arm,
                    "baseline": baseline,
                    "outcome": outcome,
                    "n": n,
                    "baseline_mean": float(bx.mean()) if n else math.nan,
                    "mean": float(ox.mean()) if n else math.nan,
                    "diff_mean": float(diff.mean()) if n else math.nan,
                    "diff_sd": float(diff.std(ddof=1)) if n > 1 else math.nan,
                    **_paired_bounds(bx, ox, outcome in count_cols, boot, confidence),
                    "n_lower": int((diff < 0).sum()),
                    "n_higher": int((diff > 0).sum()),
                    "n_better": int((diff < 0).sum() if lower else (diff > 0).sum()),
                    "n_worse": int((diff > 0).sum() if lower else (diff < 0).sum()),
                    "share_better": float((diff < 0 if lower else diff > 0).sum()) / max(n, 1),
                    "share_worse": float((diff > 0 if lower else diff < 0).sum()) / max(n, 1),
                    "reliable": n >= MIN_RELIABLE_N,
                }
            )
    return pd.DataFrame(rows)


def paired_arrays(
    runs: pd.DataFrame, baseline: str, outcomes: Sequence[str], by: str, keys: Sequence[str]
):
    """Yield ``(arm, baseline values, arm values)`` per non-baseline arm, as ``{outcome: array}``
    aligned on the pairing keys (pairs present in both arms only)."""
    base = runs[runs[by] == baseline].set_index(list(keys))
    for arm in sorted(set(runs[by]) - {baseline}, key=str):
        other = runs[runs[by] == arm].set_index(list(keys))
        common = base.index.intersection(other.index).sort_values()
        yield (
            arm,
            {o: base.loc[common, o].to_numpy(dtype=float) for o in outcomes},
            {o: other.loc[common, o].to_numpy(dtype=float) for o in outcomes},
        )


def _paired_bounds(
    b: np.ndarray, o: np.ndarray, is_count: bool, boot: Resampler, confidence: float
) -> dict[str, float]:
    """Bootstrap bounds of the mean difference and of the percent change (same resamples)."""
    n = b.size
    nan = {"diff_low": math.nan, "diff_high": math.nan, "pct_change": math.nan,
           "pct_low": math.nan, "pct_high": math.nan}  # fmt: skip
    if n == 0:
        return nan
    mb, mo = float(b.mean()), float(o.mean())
    out = dict(nan, pct_change=100 * (mo / mb - 1) if mb > 0 else math.nan)
    if n < 2:
        return out
    idx = boot.indices(n)
    rb, ro = b[idx].mean(axis=1), o[idx].mean(axis=1)
    out["diff_low"], out["diff_high"] = percentile_bounds(ro - rb, confidence)
    if mb > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(rb > 0, ro / rb, np.where(ro > 0, np.inf, np.nan))
        low, high = percentile_bounds(ratio, confidence)
        out["pct_low"], out["pct_high"] = 100 * (low - 1), 100 * (high - 1)
    if is_count:  # an arm with no events in any pair: its mean may still be up to `bound`
        bound = zero_count_bound(n, confidence)
        if not o.any():
            out["diff_high"] += bound
            base_low = percentile_bounds(rb, confidence)[0]
            if mb > 0:
                worst = 100 * (bound / base_low - 1) if base_low > 0 else math.inf
                out["pct_high"] = max(out["pct_high"], worst)
        if not b.any():
            out["diff_low"] -= bound
    return out


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
