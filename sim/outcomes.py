"""What every result column means, in the workshop's words: one table for reports, figures, the
dashboard and the command-line summaries.

Why one table: a report that prints ``fighters_final`` or ``tips_reaching_share``, or a figure
that calls a daily share of covered gap cells "share of days the gap is controlled", misleads the
room it is shown to. Each outcome therefore has a plain label, a unit, a kind (which fixes its
support and how a change is stated: counts change in percent, shares in points) and a direction
(is less better, more better, or neither). Every module that shows an outcome reads it from here.

The model grows new outcome columns; ``tests/test_outcomes.py`` fails for any numeric column of
``run_replicate``'s tables without an entry, so a new column cannot reach a report unlabelled.
Columns missing here still display (``outcome(name)`` falls back to the column name, no
direction), so an older or newer results directory never breaks a report.

This module imports nothing from ``sim``: the engine's statistics, the analysis and the app may
all read it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["count", "amount", "share"]
Better = Literal["lower", "higher"] | None

#: Support of each kind: (lowest, highest) possible value.
SUPPORT: dict[str, tuple[float, float]] = {
    "count": (0.0, math.inf),  # events or people: whole numbers >= 0
    "amount": (0.0, math.inf),  # non-negative measures (means, ratios)
    "share": (0.0, 1.0),  # fractions, shown as percent; changes in points
}


@dataclass(frozen=True)
class Outcome:
    """One result column.

    Attributes:
        name: the column name in ``runs.parquet`` / ``timeseries.parquet``.
        label: plain words, lower case, as it reads in a sentence ("security-force casualties").
        unit: what one unit counts ("incidents", "people", "% of tips").
        kind: ``count`` (whole numbers >= 0; changes in percent), ``amount`` (>= 0; changes in
            percent) or ``share`` (0-1, shown in percent; changes in percentage points).
        better: ``lower`` (fewer is better), ``higher`` (more is better) or None (neither: a
            trade-off or a diagnostic, reported as a change without a verdict).
        headline: shown in every scenario's summary and in the forest plot.
        exogenous: set from outside the policy (the same process in every scenario): a
            candidate control variate for paired differences.
        expected: the exogenous quantity's expected value for a resolved config (None: not
            known). Used as the control variate's known mean.
    """

    name: str
    label: str
    unit: str
    kind: Kind = "count"
    better: Better = None
    headline: bool = False
    exogenous: bool = False
    expected: Callable[[Mapping[str, Any]], float] | None = None

    @property
    def support(self) -> tuple[float, float]:
        return SUPPORT[self.kind]

    @property
    def direction(self) -> str:
        """"fewer is better", "more is better" or "neither better nor worse"."""
        if self.better == "lower":
            return "less is better" if self.kind != "count" else "fewer is better"
        if self.better == "higher":
            return "more is better"
        return "neither better nor worse"

    @property
    def change_unit(self) -> str:
        """How a change is stated: ``%`` (relative) or ``points`` (shares)."""
        return "points" if self.kind == "share" else "%"

    def display(self, value: float) -> str:
        """A value in its display unit (shares as percent)."""
        if value is None or not math.isfinite(value):
            return "n/a"
        if self.kind == "share":
            return f"{100 * value:.0f}" + ("%" if self.unit.startswith("%") else "")
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}"


def _expected_inflow(config: Mapping[str, Any]) -> float:
    """Fighters expected from outside over the run: the model's rate times the horizon.

    The model draws a Poisson number of arrivals each day at ``inflow_per_month / 30.44``
    (``SecurityGapModel._inflow_and_recruitment``, keyed by the day only). If the inflow process changes, change this.
    """
    return float(config["model"]["inflow_per_month"]) / 30.44 * float(config["days"])


_ENTRIES: tuple[Outcome, ...] = (
    # incidents
    Outcome("incidents", "incidents (all types)", "incidents", better="lower", headline=True),
    Outcome("kidnappings", "kidnappings", "kidnappings", better="lower", headline=True),
    Outcome("fake_checkpoints", "fake checkpoints", "checkpoints", better="lower", headline=True),
    Outcome("ambushes", "ambushes", "ambushes", better="lower"),
    Outcome("arsons", "arson attacks", "attacks", better="lower"),
    Outcome("extortions", "extortions", "extortions", better="lower"),
    Outcome("village_attacks", "attacks on villages", "attacks", better="lower"),
    Outcome("retributions", "punishments of informants", "incidents", better="lower"),
    Outcome("incidents_gap", "incidents in the gap", "incidents", better="lower", headline=True),
    Outcome("incidents_ridge", "incidents on the ridge side", "incidents", better="lower"),
    Outcome("incidents_plain", "incidents on the plain", "incidents", better="lower"),
    Outcome("incidents_camp", "incidents at Makhmour camp", "incidents", better="lower"),
    Outcome("gap_area_share", "gap's share of the mapped area", "% of the area", "share"),
    Outcome("incident_density_ratio_gap", "incident density in the gap relative to elsewhere",
            "times", "amount"),
    # harm
    Outcome("hostages", "people taken hostage", "people", better="lower", headline=True),
    Outcome("casualties_security", "security-force casualties (killed or wounded)", "people",
            better="lower", headline=True),
    Outcome("casualties_civilian", "civilian casualties (killed or wounded)", "people",
            better="lower", headline=True),
    Outcome("collateral_events", "airstrikes that harmed civilians", "strikes", better="lower"),
    # air power and force
    Outcome("airstrikes", "coalition airstrikes flown", "strikes", headline=True),
    Outcome("airstrikes_requested", "airstrikes requested", "requests"),
    Outcome("insurgents_killed_air", "insurgents killed by airstrikes", "fighters"),
    Outcome("insurgents_killed_ground", "insurgents killed on the ground", "fighters"),
    Outcome("insurgents_arrested", "insurgents arrested", "fighters", better="higher"),
    Outcome("insurgents_deserted", "insurgents who deserted", "fighters"),
    Outcome("insurgents_killed", "insurgents killed (air and ground)", "fighters",
            better="higher"),
    Outcome("kills_per_strike", "insurgents killed per airstrike", "fighters per strike",
            "amount"),
    Outcome("clearing_ops", "clearing operations", "operations"),
    Outcome("joint_ops", "joint clearing operations", "operations"),
    Outcome("displacements", "insurgent cells displaced by clearing", "cells"),
    Outcome("detections", "insurgents detected by the forces", "detections"),
    Outcome("clashes", "clashes with insurgents", "clashes"),
    Outcome("detections_post", "detections by posts", "detections"),
    Outcome("detections_patrol", "detections by patrols", "detections"),
    Outcome("detections_search", "detections by responding units searching", "detections"),
    Outcome("detections_sweep", "detections in clearing sweeps", "detections"),
    Outcome("detections_isr", "detections by coalition surveillance", "detections"),
    Outcome("raids", "raids on hideouts after a tip", "raids"),
    Outcome("pursuits", "pursuits of insurgents after a clash", "pursuits"),
    Outcome("caves_found", "hideouts found", "hideouts", better="higher"),
    Outcome("evasions", "insurgent groups that evaded a responding unit", "groups"),
    Outcome("alerts", "alerts raised (calls, sightings, escapes)", "alerts"),
    Outcome("qrf_dispatches", "quick-reaction units sent out", "dispatches"),
    Outcome("incidents_answered", "incidents a responding unit reached", "incidents",
            better="higher"),
    Outcome("answered_share", "share of incidents a responding unit reached", "% of incidents",
            "share", better="higher"),
    Outcome("response_h_median", "median response time to incidents that were answered", "hours",
            "amount", better="lower"),
    Outcome("isr_hours", "coalition surveillance hours over the district", "hours", "amount"),
    Outcome("isr_tracks", "groups tracked to their hideout by surveillance", "tracks"),
    # insurgent strength
    Outcome("fighters_final", "insurgent fighters at the end", "fighters", better="lower",
            headline=True),
    Outcome("fighters_mean", "insurgent fighters, daily mean", "fighters", "amount",
            better="lower"),
    Outcome("fighters_max", "insurgent fighters at their peak", "fighters", better="lower"),
    Outcome("cells_final", "insurgent cells at the end", "cells", better="lower"),
    Outcome("recruits", "fighters recruited locally", "fighters", better="lower"),
    Outcome("inflow", "fighters arriving from outside", "fighters", exogenous=True,
            expected=_expected_inflow),
    Outcome("resupply_trips", "insurgent supply trips to the market", "trips"),
    Outcome("daylight_move_share", "share of insurgent moves made by day", "% of moves", "share"),
    Outcome("heat_mean", "pressure felt by insurgent cells (mean heat, 0-1)", "heat", "amount"),
    # intelligence and trust
    Outcome("tips", "villager tips", "tips", better="higher"),
    Outcome("tips_pesh", "villager tips to the Peshmerga", "tips"),
    Outcome("tips_ia", "villager tips to the Iraqi Army", "tips"),
    Outcome("tips_pmf", "villager tips to the PMF", "tips"),
    Outcome("tips_joint", "villager tips to joint units", "tips"),
    Outcome("reports_shared", "reports passed to another force", "reports"),
    Outcome("reports_shared_arrived", "reports passed on that arrived", "reports"),
    Outcome("tips_reaching_actor", "tips reaching the force able to act", "tips",
            better="higher"),
    Outcome("tips_reaching_share", "share of tips reaching the force able to act", "% of tips",
            "share", better="higher", headline=True),
    Outcome("informant_links_pesh", "Peshmerga informant links at the end", "work parties",
            better="higher"),
    Outcome("informant_links_ia", "Iraqi Army informant links at the end", "work parties",
            better="higher"),
    Outcome("informant_links_pmf", "PMF informant links at the end", "work parties"),
    Outcome("informant_links_joint", "joint units' informant links at the end", "work parties",
            better="higher"),
    Outcome("links_cut", "informant links cut when handlers left", "links"),
    Outcome("retributions_of_informants", "retributions that hit an informant", "incidents",
            better="lower"),
    Outcome("trips_lying_up_share", "share of insurgent trips that lay up on the way", "% of trips",
            "share"),
    Outcome("trust_kurd_pesh", "Kurdish villagers' trust in the Peshmerga", "trust (0-100)",
            "share", better="higher"),
    Outcome("trust_kurd_ia", "Kurdish villagers' trust in the Iraqi Army", "trust (0-100)",
            "share", better="higher"),
    Outcome("trust_kurd_pmf", "Kurdish villagers' trust in the PMF", "trust (0-100)", "share"),
    Outcome("trust_arab_pesh", "Arab villagers' trust in the Peshmerga", "trust (0-100)",
            "share", better="higher"),
    Outcome("trust_arab_ia", "Arab villagers' trust in the Iraqi Army", "trust (0-100)",
            "share", better="higher"),
    Outcome("trust_arab_pmf", "Arab villagers' trust in the PMF", "trust (0-100)", "share"),
    Outcome("trust_kurd_joint", "Kurdish villagers' trust in joint units", "trust (0-100)",
            "share", better="higher"),
    Outcome("trust_arab_joint", "Arab villagers' trust in joint units", "trust (0-100)",
            "share", better="higher"),
    Outcome("gap_control", "daily share of gap cells covered by a post or patrol",
            "% of gap cells", "share", better="higher", headline=True),
    # daily series only (timeseries.parquet)
    Outcome("fighters", "insurgent fighters", "fighters", better="lower"),
    Outcome("cells", "insurgent cells", "cells", better="lower"),
    Outcome("killed_air", "insurgents killed by airstrikes", "fighters"),
    Outcome("links_pesh", "Peshmerga informant links", "work parties", better="higher"),
    Outcome("links_ia", "Iraqi Army informant links", "work parties", better="higher"),
    Outcome("links_pmf", "PMF informant links", "work parties"),
    Outcome("day_move_hours", "insurgent movement by day", "group-hours", "amount"),
    Outcome("night_move_hours", "insurgent movement by night", "group-hours", "amount"),
    Outcome("links_joint", "joint units' informant links", "work parties", better="higher"),
)

#: Every outcome by column name.
OUTCOMES: dict[str, Outcome] = {o.name: o for o in _ENTRIES}

#: Columns that label rows rather than measure anything.
NOT_OUTCOMES: frozenset[str] = frozenset(
    {"replicate", "design_point", "day", "date", "run_id", "posterior_draw"})


def outcome(name: str) -> Outcome:
    """The entry of a column; an unknown column gets its own name and no direction."""
    hit = OUTCOMES.get(name)
    if hit is not None:
        return hit
    return Outcome(name, name.replace("_", " "), "", "count")


def label(name: str) -> str:
    """The plain label of a column."""
    return outcome(name).label


def axis_label(name: str, *, per: str = "") -> str:
    """``label (unit[, per])`` for an axis: e.g. ``incidents (all types) (incidents per week)``."""
    o = outcome(name)
    unit = o.unit + (f" {per}" if per and o.kind == "count" else "")
    return f"{o.label} ({unit})" if unit else o.label


def headline() -> list[str]:
    """The headline outcomes, in table order."""
    return [o.name for o in _ENTRIES if o.headline]


def directed(names: list[str]) -> dict[str, bool | None]:
    """``{name: lower_is_better}`` (None: neither) for the columns given."""
    return {n: (None if outcome(n).better is None else outcome(n).better == "lower")
            for n in names}
