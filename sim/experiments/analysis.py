"""Analysis of a sweep table: per-point summaries, Sobol and Morris indices, regression effects.

Why pure functions over the tidy table: the sweep table (one row per design point and replicate,
factor columns, outcome columns) is what a researcher keeps and cites; every number in the CSVs
and figures must be recomputable from it (plus the design's unit coordinates for SALib), without
rerunning the model.

Replicate noise. The model is stochastic, so an outcome at a design point is a random variable.
Two treatments, chosen per study (``design.noise``):

* ``realisation`` (default for Sobol and Morris; SALib's maintainers' advice in SALib issue #292):
  an extra factor indexes the random realisation (it offsets the root seed). Its indices measure
  how much of the output variance is the model's own randomness, so the factors' indices are not
  silently inflated or washed out by it. Inside Saltelli's scheme, the rows ``A`` and ``AB_i``
  that estimate factor ``i`` share their realisation (common random numbers), which keeps the
  estimators' noise low.
* ``average``: every point runs the same replicate ids ``0..R-1`` (common random numbers across
  points) and the analysis uses the mean over replicates; the indices then describe the expected
  outcome, with noise shrinking as ``1/R``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.experiments.study import REALISATION, StudyPlan

CONFIDENCE = 0.95


def sweep_table(plan: StudyPlan, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per design point and replicate, from the engine's runs table.

    Design points that share a model configuration (their engine point ran once) get copies of
    its rows with their own ``design_point`` and factor values. Columns: ``scenario``,
    ``design_point``, one per factor, ``replicate``, ``run_id``, then the outcomes.
    """
    names = [c for c in plan.design.columns if c != "design_point"]
    first = {i: plan.points[i].labels["design_point"] for i in range(len(plan.points))}
    by_point = {dp: frame for dp, frame in runs.groupby("design_point", sort=False)}
    parts = []
    for dp, row in zip(plan.design["design_point"], plan.design.to_dict("records"), strict=True):
        source = by_point.get(first[plan.point_of[int(dp)]])
        if source is None:  # the point failed: no rows
            continue
        part = source.copy()
        if int(source["design_point"].iloc[0]) != int(dp):
            part["design_point"] = int(dp)
            for name in names:
                part[name] = row[name]
        parts.append(part)
    if not parts:
        return runs.iloc[0:0].copy()
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(["design_point", "replicate"], kind="stable").reset_index(drop=True)


def point_summary(
    table: pd.DataFrame, factors: Sequence[str], outcomes: Sequence[str]
) -> pd.DataFrame:
    """Per design point and outcome: n, mean, sd, 95% t-interval and half-width."""
    from sim.engine.stats import summarise

    return summarise(table, by=["design_point", *factors], outcomes=list(outcomes))


def point_means(table: pd.DataFrame, outcome: str, n_points: int) -> np.ndarray:
    """Mean of ``outcome`` over replicates for design points ``0..n_points-1`` (NaN if none)."""
    means = table.groupby("design_point")[outcome].mean()
    return means.reindex(range(n_points)).to_numpy(dtype=float)


def _problem(names: Sequence[str]) -> dict[str, Any]:
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def sobol_indices(
    plan: StudyPlan, table: pd.DataFrame, outcomes: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sobol first-order (S1) and total-order (ST) indices with 95% bootstrap half-widths.

    Returns:
        (indices, second_order): ``outcome, factor, S1, S1_conf, ST, ST_conf`` (an outcome whose
        point means are constant or missing gets NaN and a ``note``), and, for studies with
        ``second_order``, ``outcome, factor_i, factor_j, S2, S2_conf``.
    """
    from SALib.analyze import sobol

    names = plan.study.factor_names
    spec = plan.study.design
    rows, rows2 = [], []
    for outcome in outcomes:
        y = point_means(table, outcome, len(plan.design))
        note = _unusable(y)
        if note:
            rows += [_nan_row(outcome, f, ("S1", "S1_conf", "ST", "ST_conf"), note) for f in names]
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            res = sobol.analyze(
                _problem(names), y, calc_second_order=spec.second_order,
                num_resamples=spec.resamples, conf_level=CONFIDENCE, seed=plan.info["seed"],
            )  # fmt: skip
        for j, f in enumerate(names):
            rows.append(
                {"outcome": outcome, "factor": f, "S1": res["S1"][j], "S1_conf": res["S1_conf"][j],
                 "ST": res["ST"][j], "ST_conf": res["ST_conf"][j], "note": ""}
            )  # fmt: skip
        if spec.second_order:
            for i in range(len(names)):
                for j in range(i + 1, len(names)):
                    rows2.append(
                        {"outcome": outcome, "factor_i": names[i], "factor_j": names[j],
                         "S2": res["S2"][i, j], "S2_conf": res["S2_conf"][i, j]}
                    )  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(rows2)


def morris_indices(plan: StudyPlan, table: pd.DataFrame, outcomes: Sequence[str]) -> pd.DataFrame:
    """Morris elementary effects: ``mu``, ``mu_star`` (with 95% bootstrap half-width), ``sigma``.

    Effects are per unit of the factor's range (the design is on the unit cube), so ``mu_star`` is
    the mean absolute change of the outcome when a factor moves across its whole range.
    """
    from SALib.analyze import morris

    names = plan.study.factor_names
    spec = plan.study.design
    rows = []
    for outcome in outcomes:
        y = point_means(table, outcome, len(plan.design))
        note = _unusable(y)
        if note:
            cols = ("mu", "mu_star", "mu_star_conf", "sigma")
            rows += [_nan_row(outcome, f, cols, note) for f in names]
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            res = morris.analyze(
                _problem(names), plan.unit, y, num_resamples=spec.resamples,
                conf_level=CONFIDENCE, num_levels=spec.levels, seed=plan.info["seed"],
            )  # fmt: skip
        for j, f in enumerate(names):
            rows.append(
                {"outcome": outcome, "factor": f, "mu": res["mu"][j], "mu_star": res["mu_star"][j],
                 "mu_star_conf": res["mu_star_conf"][j], "sigma": res["sigma"][j], "note": ""}
            )  # fmt: skip
    return pd.DataFrame(rows)


def regression_effects(
    plan: StudyPlan, table: pd.DataFrame, outcomes: Sequence[str]
) -> pd.DataFrame:
    """Standardised regression coefficients of the point means on the factors, with 95% CIs.

    A first-order linear metamodel ``mean(y) ~ b0 + sum_j b_j x_j`` (factors in unit coordinates,
    categorical levels as their rank); ``src_j = b_j sd(x_j) / sd(y)`` makes factors comparable
    (in a nearly orthogonal design the coefficients are almost uncorrelated). ``r2`` says how much
    of the variation across points a linear model explains: a low value points to
    non-linearities or interactions (look at the scatter plots).
    """
    from scipy import stats as sps

    names = plan.study.factor_names
    x = plan.unit
    n, d = x.shape
    rows = []
    for outcome in outcomes:
        y = point_means(table, outcome, len(plan.design))
        keep = np.isfinite(y)
        xs, ys = x[keep], y[keep]
        note = _unusable(ys) if keep.any() else "no finite values"
        dof = int(keep.sum()) - d - 1
        if not note and dof < 1:
            note = f"{int(keep.sum())} points are too few for {d} factors"
        if note:
            rows += [_nan_row(outcome, f, ("src", "ci_low", "ci_high", "r2"), note) for f in names]
            continue
        design = np.column_stack([np.ones(len(ys)), xs])
        beta, *_ = np.linalg.lstsq(design, ys, rcond=None)
        resid = ys - design @ beta
        sigma2 = float(resid @ resid) / dof
        cov = sigma2 * np.linalg.pinv(design.T @ design)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        t = float(sps.t.ppf(0.5 + CONFIDENCE / 2, dof))
        sd_y = float(ys.std(ddof=1))
        r2 = 1.0 - float(resid @ resid) / float(((ys - ys.mean()) ** 2).sum())
        for j, f in enumerate(names):
            scale = float(xs[:, j].std(ddof=1)) / sd_y
            b, s = beta[j + 1] * scale, se[j + 1] * scale
            rows.append(
                {"outcome": outcome, "factor": f, "src": b, "ci_low": b - t * s,
                 "ci_high": b + t * s, "r2": r2, "note": ""}
            )  # fmt: skip
    return pd.DataFrame(rows)


def _unusable(y: np.ndarray) -> str:
    if y.size == 0:
        return "no values"
    if not np.all(np.isfinite(y)):
        bad = int((~np.isfinite(y)).sum())
        return f"{bad} design points without a value (outcome undefined or run failed)"
    if float(np.ptp(y)) == 0.0:
        return "constant over the design"
    return ""


def _nan_row(outcome: str, factor: str, cols: Sequence[str], note: str) -> dict[str, Any]:
    return {"outcome": outcome, "factor": factor, **dict.fromkeys(cols, math.nan), "note": note}


def ranking(indices: pd.DataFrame, outcome: str, column: str = "ST") -> list[str]:
    """Factors of one outcome, most influential first (NaN last)."""
    sub = indices[indices["outcome"] == outcome].sort_values(column, ascending=False)
    return sub["factor"].tolist()


__all__ = [
    "REALISATION",
    "morris_indices",
    "point_means",
    "point_summary",
    "ranking",
    "regression_effects",
    "sobol_indices",
    "sweep_table",
]
