"""Every behavioural parameter of the model, with its default, allowed range, unit and source.

Why one dataclass: it is the Hydra schema of ``cfg.model`` (type checks for free), the source of the
range checks that run before any work (``validate_params``), and the source of the parameter table
in ``docs/ODD.md`` (a test checks the two agree). Values marked [EST] are modelling estimates, not
measurements; ``../shared/DOMAIN.md`` gives the evidence behind the sourced ones. A constant that
shapes behaviour and is not here is a bug.

Rates are per hour (or per day/month where the name says so). Time in the model runs in hours;
``tick_hours`` is only the batch of the sensing process (docs/ODD.md, "Scheduling"), so changing it
changes how the work is split, not what happens.

The per-coordination-level tables (five values: none, liaison, jcc, joint_ops, joint_brigades) are
where coordination enters the model; each acts only through what the agents it governs do (a message
forwarded, a unit allowed to cross, a sortie flown), and the coordination-channel study measures
what each carries (docs/VALIDATION.md).
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

    # --- time and weather ---------------------------------------------------------------------
    tick_hours: float = p(6.0, 0.25, 6.0, "h", "resolution choice (docs/ODD.md, Scheduling)",
                          "batch length of the sensing process; must divide 24")
    rainfall_index: float = p(1.0, 0.2, 2.5, "-", "seed 002 (wet 2018-19 season) [EST]",
                              "mean seasonal rainfall relative to normal; scales truffle yield")
    rainfall_sd: float = p(0.3, 0.0, 1.0, "-", "[EST]", "year-to-year s.d. of the rainfall index")

    # --- posts, patrols, detection ------------------------------------------------------------
    pesh_post_spacing_km: float = p(2.0, 0.5, 10.0, "km", "DOMAIN 4.5 (posts every 1-2 km) [EST]",
                                    "spacing of Peshmerga outposts along their line")
    checkpoint_spacing_km: float = p(5.0, 1.0, 20.0, "km", "seed 000 (IA guard main road) [EST]",
                                     "spacing of checkpoints along roads in a held zone")
    garrison_spacing_km: float = p(3.0, 1.0, 10.0, "km", "seed 004 (S24) [EST]",
                                   "spacing of posts along the middle of a held gap")
    unit_strength: int = p(12, 4, 60, "men", "rudaw 201220191 (15-man guard) [EST]",
                           "men in a patrol, a post's reaction team or a quick-reaction unit")
    patrols_pesh: int = p(3, 0, 20, "units", "[EST]",
                          "Peshmerga patrols (foot along the line, vehicle on held roads)")
    patrols_ia: int = p(4, 0, 20, "units", "DOMAIN 4.5 (2-4 patrols a day) [EST]",
                        "Iraqi Army vehicle patrols on plain roads")
    patrols_pmf: int = p(2, 0, 20, "units", "[EST]", "PMF vehicle patrols in their sector")
    patrol_sorties_per_day: float = p(2.0, 0.5, 6.0, "1/day", "DOMAIN 4.5 (2-4 a day) [EST]",
                                      "sorties a patrol makes a day")
    patrol_sortie_h: float = p(4.0, 1.0, 12.0, "h", "[EST]", "length of a patrol sortie")
    foot_speed_kmh: float = p(3.0, 1.0, 6.0, "km/h", "DOMAIN 2d (3-5 km/h)", "foot patrol speed")
    vehicle_speed_kmh: float = p(25.0, 5.0, 60.0, "km/h", "[EST]", "vehicle patrol speed on roads")
    detect_rate_per_h: float = p(1.0, 0.05, 20.0, "1/h", "[EST] Epstein-style hazard",
                                 "detection hazard of a moving group at zero distance in the open")
    detect_range_day_km: float = p(1.5, 0.3, 5.0, "km", "DOMAIN 4.7 (1-3 km)",
                                   "visual detection scale in open terrain by day")
    detect_range_night_km: float = p(0.4, 0.1, 1.0, "km", "DOMAIN 4.7 (0.2-0.5 km)",
                                     "detection scale at night without optics")
    detect_range_thermal_km: float = p(1.5, 0.5, 3.0, "km", "DOMAIN 4.7 (1-2 km); rudaw 201220191",
                                       "detection scale at night with thermal optics (posts)")
    elevation_bonus_per_100m: float = p(0.25, 0.0, 1.0, "-", "[EST]",
                                        "range gain per 100 m a post stands above the plain")
    lying_up_cover: float = p(0.9, 0.0, 1.0, "-", "[EST]",
                              "cover of a group lying up in a ravine or ruin by day")
    civilian_cover: float = p(0.85, 0.0, 1.0, "-", "seed 002 (S15) [EST]",
                              "concealment from villagers of fighters travelling as civilians (posts "
                              "and patrols cannot tell them apart at all)")
    sense_refractory_h: float = p(2.0, 0.25, 12.0, "h", "[EST]",
                                  "after one sighting, the same observer reports the same group "
                                  "again only after this long")
    engage_range_km: float = p(0.7, 0.2, 3.0, "km", "[EST]",
                               "distance within which a unit that sees a group engages it")
    engage_kill_prob: float = p(0.05, 0.0, 0.5, "-", "July 2018 op (>=14 killed) [EST]",
                                "probability an engaged fighter is killed or captured")
    engage_force_casualty_prob: float = p(0.04, 0.0, 0.5, "-", "[EST]",
                                          "probability a member of an engaging unit is a casualty")
    raid_surprise: float = p(2.0, 1.0, 5.0, "-", "[EST]",
                             "kill multiplier when a unit finds a group in its hideout")

    # --- quick-reaction units ----------------------------------------------------------------
    qrf_base_spacing_km: float = p(12.0, 3.0, 50.0, "km", "[EST]",
                                   "a force keeps a quick-reaction unit at one post in this length of line")
    mobilise_h_pesh: float = p(0.5, 0.1, 6.0, "h", "[EST]", "Peshmerga quick-reaction mobilisation")
    mobilise_h_ia: float = p(0.25, 0.1, 6.0, "h", "rudaw 201220191 (IA in 15 min at Ali Rash)",
                             "Iraqi Army quick-reaction mobilisation")
    mobilise_h_pmf: float = p(0.5, 0.1, 6.0, "h", "[EST]", "PMF quick-reaction mobilisation")
    mobilise_h_joint: float = p(0.5, 0.1, 6.0, "h", "[EST]", "joint garrison quick-reaction mobilisation")
    qrf_road_speed_kmh: float = p(50.0, 10.0, 90.0, "km/h", "[EST]", "quick-reaction vehicles on roads")
    qrf_offroad_speed_kmh: float = p(12.0, 2.0, 40.0, "km/h", "[EST]",
                                     "quick-reaction vehicles off road on flat ground (halved on "
                                     "steep slopes)")
    qrf_night_factor: float = p(0.6, 0.2, 1.0, "-", "[EST]", "speed at night relative to day")
    qrf_search_h: float = p(1.5, 0.25, 12.0, "h", "[EST]",
                            "time a unit searches around the site it was sent to")
    qrf_search_rate_per_h: float = p(3.0, 0.1, 20.0, "1/h", "[EST]",
                                     "detection hazard of a searching unit at zero distance")
    qrf_search_range_km: float = p(0.8, 0.1, 3.0, "km", "[EST]", "detection scale of a searching unit")
    alert_fresh_h: float = p(3.0, 0.5, 24.0, "h", "[EST]",
                             "a sighting older than this no longer sends a unit to the place")
    cave_raid_confidence: float = p(0.6, 0.1, 1.0, "-", "[EST]",
                                    "confidence in a hideout at which a force raids it on the ground")
    pursuit_track_prob: float = p(0.5, 0.0, 1.0, "-", "[EST]",
                                  "probability a unit that engaged a fleeing group follows it home")
    local_knowledge_pesh: float = p(0.8, 0.0, 1.0, "-", "seed 002 (S6, S7) [EST]",
                                    "Peshmerga local knowledge: share of caves they know of")
    local_knowledge_iraqi: float = p(0.1, 0.0, 0.3, "-", "seed 002 (S8) [EST]",
                                     "IA and PMF local knowledge at entry")
    local_knowledge_joint: float = p(0.5, 0.0, 1.0, "-", "[EST]", "joint units' local knowledge")
    local_knowledge_gain_per_tip: float = p(0.002, 0.0, 0.05, "-", "[EST]",
                                            "gain in local knowledge for each tip a force receives")

    # --- coordination (per level) -------------------------------------------------------------
    share_prob: list[float] = by_level([0.0, 0.3, 0.7, 0.9, 0.95], 0.0, 1.0, "-",
                                       "DOMAIN 4.7 [EST]",
                                       "probability a report or alert is passed to the force able to act")
    share_delay_h: list[float] = by_level([72.0, 24.0, 3.0, 1.0, 0.25], 0.0, 240.0, "h",
                                          "DOMAIN 4.7 [EST]", "delay before a passed report arrives")
    cross_prob: list[float] = by_level([0.0, 0.1, 0.5, 0.9, 1.0], 0.0, 1.0, "-", "seed 004 (S22) [EST]",
                                       "probability a unit is cleared to enter another force's zone "
                                       "or the unheld gap")
    cross_delay_h: list[float] = by_level([24.0, 12.0, 3.0, 1.0, 0.25], 0.0, 240.0, "h", "[EST]",
                                          "deconfliction delay before a cleared unit may cross")
    gap_patrols_per_day: list[float] = by_level([0.0, 0.0, 1.0, 2.0, 4.0], 0.0, 8.0, "1/day",
                                                "DOMAIN 4.7 [EST]", "patrol sorties into the unheld gap")
    joint_clearing_every_days: list[float] = by_level([0.0, 0.0, 0.0, 90.0, 60.0], 0.0, 720.0,
                                                      "days", "DOMAIN 4.7 (90 days) [EST]",
                                                      "interval of joint clearing ops (0: never)")
    gap_garrison: list[float] = by_level([0.0, 0.0, 0.0, 0.0, 1.0], 0.0, 1.0, "-", "seed 004 (S24)",
                                         "standing joint garrison in the gap (1: yes)")
    air_delay_h: list[float] = by_level([24.0, 18.0, 12.0, 6.0, 3.0], 0.0, 240.0, "h", "[EST]",
                                        "airstrike approval delay for a force's request (deconfliction)")

    # --- clearing operations ------------------------------------------------------------------
    clearing_every_days: float = p(120.0, 20.0, 720.0, "days", "seed 004 (separate ops) [EST]",
                                   "interval between a force's own clearing operations")
    clearing_radius_km: float = p(3.0, 1.0, 6.0, "km", "July 2018 op: 30 km2 cleared",
                                  "radius of the area a clearing operation sweeps")
    clearing_hours: float = p(24.0, 6.0, 72.0, "h", "July 2018 op; seed 001 [EST]",
                              "duration of a clearing operation")
    cave_search_prob: float = p(0.6, 0.0, 1.0, "-", "K24 Sept 2022 (36 caves in 2 days) [EST]",
                                "probability a sweep finds an occupied cave inside its area")
    sweep_warning_prob: float = p(0.6, 0.0, 1.0, "-", "seed 002 (S12: 'strong intelligence') [EST]",
                                  "probability a cell in a swept area hears of the operation first")

    # --- insurgents ---------------------------------------------------------------------------
    n_fighters: int = p(100, 10, 400, "fighters", "seed 002 (50-150); rudaw 071120182 (~300)",
                        "initial number of insurgent fighters")
    cell_size: int = p(6, 2, 25, "fighters", "DOMAIN 4.7 (groups of 2-25)", "initial fighters per cell")
    max_cell_size: int = p(12, 4, 40, "fighters", "[EST]", "a cell larger than this splits")
    inflow_per_month: float = p(6.0, 0.0, 20.0, "fighters/month", "WSJ route via Great Zab [EST]",
                                "exogenous inflow of fighters")
    action_rate_per_day: float = p(0.03, 0.005, 1.0, "1/day", "seed 002 (S13) [EST]",
                                   "rate at which a cell weighs an operation")
    risk_aversion: float = p(1.0, 0.1, 5.0, "-", "Epstein 2002 (R) [EST]",
                             "weight of perceived capture risk against payoff")
    risk_cost: float = p(6.0, 0.5, 20.0, "payoff units", "[EST]",
                         "payoff a cell gives up to avoid certain capture")
    capture_k: float = p(2.3, 0.5, 5.0, "-", "Epstein 2002 (k=2.3)",
                         "steepness of perceived capture probability in remembered threat")
    option_noise: float = p(0.5, 0.0, 3.0, "payoff units", "[EST]",
                            "scale of the Gumbel noise on each option's utility")
    heat_decay_per_day: float = p(0.05, 0.0, 0.5, "1/day", "[EST]", "decay of a cell's heat")
    heat_per_loss: float = p(0.15, 0.0, 1.0, "-", "[EST]", "heat added per fighter lost")
    heat_per_sighting: float = p(0.05, 0.0, 1.0, "-", "[EST]",
                                 "heat added when a cell is seen, shot at or hears a strike nearby")
    day_move_tolerance: float = p(0.15, 0.0, 1.0, "-", "seed 002 (S14) [EST]",
                                  "perceived daylight capture risk above which a cell lies up by day")
    supplies_days: float = p(45.0, 3.0, 90.0, "days", "seed 002 (S15) [EST]",
                             "supplies a cell carries after resupply")
    resupply_below_days: float = p(5.0, 1.0, 30.0, "days", "[EST]",
                                   "supplies at which a cell goes to market")
    market_cost: float = p(1.0, 0.0, 10.0, "cash units", "seed 002 (S15) [EST]",
                           "cash a market trip costs")
    market_hours: float = p(2.0, 0.5, 8.0, "h", "[EST]", "time a resupply party spends in town")
    checkpoint_arrest_prob: float = p(0.03, 0.0, 0.5, "-", "[EST]",
                                      "probability a town checkpoint stops a resupply party")
    market_party: int = p(2, 1, 10, "fighters", "seed 002 (S15) [EST]",
                          "fighters of a cell who go into town to buy")
    extortion_supplies_days: float = p(15.0, 0.0, 60.0, "days", "rudaw 070420192 (zakat in sheep) [EST]",
                                       "supplies a cell takes from an extorted village")
    desertion_per_day: float = p(0.03, 0.0, 0.5, "1/day", "[EST]",
                                 "daily probability a fighter of a cell out of supplies drifts away")
    cash_start: float = p(3.0, 0.0, 20.0, "cash units", "[EST]", "cash a new cell starts with")
    night_risk_factor: float = p(0.2, 0.0, 1.0, "-", "rudaw 071120182 (hiding by day) [EST]",
                                 "how dangerous fighters believe moving in the dark is, relative to daylight")
    fighter_speed_kmh: float = p(3.5, 1.0, 6.0, "km/h", "DOMAIN 2d (foot 3-5 km/h)",
                                 "insurgent movement speed")
    operation_radius_km: float = p(12.0, 2.0, 40.0, "km", "[EST]",
                                   "farthest target a cell considers from its hideout")
    sight_range_day_km: float = p(1.5, 0.2, 5.0, "km", "[EST]", "sight range of fighters (and villagers) by day")
    sight_range_night_km: float = p(0.5, 0.1, 2.0, "km", "rudaw 201220191 (NVG on both sides) [EST]",
                                    "sight range of fighters and villagers at night")
    watch_rate_per_h: float = p(2.0, 0.1, 20.0, "1/h", "[EST]",
                                "rate at which exposed fighters notice a unit at zero distance")
    memory_block_km: float = p(1.0, 0.5, 5.0, "km", "[EST]", "resolution of a cell's threat memory")
    memory_half_life_days: float = p(20.0, 1.0, 365.0, "days", "[EST]",
                                     "half-life of a remembered patrol, response or loss")
    post_memory_half_life_days: float = p(180.0, 10.0, 3650.0, "days", "[EST] posts stay put",
                                          "half-life of a remembered post")
    threat_spread_km: float = p(1.5, 0.25, 5.0, "km", "[EST]",
                                "distance over which a remembered threat deters")
    network_report_rate: float = p(0.5, 0.0, 1.0, "-", "seed 002 (S12) [EST]",
                                   "probability a supporter village tells nearby cells of a patrol it saw")
    prior_post_knowledge: float = p(0.8, 0.0, 1.0, "-", "[EST]",
                                    "probability a cell knows a standing post in its home range at the start")
    home_range_km: float = p(15.0, 2.0, 40.0, "km", "[EST]", "area a cell knows around its hideout")
    recruit_grievance: float = p(0.55, 0.2, 1.0, "-", "Bennett 2008 (anger threshold) [EST]",
                                 "grievance above which a villager can be recruited")
    recruit_prob_per_day: float = p(0.01, 0.0, 0.1, "1/day", "[EST]",
                                    "daily recruitment probability of an aggrieved supporter near a cell")
    kin_link_share: float = p(0.2, 0.0, 1.0, "-", "seed 002 (S11, S12) [EST]",
                              "share of Sunni Arab parties with kin in a cell (supporters)")
    payoff_kidnap: float = p(4.0, 0.0, 10.0, "payoff units", "DOMAIN 4.7 (ransom $20k-100k) [EST]",
                             "value of a kidnapping (per hostage held, Kurdish hostages)")
    payoff_fake_checkpoint: float = p(1.5, 0.0, 10.0, "payoff units", "rudaw 12082021 [EST]",
                                      "value of a night fake checkpoint at expected traffic")
    payoff_ambush: float = p(2.0, 0.0, 10.0, "payoff units", "seed 002 (Q7) [EST]", "value of an ambush")
    payoff_arson: float = p(2.5, 0.0, 10.0, "payoff units", "shafaaq May 2020 [EST]",
                            "value of burning a dry standing crop")
    payoff_extortion: float = p(1.5, 0.0, 10.0, "payoff units", "rudaw 070420192 (zakat) [EST]",
                                "value of extorting a village")
    payoff_village_attack: float = p(1.0, 0.0, 10.0, "payoff units", "rudaw 201220191 [EST]",
                                     "value of attacking a hostile village")
    payoff_supplies: float = p(0.3, 0.0, 5.0, "payoff units/day", "seed 002 (S15) [EST]",
                               "value of a day of supplies short of a full load")
    zakat_recovery_days: float = p(60.0, 1.0, 365.0, "days", "rudaw 070420192 (zakat) [EST]",
                                   "time a village needs before it can pay zakat in full again")
    ransom_cash: float = p(2.0, 0.0, 10.0, "cash units", "DOMAIN 4.7 (ransom $20k-100k) [EST]",
                           "cash a Kurdish hostage brings (half for Sunni Arabs)")
    zakat_cash: float = p(0.5, 0.0, 5.0, "cash units", "rudaw 070420192 [EST]", "cash an extortion brings")
    kidnap_hours: float = p(1.0, 0.25, 6.0, "h", "seed 003 (encircled early morning) [EST]",
                            "time a cell waits at a work site for a party")
    kidnap_take_share: float = p(0.3, 0.0, 1.0, "-", "seed 003 (1 of a group) [EST]",
                                 "share of a work party a cell can seize")
    fake_cp_hours: float = p(3.0, 0.5, 8.0, "h", "rudaw 12082021 [EST]", "time a fake checkpoint stands")
    flee_prob: float = p(0.3, 0.0, 1.0, "-", "rudaw 12082021 (3 injured fleeing) [EST]",
                         "probability a stopped vehicle flees the fake checkpoint")
    flee_injury_prob: float = p(0.5, 0.0, 1.0, "-", "rudaw 12082021 [EST]",
                                "probability a person in a fleeing vehicle is hurt")
    ambush_wait_h: float = p(12.0, 1.0, 48.0, "h", "[EST]", "time a cell waits in ambush")
    ambush_loss_prob: float = p(0.05, 0.0, 0.5, "-", "[EST]",
                                "probability an ambushing fighter is killed by the return fire")
    ambush_hit_prob: float = p(0.15, 0.0, 1.0, "-", "seed 002 (Q7: 6 killed, 31 injured) [EST]",
                               "probability a member of an ambushed unit is a casualty")
    village_fight_hit_prob: float = p(0.1, 0.0, 1.0, "-", "rudaw 201220191 [EST]",
                                      "probability a defender or attacker is hit in a village fight")
    retribution_prob: float = p(0.15, 0.0, 1.0, "-", "seed 002 (S11, Q13) [EST]",
                                "probability a cell punishes someone it suspects after a loss")
    suspicion_accuracy: float = p(0.5, 0.0, 1.0, "-", "seed 002 (S12) [EST]",
                                  "probability a suspect is a real informant (else an innocent)")

    # --- villagers ----------------------------------------------------------------------------
    people_per_agent: float = p(60.0, 10.0, 500.0, "persons", "[EST]",
                                "people one villager agent (a household group) stands for")
    max_agents_per_settlement: int = p(40, 2, 500, "agents", "[EST]",
                                       "cap on villager agents per settlement (the town)")
    share_shepherd: float = p(0.2, 0.0, 1.0, "-", "seed 002 (S20) [EST]", "shepherd agents")
    share_truffle: float = p(0.25, 0.0, 1.0, "-", "seeds 002/003 (S18) [EST]",
                             "seasonal truffle-hunter agents")
    share_driver: float = p(0.15, 0.0, 1.0, "-", "rudaw 12082021 [EST]", "driver/trader agents")
    party_size: float = p(5.0, 1.0, 20.0, "persons", "seed 003 (groups of neighbours) [EST]",
                          "mean size of a work party out at a site")
    work_start_h: float = p(6.0, 0.0, 12.0, "clock h", "[EST]", "farmers and shepherds go out")
    work_end_h: float = p(17.0, 12.0, 21.0, "clock h", "[EST]", "farmers and shepherds come home")
    truffle_start_h: float = p(5.0, 3.0, 9.0, "clock h", "seed 003 (early morning)",
                               "truffle hunters go out")
    truffle_end_h: float = p(11.0, 8.0, 16.0, "clock h", "seed 003 [EST]", "truffle hunters come home")
    truffle_go_prob: float = p(0.5, 0.0, 1.0, "-", "seed 003 [EST]",
                               "daily probability a hunter goes out in season at rainfall 1")
    fear_stay_home: float = p(0.5, 0.0, 1.0, "-", "seed 003 (told to avoid unsecured areas) [EST]",
                              "reduction of going out per unit of fear")
    see_rate_per_h: float = p(1.0, 0.0, 10.0, "1/h", "seed 002 (S20) [EST]",
                              "rate at which a villager notices a group at zero distance")
    report_base: float = p(0.5, 0.0, 1.0, "-", "Wheeler 2005 [EST]",
                           "base probability a villager who saw insurgents reports")
    handler_bonus: float = p(1.0, 0.0, 5.0, "-", "seed 002 (S6, S7) [EST]",
                             "extra reporting propensity of a linked informant")
    access_km: float = p(5.0, 1.0, 30.0, "km", "[EST]",
                         "distance to a post within which an unlinked villager walks in to report")
    phone_delay_h: float = p(0.5, 0.0, 12.0, "h", "[EST]", "delay of a linked informant's call")
    call_delay_h: float = p(0.15, 0.0, 6.0, "h", "rudaw 201220191 [EST]",
                            "delay before victims or witnesses of an incident get through by phone")
    tip_hideout_prob_linked: float = p(0.5, 0.0, 1.0, "-", "seed 002 (S7, S20) [EST]",
                                       "probability a linked informant's tip names the group's hideout")
    tip_hideout_prob_walkin: float = p(0.2, 0.0, 1.0, "-", "[EST]",
                                       "probability a walk-in tip names the group's hideout")
    sighting_refractory_h: float = p(12.0, 1.0, 72.0, "h", "[EST]",
                                     "a villager (or a group) notices the same group (or unit) again only "
                                     "after this long")
    walk_in_delay_h: float = p(18.0, 1.0, 72.0, "h", "[EST]", "delay of a walk-in report")
    call_prob: float = p(0.8, 0.0, 1.0, "-", "rudaw 201220191 [EST]",
                         "probability victims or witnesses of an incident call a force")
    informant_share: float = p(0.25, 0.0, 0.6, "-", "DOMAIN 4.5 (5-10 % of households) [EST]",
                               "initial share of villager agents linked to a handler in reach, "
                               "where the network is intact")
    link_rate_per_day: float = p(0.004, 0.0, 0.1, "1/day", "seed 002 (S6, S8) [EST]",
                                 "rate of new links at full trust and local knowledge, per contact")
    contact_km: float = p(2.0, 0.2, 10.0, "km", "[EST]",
                          "a patrol or handler post this close to a village is a contact")
    trust_kurd_pesh: float = p(0.8, 0.0, 1.0, "-", "DOMAIN 4.7 [EST]", "Kurdish trust in Peshmerga")
    trust_kurd_ia: float = p(0.3, 0.0, 1.0, "-", "DOMAIN 4.7 [EST]", "Kurdish trust in the Iraqi Army")
    trust_kurd_pmf: float = p(0.1, 0.0, 1.0, "-", "seed 000 (S10) [EST]", "Kurdish trust in PMF")
    trust_kurd_joint: float = p(0.6, 0.0, 1.0, "-", "[EST]", "Kurdish trust in joint units")
    trust_arab_pesh: float = p(0.4, 0.0, 1.0, "-", "seed 002 (S7) [EST]", "Sunni Arab trust in Peshmerga")
    trust_arab_ia: float = p(0.3, 0.0, 1.0, "-", "seed 002 (S9) [EST]", "Sunni Arab trust in the Iraqi Army")
    trust_arab_pmf: float = p(0.1, 0.0, 1.0, "-", "seed 002 (S9) [EST]", "Sunni Arab trust in PMF")
    trust_arab_joint: float = p(0.35, 0.0, 1.0, "-", "[EST]", "Sunni Arab trust in joint units")
    trust_relax_per_day: float = p(0.01, 0.0, 0.2, "1/day", "[EST]", "pull of trust back to baseline")
    trust_protect: float = p(0.05, 0.0, 0.5, "-", "DOMAIN 4.7 item 7 [EST]",
                             "trust gained by a force that answers an incident in time")
    trust_fail: float = p(0.05, 0.0, 0.5, "-", "DOMAIN 4.7 item 7 [EST]",
                          "trust lost in the zone holder when an incident goes unanswered")
    answered_within_h: float = p(2.0, 0.25, 24.0, "h", "rudaw 201220191 (15 min) [EST]",
                                 "a unit on site within this time counts as an answer")
    fear_per_incident: float = p(0.15, 0.0, 1.0, "-", "Bennett 2008 [EST]",
                                 "fear added in the victims' settlement by an incident")
    fear_decay_per_day: float = p(0.02, 0.0, 0.5, "1/day", "[EST]", "decay of fear")
    grievance_kurd: float = p(0.2, 0.0, 1.0, "-", "[EST]", "baseline grievance of Kurdish villagers")
    grievance_arab: float = p(0.45, 0.0, 1.0, "-", "seed 002 (S9: 'The Sunnis are against this army') [EST]",
                              "baseline grievance of Sunni Arab villagers")
    grievance_sd: float = p(0.15, 0.0, 0.5, "-", "[EST]", "spread of households' baseline grievance")
    grievance_per_harm: float = p(0.2, 0.0, 1.0, "-", "Bennett 2008; Kress-Szechtman 2009 [EST]",
                                  "grievance added by collateral harm")
    trips_per_day: float = p(1.0, 0.0, 6.0, "1/day", "[EST]", "trips a driver agent makes a day")
    night_trip_share: float = p(0.15, 0.0, 1.0, "-", "rudaw 12082021 (travel at night) [EST]",
                                "share of trips that start after dusk")
    occupants: float = p(2.5, 1.0, 10.0, "persons", "rudaw 12082021 (9 in the stopped cars) [EST]",
                         "mean people in a vehicle")
    trip_dwell_h: float = p(3.0, 0.5, 12.0, "h", "[EST]", "mean time a driver stays before the trip home")
    road_speed_kmh: float = p(60.0, 20.0, 100.0, "km/h", "[EST]", "civilian vehicles on roads")

    # --- coalition air and surveillance ------------------------------------------------------
    strike_budget_per_month: float = p(7.0, 0.0, 30.0, "strikes/month", "seed 004 (82 in 13 months)",
                                       "ceiling on strikes per month")
    strike_confidence: float = p(0.6, 0.1, 1.0, "-", "[EST]",
                                 "confidence in a hideout needed to request a strike")
    strike_kill_prob: float = p(0.09, 0.0, 1.0, "-", "seed 004 (56 killed / 82 strikes) [EST]",
                                "probability each fighter at a struck site is killed")
    strike_radius_km: float = p(0.5, 0.05, 2.0, "km", "[EST]", "distance within which a strike hits")
    collateral_prob: float = p(0.03, 0.0, 0.5, "-", "Bennett 2008 [EST]",
                               "probability a strike harms civilians living within 3 km")
    intel_half_life_h: float = p(24.0, 1.0, 720.0, "h", "[EST]", "half-life of a sighting report")
    hideout_half_life_h: float = p(720.0, 24.0, 8760.0, "h", "[EST] caves do not move",
                                   "half-life of a report of where a group hides")
    cave_assoc_km: float = p(1.0, 0.2, 3.0, "km", "[EST]",
                             "a group seen this close to a cave a force knows gives it away")
    isr_days_share: float = p(0.3, 0.0, 1.0, "-", "seeds 002/003 (S26) [EST]",
                              "share of days the coalition tasks an ISR orbit over the district")
    isr_hours: float = p(6.0, 1.0, 24.0, "h", "[EST]", "length of an ISR orbit")
    isr_radius_km: float = p(3.0, 0.5, 10.0, "km", "[EST]", "radius of an orbit's sensor footprint")
    isr_rate_per_h: float = p(2.0, 0.1, 20.0, "1/h", "[EST]",
                              "detection hazard inside the footprint, day or night (thermal)")
    isr_track_prob: float = p(0.5, 0.0, 1.0, "-", "[EST]",
                              "probability a detected group is followed back to its hideout")
    isr_strike_delay_h: float = p(6.0, 0.0, 72.0, "h", "[EST]",
                                  "approval delay of a strike on a hideout the coalition tracked")


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
    if params.resupply_below_days >= params.supplies_days:
        raise ConfigError(f"{prefix}.resupply_below_days", params.resupply_below_days,
                          f"must be below model.supplies_days={params.supplies_days}")
