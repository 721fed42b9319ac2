"""Scenario discovery: under which conditions does an outcome cross a threshold? (PRIM)

Why: sensitivity indices say *which* inputs matter; a workshop asks *where* things go wrong
("incidents exceed 20 per quarter when the gap is wider than 3.2 km and coordination is below
jcc"). PRIM (Friedman and Fisher 1999; Bryant and Lempert 2010) answers with boxes of factor
space: limits on a few factors inside which most runs cross the threshold (density) and which
hold most of the runs that do (coverage). The algorithm is EMA Workbench's
(``ema_workbench.analysis.prim``: peeling, pasting, quasi-p values of each limit, resampling);
this module only prepares the cases, chooses a box on the coverage-density trade-off by a stated
rule, and says it in words. It reads a tidy sweep table and writes nothing.

The choice rule. PRIM's peeling trajectory offers many boxes; with many factors the dense ones
restrict factors whose limits buy nothing significant. So every box on the trajectory is first
*simplified* as an analyst would with EMA Workbench's ``drop_restriction``: while one of its
limits (one side of a factor's range) has a quasi-p above ``alpha``, that limit is dropped and the
wider box's statistics recomputed. Among the simplified boxes whose coverage is at least
``min_coverage``, the one with the best balance of coverage and density is reported: a box is a
classifier of the cases of interest, density its precision and coverage its recall, and the
balance is their harmonic mean (the F1 score); ties go to fewer restricted factors. A rule that
took the densest box would trade a lot of coverage for a point of density. If no box reaches
``min_coverage``, the one with the largest coverage, with a note. ``box=ID`` starts from
trajectory box ``ID`` instead (``simplify=False``: report it as it is).

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
        reproduce: percent of PRIM runs on random halves of the cases whose box restricts this
            factor too, the box picked on each resampled trajectory by matching the coverage and
            by matching the density (EMA Workbench's "reproduce coverage" and "reproduce
            density"); None when not resampled. Matching a high coverage picks an early, barely
            peeled box, so a strong limit found late in the peeling can score low on the first.
    """

    factor: str
    low: float | None = None
    high: float | None = None
    levels: tuple[Any, ...] = ()
    qp_low: float | None = None
    qp_high: float | None = None
    reproduce: tuple[float, float] | None = None

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
            max_qp``) and, with ``from_id`` set, the boxes made by dropping limits.
        note: why the box was chosen when the rule had to fall back ("" otherwise).
        start_id: the peeling-trajectory box it was simplified from.
        dropped: the insignificant limits dropped, in order (``gap_width_km <=``: the upper
            limit of gap width).
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
    start_id: int | None = None
    dropped: tuple[str, ...] = ()


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
        percentile: the percentile the threshold was given as (``threshold=p75``), or None.
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
    percentile: float | None = None

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
        which = f" (the {_ordinal(self.percentile)} percentile)" if self.percentile else ""
        return f"{what} {verb} {_num(self.threshold)}{when}{which}"

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
                    "reproduce_coverage_pct": lim.reproduce[0] if lim.reproduce else None,
                    "reproduce_density_pct": lim.reproduce[1] if lim.reproduce else None,
                    "coverage": box.coverage,
                    "density": box.density, "mass": box.mass, "n": box.n, "k": box.k,
                    "trajectory_id": box.trajectory_id, "start_id": box.start_id,
                    "dropped": "|".join(box.dropped), "significant": box.significant})  # fmt: skip
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


def _ordinal(q: float) -> str:
    n = _num(q)
    if not n.isdigit():
        return n
    suffix = "th" if int(n) % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(int(n) % 10, "th")
    return n + suffix


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
            reproduce: Mapping[str, tuple[float, float]] | None) -> tuple[Limit, ...]:
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


def _trajectory(box: Any, start: int | None = None, peeled: int | None = None) -> pd.DataFrame:
    """The trajectory table; the boxes after the first ``peeled`` ones were made by dropping
    limits of box ``start`` and carry it as ``from_id``."""
    traj = box.peeling_trajectory[["id", "coverage", "density", "mass", "res_dim", "n",
                                   "k"]].copy()  # fmt: skip
    traj["id"] = traj["id"].astype(int)
    traj["max_qp"] = [_max_qp(box, i) for i in range(len(traj))]
    traj["from_id"] = pd.array([pd.NA] * len(traj), dtype="Int64")
    if start is not None and peeled is not None:
        traj.loc[traj["id"] >= peeled, "from_id"] = start
    return traj


def _max_qp(box: Any, i: int) -> float:
    vals = [float(v) for pair in box.p_values[i].values() for v in pair if v >= 0]
    return max(vals) if vals else math.nan


def _weakest(box: Any, i: int) -> tuple[float, str, int | None] | None:
    """The least significant limit of trajectory box ``i``: ``(quasi-p, factor, side)`` with
    side 0 (lower), 1 (upper) or None (a categorical factor's set of levels)."""
    worst: tuple[float, str, int | None] | None = None
    for factor, (qp_low, qp_high) in box.p_values[i].items():
        categorical = isinstance(box.box_lims[i][factor].iloc[0], set | frozenset)
        for side, qp in ((0, qp_low), (1, qp_high)):
            if qp >= 0 and (worst is None or qp > worst[0]):
                worst = (float(qp), str(factor), None if categorical else side)
    return worst


def _drop_limit(box: Any, i: int, factor: str, side: int | None) -> None:
    """Add box ``i`` without one limit (one side of a numeric factor, or a categorical factor's
    restriction) to the trajectory, its statistics and quasi-p values recomputed. EMA Workbench's
    ``drop_restriction`` drops both sides of a factor at once; a quasi-p belongs to one side."""
    from ema_workbench.analysis import scenario_discovery_util as sdutil

    lims = box.box_lims[i].copy()
    initial = box.box_lims[0]
    if side is None:
        lims[factor] = initial[factor]
    else:
        lims.loc[side, factor] = initial.loc[side, factor]
    remaining = box.prim.yi_remaining
    inside = sdutil._in_box(box.prim.x.loc[remaining, :], lims)  # as drop_restriction does
    box.update(lims, remaining[inside])


def simplify(box: Any, start: int, alpha: float) -> tuple[int, list[str]]:
    """Select trajectory box ``start``, then drop its least significant limit while one has a
    quasi-p above ``alpha``; each wider box joins the trajectory.

    Returns:
        The final box's trajectory id and the dropped limits (``factor>=`` / ``factor<=`` /
        ``factor in``).
    """
    box.select(start)
    current, dropped = start, []
    while (weakest := _weakest(box, current)) is not None and weakest[0] > alpha:
        _, factor, side = weakest
        _drop_limit(box, current, factor, side)
        current = len(box.peeling_trajectory) - 1
        dropped.append(f"{factor} {'in' if side is None else ('>=', '<=')[side]}")
    return current, dropped


def simplified_boxes(box: Any, trajectory: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Every restricted box of a trajectory, simplified (on a copy): one row per start id with
    the simplified box's ``coverage, density, res_dim, max_qp`` and ``dropped``."""
    import copy

    rows = []
    for start in trajectory.loc[trajectory["res_dim"] > 0, "id"]:
        trial = copy.deepcopy(box)
        final, dropped = simplify(trial, int(start), alpha)
        stats = trial.peeling_trajectory.iloc[final]
        rows.append({"id": int(start), "coverage": float(stats["coverage"]),
                     "density": float(stats["density"]), "res_dim": int(stats["res_dim"]),
                     "max_qp": _max_qp(trial, final), "dropped": len(dropped)})  # fmt: skip
    return pd.DataFrame(rows, columns=["id", "coverage", "density", "res_dim", "max_qp",
                                       "dropped"])  # fmt: skip


def choose(trajectory: pd.DataFrame, min_coverage: float, alpha: float,
           share_left: float = 1.0) -> tuple[int, bool, str]:
    """The box to report among candidate boxes (the module docstring's rule, applied to the
    simplified boxes, whose limits are all significant; the fallbacks cover the rest).

    Args:
        trajectory: ``id, coverage, density, res_dim, max_qp`` per candidate box.
        share_left: share of all cases of interest still outside earlier boxes (coverage is
            judged against what is left).

    Returns:
        ``(id, significant, note)``.
    """
    t = trajectory[trajectory["res_dim"] > 0].copy()
    if t.empty:
        return 0, False, "no box restricts a factor significantly"
    t["cov_left"] = (t["coverage"] / max(share_left, 1e-12)).clip(upper=1.0)
    t["balance"] = 2 * t["cov_left"] * t["density"] / (t["cov_left"] + t["density"])
    enough = t[t["cov_left"] >= min_coverage - 1e-12]
    good = enough[enough["max_qp"] <= alpha]
    order = ["balance", "res_dim", "density"]
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
             box: int | None = None, simplify_box: bool = True, resamples: int = 10, seed: int = 0,
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
        box: start the first box from this trajectory id instead of the rule's choice.
        simplify_box: drop insignificant limits (False: report trajectory boxes as they are).
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
            traj = _trajectory(candidate)
            if number == 1 and box is not None:
                if not 0 <= int(box) < len(traj):
                    raise ConfigError("box", box, f"must be a box id on the trajectory, 0-{len(traj) - 1}")
                start, note = int(box), "started from box="
            else:
                options = simplified_boxes(candidate, traj, alpha) if simplify_box else traj
                start, _, note = choose(options, min_coverage, alpha, left / hits)
            peeled = len(traj)
            chosen, dropped = (simplify(candidate, start, alpha) if simplify_box
                               else (start, []))  # fmt: skip
            candidate.select(chosen)
            traj = _trajectory(candidate, start, peeled)
            row = traj.loc[chosen]
            if number > 1 and (note or row["density"] <= left / len(finder.yi_remaining)):
                break  # nothing clear left to find
            reproduce = None
            if resamples > 0 and number == 1:  # EMA 3.0 resamples later boxes with wrong indices
                scores = candidate.resample(chosen, iterations=int(resamples), rng=seed + number)
                reproduce = {str(k): (round(float(row["reproduce coverage"]), 1),  # EMA sums
                                      round(float(row["reproduce density"]), 1))  # 1/iterations
                             for k, row in scores.iterrows()}
            found.append(Box(
                number=number, trajectory_id=chosen, coverage=float(row["coverage"]),
                density=float(row["density"]), mass=float(row["mass"]), n=int(row["n"]),
                k=int(row["k"]), significant=bool(_max_qp(candidate, chosen) <= alpha),
                limits=_limits(candidate, chosen, kinds, reproduce),
                trajectory=traj, note=note, start_id=start, dropped=tuple(dropped)))  # fmt: skip
    given = str(threshold).strip()
    percentile = float(given[1:]) if given[:1].lower() == "p" else None
    return Discovery(outcome=outcome, direction=direction, threshold=thr, per=per, days=days,
                     on=on, cases=len(y), of_interest=hits, factors=keep, boxes=found,
                     kinds=kinds, units={k: (units or {}).get(k, "") for k in keep},
                     percentile=percentile)
