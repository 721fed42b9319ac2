"""Scenario discovery: under which conditions does an outcome cross a threshold? (PRIM)

Why: sensitivity indices say *which* inputs matter; a workshop asks *where* things go wrong
("incidents exceed 20 per quarter when the gap is wider than 3.2 km and coordination is below
jcc"). PRIM (Friedman and Fisher 1999; Bryant and Lempert 2010) answers with boxes of factor
space: limits on a few factors inside which most runs cross the threshold (density) and which
hold most of the runs that do (coverage). The algorithm is EMA Workbench's
(``ema_workbench.analysis.prim``: peeling, pasting, quasi-p values of each limit, resampling);
this module only prepares the cases, chooses a box on the coverage-density trade-off by a stated
rule, and says it in words. It reads a tidy sweep table and writes nothing.

The choice rule: among the boxes on the peeling trajectory whose coverage is at least
``min_coverage`` and whose every limit is significant (quasi-p <= ``alpha``), the densest (ties:
fewer restricted factors, then more coverage). If no box qualifies, the box with enough coverage
whose weakest limit is strongest (smallest largest quasi-p) is taken and flagged as not
significant; if no box has enough coverage, the restricted box with the largest coverage. ``box=ID`` overrides the choice after a look at the figure.

References:
    Friedman, J. H., Fisher, N. I. (1999). Bump hunting in high-dimensional data. Statistics and
    Computing 9:123-143.
    Bryant, B. P., Lempert, R. J. (2010). Thinking inside the box. Technological Forecasting and
    Social Change 77:34-49.
    Kwakkel, J. H. (2017). The Exploratory Modeling Workbench. Environmental Modelling and
    Software 96:239-250.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import ConfigError

#: Days in the periods ``per=`` accepts (counts over a run become rates per period).
PERIOD_DAYS: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12,
                                 "quarter": 365.25 / 4, "year": 365.25}  # fmt: skip
DIRECTIONS: tuple[str, ...] = ("above", "below")
#: A later box is looked for only while this many cases of interest (and this share of them) lie
#: outside the earlier boxes: PRIM on a handful of leftovers finds noise.
MIN_LEFT = 5
MIN_LEFT_SHARE = 0.1
CASES: tuple[str, ...] = ("runs", "points")


@contextlib.contextmanager
def quiet_ema() -> Iterator[None]:
    """Silence warnings raised inside EMA Workbench (its import notes that ipyparallel is absent;
    its pandas calls trigger pandas-4 deprecations): they are not ours to fix, and the test suite
    turns deprecations into errors."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"ema_workbench")
        warnings.filterwarnings("ignore", message="ipyparallel not installed")
        yield


@dataclass(frozen=True)
class Limit:
    """One factor's limits in a box.

    Attributes:
        factor: factor column.
        low, high: the box's numeric limits (None: that side is not restricted).
        levels: categorical factors: the levels kept in the box (all levels when unrestricted).
        qp_low, qp_high: quasi-p values of the lower and upper limit (Bryant and Lempert 2010:
            one-sided binomial test of the density gain the limit buys; None when unrestricted).
        reproduce: percent of PRIM runs on random halves of the cases that restrict this factor
            too (None when not resampled).
    """

    factor: str
    low: float | None = None
    high: float | None = None
    levels: tuple[Any, ...] = ()
    qp_low: float | None = None
    qp_high: float | None = None
    reproduce: float | None = None

    @property
    def qp(self) -> float:
        """The largest quasi-p of the restricted sides (how weak the weakest side is)."""
        vals = [v for v in (self.qp_low, self.qp_high) if v is not None]
        return max(vals) if vals else math.nan


@dataclass(frozen=True)
class Box:
    """A chosen PRIM box and the trajectory it was chosen from.

    Attributes:
        number: 1 for the first box, 2 for the next (found among the cases left outside box 1).
        trajectory_id: the box's index on its peeling trajectory.
        coverage: share of all cases of interest inside the box.
        density: share of the box's cases that are of interest.
        mass: share of all cases inside the box.
        n, k: cases inside the box, of which of interest.
        significant: every limit has quasi-p <= alpha.
        limits: the restricted factors, most significant first.
        trajectory: the peeling trajectory (``id, coverage, density, mass, res_dim, n, k,
            max_qp``).
        note: why the box was chosen when the rule had to fall back ("" otherwise).
    """

    number: int
    trajectory_id: int
    coverage: float
    density: float
    mass: float
    n: int
    k: int
    significant: bool
    limits: tuple[Limit, ...]
    trajectory: pd.DataFrame
    note: str = ""


@dataclass
class Discovery:
    """Boxes where an outcome crosses a threshold, and the facts needed to read them.

    Attributes:
        outcome, direction, threshold: what counts as a case of interest (``outcome`` above or
            below ``threshold``, after ``per`` scaling).
        per: the period of a rate (``quarter``, ...) or None for the outcome per run.
        days: simulated days per run (None when unknown).
        on: ``runs`` (each replicate is a case) or ``points`` (each design point's mean).
        cases, of_interest: cases analysed and how many cross the threshold.
        factors: the factor columns PRIM could restrict.
        boxes: the chosen boxes, first to last.
        kinds: per factor, ``numeric`` or ``categorical``.
        units: per factor, its unit ("" when dimensionless).
    """

    outcome: str
    direction: str
    threshold: float
    per: str | None
    days: float | None
    on: str
    cases: int
    of_interest: int
    factors: list[str]
    boxes: list[Box]
    kinds: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    @property
    def base_rate(self) -> float:
        """Share of all cases that are of interest (the density of the whole space)."""
        return self.of_interest / self.cases if self.cases else math.nan

    def condition(self) -> str:
        """``incidents exceed 20 per quarter`` (what a case of interest is, in words)."""
        verb = "exceed" if self.direction == "above" else "stay below"
        what = f"mean {self.outcome}" if self.on == "points" else self.outcome
        if self.per:
            when = f" per {self.per}"
        elif self.days:
            when = f" in {self.days:g} days"
        else:
            when = ""
        return f"{what} {verb} {_num(self.threshold)}{when}"

    def sentence(self, box: Box) -> str:
        """The plain-language line of a box."""
        parts = [phrase(lim, self.kinds.get(lim.factor, "numeric"), self.units.get(lim.factor, ""))
                 for lim in box.limits]
        if not parts:
            conditions = "anywhere in the factor space"
        elif len(parts) == 1:
            conditions = f"when {parts[0]}"
        else:
            conditions = "when " + ", ".join(parts[:-1]) + " and " + parts[-1]
        lead = self.condition() if box.number == 1 else f"also, {self.condition()}"
        flag = "" if box.significant else " (not every limit is significant)"
        return (f"{lead} {conditions}, coverage {box.coverage:.0%}, density {box.density:.0%}"
                f"{flag}")

    def limits_table(self) -> pd.DataFrame:
        """One row per box and restricted factor: limits, levels, quasi-p, reproducibility."""
        rows = []
        for box in self.boxes:
            for lim in box.limits:
                rows.append({
                    "box": box.number, "factor": lim.factor, "low": lim.low, "high": lim.high,
                    "levels": "|".join(map(str, lim.levels)) if lim.levels else "",
                    "qp_low": lim.qp_low, "qp_high": lim.qp_high,
                    "reproduce_pct": lim.reproduce, "coverage": box.coverage,
                    "density": box.density, "mass": box.mass, "n": box.n, "k": box.k,
                    "trajectory_id": box.trajectory_id, "significant": box.significant})  # fmt: skip
        return pd.DataFrame(rows)

    def trajectory_table(self) -> pd.DataFrame:
        """Every box's peeling trajectory, with a ``box`` and a ``chosen`` column."""
        frames = []
        for box in self.boxes:
            t = box.trajectory.copy()
            t.insert(0, "box", box.number)
            t["chosen"] = t["id"] == box.trajectory_id
            frames.append(t)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# -------------------------------------------------------------------------------------- words


def _num(value: float) -> str:
    return f"{value:.3g}" if value != int(value) or abs(value) >= 1e6 else f"{int(value)}"


def _coordination(value: float) -> str:
    from sim.model.params import COORDINATION_LEVELS

    nearest = int(round(value))
    if abs(value - nearest) < 0.15 and 0 <= nearest < len(COORDINATION_LEVELS):
        return COORDINATION_LEVELS[nearest]
    lo = COORDINATION_LEVELS[max(0, min(int(math.floor(value)), len(COORDINATION_LEVELS) - 1))]
    hi = COORDINATION_LEVELS[max(0, min(int(math.ceil(value)), len(COORDINATION_LEVELS) - 1))]
    return f"{value:.2g} (between {lo} and {hi})"


def phrase(lim: Limit, kind: str = "numeric", unit: str = "") -> str:
    """A limit in words: ``the gap is wider than 3.2 km``, ``coordination is below jcc``."""
    if kind == "categorical":
        kept = [str(v) for v in lim.levels]
        return f"{lim.factor} is {' or '.join(kept) if len(kept) <= 2 else 'one of ' + ', '.join(kept)}"
    u = f" {unit}" if unit else ""
    lo, hi = lim.low, lim.high
    if lim.factor == "gap_width_km":
        if lo is not None and hi is not None:
            return f"the gap is {_num(lo)}-{_num(hi)} km wide"
        return (f"the gap is wider than {_num(lo)} km" if lo is not None
                else f"the gap is narrower than {_num(hi)} km")  # fmt: skip
    fmt = _coordination if lim.factor == "coordination" else _num
    if lo is not None and hi is not None:
        return f"{lim.factor} is between {fmt(lo)} and {fmt(hi)}{u}"
    if lo is not None:
        return f"{lim.factor} is above {fmt(lo)}{u}"
    return f"{lim.factor} is below {fmt(hi)}{u}"


# -------------------------------------------------------------------------------------- cases


def cases(table: pd.DataFrame, factors: Sequence[str], outcome: str, *, per: str | None = None,
          days: float | None = None, on: str = "runs") -> tuple[pd.DataFrame, np.ndarray]:
    """The factor matrix and the outcome values PRIM works on.

    Integer factors become floats (EMA Workbench 3.0 pastes fractional limits into integer
    columns, which pandas 3 refuses); booleans become categories.
    """
    values = table[outcome].astype(float)
    if per is not None:
        run_days = table["days"].astype(float) if "days" in table.columns else days
        if run_days is None:
            raise ConfigError("per", per, "needs the run length: the sweep directory has no "
                              "base_config.yaml/config.yaml with days")
        values = values * (PERIOD_DAYS[per] / run_days)
    x = table[list(factors)].copy()
    if on == "points":
        frame = x.assign(_y=values.to_numpy())
        if "design_point" in table.columns:
            frame["_point"] = table["design_point"].to_numpy()
        key = "_point" if "_point" in frame.columns else list(factors)
        grouped = frame.groupby(key, sort=True)
        x = grouped[list(factors)].first().reset_index(drop=True)
        values = grouped["_y"].mean().reset_index(drop=True)
    for col in x.columns:
        if pd.api.types.is_bool_dtype(x[col]):
            x[col] = x[col].map({True: "true", False: "false"})
        elif pd.api.types.is_numeric_dtype(x[col]):
            x[col] = x[col].astype(float)
        else:
            x[col] = x[col].astype(str)
    return x.reset_index(drop=True), values.to_numpy(dtype=float)


def resolve_threshold(text: Any, values: np.ndarray) -> float:
    """A number, or ``pNN``: the NN-th percentile of the outcome over the cases."""
    raw = str(text).strip()
    try:
        if raw[:1].lower() == "p":
            q = float(raw[1:])
            if not 0 < q < 100:
                raise ValueError
            return float(np.percentile(values, q))
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError
        return value
    except ValueError:
        raise ConfigError("threshold", text, "must be a number (e.g. threshold=20) or a "
                          "percentile of the outcome (threshold=p75)") from None


# ---------------------------------------------------------------------------------- the boxes


def _limits(box: Any, i: int, kinds: Mapping[str, str],
            reproduce: Mapping[str, float] | None) -> tuple[Limit, ...]:
    lims = box.box_lims[i]
    out = []
    for factor, (qp_lo, qp_hi) in box.p_values[i].items():
        if kinds.get(factor) == "categorical":
            levels = tuple(sorted(lims[factor].iloc[0], key=str))
            qp = max(float(qp_lo), float(qp_hi))
            out.append(Limit(factor, levels=levels, qp_low=qp if qp >= 0 else None,
                             reproduce=(reproduce or {}).get(factor)))
            continue
        low = float(lims[factor].iloc[0]) if qp_lo >= 0 else None
        high = float(lims[factor].iloc[1]) if qp_hi >= 0 else None
        out.append(Limit(factor, low, high, qp_low=float(qp_lo) if qp_lo >= 0 else None,
                         qp_high=float(qp_hi) if qp_hi >= 0 else None,
                         reproduce=(reproduce or {}).get(factor)))
    return tuple(sorted(out, key=lambda lim: (lim.qp, lim.factor)))


def _max_qp(box: Any, i: int) -> float:
    vals = [float(v) for pair in box.p_values[i].values() for v in pair if v >= 0]
    return max(vals) if vals else math.nan


def choose(trajectory: pd.DataFrame, min_coverage: float, alpha: float,
           share_left: float = 1.0) -> tuple[int, bool, str]:
    """The box to report from a peeling trajectory (the module docstring's rule).

    Args:
        trajectory: ``id, coverage, density, res_dim, max_qp`` per box.
        share_left: share of all cases of interest still outside earlier boxes (coverage is
            judged against what is left).

    Returns:
        ``(id, significant, note)``.
    """
    t = trajectory[trajectory["res_dim"] > 0].copy()
    if t.empty:
        return 0, False, "PRIM could not restrict any factor"
    t["cov_left"] = t["coverage"] / max(share_left, 1e-12)
    enough = t[t["cov_left"] >= min_coverage - 1e-12]
    good = enough[enough["max_qp"] <= alpha]
    order = ["density", "res_dim", "coverage"]
    ascending = [False, True, False]
    if len(good):
        return int(good.sort_values(order, ascending=ascending).iloc[0]["id"]), True, ""
    if len(enough):
        pick = enough.sort_values(["max_qp", "density"], ascending=[True, False]).iloc[0]
        return int(pick["id"]), False, (f"no box with coverage >= {min_coverage:.0%} has only "
                                        f"significant limits (quasi-p <= {alpha}); shown: the one "
                                        "whose weakest limit is strongest")  # fmt: skip
    pick = t.sort_values("coverage", ascending=False).iloc[0]
    return int(pick["id"]), bool(pick["max_qp"] <= alpha), (
        f"no box reaches coverage {min_coverage:.0%}; the box with the largest coverage is shown")


def discover(table: pd.DataFrame, factors: Sequence[str], outcome: str, threshold: Any, *,
             direction: str = "above", per: str | None = None, days: float | None = None,
             on: str = "runs", min_coverage: float = 0.5, alpha: float = 0.05, boxes: int = 1,
             box: int | None = None, resamples: int = 10, seed: int = 0,
             peel_alpha: float = 0.05, paste_alpha: float = 0.05, mass_min: float = 0.05,
             units: Mapping[str, str] | None = None) -> Discovery:
    """PRIM boxes where ``outcome`` is above (or below) ``threshold``.

    Args:
        table: a sweep table (one row per design point and replicate).
        factors: the factor columns (constant ones are left out).
        threshold: a number or ``pNN`` (a percentile of the outcome over the cases).
        per: express the outcome per ``day|week|month|quarter|year`` (needs ``days``).
        on: ``runs`` (each replicate is a case) or ``points`` (design-point means).
        boxes: look for up to this many boxes, each among the cases outside the earlier ones.
        box: report this trajectory id for the first box instead of the rule's choice.
        resamples: PRIM reruns on random halves to score each limit's reproducibility (0: none;
            first box only: EMA Workbench 3.0 indexes the cases of a later box wrongly there).

    Raises:
        ConfigError: a threshold that no case (or every case) crosses.
    """
    x, values = cases(table, factors, outcome, per=per, days=days, on=on)
    thr = resolve_threshold(threshold, values)
    y = values > thr if direction == "above" else values < thr
    hits = int(y.sum())
    lo, hi = float(np.min(values)), float(np.max(values))
    label = f"{outcome}{' per ' + per if per else ''}"
    if hits == 0 or hits == len(y):
        which = "no" if hits == 0 else "every"
        raise ConfigError("threshold", threshold, f"{which} case has {label} {direction} "
                          f"{_num(thr)} ({label} ranges {_num(lo)}-{_num(hi)} over {len(y)} "
                          f"{on}); choose a threshold inside that range")  # fmt: skip
    keep = [c for c in x.columns if x[c].nunique() > 1]
    x = x[keep]
    kinds = {c: ("numeric" if pd.api.types.is_numeric_dtype(x[c]) else "categorical") for c in keep}
    with quiet_ema():
        from ema_workbench.analysis import prim

        finder = prim.Prim(x, y.astype(int), peel_alpha=peel_alpha, paste_alpha=paste_alpha,
                           mass_min=mass_min)
        found: list[Box] = []
        for number in range(1, max(int(boxes), 1) + 1):
            candidate = finder.find_box()  # first drops the cases inside the earlier boxes
            left = int(y[finder.yi_remaining].sum())
            if candidate is None or (number > 1 and left < max(MIN_LEFT, MIN_LEFT_SHARE * hits)):
                break  # the earlier boxes hold (nearly) every case of interest
            traj = candidate.peeling_trajectory[["id", "coverage", "density", "mass", "res_dim",
                                                 "n", "k"]].copy()  # fmt: skip
            traj["max_qp"] = [_max_qp(candidate, i) for i in range(len(traj))]
            if number == 1 and box is not None:
                if not 0 <= int(box) < len(traj):
                    raise ConfigError("box", box, f"must be a box id on the trajectory, 0-{len(traj) - 1}")
                chosen, note = int(box), "chosen with box="
                significant = bool(traj.loc[chosen, "max_qp"] <= alpha)
            else:
                chosen, significant, note = choose(traj, min_coverage, alpha, left / hits)
                if number > 1 and (note or traj.loc[chosen, "density"] <= left / len(
                        finder.yi_remaining)):
                    break  # nothing clear left to find
            candidate.select(chosen)
            reproduce = None
            if resamples > 0 and number == 1:  # EMA 3.0 resamples later boxes with wrong indices
                scores = candidate.resample(chosen, iterations=int(resamples), rng=seed + number)
                reproduce = {str(k): float(v) for k, v in scores["reproduce coverage"].items()}
            row = traj.loc[chosen]
            found.append(Box(
                number=number, trajectory_id=chosen, coverage=float(row["coverage"]),
                density=float(row["density"]), mass=float(row["mass"]), n=int(row["n"]),
                k=int(row["k"]), significant=significant,
                limits=_limits(candidate, chosen, kinds, reproduce),
                trajectory=traj, note=note))  # fmt: skip
    return Discovery(outcome=outcome, direction=direction, threshold=thr, per=per, days=days,
                     on=on, cases=len(y), of_interest=hits, factors=keep, boxes=found,
                     kinds=kinds, units={k: (units or {}).get(k, "") for k in keep})
