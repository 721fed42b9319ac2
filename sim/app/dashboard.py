"""The gapsim workshop dashboard: a Solara page on Mesa's SolaraViz.

Run it with ``gapsim dashboard`` (serves Solara's front end from this environment, offline), or
``solara run sim.app.dashboard``. SolaraViz gives the sidebar: step, play/pause and reset, the play
interval and steps-per-frame sliders, and the model parameters below (applied on Reset, which
rebuilds the model as ``DashboardModel(**params)``). The main area is this module's own: a status
line, the map (static terrain picture plus a live SVG layer, ``sim.app.mapview``) and the charts
(``sim.app.charts``).

Why a subclass of the model: the controls must be validated exactly like the command line, so
``DashboardModel`` composes its configuration with ``load_config`` from the same overrides a user
would type. A bad value never crashes the page: the model falls back to the default for that key
and the page says which value was refused and why.

Every browser session gets its own model (``Page`` creates it), so several workshop participants
can share one server.
"""

from __future__ import annotations

import datetime as dt
import html
import threading
from typing import Any

import solara
from mesa import DataCollector
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.utils import update_counter
from omegaconf import OmegaConf

from sim.app import charts, mapview
from sim.config.load import CONFIG_DIR, load_config, options
from sim.errors import ConfigError
from sim.model.clock import NIGHT, PHASE_NAMES, phase_of_hour
from sim.model.model import SecurityGapModel
from sim.model.params import COORDINATION_LEVELS

#: What one press of Step (or one frame of Play) advances the model by.
STEP_LENGTHS: tuple[str, ...] = ("tick", "day", "week")
DEFAULTS: dict[str, Any] = {
    "scenario": "status_quo_2019",
    "gap_width_km": 4.0,
    "coordination": "none",
    "seed": 20170,
    "terrain": "qarachogh",
    "step_length": "day",
}

#: Hydra composition and the shared grid cache are process-wide: build one model at a time.
_BUILD_LOCK = threading.Lock()


def _override_key(item: str) -> str:
    return item.partition("=")[0].lstrip("+~")


def compose(requested: dict[str, Any]) -> tuple[Any, list[ConfigError]]:
    """A validated ``Config`` for the dashboard's controls, and the values it had to refuse.

    Each refused value is replaced by its default (the configuration tree's own value), so the
    page can still show a model and name the problem. Raises only if the defaults themselves fail.
    """
    errors: list[ConfigError] = []
    seed = requested.get("seed", DEFAULTS["seed"])
    try:
        seed_value: int | None = int(str(seed).strip())
    except ValueError:
        errors.append(ConfigError("seed", seed, "must be a non-negative whole number"))
        seed_value = None
    try:
        gap = float(requested.get("gap_width_km", DEFAULTS["gap_width_km"]))
        gap_text: str | None = f"{gap:g}"
    except (TypeError, ValueError):
        errors.append(
            ConfigError("gap_width_km", requested.get("gap_width_km"), "must be a number of km")
        )
        gap_text = None
    overrides = [
        f"scenario={requested.get('scenario', DEFAULTS['scenario'])}",
        f"terrain={requested.get('terrain', DEFAULTS['terrain'])}",
        *([f"gap_width_km={gap_text}"] if gap_text is not None else []),
        f"coordination={requested.get('coordination', DEFAULTS['coordination'])}",
        *([f"seed={seed_value}"] if seed_value is not None else []),
    ]
    for _ in range(len(overrides) + 1):
        try:
            _, config = load_config(overrides)
            return config, errors
        except ConfigError as err:
            errors.append(err)
            root = str(err.key).split(".")[0].split("[")[0]
            kept = [o for o in overrides if _override_key(o) not in (err.key, root)]
            overrides = kept if len(kept) < len(overrides) else []
    _, config = load_config([])
    return config, errors


def scenario_defaults(name: str) -> dict[str, Any]:
    """The gap width and coordination a scenario file sets for itself (empty if unknown)."""
    path = CONFIG_DIR / "scenario" / f"{name}.yaml"
    if not path.is_file():
        return {}
    data = OmegaConf.to_container(OmegaConf.load(path))
    assert isinstance(data, dict)
    return {k: data[k] for k in ("gap_width_km", "coordination") if k in data}


class DashboardModel(SecurityGapModel):
    """The security-gap model as the dashboard drives it.

    Args:
        scenario: a name from ``configs/scenario/``.
        gap_width_km: width of the gap between the lines (0-10 km on the slider).
        coordination: none | liaison | jcc | joint_ops | joint_brigades.
        seed: root seed; text from the page is converted with ``int()``.
        terrain: a name from ``configs/terrain/``.
        step_length: what one Step advances: ``tick`` (one model tick, 3 h), ``day`` (to the next
            midday, when villagers work and patrols are out) or ``week`` (seven middays on).
    """

    def __init__(
        self,
        scenario: str = "status_quo_2019",
        gap_width_km: float = 4.0,
        coordination: str = "none",
        seed: int | str = 20170,
        terrain: str = "qarachogh",
        step_length: str = "day",
    ) -> None:
        requested = {
            "scenario": scenario,
            "gap_width_km": gap_width_km,
            "coordination": coordination,
            "seed": seed,
            "terrain": terrain,
        }
        with _BUILD_LOCK:
            config, errors = compose(requested)
            from sim.terrain.builder import get_terrain

            terrain_obj = get_terrain(config.terrain, config.gap_width_km)
            # Each browser session keeps its own live model, so each needs its own Mesa grid
            # (models otherwise take turns on one shared grid per terrain; sim.model.grid).
            super().__init__(config, terrain=terrain_obj, private_grid=True)
        if step_length not in STEP_LENGTHS:
            errors.append(
                ConfigError("step_length", step_length, f"must be one of {', '.join(STEP_LENGTHS)}")
            )
            step_length = DEFAULTS["step_length"]
        self.step_length = step_length
        self.input_errors: list[ConfigError] = errors
        self.requested = requested
        own = scenario_defaults(config.scenario.name)
        self.notes: list[str] = []
        if "coordination" in own and str(own["coordination"]) != config.coordination:
            self.notes.append(
                f"Scenario {config.scenario.name} sets coordination "
                f"{own['coordination']}; the control runs it with "
                f"{config.coordination}."
            )
        if "gap_width_km" in own and float(own["gap_width_km"]) != config.gap_width_km:
            self.notes.append(
                f"Scenario {config.scenario.name} sets a {own['gap_width_km']:g} km "
                f"gap; the slider runs it with {config.gap_width_km:g} km."
            )
        self.datacollector = DataCollector(model_reporters=charts.model_reporters())
        self.datacollector.collect(self)
        #: Held while stepping and while a frame reads the model (SolaraViz's "Use Threads"
        #: option renders in another thread than the one that steps).
        self.lock = threading.RLock()

    # -- Mesa's own "scenario" -----------------------------------------------------------------
    # Mesa 3.5 gives every model a ``scenario`` attribute (a mesa.experimental Scenario), and
    # SolaraViz's Reset, seeing one, replaces the ``scenario`` argument with a new Scenario object,
    # so the gapsim scenario chosen in the page would be lost. The dashboard hides Mesa's object
    # (it uses none of its features); it stays reachable as ``mesa_scenario``.
    @property
    def scenario(self) -> None:
        return None

    @scenario.setter
    def scenario(self, value: Any) -> None:
        self._scenario = value
        value.model = self

    @property
    def mesa_scenario(self) -> Any:
        return self._scenario

    # -- stepping -------------------------------------------------------------------------------
    def ticks_for_next_step(self) -> int:
        """Ticks that one dashboard step runs (day/week steps stop at midday)."""
        if self.step_length == "tick":
            return 1
        tpd = self.clock.ticks_per_day
        now = self.clock.tick
        target = (now // tpd) * tpd + tpd // 2
        if target <= now:
            target += tpd
        if self.step_length == "week":
            target += 6 * tpd
        return target - now

    def step(self) -> None:
        """One dashboard step: one tick, or on to the next midday (a day or a week later)."""
        with self.lock:
            for _ in range(self.ticks_for_next_step()):
                if not self.running:
                    break
                super().step()
            self.datacollector.collect(self)

    # -- what the page shows --------------------------------------------------------------------
    @property
    def shown_tick(self) -> int:
        """The last tick that ran (the state on screen is the end of it); -1 before any."""
        return self.clock.tick - 1

    @property
    def shown_day(self) -> int:
        return max(self.shown_tick, 0) // self.clock.ticks_per_day

    def _phase(self, tick: int) -> int:
        tpd = self.clock.ticks_per_day
        return phase_of_hour((tick % tpd + 0.5) * self.clock.tick_hours)

    @property
    def is_night(self) -> bool:
        return self.shown_tick < 0 or self._phase(self.shown_tick) == NIGHT

    def time_label(self) -> str:
        """Date and time span of the state on screen, e.g. ``2020-01-13 09:00-12:00 (day)``."""
        if self.shown_tick < 0:
            return f"{self.clock.start.isoformat()} 00:00 (start)"
        tpd = self.clock.ticks_per_day
        t = self.shown_tick
        date = self.clock.start + dt.timedelta(days=t // tpd)
        h0 = (t % tpd) * self.clock.tick_hours
        h1 = h0 + self.clock.tick_hours
        phase = PHASE_NAMES[self._phase(t)]

        def hhmm(h: float) -> str:
            return f"{int(h) % 24 if h < 24 else 24:02d}:{int(round((h % 1) * 60)):02d}"

        return f"{date.isoformat()} {hhmm(h0)}-{hhmm(h1)} ({phase})"


# -- page components ------------------------------------------------------------------------------
def _status_html(model: DashboardModel, counts: dict[str, int]) -> str:
    c = model.config
    last = charts.last_values(model.datacollector.get_model_vars_dataframe())
    incidents = len(model.recorder.inc["type"])
    tips = int(last.get("tips", 0))
    reach = int(last.get("tips_reaching_actor", 0))
    events = [
        f"day {d + 1}: {html.escape(label)}"
        for d, label in model.recorder.events
        if d > model.shown_day - mapview.RECENT_DAYS
    ][-3:]
    esc = html.escape
    line1 = (
        f"<b>{esc(model.time_label())}</b> &middot; day {model.shown_day + 1} of {model.days}"
        f" &middot; step {model.steps}"
        f"{' &middot; <b>run finished</b>' if not model.running else ''}"
    )
    line2 = (
        f"scenario <b>{esc(c.scenario.name)}</b> &middot; gap <b>{c.gap_width_km:g} km</b>"
        f" &middot; coordination <b>{esc(c.coordination)}</b> &middot; seed {c.seed}"
        f" &middot; step = {esc(model.step_length)}"
    )
    line3 = (
        f"fighters {int(last.get('fighters', 0))} in {int(last.get('cells', 0))} cells"
        f" &middot; incidents {incidents} ({counts.get('incident', 0)} in the last "
        f"{mapview.RECENT_DAYS} days) &middot; tips {tips}, {reach} reached the acting force"
        f" &middot; patrols out {counts.get('patrol', 0)}"
        f" &middot; villagers out {counts.get('villager', 0)}"
    )
    line4 = ("recent events: " + "; ".join(events)) if events else ""
    return "<br>".join(x for x in (line1, line2, line3, line4) if x)


@solara.component
def MapPanel(model: DashboardModel) -> None:
    """Status line, refused inputs, and the map (static picture + live SVG layer)."""
    update_counter.get()
    bg = mapview.background(model.terrain)
    with model.lock:
        styles = mapview.frame_styles(model, model.shown_day)
        counts = mapview.count_kinds(styles)
        status = _status_html(model, counts)
        night = model.is_night
        data = {
            "data-step": str(model.steps),
            "data-tick": str(model.clock.tick),
            "data-day": str(model.shown_day),
            "data-running": str(bool(model.running)).lower(),
            "data-gap-width-km": f"{model.config.gap_width_km:g}",
            "data-terrain": str(model.terrain.key),
            "data-scenario": model.config.scenario.name,
            "data-coordination": model.config.coordination,
            "data-seed": str(model.config.seed),
            "data-patrols": str(counts.get("patrol", 0)),
            "data-cells": str(counts.get("insurgent cell", 0)),
            "data-villagers-out": str(counts.get("villager", 0)),
            "data-incidents-recent": str(counts.get("incident", 0)),
        }
    svg = mapview.overlay_svg(bg, styles, night=night)
    with solara.Column(gap="6px", style={"width": "100%"}):
        for err in model.input_errors:
            solara.Error(
                f"Refused input - {err}. The model uses the default instead; fix the "
                "value and press Reset.",
                classes=["gapsim-input-error"],
            )
        for note in model.notes:
            solara.Info(note, dense=True)
        solara.HTML(
            tag="div",
            unsafe_innerHTML=status,
            style="font-size: 0.9rem; line-height: 1.45;",
            attributes={"class": "gapsim-status", **data},
        )
        solara.v.Html(
            tag="div",
            attributes={"class": "gapsim-map", "title": "", **data},
            style_="position: relative; width: 100%; line-height: 0;",
            children=[
                solara.HTML(
                    tag="img",
                    attributes={
                        "src": bg.data_url,
                        "class": "gapsim-map-background",
                        "alt": f"Terrain map, gap {bg.gap_width_km:g} km",
                        "data-gap-width-km": f"{bg.gap_width_km:g}",
                        "style": "display: block; width: 100%; height: auto;",
                    },
                ),
                solara.HTML(
                    tag="div",
                    unsafe_innerHTML=svg,
                    style="position: absolute; left: 0; top: 0; width: 100%; height: 100%;",
                    attributes={"class": "gapsim-map-live"},
                ),
            ],
        )


@solara.component
def ChartsPanel(model: DashboardModel) -> None:
    """The four live charts."""
    counter = update_counter.get()
    with model.lock:
        df = model.datacollector.get_model_vars_dataframe()
    fig = charts.charts_figure(df, days=model.days)
    solara.FigureMatplotlib(fig, format="png", dependencies=[id(model), counter, len(df)])


def model_params() -> dict[str, Any]:
    """SolaraViz's model parameters (inputs in the sidebar, applied on Reset)."""
    return {
        "scenario": {
            "type": "Select",
            "value": DEFAULTS["scenario"],
            "label": "Scenario",
            "values": options("scenario"),
        },
        "gap_width_km": Slider("Gap width (km)", float(DEFAULTS["gap_width_km"]), 0.0, 10.0, 0.5),
        "coordination": {
            "type": "Select",
            "value": DEFAULTS["coordination"],
            "label": "Coordination",
            "values": list(COORDINATION_LEVELS),
        },
        "seed": {
            "type": "InputText",
            "value": str(DEFAULTS["seed"]),
            "label": "Seed (whole number; Enter to apply)",
        },
        "terrain": {
            "type": "Select",
            "value": DEFAULTS["terrain"],
            "label": "Terrain",
            "values": options("terrain"),
        },
        "step_length": {
            "type": "Select",
            "value": DEFAULTS["step_length"],
            "label": "Step length (tick = 3 h)",
            "values": list(STEP_LENGTHS),
        },
    }


@solara.component
def Page() -> None:
    """One session: its own model, SolaraViz's controls, and the map and charts."""
    model = solara.use_memo(lambda: solara.reactive(DashboardModel()), dependencies=[])
    solara.Title("gapsim dashboard")
    SolaraViz(
        model,
        components=[],
        model_params=model_params(),
        name="gapsim: the security gap below Mount Qarachogh",
        play_interval=101,
    )
    current = model.value
    with solara.Columns([3, 2], gutters_dense=True):
        MapPanel(current)
        ChartsPanel(current)
