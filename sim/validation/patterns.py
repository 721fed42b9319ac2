"""The stylised facts of DOMAIN.md section 5 as tests over results tables.

Why tables, not models: each pattern is a pure function of the ``runs``, ``timeseries`` and
``incidents`` tables of a set of labelled experiments, so the same functions check a fresh
``gapsim validate`` run, a saved one, or the fast subset in the test suite. Each returns rows with
the statistic, its 95 % interval across replicates (t-interval, or paired when two arms share
replicate ids), the criterion and whether it held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.engine.stats import t_interval


@dataclass(frozen=True)
class Arm:
    """One experiment arm of the suite: a label and the overrides that define it."""

    label: str
    overrides: tuple[str, ...]
    days: int | None = None


#: Arms the full suite runs (labels are the ``scenario`` column of the tables).
ARMS: tuple[Arm, ...] = (
    Arm("status_quo", ("scenario=status_quo_2019",), 365),
    Arm("gap_2km", ("scenario=status_quo_2019", "gap_width_km=2"), 365),
    Arm("gap_6km", ("scenario=status_quo_2019", "gap_width_km=6"), 365),
    Arm("withdrawal", ("scenario=withdrawal_2017",), 730),
    Arm("jcc", ("scenario=coordination_centres_2021",), 365),
    Arm("joint_ops", ("scenario=joint_operations",), 365),
    Arm("brigades", ("scenario=joint_brigades",), 365),
    Arm("status_quo_3y", ("scenario=status_quo_2019",), 1095),
)


@dataclass
class Tables:
    runs: pd.DataFrame
    timeseries: pd.DataFrame
    incidents: pd.DataFrame

    def arm(self, label: str) -> Tables:
        return Tables(self.runs[self.runs["scenario"] == label],
                      self.timeseries[self.timeseries["scenario"] == label],
                      self.incidents[self.incidents["scenario"] == label])


def _row(pattern: str, statistic: str, values, criterion: str, test: Callable[[float, float, float], bool],
         source: str) -> dict:
    ci = t_interval(np.asarray(values, dtype=float))
    held = bool(np.isfinite(ci.mean) and test(ci.mean, ci.low, ci.high))
    return {"pattern": pattern, "statistic": statistic, "value": ci.mean, "low": ci.low,
            "high": ci.high, "n": ci.n, "criterion": criterion, "held": held, "source": source}


def _paired(t: Tables, a: str, b: str, outcome: str) -> np.ndarray:
    x = t.arm(a).runs.set_index("replicate")[outcome]
    y = t.arm(b).runs.set_index("replicate")[outcome]
    common = x.index.intersection(y.index)
    return (y.loc[common] - x.loc[common]).to_numpy(dtype=float)


def gap_concentration(t: Tables) -> list[dict]:
    q = t.arm("status_quo").runs
    # Share of incidents in the gap minus the gap's share of the map: > 0 exactly when incidents
    # per km2 are higher in the gap than elsewhere, and bounded (a per-replicate density ratio
    # explodes when a replicate has few incidents outside the gap).
    excess = q["incidents_gap"] / q["incidents"].where(q["incidents"] > 0) - q["gap_area_share"]
    return [
        _row("1 incidents concentrate in the gap",
             "share of incidents in the gap minus the gap's share of the map", excess,
             "lower 95% bound > 0", lambda m, lo, hi: lo > 0, "DOMAIN 5c-1; seeds 001-004 (S4)"),
        _row("1 ... and grow with its width", "incidents, gap 6 km minus 2 km (paired)",
             _paired(t, "gap_2km", "gap_6km", "incidents"), "lower 95% bound > 0",
             lambda m, lo, hi: lo > 0, "DOMAIN 5c-1"),
    ]


def withdrawal_shock(t: Tables) -> list[dict]:
    ts = t.arm("withdrawal").timeseries
    rows_inc, rows_tips, rows_links, rows_recover = [], [], [], []
    for _, rep in ts.groupby("replicate"):
        rep = rep.sort_values("day")
        cut = int(np.flatnonzero(rep["date"].to_numpy() >= "2017-10-17")[0])
        before = rep.iloc[:cut]
        after = rep.iloc[cut:cut + 365]
        rows_inc.append(after["incidents"].mean() * 30.44 - before["incidents"].mean() * 30.44)
        pesh_before = before["tips_pesh"].mean()
        plain_after = (after["tips_ia"] + after["tips_pmf"]).iloc[:182].mean()
        rows_tips.append(plain_after / pesh_before if pesh_before > 0 else np.nan)
        links = (rep["links_pesh"] + rep["links_ia"] + rep["links_pmf"]).to_numpy(dtype=float)
        rows_links.append(links[cut + 1] / links[cut - 1] if links[cut - 1] else np.nan)
        rows_recover.append(links[min(cut + 180, len(links) - 1)] / links[cut - 1]
                            if links[cut - 1] else np.nan)
    return [
        _row("2 the 2017 withdrawal raises incidents", "incidents per month, after minus before",
             rows_inc, "lower 95% bound > 0", lambda m, lo, hi: lo > 0, "DOMAIN 5c-2; seed 002 (Q24)"),
        _row("2 ... tips to the plain's new holders collapse",
             "tips/day to IA+PMF (6 months after) / to PESH (before)", rows_tips,
             "upper 95% bound < 0.5", lambda m, lo, hi: hi < 0.5, "seed 002 (S6, S8, S9)"),
        _row("2 ... the informant network collapses", "informant links the day after / before",
             rows_links, "upper 95% bound < 0.6", lambda m, lo, hi: hi < 0.6, "seed 002 (S6)"),
        _row("2 ... and recovers only slowly", "informant links 180 days after / before",
             rows_recover, "upper 95% bound < 0.8", lambda m, lo, hi: hi < 0.8, "seed 002 (S6, S8)"),
    ]


def diurnal_shift(t: Tables) -> list[dict]:
    """Higher pressure (joint brigades: more patrols, clashes and strikes, so more heat) shifts
    insurgent movement from day to night; low pressure lets them roam in daylight."""
    return [
        _row("3 insurgents move by night when pressure is high",
             "daylight share of moves, joint brigades minus status quo (paired)",
             _paired(t, "status_quo", "brigades", "daylight_move_share"), "upper 95% bound < 0",
             lambda m, lo, hi: hi < 0, "DOMAIN 5c-3; seed 002 (S14); rudaw 071120182"),
        _row("3 ... and heat is what drives it", "mean heat, joint brigades minus status quo (paired)",
             _paired(t, "status_quo", "brigades", "heat_mean"), "lower 95% bound > 0",
             lambda m, lo, hi: lo > 0, "DOMAIN 4.7 item 2"),
    ]


def seasonality(t: Tables) -> list[dict]:
    inc = t.arm("status_quo").incidents.copy()
    ts = t.arm("status_quo").timeseries
    month_of_day = pd.to_datetime(ts.drop_duplicates("day").set_index("day")["date"]).dt.month
    inc["month"] = inc["day"].map(month_of_day)
    out = []
    for kind, months, label, src in (
        ("kidnapping", {1, 2, 3, 4}, "4 truffle-season kidnappings cluster in Jan-Apr",
         "seeds 002/003 (S18)"),
        ("arson", {5, 6}, "4 arson clusters in May-Jun", "shafaaq May 2020"),
    ):
        shares = []
        for _, rep in inc[inc["type"] == kind].groupby("replicate"):
            shares.append(rep["month"].isin(months).mean())
        base = len(months) / 12
        out.append(_row(label, f"share of {kind}s in months {sorted(months)}", shares,
                        f"mean > {1.5 * base:.2f} (1.5 x the calendar share)",
                        lambda m, lo, hi, b=base: m > 1.5 * b, src))
    return out


def displacement(t: Tables) -> list[dict]:
    lulls, kept = [], []
    for _, rep in t.arm("joint_ops").timeseries.groupby("replicate"):
        rep = rep.sort_values("day").reset_index(drop=True)
        inc = rep["incidents"].to_numpy(dtype=float)
        fighters = rep["fighters"].to_numpy(dtype=float)
        for d in np.flatnonzero(rep["joint_ops"].to_numpy() > 0):
            if d < 14 or d + 31 > len(rep):
                continue
            lulls.append(inc[d + 1:d + 15].sum() - inc[d - 14:d].sum())
            kept.append(fighters[d + 30] / fighters[d - 1] if fighters[d - 1] else np.nan)
    return [
        _row("5 clearing brings a lull", "incidents in 14 days after minus before a joint op", lulls,
             "mean < 0", lambda m, lo, hi: m < 0, "DOMAIN 5c-7; diyaruna Dec 2019"),
        _row("5 ... but displaces rather than eradicates", "fighters 30 days after / before", kept,
             "lower 95% bound > 0.5", lambda m, lo, hi: lo > 0.5, "seed 004 (S23)"),
    ]


def coordination(t: Tables) -> list[dict]:
    return [
        _row("6 coordination raises tips reaching the acting force",
             "share of tips reaching the acting force, jcc minus none (paired)",
             _paired(t, "status_quo", "jcc", "tips_reaching_share"), "lower 95% bound > 0",
             lambda m, lo, hi: lo > 0, "DOMAIN 5c-8"),
        _row("6 ... and lowers incidents", "incidents, joint brigades minus none (paired)",
             _paired(t, "status_quo", "brigades", "incidents"), "upper 95% bound < 0",
             lambda m, lo, hi: hi < 0, "DOMAIN 5c-8; seed 004 (S24)"),
        _row("6 a standing garrison beats episodic joint ops",
             "incidents, joint brigades minus joint ops (paired)",
             _paired(t, "joint_ops", "brigades", "incidents"), "upper 95% bound < 0",
             lambda m, lo, hi: hi < 0, "seed 004 (S24)"),
    ]


def strength_band(t: Tables) -> list[dict]:
    ts = t.arm("status_quo_3y").timeseries
    last = ts[ts["day"] >= ts["day"].max() - 364].groupby("replicate")["fighters"]
    return [_row("7 fighters stay in band over three years", "fighters, mean over year 3",
                 last.mean(), "every replicate between 50 and 300",
                 lambda m, lo, hi, v=last: bool(v.min().min() >= 50 and v.max().max() <= 300),
                 "seed 002 (Q6); rudaw 071120182")]


def strike_tempo(t: Tables) -> list[dict]:
    q = t.arm("status_quo").runs
    return [
        _row("8 strike tempo near 2020", "airstrikes per year", q["airstrikes"] * 365 / _days(t),
             "mean within 60-105", lambda m, lo, hi: 60 <= m <= 105, "seed 004 (82 in 13 months)"),
        _row("8 ... and kills per strike", "militants killed per strike", q["kills_per_strike"],
             "mean within 0.4-1.0", lambda m, lo, hi: 0.4 <= m <= 1.0, "seed 004 (56 / 82)"),
        _row("8 fighters in band in the status quo year", "fighters, mean over the year",
             q["fighters_mean"], "mean within 50-300", lambda m, lo, hi: 50 <= m <= 300,
             "seed 002 (Q6)"),
    ]


def _days(t: Tables) -> float:
    ts = t.arm("status_quo").timeseries
    return float(ts["day"].max() + 1) if len(ts) else 365.0


PATTERNS: dict[str, tuple[Callable[[Tables], list[dict]], tuple[str, ...]]] = {
    "gap_concentration": (gap_concentration, ("status_quo", "gap_2km", "gap_6km")),
    "withdrawal_shock": (withdrawal_shock, ("withdrawal",)),
    "diurnal_shift": (diurnal_shift, ("status_quo", "brigades")),
    "seasonality": (seasonality, ("status_quo",)),
    "displacement": (displacement, ("joint_ops",)),
    "coordination": (coordination, ("status_quo", "jcc", "joint_ops", "brigades")),
    "strength_band": (strength_band, ("status_quo_3y",)),
    "strike_tempo": (strike_tempo, ("status_quo",)),
}


def evaluate(tables: Tables, names: list[str] | None = None) -> pd.DataFrame:
    """Run the named patterns (default: all) over the tables."""
    rows = []
    for name in names or list(PATTERNS):
        fn, _ = PATTERNS[name]
        rows += fn(tables)
    return pd.DataFrame(rows)
