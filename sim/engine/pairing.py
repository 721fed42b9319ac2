"""What pairing buys: the efficiency of common random numbers, and control variates.

Why: a paired comparison is only as good as the pairing. Common random numbers (CRN) help when
the two arms of a replicate move together; when a scenario changes who holds the gap, the same
random start can push the arms apart and the paired difference is no tighter than independent
runs (issue 14). So every comparison reports, per outcome and arm, the arms' correlation and the
efficiency ``Var(diff) / (Var(A) + Var(B))`` -- 1 for independent arms, below 1 when CRN helps,
above 1 when it hurts -- measured on the same runs, with bootstrap intervals.

A control variate removes noise that the policy did not cause: a quantity set from outside (the
fighters arriving from outside, ``inflow``) whose expected value is known. Two kinds of control
are used, each only when it varies:

* between arms, ``c_arm - c_baseline``: zero in expectation whenever the quantity is exogenous
  (the same process in both scenarios), nonzero only through random-number drift between arms;
* within the baseline arm, ``c_baseline - E[c]`` when ``E[c]`` is known (``expected``): the
  replicate's luck in the exogenous draw, which moves both arms.

The adjusted difference is ``mean(D) - beta . mean(X)`` with ``beta`` from least squares of the
pairs' differences ``D`` on the controls ``X``; its gain is the residual variance (with its
degrees of freedom) over ``Var(D)``. Intervals are bootstrap percentile intervals with ``beta``
re-estimated in every resample (``sim.engine.stats.Resampler``: the same resamples as the
paired differences).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from sim.engine.stats import Resampler, paired_arrays, percentile_bounds


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _resampled_var(x: np.ndarray) -> np.ndarray:
    """Sample variance (ddof 1) of each row of a ``(resamples, n)`` array."""
    return x.var(axis=1, ddof=1)


def crn_efficiency(
    runs: pd.DataFrame,
    baseline: str,
    outcomes: Sequence[str],
    by: str = "scenario",
    pair_on: str | Sequence[str] = "replicate",
    confidence: float = 0.95,
    resampler: Resampler | None = None,
) -> pd.DataFrame:
    """Per arm and outcome: how much the pairing reduced the variance of the difference.

    Returns:
        One row per (arm, outcome): ``n`` pairs, ``var_baseline``, ``var_arm``, ``var_diff``,
        ``correlation`` (Pearson, of the two arms' values) with ``corr_low``/``corr_high``, and
        ``efficiency`` = ``var_diff / (var_baseline + var_arm)`` with ``eff_low``/``eff_high``.
        NaN where an arm does not vary.
    """
    boot = resampler or Resampler()
    rows = []
    for arm, base, other in paired_arrays(runs, baseline, outcomes, by, _as_list(pair_on)):
        for outcome in outcomes:
            b, o = base[outcome], other[outcome]
            ok = ~(np.isnan(b) | np.isnan(o))
            b, o = b[ok], o[ok]
            n = int(b.size)
            row = {by: arm, "baseline": baseline, "outcome": outcome, "n": n}
            stats = dict.fromkeys(("var_baseline", "var_arm", "var_diff", "correlation",
                                   "corr_low", "corr_high", "efficiency", "eff_low", "eff_high"),
                                  math.nan)  # fmt: skip
            if n >= 3:
                vb, vo, vd = (float(np.var(v, ddof=1)) for v in (b, o, o - b))
                stats.update(var_baseline=vb, var_arm=vo, var_diff=vd)
                idx = boot.indices(n)
                rb, ro = b[idx], o[idx]
                rvb, rvo, rvd = _resampled_var(rb), _resampled_var(ro), _resampled_var(ro - rb)
                with np.errstate(divide="ignore", invalid="ignore"):
                    if vb + vo > 0:
                        stats["efficiency"] = vd / (vb + vo)
                        eff = np.where(rvb + rvo > 0, rvd / (rvb + rvo), np.nan)
                        stats["eff_low"], stats["eff_high"] = percentile_bounds(eff, confidence)
                    if vb > 0 and vo > 0:
                        stats["correlation"] = float(np.corrcoef(b, o)[0, 1])
                        cov = ((rb - rb.mean(1, keepdims=True)) * (ro - ro.mean(1, keepdims=True))
                               ).sum(1) / (n - 1)  # fmt: skip
                        corr = np.where((rvb > 0) & (rvo > 0), cov / np.sqrt(rvb * rvo), np.nan)
                        stats["corr_low"], stats["corr_high"] = percentile_bounds(corr, confidence)
            rows.append({**row, **stats})
    return pd.DataFrame(rows)


#: Columns of :func:`control_variates` (also when no control varied and the table is empty).
CV_COLUMNS = ("scenario", "baseline", "outcome", "n", "controls", "beta", "diff_mean", "diff_low",
              "diff_high", "adj_mean", "adj_low", "adj_high", "variance_ratio", "width_ratio")


def _cv_estimate(d: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Control-variate estimates for a batch: ``d`` is ``(B, n)``, ``x`` is ``(B, n, q)``.

    Returns ``(theta, beta)``: ``mean(d) - beta . mean(x)`` per row, with ``beta`` from least
    squares on centred data (the minimum-norm solution where a resample's controls are collinear).
    """
    dc = d - d.mean(axis=1, keepdims=True)
    xm = x.mean(axis=1)
    xc = x - xm[:, None, :]
    sxx = np.einsum("bnq,bnr->bqr", xc, xc)
    sxd = np.einsum("bnq,bn->bq", xc, dc)
    beta = np.einsum("bqr,br->bq", np.linalg.pinv(sxx), sxd)
    theta = d.mean(axis=1) - np.einsum("bq,bq->b", beta, xm)
    return theta, beta


def control_variates(
    runs: pd.DataFrame,
    baseline: str,
    outcomes: Sequence[str],
    controls: Sequence[str],
    expected: Mapping[str, float] | None = None,
    by: str = "scenario",
    pair_on: str | Sequence[str] = "replicate",
    confidence: float = 0.95,
    resampler: Resampler | None = None,
) -> pd.DataFrame:
    """Paired differences adjusted by exogenous controls, with the gain in variance.

    Args:
        runs: one row per replicate.
        baseline: the baseline arm.
        outcomes: outcomes to adjust (controls themselves are skipped).
        controls: exogenous columns (e.g. ``inflow``).
        expected: known expected values of controls in the baseline arm (``{column: value}``);
            a control without one is used between arms only.
        by, pair_on, confidence, resampler: as in ``paired_differences``.

    Returns:
        One row per (arm, outcome) with at least one varying control: ``n``, ``controls``
        (which regressors were used, e.g. ``inflow (arm - baseline)``), ``beta`` (their
        coefficients, text), ``diff_mean`` with ``diff_low``/``diff_high`` (unadjusted),
        ``adj_mean`` with ``adj_low``/``adj_high``, ``variance_ratio`` (residual variance with
        its degrees of freedom over Var(D): below 1 the adjustment pays) and ``width_ratio``
        (adjusted interval width over the unadjusted one).
    """
    boot = resampler or Resampler()
    expected = dict(expected or {})
    cols = [c for c in controls if c in runs.columns]
    targets = [o for o in outcomes if o not in cols]
    rows = []
    for arm, base, other in paired_arrays(runs, baseline, [*targets, *cols], by,
                                          _as_list(pair_on)):  # fmt: skip
        for outcome in targets:
            d = other[outcome] - base[outcome]
            regs: list[tuple[str, np.ndarray]] = []
            for c in cols:
                regs.append((f"{c} (arm - baseline)", other[c] - base[c]))
                if c in expected and math.isfinite(expected[c]):
                    regs.append((f"{c} (baseline - expected {expected[c]:.3g})",
                                 base[c] - expected[c]))  # fmt: skip
            ok = ~np.isnan(d)
            for _, r in regs:
                ok &= ~np.isnan(r)
            d = d[ok]
            regs = [(name, r[ok]) for name, r in regs if np.ptp(r[ok]) > 0] if ok.any() else []
            n, q = int(d.size), len(regs)
            if q == 0 or n < q + 3 or np.ptp(d) == 0:
                continue
            x = np.column_stack([r for _, r in regs])
            theta, beta = _cv_estimate(d[None, :], x[None, :, :])
            resid = d - d.mean() - (x - x.mean(0)) @ beta[0]
            var_d = float(d.var(ddof=1))
            var_res = float((resid**2).sum() / (n - 1 - q))
            idx = boot.indices(n)
            raw = d[idx].mean(axis=1)
            adj, _ = _cv_estimate(d[idx], x[idx])
            raw_low, raw_high = percentile_bounds(raw, confidence)
            adj_low, adj_high = percentile_bounds(adj, confidence)
            width = raw_high - raw_low
            rows.append({
                by: arm, "baseline": baseline, "outcome": outcome, "n": n,
                "controls": "; ".join(name for name, _ in regs),
                "beta": "; ".join(f"{b:.3g}" for b in beta[0]),
                "diff_mean": float(d.mean()), "diff_low": raw_low, "diff_high": raw_high,
                "adj_mean": float(theta[0]), "adj_low": adj_low, "adj_high": adj_high,
                "variance_ratio": var_res / var_d,
                "width_ratio": (adj_high - adj_low) / width if width > 0 else math.nan,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=[by if c == "scenario" else c for c in CV_COLUMNS])
