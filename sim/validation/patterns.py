"""The stylised facts of DOMAIN.md 5c as checks over results tables, each with its mechanism.

Why tables, not models: each check's statistic is a pure function of the ``runs``,
``timeseries`` and ``incidents`` tables of labelled arms, so the same functions score a fresh
``gapsim validate`` run, a saved one, a negative control, or synthetic tables in the tests.

Why a mechanism per check: a pattern counts as validation only if it *disappears* when the
mechanism said to produce it is switched off (``model.ablate``); if it holds anyway it is built
into the rules and does not count (``sim.validation.controls``). ``MECHANISM`` below is the one
place that names them: edit it when the model's mechanisms change.

Calibration targets are not here: strike tempo, kills per strike, the fighter band, event mix and
sizes (DOMAIN 5a, 5c-9, 5c-10) are fitted (``sim.validation.targets``) and never count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.engine.stats import t_interval

#: Check id -> the mechanisms (``sim.model.mechanisms.MECHANISMS``) expected to produce it.
#: The negative control reruns the check's arms with all of them switched off. ``()`` means no
#: switch exists for what produces the check: it is shown but cannot count.
MECHANISM: dict[str, tuple[str, ...]] = {
    "gap_concentration": ("patrols",),
    "gap_width": ("patrols",),
    "withdrawal_incidents": ("informants",),
    "withdrawal_tips": ("informants",),
    "withdrawal_links": ("informants",),
    "withdrawal_recovery": ("informants",),
    "diurnal_night": ("insurgent_learning",),
    "diurnal_heat": ("insurgent_learning",),
    "season_kidnapping": ("insurgent_learning",),
    "season_arson": (),  # the harvest calendar is an input, not a switchable mechanism
    "informants_punished": ("retribution",),
    "resupply_trust": ("informants",),
    "clearing_lull": ("clearing",),
    "clearing_displaces": ("clearing",),
    "coordination_tips": ("informants",),
    "coordination_incidents": ("patrols",),
    "garrison_beats_episodic": ("patrols",),
}

#: Regimes: whether a check's arms were part of the calibration scenario (2020 status quo, other
#: statistics than the fitted ones) or held out (the 2017 withdrawal, post-2021 coordination).
CALIBRATION_PERIOD = "2019-20 status quo (not fitted to this statistic)"
HELD_OUT_2017 = "2017 withdrawal (held out)"
HELD_OUT_2021 = "post-2021 coordination (held out)"


@dataclass(frozen=True)
class Arm:
    """One experiment arm: a label (the ``scenario`` column), its overrides and length."""

    label: str
    overrides: tuple[str, ...]
    days: int = 365


ARMS: tuple[Arm, ...] = (
    Arm("status_quo", ("scenario=status_quo_2019",)),
    Arm("gap_2km", ("scenario=status_quo_2019", "gap_width_km=2")),
    Arm("gap_6km", ("scenario=status_quo_2019", "gap_width_km=6")),
    Arm("town_trust", ("scenario=status_quo_2019", "model.trust_arab_ia=0.6",
                       "model.trust_kurd_ia=0.6")),
    Arm("withdrawal", ("scenario=withdrawal_2017",), 730),
    Arm("jcc", ("scenario=coordination_centres_2021",)),
    Arm("joint_ops", ("scenario=joint_operations",)),
    Arm("brigades", ("scenario=joint_brigades",)),
)
ARM_BY_LABEL = {a.label: a for a in ARMS}


@dataclass
class Tables:
    runs: pd.DataFrame
    timeseries: pd.DataFrame
    incidents: pd.DataFrame

    def arm(self, label: str) -> Tables:
        return Tables(self.runs[self.runs["scenario"] == label],
                      self.timeseries[self.timeseries["scenario"] == label],
                      self.incidents[self.incidents["scenario"] == label])

    def relabel(self, mapping: dict[str, str]) -> Tables:
        """The rows of the labels in ``mapping`` with their scenario renamed (controls)."""
        def sub(df: pd.DataFrame) -> pd.DataFrame:
            out = df[df["scenario"].isin(list(mapping))].copy()
            out["scenario"] = out["scenario"].map(mapping)
            return out

        return Tables(sub(self.runs), sub(self.timeseries), sub(self.incidents))


# ------------------------------------------------------------------------------ statistics
# Each takes (tables, reference tables) and returns one value per replicate (or per event).
# The reference is the unablated run: checks around events (joint operations) take the event
# days from it, so a control is scored at the same (placebo) dates.


def _paired(t: Tables, a: str, b: str, outcome: str) -> np.ndarray:
    """``b - a`` replicate by replicate (common random numbers make it a paired difference)."""
    x = t.arm(a).runs.set_index("replicate")[outcome]
    y = t.arm(b).runs.set_index("replicate")[outcome]
    common = x.index.intersection(y.index)
    return (y.loc[common] - x.loc[common]).to_numpy(dtype=float)


def gap_concentration(t: Tables, ref: Tables) -> np.ndarray:
    q = t.arm("status_quo").runs
    # Share of incidents in the gap minus the gap's share of the map: > 0 exactly when incidents
    # per km2 are higher in the gap; bounded (a density ratio explodes on small counts).
    share = q["incidents_gap"] / q["incidents"].where(q["incidents"] > 0)
    return (share - q["gap_area_share"]).to_numpy(dtype=float)


def gap_width(t: Tables, ref: Tables) -> np.ndarray:
    return _paired(t, "gap_2km", "gap_6km", "incidents")


def _withdrawal(t: Tables) -> list[tuple[pd.DataFrame, int]]:
    out = []
    for _, rep in t.arm("withdrawal").timeseries.groupby("replicate"):
        rep = rep.sort_values("day").reset_index(drop=True)
        after = np.flatnonzero(rep["date"].to_numpy() >= "2017-10-17")
        if len(after) and after[0] > 0:
            out.append((rep, int(after[0])))
    return out


def withdrawal_incidents(t: Tables, ref: Tables) -> np.ndarray:
    return np.array([(rep["incidents"].iloc[cut:cut + 365].mean()
                      - rep["incidents"].iloc[:cut].mean()) * 30.44
                     for rep, cut in _withdrawal(t)], dtype=float)


def withdrawal_tips(t: Tables, ref: Tables) -> np.ndarray:
    out = []
    for rep, cut in _withdrawal(t):
        before = rep["tips_pesh"].iloc[:cut].mean()
        after = (rep["tips_ia"] + rep["tips_pmf"]).iloc[cut:cut + 182].mean()
        out.append(after / before if before > 0 else np.nan)
    return np.array(out, dtype=float)


def _links(rep: pd.DataFrame) -> np.ndarray:
    """Informant links to every force's handlers (joint units' too, where the model has them)."""
    cols = [c for c in ("links_pesh", "links_ia", "links_pmf", "links_joint") if c in rep]
    return rep[cols].sum(axis=1).to_numpy(dtype=float)


def withdrawal_links(t: Tables, ref: Tables) -> np.ndarray:
    out = []
    for rep, cut in _withdrawal(t):
        links = _links(rep)
        out.append(links[min(cut + 1, len(links) - 1)] / links[cut - 1] if links[cut - 1] else np.nan)
    return np.array(out, dtype=float)


def withdrawal_recovery(t: Tables, ref: Tables) -> np.ndarray:
    out = []
    for rep, cut in _withdrawal(t):
        links = _links(rep)
        out.append(links[min(cut + 180, len(links) - 1)] / links[cut - 1] if links[cut - 1] else np.nan)
    return np.array(out, dtype=float)


def informants_punished(t: Tables, ref: Tables) -> np.ndarray:
    """Retributions per month while the Peshmerga network is intact minus after it collapsed:
    insurgents punish informants where there are informants to punish (S11, Q13)."""
    return np.array([(rep["retributions"].iloc[:cut].mean()
                      - rep["retributions"].iloc[cut:cut + 365].mean()) * 30.44
                     for rep, cut in _withdrawal(t)], dtype=float)


def diurnal_night(t: Tables, ref: Tables) -> np.ndarray:
    return _paired(t, "status_quo", "brigades", "daylight_move_share")


def diurnal_heat(t: Tables, ref: Tables) -> np.ndarray:
    ts = t.timeseries
    means = ts.groupby(["scenario", "replicate"])["heat_mean"].mean().rename("heat_mean")
    runs = means.reset_index()
    return _paired(Tables(runs, ts, t.incidents), "status_quo", "brigades", "heat_mean")


def _season_share(t: Tables, kind: str, months: set[int]) -> np.ndarray:
    inc = t.arm("status_quo").incidents
    ts = t.arm("status_quo").timeseries
    if not len(ts):
        return np.array([], dtype=float)
    month_of_day = pd.to_datetime(ts.drop_duplicates("day").set_index("day")["date"]).dt.month
    sub = inc[inc["type"] == kind]
    months_of = sub["day"].map(month_of_day)
    return np.array([months_of[sub["replicate"] == r].isin(months).mean()
                     for r in sorted(set(sub["replicate"]))], dtype=float)


def season_kidnapping(t: Tables, ref: Tables) -> np.ndarray:
    return _season_share(t, "kidnapping", {1, 2, 3, 4})


def season_arson(t: Tables, ref: Tables) -> np.ndarray:
    return _season_share(t, "arson", {5, 6})


def resupply_trust(t: Tables, ref: Tables) -> np.ndarray:
    """Market resupply trips with today's low trust in the town's holders minus with higher
    trust (more walk-in informants in Makhmour): positive when informants deter resupply."""
    return -_paired(t, "status_quo", "town_trust", "resupply_trips")


def _op_windows(t: Tables, ref: Tables) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(incidents, fighters, op day) for each joint operation day of the *reference* arm."""
    out = []
    ref_ts = ref.arm("joint_ops").timeseries
    for r, rep in t.arm("joint_ops").timeseries.groupby("replicate"):
        rep = rep.sort_values("day").reset_index(drop=True)
        days = ref_ts[(ref_ts["replicate"] == r) & (ref_ts["joint_ops"] > 0)]["day"].to_numpy()
        inc = rep["incidents"].to_numpy(dtype=float)
        fighters = rep["fighters"].to_numpy(dtype=float)
        for d in days:
            if d >= 14 and d + 31 <= len(rep):
                out.append((inc, fighters, int(d)))
    return out


def clearing_lull(t: Tables, ref: Tables) -> np.ndarray:
    return np.array([inc[d + 1:d + 15].sum() - inc[d - 14:d].sum()
                     for inc, _, d in _op_windows(t, ref)], dtype=float)


def clearing_displaces(t: Tables, ref: Tables) -> np.ndarray:
    return np.array([f[d + 30] / f[d - 1] if f[d - 1] else np.nan
                     for _, f, d in _op_windows(t, ref)], dtype=float)


def coordination_tips(t: Tables, ref: Tables) -> np.ndarray:
    return _paired(t, "status_quo", "jcc", "tips_reaching_share")


def coordination_incidents(t: Tables, ref: Tables) -> np.ndarray:
    return _paired(t, "status_quo", "brigades", "incidents")


def garrison_beats_episodic(t: Tables, ref: Tables) -> np.ndarray:
    return _paired(t, "joint_ops", "brigades", "incidents")


# ---------------------------------------------------------------------------------- checks


def lower_above(x: float) -> Callable[[float, float, float], bool]:
    return lambda m, lo, hi: lo > x


def upper_below(x: float) -> Callable[[float, float, float], bool]:
    return lambda m, lo, hi: hi < x


@dataclass(frozen=True)
class Check:
    """One testable consequence of a DOMAIN 5c fact.

    Attributes:
        id: key of ``MECHANISM`` and of the table rows.
        fact: DOMAIN 5c item (1-8; 9 and 10 are calibration targets).
        claim: the pattern in words.
        statistic: what ``values`` measures (per replicate or per event).
        criterion: the test in words; ``test(mean, low, high)`` on the 95 % t-interval.
        arms: arm labels ``values`` reads.
        source: where the fact comes from.
        regime: ``CALIBRATION_PERIOD`` or a held-out regime.
    """

    id: str
    fact: int
    claim: str
    statistic: str
    criterion: str
    test: Callable[[float, float, float], bool]
    values: Callable[[Tables, Tables], np.ndarray]
    arms: tuple[str, ...]
    source: str
    regime: str

    @property
    def mechanisms(self) -> tuple[str, ...]:
        return MECHANISM.get(self.id, ())


CHECKS: tuple[Check, ...] = (
    Check("gap_concentration", 1, "incidents concentrate in the gap",
          "share of incidents in the gap minus the gap's share of the map", "lower 95% bound > 0",
          lower_above(0), gap_concentration, ("status_quo",), "DOMAIN 5c-1; seeds 001-004 (S4)",
          CALIBRATION_PERIOD),
    Check("gap_width", 1, "... and grow with the gap's width",
          "incidents, gap 6 km minus 2 km (paired)", "lower 95% bound > 0", lower_above(0),
          gap_width, ("gap_2km", "gap_6km"), "DOMAIN 5c-1", CALIBRATION_PERIOD),
    Check("withdrawal_incidents", 2, "the 2017 withdrawal raises incidents",
          "incidents per month, year after minus before", "lower 95% bound > 0", lower_above(0),
          withdrawal_incidents, ("withdrawal",), "DOMAIN 5c-2; seed 002 (Q24)", HELD_OUT_2017),
    Check("withdrawal_tips", 2, "... tips to the plain's new holders collapse",
          "tips/day to IA+PMF (6 months after) / to PESH (before)", "upper 95% bound < 0.5",
          upper_below(0.5), withdrawal_tips, ("withdrawal",), "seed 002 (S6, S8, S9)",
          HELD_OUT_2017),
    Check("withdrawal_links", 2, "... the informant network collapses",
          "informant links the day after / the day before", "upper 95% bound < 0.6",
          upper_below(0.6), withdrawal_links, ("withdrawal",), "seed 002 (S6)", HELD_OUT_2017),
    Check("withdrawal_recovery", 2, "... and recovers only slowly",
          "informant links 180 days after / before", "upper 95% bound < 0.8", upper_below(0.8),
          withdrawal_recovery, ("withdrawal",), "seed 002 (S6, S8)", HELD_OUT_2017),
    Check("diurnal_night", 3, "insurgents move by night when pressure is high",
          "daylight share of moves, joint brigades minus status quo (paired)",
          "upper 95% bound < 0", upper_below(0), diurnal_night, ("status_quo", "brigades"),
          "DOMAIN 5c-3; seed 002 (S14); rudaw 071120182", HELD_OUT_2021),
    Check("diurnal_heat", 3, "... because they feel the pressure (heat)",
          "mean heat, joint brigades minus status quo (paired)", "lower 95% bound > 0",
          lower_above(0), diurnal_heat, ("status_quo", "brigades"), "DOMAIN 4.7 item 2",
          HELD_OUT_2021),
    Check("season_kidnapping", 4, "kidnappings cluster in the truffle season (Jan-Apr)",
          "share of kidnappings in Jan-Apr", "lower 95% bound > 0.5 (1.5 x the calendar share)",
          lower_above(0.5), season_kidnapping, ("status_quo",), "seeds 002/003 (S18)",
          CALIBRATION_PERIOD),
    Check("season_arson", 4, "arson clusters in the harvest (May-Jun)",
          "share of arsons in May-Jun", "lower 95% bound > 0.25 (1.5 x the calendar share)",
          lower_above(0.25), season_arson, ("status_quo",), "shafaaq May 2020",
          CALIBRATION_PERIOD),
    Check("informants_punished", 5, "informants are punished where the network is intact",
          "retributions per month, intact network (before 17 Oct 2017) minus after",
          "lower 95% bound > 0", lower_above(0), informants_punished, ("withdrawal",),
          "seed 002 (S11, Q13); DOMAIN 5c-5", HELD_OUT_2017),
    Check("resupply_trust", 6, "resupply through town is easier where trust is low",
          "market resupply trips, low minus higher trust in the town's holders (paired)",
          "lower 95% bound > 0", lower_above(0), resupply_trust, ("status_quo", "town_trust"),
          "seed 002 (S15); DOMAIN 5c-6", CALIBRATION_PERIOD),
    Check("clearing_lull", 7, "a clearing operation brings a short lull",
          "incidents in the 14 days after minus before a joint operation", "upper 95% bound < 0",
          upper_below(0), clearing_lull, ("joint_ops",), "DOMAIN 5c-7; diyaruna Dec 2019",
          HELD_OUT_2021),
    Check("clearing_displaces", 7, "... and displaces rather than eradicates",
          "fighters 30 days after / before a joint operation",
          "95% interval inside (0.5, 1): some lost, most survive",
          lambda m, lo, hi: lo > 0.5 and hi < 1.0, clearing_displaces, ("joint_ops",),
          "seed 004 (S23); Kress-Szechtman 2009", HELD_OUT_2021),
    Check("coordination_tips", 8, "coordination centres get tips to the acting force",
          "share of tips reaching the acting force, jcc minus none (paired)",
          "lower 95% bound > 0", lower_above(0), coordination_tips, ("status_quo", "jcc"),
          "DOMAIN 5c-8", HELD_OUT_2021),
    Check("coordination_incidents", 8, "joint brigades lower incidents",
          "incidents, joint brigades minus none (paired)", "upper 95% bound < 0", upper_below(0),
          coordination_incidents, ("status_quo", "brigades"), "DOMAIN 5c-8; seed 004 (S24)",
          HELD_OUT_2021),
    Check("garrison_beats_episodic", 8, "a standing garrison beats episodic joint operations",
          "incidents, joint brigades minus joint operations (paired)", "upper 95% bound < 0",
          upper_below(0), garrison_beats_episodic, ("joint_ops", "brigades"), "seed 004 (S24)",
          HELD_OUT_2021),
)
CHECK_BY_ID = {c.id: c for c in CHECKS}


def score(check: Check, tables: Tables, ref: Tables | None = None) -> dict:
    """One row: the statistic's mean and 95 % interval, the criterion and whether it held."""
    values = np.asarray(check.values(tables, ref if ref is not None else tables), dtype=float)
    values = values[np.isfinite(values)]
    ci = t_interval(values)
    held = bool(len(values) >= 2 and np.isfinite(ci.mean) and check.test(ci.mean, ci.low, ci.high))
    return {"id": check.id, "fact": check.fact, "pattern": f"{check.fact} {check.claim}",
            "statistic": check.statistic, "value": ci.mean, "low": ci.low, "high": ci.high,
            "n": ci.n, "criterion": check.criterion, "held": held, "source": check.source,
            "regime": check.regime, "mechanism": "+".join(check.mechanisms) or "-"}


def evaluate(tables: Tables, ids: list[str] | None = None, ref: Tables | None = None) -> pd.DataFrame:
    """Score the named checks (default: all) over the tables."""
    return pd.DataFrame([score(CHECK_BY_ID[i], tables, ref) for i in (ids or list(CHECK_BY_ID))])
