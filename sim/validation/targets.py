"""The 2020 calibration targets (DOMAIN.md 5a) as summary statistics with an observation error.

Why apart from the validation patterns: these numbers are *fitted* (ABC-SMC conditions the
parameters on them), so reproducing them is a check of the fit, never evidence that the model is
right. ``gapsim validate`` shows them in their own table (posterior predictive coverage) and
never counts them; the patterns (``sim.validation.patterns``) are checked on parameter sets
that were not tuned to them.

Each target is a statistic of a set of replicate rows (``runs.parquet``), pooled over the
replicates (so a replicate without strikes does not make kills per strike undefined), on a scale
where a normal observation error is a fair description: rates of rare events and the fighter
count on a log scale. The observed value and its error come from a documented point value or
band: a band ``[lo, hi]`` is read as a 90 % interval of the observation, so the observed value
is its centre (on the target's scale) and the error's s.d. its half-width / 1.645. Every number
below names its source; [EST] marks a modelling judgement about how precise a report is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Mean length of a month in days.
MONTH_DAYS = 365.25 / 12
#: z of a two-sided 90 % interval.
Z90 = 1.6448536269514722
#: Added to monthly rates before taking logs (a rate of zero stays finite: log(0.05)).
RATE_FLOOR = 0.05


@dataclass(frozen=True)
class Target:
    """One fitted statistic.

    Attributes:
        name: the statistic's name (column of predictive tables, key of pyabc's summaries).
        label: what it is, for tables.
        statistic: (runs rows, days per replicate) -> value on the target's scale.
        observed: the observed value on that scale.
        sd: s.d. of the observation error on that scale (explicit: ABC's noise model).
        scale: ``linear`` or ``log`` (how ``observed``/``sd`` relate to the natural value).
        natural: the observed value and its 90 % band in natural units, for people.
        source: where the value and its error come from.
    """

    name: str
    label: str
    statistic: Callable[[pd.DataFrame, float], float]
    observed: float
    sd: float
    scale: str
    natural: tuple[float, float, float]
    source: str

    def to_natural(self, value: float) -> float:
        """A value on the target's scale back in natural units."""
        return math.exp(value) if self.scale == "log" else value


def _sum(runs: pd.DataFrame, col: str) -> float:
    return float(runs[col].sum()) if col in runs.columns else 0.0


def _per_month(runs: pd.DataFrame, days: float, cols: Sequence[str]) -> float:
    total = sum(_sum(runs, c) for c in cols)
    return total * MONTH_DAYS / (max(len(runs), 1) * days)


def _log_rate(cols: Sequence[str]) -> Callable[[pd.DataFrame, float], float]:
    return lambda runs, days: math.log(_per_month(runs, days, cols) + RATE_FLOOR)


def _band(name: str, label: str, cols: Sequence[str], lo: float, hi: float, source: str) -> Target:
    """A monthly event rate whose documented band [lo, hi] is a 90 % interval (log scale)."""
    a, b = math.log(lo + RATE_FLOOR), math.log(hi + RATE_FLOOR)
    centre = (a + b) / 2
    return Target(name, label, _log_rate(cols), centre, (b - a) / 2 / Z90, "log",
                  (math.exp(centre) - RATE_FLOOR, lo, hi), source)


def _strikes(runs: pd.DataFrame, days: float) -> float:
    return _per_month(runs, days, ["airstrikes"])


def _kills_per_strike(runs: pd.DataFrame, days: float) -> float:
    return _sum(runs, "insurgents_killed_air") / max(_sum(runs, "airstrikes"), 1.0)


def _log_fighters(runs: pd.DataFrame, days: float) -> float:
    return math.log(max(float(runs["fighters_mean"].mean()), 1.0))


def _hostages_per_event(runs: pd.DataFrame, days: float) -> float:
    events = _sum(runs, "kidnappings") + _sum(runs, "fake_checkpoints")
    return math.log(_sum(runs, "hostages") / events + RATE_FLOOR) if events else math.log(RATE_FLOOR)


_S_PER_MONTH = 82 / 13
_K_PER_STRIKE = 56 / 82
_F_LO, _F_HI = 50.0, 300.0
_H_LO, _H_HI = 1.0, 6.0

#: The targets, in display order.
TARGETS: dict[str, Target] = {t.name: t for t in (
    # Seed 004: 82 coalition strikes in the Makhmour region, Jan 2020 - late Jan 2021 (13
    # months). Error: Poisson counting error sqrt(82)/13 = 0.70/month plus [EST] about 15 % for
    # strikes in "the Makhmour region" outside the modelled area: s.d. 1.2 strikes/month.
    Target("strikes_per_month", "coalition strikes per month", _strikes, _S_PER_MONTH, 1.2,
           "linear", (_S_PER_MONTH, _S_PER_MONTH - Z90 * 1.2, _S_PER_MONTH + Z90 * 1.2),
           "seed 004 (82 strikes in 13 months); error: Poisson + [EST] 15 % area mismatch"),
    # Seed 004: 56 militants killed by those strikes. Error: sqrt(56)/82 = 0.09 (counting) plus
    # [EST] claims by an interested party: s.d. 0.15 killed/strike.
    Target("kills_per_strike", "militants killed per strike", _kills_per_strike, _K_PER_STRIKE,
           0.15, "linear",
           (_K_PER_STRIKE, _K_PER_STRIKE - Z90 * 0.15, _K_PER_STRIKE + Z90 * 0.15),
           "seed 004 (56 killed / 82 strikes); error: counting + [EST] claims"),
    # Seed 002 (Q6): 50-150 fighters and families (Apr 2019); rudaw 071120182: about 300 (Nov
    # 2018). The band 50-300 read as a 90 % interval of the mean over the year, on a log scale.
    Target("log_fighters", "insurgent fighters (mean over the year, log)", _log_fighters,
           (math.log(_F_LO) + math.log(_F_HI)) / 2,
           (math.log(_F_HI) - math.log(_F_LO)) / 2 / Z90, "log",
           (math.sqrt(_F_LO * _F_HI), _F_LO, _F_HI),
           "seed 002 (Q6: 50-150); rudaw 071120182 (~300); DOMAIN 5c-9"),
    # Event mix: the documented events give orders of magnitude, not counts; the bands are the
    # pattern-oriented criteria of the 2026-11 calibration (sim/validation/calibration.py).
    _band("log_kidnappings", "kidnappings per month (log)", ["kidnappings"], 0.25, 4.0,
          "[EST] seeds 002/003 (Q8, Q9, Q11, Q27): a documented handful a year is a floor"),
    _band("log_fake_checkpoints", "fake checkpoints per month (log)", ["fake_checkpoints"],
          0.1, 3.0, "[EST] rudaw 12082021 (one documented, a known tactic)"),
    _band("log_ambushes", "ambushes per month (log)", ["ambushes"], 0.05, 3.0,
          "[EST] seed 002 (Q7, the Mar 2019 bus ambush)"),
    _band("log_arsons", "crop arsons per month (log)", ["arsons"], 0.05, 2.0,
          "[EST] shafaaq May 2020 (3 arsons in a week, once a year)"),
    # Event sizes: one hostage from a truffle-hunting party (seed 003), 5 abducted at the Aug 2021
    # fake checkpoint (rudaw 12082021; K24 reported 11): hostages per hostage-taking event.
    Target("log_hostages_per_event", "hostages per kidnapping or fake checkpoint (log)",
           _hostages_per_event, (math.log(_H_LO + RATE_FLOOR) + math.log(_H_HI + RATE_FLOOR)) / 2,
           (math.log(_H_HI + RATE_FLOOR) - math.log(_H_LO + RATE_FLOOR)) / 2 / Z90, "log",
           (math.sqrt(_H_LO * _H_HI), _H_LO, _H_HI),
           "seed 003 (1 hostage); rudaw 12082021 (5 abducted); [EST] band 1-6"),
)}


def select(names: Sequence[str] | None) -> list[Target]:
    """The named targets (default: all), checked.

    Raises:
        ConfigError: an unknown name.
    """
    from sim.errors import ConfigError

    if names is None:
        return list(TARGETS.values())
    out = []
    for n in names:
        if n not in TARGETS:
            raise ConfigError("targets", n, f"unknown target; one of {', '.join(TARGETS)}")
        out.append(TARGETS[n])
    return out


def summaries(runs: pd.DataFrame, days: float, targets: Sequence[Target]) -> dict[str, float]:
    """Every target's statistic over a set of replicate rows."""
    return {t.name: float(t.statistic(runs, days)) for t in targets}


def observed(targets: Sequence[Target]) -> dict[str, float]:
    return {t.name: t.observed for t in targets}


def predictive_table(samples: pd.DataFrame, targets: Sequence[Target]) -> pd.DataFrame:
    """Posterior predictive coverage: per target, the median and 90 % band of the simulated
    statistic (one row of ``samples`` per posterior draw), the observed value, and whether the
    band *widened by the observation error* covers the observation.

    Why widen: the posterior predictive of an *observation* is the simulated statistic plus the
    observation error the calibration assumed; the simulated statistic alone would be judged
    against a noisy number as if it were exact.
    """
    rng = np.random.default_rng(0)
    rows = []
    for t in targets:
        sim = samples[t.name].to_numpy(dtype=float)
        sim = sim[np.isfinite(sim)]
        noisy = np.repeat(sim, 50) + rng.normal(0.0, t.sd, size=len(sim) * 50)
        lo, med, hi = (np.quantile(noisy, [0.05, 0.5, 0.95]) if len(sim) else (np.nan,) * 3)
        slo, shi = (np.quantile(sim, [0.05, 0.95]) if len(sim) else (np.nan, np.nan))
        rows.append({"target": t.name, "label": t.label, "observed": t.observed, "sd": t.sd,
                     "sim_low": slo, "sim_median": float(np.median(sim)) if len(sim) else np.nan,
                     "sim_high": shi, "pred_low": lo, "pred_median": med, "pred_high": hi,
                     "covered": bool(lo <= t.observed <= hi), "n": len(sim),
                     "observed_natural": t.natural[0], "band_natural": [t.natural[1], t.natural[2]],
                     "scale": t.scale, "source": t.source})
    return pd.DataFrame(rows)


def per_draw(runs: pd.DataFrame, days: float, targets: Sequence[Target],
             by: str = "posterior_draw") -> pd.DataFrame:
    """Summaries per group of replicate rows (e.g. per posterior draw)."""
    rows = []
    for key, grp in runs.groupby(by):
        rows.append({by: key, **summaries(grp, days, targets)})
    return pd.DataFrame(rows)


def as_mapping(targets: Sequence[Target]) -> dict[str, Mapping[str, object]]:
    """Plain description (for the posterior file's provenance)."""
    return {t.name: {"label": t.label, "observed": round(t.observed, 6), "sd": round(t.sd, 6),
                     "scale": t.scale, "observed_natural": round(t.natural[0], 4),
                     "band90_natural": [round(t.natural[1], 4), round(t.natural[2], 4)],
                     "source": t.source} for t in targets}
