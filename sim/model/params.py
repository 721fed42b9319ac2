"""Every behavioural parameter of the model, with its default, allowed range, unit and source.

Why one dataclass: it is the Hydra schema of ``cfg.model`` (type checks for free), the source of the
range checks that run before any work (``validate_params``), and the source of the parameter table
in ``docs/ODD.md`` (a test checks the two agree). Values marked [EST] are modelling estimates, not
measurements; ``../shared/DOMAIN.md`` gives the evidence behind the sourced ones.

Rates are per hour (or per day/month where the name says so) so the tick length is a resolution
choice, not a behaviour change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from sim.errors import ConfigError

#: Coordination levels in order; numbers 0..4 (fractions allowed) interpolate between them.
COORDINATION_LEVELS: tuple[str, ...] = ("none", "liaison", "jcc", "joint_ops", "joint_brigades")

#: Forces that hold ground. Index order is used by every per-force array in the model.
FORCES: tuple[str, ...] = ("PESH", "IA", "PMF", "JOINT")


def p(default: Any, lo: float, hi: float, unit: str, source: str, doc: str) -> Any:
    """A parameter field: default plus metadata read by validation and the ODD table."""
    meta = {"range": (lo, hi), "unit": unit, "source": source, "doc": doc}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def by_level(default: list[float], lo: float, hi: float, unit: str, source: str, doc: str) -> Any:
    """A per-coordination-level parameter: five values for none..joint_brigades."""
    return p(default, lo, hi, unit, source, doc + " (none, liaison, jcc, joint_ops, joint_brigades)")


@dataclass
class ModelParams:
    """Behavioural parameters of the security-gap model (``cfg.model``)."""

    # --- mechanism switches -------------------------------------------------------------------
    ablate: list[str] = field(
        default_factory=list,
        metadata={"range": (0, 0), "unit": "names", "source": "-", "names": True,
                  "doc": "mechanisms switched off (sim/model/mechanisms.py), e.g. [informants,qrf]"})

    # --- time -------------------------------------------------------------------------------
    tick_hours: float = p(3.0, 0.5, 3.0, "h", "[EST] DOMAIN 2d (1 h ideal; 3 h keeps a year fast)",
                          "length of one tick; must divide 24")
    rainfall_index: float = p(1.0, 0.2, 2.5, "-", "seed 002 (wet 2018-19 season) [EST]",
                              "mean seasonal rainfall relative to normal; scales truffle yield")
    rainfall_sd: float = p(0.3, 0.0, 1.0, "-", "[EST]", "year-to-year s.d. of the rainfall index")

    # --- security forces --------------------------------------------------------------------
    pesh_post_spacing_km: float = p(2.0, 0.5, 10.0, "km", "DOMAIN 4.5 (posts every 1-2 km) [EST]",
                                    "spacing of Peshmerga outposts along their line")
    checkpoint_spacing_km: float = p(5.0, 1.0, 20.0, "km", "seed 000 (IA guard main road) [EST]",
                                     "spacing of checkpoints along roads in a held zone")
    garrison_spacing_km: float = p(3.0, 1.0, 10.0, "km", "seed 004 (S24) [EST]",
                                   "spacing of joint garrison posts in the gap (joint brigades)")
    patrols_pesh: int = p(3, 0, 20, "units", "[EST]",
                          "Peshmerga patrols on ridge routes (foot along the line, vehicle on roads)")
    patrols_ia: int = p(4, 0, 20, "units", "DOMAIN 4.5 (2-4 patrols a day) [EST]",
                        "Iraqi Army vehicle patrols on plain roads")
    patrols_pmf: int = p(2, 0, 20, "units", "[EST]", "PMF vehicle patrols in their sector")
    foot_speed_kmh: float = p(3.0, 1.0, 6.0, "km/h", "DOMAIN 2d (3-5 km/h)", "foot patrol speed")
    vehicle_speed_kmh: float = p(25.0, 5.0, 60.0, "km/h", "[EST]", "vehicle patrol speed on roads")
    patrol_duty_share: float = p(0.5, 0.1, 1.0, "-", "[EST]",
                                 "share of ticks a patrol is out (the rest at base)")
    detect_rate_per_h: float = p(0.4, 0.1, 10.0, "1/h", "[EST] Epstein-style hazard",
                                 "detection hazard of an exposed group at zero distance in daylight")
    detect_range_day_km: float = p(2.0, 0.5, 5.0, "km", "DOMAIN 4.7 (1-3 km)",
                                   "visual detection scale in open terrain by day")
    detect_range_night_km: float = p(0.4, 0.1, 1.0, "km", "DOMAIN 4.7 (0.2-0.5 km)",
                                     "detection scale at night without optics")
    detect_range_thermal_km: float = p(1.5, 0.5, 3.0, "km", "DOMAIN 4.7 (1-2 km); rudaw 201220191",
                                       "detection scale at night with thermal optics (posts)")
    elevation_bonus_per_100m: float = p(0.25, 0.0, 1.0, "-", "[EST]",
                                        "range gain per 100 m a post stands above the plain")
    engage_range_km: float = p(0.7, 0.2, 3.0, "km", "[EST]",
                               "distance within which a detecting unit engages")
    engage_kill_prob: float = p(0.05, 0.0, 0.5, "-", "July 2018 op (>=14 killed) [EST]",
                                "probability an engaged fighter is killed or captured")
    engage_force_casualty_prob: float = p(0.04, 0.0, 0.5, "-", "[EST]",
                                          "casualties per engaging unit member exchange")
    mobilise_h_pesh: float = p(0.5, 0.1, 6.0, "h", "[EST]", "Peshmerga quick-reaction mobilisation")
    mobilise_h_ia: float = p(0.25, 0.1, 6.0, "h", "rudaw 201220191 (IA in 15 min at Ali Rash)",
                             "Iraqi Army quick-reaction mobilisation")
    mobilise_h_pmf: float = p(0.5, 0.1, 6.0, "h", "[EST]", "PMF quick-reaction mobilisation")
    qrf_speed_kmh: float = p(20.0, 5.0, 60.0, "km/h", "[EST]", "quick-reaction force speed cross-country")
    kidnap_window_h: float = p(1.0, 0.25, 6.0, "h", "seed 003 (encircled early morning) [EST]",
                               "time a kidnapping takes; a site a force reaches sooner is refused")
    clearing_every_days: float = p(120.0, 20.0, 720.0, "days", "seed 004 (separate ops) [EST]",
                                   "interval between a force's own clearing operations")
    clearing_radius_km: float = p(3.0, 1.0, 6.0, "km", "July 2018 op: 30 km2 cleared",
                                  "radius of the area a clearing operation sweeps")
    clearing_detect_prob: float = p(0.5, 0.0, 1.0, "-", "[EST]",
                                    "probability a clearing op finds a cell inside its area")
    local_knowledge_pesh: float = p(0.8, 0.0, 1.0, "-", "seed 002 (S6, S7) [EST]",
                                    "Peshmerga local knowledge")
    local_knowledge_iraqi: float = p(0.1, 0.0, 0.3, "-", "seed 002 (S8) [EST]",
                                     "IA/PMF local knowledge at entry")
    local_knowledge_gain_per_tip: float = p(0.002, 0.0, 0.05, "-", "[EST]",
                                            "gain in local knowledge for each tip a force receives")

    # --- coordination (per level) -------------------------------------------------------------
    share_prob: list[float] = by_level([0.0, 0.3, 0.7, 0.9, 0.95], 0.0, 1.0, "-",
                                       "DOMAIN 4.7 [EST]",
                                       "probability a tip reaches the force able to act")
    share_delay_h: list[float] = by_level([72.0, 48.0, 6.0, 2.0, 0.5], 0.0, 240.0, "h",
                                          "DOMAIN 4.7 [EST]", "delay before a shared tip arrives")
    gap_patrols_per_day: list[float] = by_level([0.0, 0.0, 1.0, 2.0, 4.0], 0.0, 8.0, "1/day",
                                                "DOMAIN 4.7 [EST]", "patrol sorties into the gap")
    gap_entry_delay_h: list[float] = by_level([48.0, 12.0, 3.0, 1.0, 0.25], 0.0, 240.0, "h",
                                              "[EST]", "extra delay before a force may enter the gap")
    hot_pursuit_prob: list[float] = by_level([0.0, 0.2, 0.5, 0.9, 1.0], 0.0, 1.0, "-", "[EST]",
                                             "probability a unit may engage across its line")
    joint_clearing_every_days: list[float] = by_level([0.0, 0.0, 0.0, 90.0, 60.0], 0.0, 720.0,
                                                      "days", "DOMAIN 4.7 (90 days) [EST]",
                                                      "interval of joint clearing ops (0: never)")
    gap_garrison: list[float] = by_level([0.0, 0.0, 0.0, 0.0, 1.0], 0.0, 1.0, "-", "seed 004 (S24)",
                                         "standing joint garrison in the gap (1: yes)")
    air_delay_h: list[float] = by_level([24.0, 18.0, 12.0, 6.0, 3.0], 0.0, 240.0, "h", "[EST]",
                                        "airstrike approval delay (deconfliction)")

    # --- insurgents -------------------------------------------------------------------------
    n_fighters: int = p(100, 10, 400, "fighters", "seed 002 (50-150); rudaw 071120182 (~300)",
                        "initial number of insurgent fighters")
    cell_size: int = p(6, 2, 25, "fighters", "DOMAIN 4.7 (groups of 2-25)", "initial fighters per cell")
    max_cell_size: int = p(12, 4, 40, "fighters", "[EST]", "a cell larger than this splits")
    inflow_per_month: float = p(8.0, 0.0, 10.0, "fighters/month", "WSJ route via Great Zab [EST]",
                                "exogenous inflow of fighters")
    action_rate_per_day: float = p(0.02, 0.01, 1.0, "1/day", "seed 002 (S13) [EST]",
                                   "rate at which an idle cell considers an operation")
    risk_aversion: float = p(1.0, 0.1, 5.0, "-", "Epstein 2002 (R) [EST]",
                             "weight of perceived capture risk against payoff")
    capture_k: float = p(2.3, 0.5, 5.0, "-", "Epstein 2002 (k=2.3)",
                         "steepness of perceived capture probability")
    heat_decay_per_day: float = p(0.05, 0.0, 0.5, "1/day", "[EST]", "decay of a cell's perceived risk")
    heat_per_loss: float = p(0.15, 0.0, 1.0, "-", "[EST]", "heat added per fighter lost")
    heat_per_sighting: float = p(0.05, 0.0, 1.0, "-", "[EST]",
                                 "heat added when a cell is seen by a force or a strike lands within 5 km")
    day_move_heat: float = p(0.5, 0.0, 1.0, "-", "seed 002 (S14) [EST]",
                             "heat below which a cell moves in daylight")
    supplies_days: float = p(30.0, 3.0, 60.0, "days", "seed 002 (S15) [EST]",
                             "supplies a cell carries after resupply")
    fighter_speed_kmh: float = p(3.5, 1.0, 6.0, "km/h", "DOMAIN 2d (foot 3-5 km/h)",
                                 "insurgent movement speed")
    operation_radius_km: float = p(12.0, 2.0, 40.0, "km", "[EST]",
                                   "farthest target a cell considers from its hideout")
    recruit_grievance: float = p(0.55, 0.2, 1.0, "-", "Bennett 2008 (anger threshold) [EST]",
                                 "grievance above which a villager can be recruited")
    recruit_prob_per_day: float = p(0.05, 0.0, 0.1, "1/day", "[EST]",
                                    "daily recruitment probability of an aggrieved villager near a cell")
    payoff_kidnap: float = p(3.0, 0.0, 10.0, "-", "DOMAIN 4.7 (ransom $20k-100k) [EST]",
                             "value of a kidnapping")
    payoff_fake_checkpoint: float = p(3.0, 0.0, 10.0, "-", "rudaw 12082021 [EST]",
                                      "value of a night fake checkpoint")
    payoff_ambush: float = p(2.0, 0.0, 10.0, "-", "seed 002 (Q7) [EST]", "value of an ambush")
    payoff_arson: float = p(2.5, 0.0, 10.0, "-", "shafaaq May 2020 [EST]", "value of crop arson")
    payoff_extortion: float = p(1.5, 0.0, 10.0, "-", "rudaw 070420192 (zakat) [EST]",
                                "value of extorting a village")
    payoff_village_attack: float = p(1.0, 0.0, 10.0, "-", "rudaw 201220191 [EST]",
                                     "value of attacking a village")
    victims_per_fake_checkpoint: float = p(5.0, 1.0, 15.0, "persons", "rudaw 12082021 (5 abducted)",
                                           "mean abducted at a fake checkpoint")
    retribution_prob: float = p(0.1, 0.0, 1.0, "-", "seed 002 (S11, Q13) [EST]",
                                "probability insurgents punish a suspected informant after a loss")

    # --- villagers --------------------------------------------------------------------------
    people_per_agent: float = p(60.0, 10.0, 500.0, "persons", "[EST]",
                                "people one villager work-party agent stands for")
    max_agents_per_settlement: int = p(40, 2, 500, "agents", "[EST]",
                                       "cap on agents per settlement (town and camp)")
    share_shepherd: float = p(0.2, 0.0, 1.0, "-", "seed 002 (S20) [EST]", "shepherd agents")
    share_truffle: float = p(0.25, 0.0, 1.0, "-", "seeds 002/003 (S18) [EST]",
                             "seasonal truffle-hunter agents")
    share_driver: float = p(0.15, 0.0, 1.0, "-", "rudaw 12082021 [EST]", "driver/trader agents")
    truffle_go_prob: float = p(0.5, 0.0, 1.0, "-", "seed 003 [EST]",
                               "daily probability a hunter goes out in season at rainfall 1")
    see_prob: float = p(0.4, 0.0, 1.0, "-", "seed 002 (S20) [EST]",
                        "probability a villager within sight notices a group, per tick")
    sight_range_day_km: float = p(1.5, 0.2, 5.0, "km", "[EST]", "villager sight range by day")
    report_base: float = p(0.5, 0.0, 1.0, "-", "Wheeler 2005 [EST]",
                           "base probability a villager who saw insurgents reports")
    handler_bonus: float = p(1.0, 0.0, 5.0, "-", "seed 002 (S6, S7) [EST]",
                             "extra reporting propensity of a linked informant")
    access_km: float = p(5.0, 1.0, 30.0, "km", "[EST]",
                         "distance to a post within which an unlinked villager can report")
    informant_share: float = p(0.25, 0.0, 0.6, "-", "DOMAIN 4.5 (5-10 % of households) [EST]",
                               "initial share of work parties (about 10 households each) with a "
                               "link to the holding force's handlers, when links are intact")
    link_rebuild_per_day: float = p(0.002, 0.0, 0.05, "1/day", "seed 002 (S6, S8) [EST]",
                                    "rate of new informant links (x trust x local knowledge)")
    trust_kurd_pesh: float = p(0.8, 0.0, 1.0, "-", "DOMAIN 4.7 [EST]", "Kurdish trust in Peshmerga")
    trust_kurd_ia: float = p(0.3, 0.0, 1.0, "-", "DOMAIN 4.7 [EST]", "Kurdish trust in the Iraqi Army")
    trust_kurd_pmf: float = p(0.1, 0.0, 1.0, "-", "seed 000 (S10) [EST]", "Kurdish trust in PMF")
    trust_arab_pesh: float = p(0.4, 0.0, 1.0, "-", "seed 002 (S7) [EST]", "Sunni Arab trust in Peshmerga")
    trust_arab_ia: float = p(0.3, 0.0, 1.0, "-", "seed 002 (S9) [EST]", "Sunni Arab trust in the Iraqi Army")
    trust_arab_pmf: float = p(0.1, 0.0, 1.0, "-", "seed 002 (S9) [EST]", "Sunni Arab trust in PMF")
    trust_relax_per_day: float = p(0.01, 0.0, 0.2, "1/day", "[EST]", "pull of trust back to baseline")
    trust_protect: float = p(0.05, 0.0, 0.5, "-", "DOMAIN 4.7 item 7 [EST]",
                             "trust gained when a force responds in time")
    trust_fail: float = p(0.05, 0.0, 0.5, "-", "DOMAIN 4.7 item 7 [EST]",
                          "trust lost in the zone holder when an incident goes unanswered")
    fear_per_incident: float = p(0.15, 0.0, 1.0, "-", "Bennett 2008 [EST]",
                                 "fear added in the victims' settlement by an incident")
    fear_decay_per_day: float = p(0.02, 0.0, 0.5, "1/day", "[EST]", "decay of fear")
    grievance_kurd: float = p(0.2, 0.0, 1.0, "-", "[EST]", "baseline grievance of Kurdish villagers")
    grievance_arab: float = p(0.45, 0.0, 1.0, "-", "seed 002 (S9: 'The Sunnis are against this army') [EST]",
                              "baseline grievance of Sunni Arab villagers")
    grievance_per_harm: float = p(0.2, 0.0, 1.0, "-", "Bennett 2008; Kress-Szechtman 2009 [EST]",
                                  "grievance added by collateral harm or abuse")

    # --- coalition air ------------------------------------------------------------------------
    strike_budget_per_month: float = p(7.0, 0.0, 30.0, "strikes/month", "seed 004 (82 in 13 months)",
                                       "ceiling on coalition strikes per month")
    strike_confidence: float = p(0.6, 0.1, 1.0, "-", "[EST]",
                                 "intelligence confidence needed to request a strike")
    strike_kill_prob: float = p(0.042, 0.0, 1.0, "-", "seed 004 (56 killed / 82 strikes) [EST]",
                                "probability each fighter at a struck site is killed")
    collateral_prob: float = p(0.03, 0.0, 0.5, "-", "Bennett 2008 [EST]",
                               "probability a strike harms civilians")
    intel_half_life_h: float = p(48.0, 1.0, 720.0, "h", "[EST]", "half-life of a sighting report")
    hideout_half_life_h: float = p(720.0, 24.0, 8760.0, "h", "[EST] caves do not move",
                                   "half-life of a report of where a group hides")
    isr_locate_per_day: float = p(0.01, 0.0, 0.2, "1/day", "seeds 002/003 (S26: coalition ISR) [EST]",
                                  "daily probability coalition surveillance locates a cell's hideout")


def coordination_value(level: str | float) -> float:
    """Map a coordination level name or number to a position on 0..4.

    Raises:
        ConfigError: for an unknown name or a number outside 0..4.
    """
    allowed = f"one of {', '.join(COORDINATION_LEVELS)} or a number from 0 to 4"
    if isinstance(level, str):
        text = level.strip().lower()
        if text in COORDINATION_LEVELS:
            return float(COORDINATION_LEVELS.index(text))
        try:
            value = float(text)
        except ValueError:
            raise ConfigError("coordination", level, allowed) from None
    else:
        value = float(level)
    if not (math.isfinite(value) and 0.0 <= value <= 4.0):
        raise ConfigError("coordination", level, allowed)
    return value


def at_level(values: list[float], level: float) -> float:
    """Interpolate a per-level parameter at a (possibly fractional) coordination level."""
    lo = int(math.floor(level))
    hi = min(lo + 1, len(values) - 1)
    frac = level - lo
    return float(values[lo] * (1.0 - frac) + values[hi] * frac)


def interval_at_level(days: list[float], level: float) -> float:
    """Interpolate an interval in days where 0 means never: the *frequency* is interpolated, so
    level 2.5 between "never" and "every 90 days" means every 180 days, not every 45."""
    freq = [1.0 / d if d > 0 else 0.0 for d in days]
    f = at_level(freq, level)
    return 1.0 / f if f > 0 else 0.0


def param_fields() -> list[Any]:
    """The dataclass fields of ModelParams (for validation and the ODD table)."""
    return list(fields(ModelParams))


def validate_params(params: ModelParams, prefix: str = "model") -> None:
    """Range and cross-field checks; raises ConfigError naming the first bad key."""
    for f in fields(params):
        value = getattr(params, f.name)
        if f.metadata.get("names"):
            from sim.model.mechanisms import check_ablate

            if not isinstance(value, list | tuple):
                raise ConfigError(f"{prefix}.{f.name}", value, "a list of mechanism names")
            check_ablate(list(value), f"{prefix}.{f.name}")
            continue
        lo, hi = f.metadata["range"]
        unit = f.metadata["unit"]
        key = f"{prefix}.{f.name}"
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) != len(COORDINATION_LEVELS):
            raise ConfigError(key, value, f"a list of {len(COORDINATION_LEVELS)} numbers, one per "
                                          f"coordination level")
        for item in items:
            if not (isinstance(item, int | float) and math.isfinite(item) and lo <= item <= hi):
                raise ConfigError(key, value, f"must be between {lo} and {hi} ({unit})")
    if abs(24.0 / params.tick_hours - round(24.0 / params.tick_hours)) > 1e-9:
        raise ConfigError(f"{prefix}.tick_hours", params.tick_hours,
                          "must divide 24 hours evenly (e.g. 0.5, 1, 2, 3)")
    role_sum = params.share_shepherd + params.share_truffle + params.share_driver
    if role_sum > 1.0 + 1e-9:
        raise ConfigError(f"{prefix}.share_shepherd", params.share_shepherd,
                          "share_shepherd + share_truffle + share_driver must be at most 1")
    if params.cell_size > params.max_cell_size:
        raise ConfigError(f"{prefix}.cell_size", params.cell_size,
                          f"must not exceed model.max_cell_size={params.max_cell_size}")
