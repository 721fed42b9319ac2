"""The gapsim workshop dashboard: a Solara page for a projector.

Run it with ``gapsim dashboard`` (serves Solara's front end from this environment, offline), or
``solara run sim.app.dashboard``. The page is built for a room: controls in the workshop's words
(no "render interval" or "threads"), every slider showing its value, chart and legend text of 14
px or more at 1280 x 720, the date on top, and a side-by-side mode that runs two scenarios with
the same seed at once (common random numbers, so differences are the scenarios', not luck's).

Why its own controls rather than Mesa's SolaraViz sidebar: SolaraViz's controller names its
settings in programmers' terms and its sliders hide their values, and it runs one model per
page. Here a :class:`Session` holds one or two models and advances them a day at a time through
``sim.app.view`` (the only module that reads the model); ``sim.app.mapview`` draws the map and
``sim.app.charts`` the charts.

Every setting is checked exactly like the command line checks it (``load_config``): a refused
value never crashes the page; the session runs with that key's default and says why.
Every browser tab gets its own session, so several participants can share one server.
"""

from __future__ import annotations

import datetime as dt
import html
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import solara
from omegaconf import OmegaConf

from sim.app import charts, mapview, view
from sim.config.load import CONFIG_DIR, load_config, options
from sim.errors import ConfigError

#: Coordination levels in the workshop's words (the config value in brackets is what is run).
COORDINATION_WORDS: dict[str, str | None] = {
    "as in the scenario": None,
    "none: the forces do not talk": "none",
    "liaison officers": "liaison",
    "joint coordination centre": "jcc",
    "joint operations": "joint_ops",
    "joint brigades in the gap": "joint_brigades",
}
TERRAIN_WORDS: dict[str, str] = {
    "fine (250 m squares)": "qarachogh",
    "coarse (500 m squares, quicker)": "qarachogh_coarse",
}
NO_COMPARISON = "nothing (one scenario)"
DEFAULTS: dict[str, Any] = {
    "scenario": "status_quo_2019",
    "compare_with": NO_COMPARISON,
    "gap_width_km": 4.0,
    "coordination": "as in the scenario",
    "seed": "20170",
    "terrain": "fine (250 m squares)",
}
#: Days a second while playing, at most (each day is drawn).
MAX_SPEED = 10


def _override_key(item: str) -> str:
    return item.partition("=")[0].lstrip("+~")


def compose(requested: dict[str, Any]) -> tuple[Any, list[ConfigError]]:
    """A validated ``Config`` for one scenario's settings, and the values it had to refuse.

    ``requested`` holds config values (``scenario``, ``terrain``, ``gap_width_km``,
    ``coordination`` (None: the scenario's own), ``seed``). Each refused value is replaced by its
    default (the configuration tree's own), so the page can still show a model and name the
    problem. Raises only if the defaults themselves fail.
    """
    errors: list[ConfigError] = []
    seed = requested.get("seed", DEFAULTS["seed"])
    try:
        seed_value: int | None = int(str(seed).strip())
    except ValueError:
        errors.append(ConfigError("seed", seed, "must be a non-negative whole number"))
        seed_value = None
    try:
        gap_text: str | None = f"{float(requested.get('gap_width_km', 4.0)):g}"
    except (TypeError, ValueError):
        errors.append(
            ConfigError("gap_width_km", requested.get("gap_width_km"), "must be a number of km"))
        gap_text = None
    coordination = requested.get("coordination")
    overrides = [
        f"scenario={requested.get('scenario', DEFAULTS['scenario'])}",
        f"terrain={requested.get('terrain', 'qarachogh')}",
        *([f"gap_width_km={gap_text}"] if gap_text is not None else []),
        *([f"coordination={coordination}"] if coordination else []),
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


@dataclass
class Arm:
    """One scenario running in a session."""

    model: Any
    errors: list[ConfigError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def config(self) -> Any:
        return view.config(self.model)


class Session:
    """What one browser tab runs: one scenario, or two side by side with the same seed.

    Args (the page's settings, in its own words; see ``DEFAULTS``):
        scenario: a name from ``configs/scenario/``.
        compare_with: a second scenario, or ``NO_COMPARISON``.
        gap_width_km: the gap between the lines for both scenarios.
        coordination: a key of ``COORDINATION_WORDS`` (or a config value).
        seed: the root seed (text from the page); both scenarios share it.
        terrain: a key of ``TERRAIN_WORDS`` (or a terrain name).
    """

    def __init__(self, scenario: str = DEFAULTS["scenario"],
                 compare_with: str = DEFAULTS["compare_with"],
                 gap_width_km: float = DEFAULTS["gap_width_km"],
                 coordination: str = DEFAULTS["coordination"], seed: Any = DEFAULTS["seed"],
                 terrain: str = DEFAULTS["terrain"]) -> None:  # fmt: skip
        self.settings = {"scenario": scenario, "compare_with": compare_with,
                         "gap_width_km": gap_width_km, "coordination": coordination,
                         "seed": seed, "terrain": terrain}  # fmt: skip
        level = COORDINATION_WORDS.get(coordination, coordination)
        names = [scenario] + ([compare_with] if compare_with not in (NO_COMPARISON, "", None,
                                                                      scenario) else [])  # fmt: skip
        self.arms: list[Arm] = []
        for name in names:
            config, errors = compose({"scenario": name, "terrain": TERRAIN_WORDS.get(terrain, terrain),
                                      "gap_width_km": gap_width_km, "coordination": level,
                                      "seed": seed})  # fmt: skip
            self.arms.append(Arm(view.build_model(config), errors, self._notes(config)))
        self.steps = 0
        #: Held while stepping and while the page reads the models.
        self.lock = threading.RLock()

    @staticmethod
    def _notes(config: Any) -> list[str]:
        own = scenario_defaults(config.scenario.name)
        notes = []
        if "gap_width_km" in own and float(own["gap_width_km"]) != config.gap_width_km:
            notes.append(f"{config.scenario.name} has a {own['gap_width_km']:g} km gap; here it "
                         f"runs with {config.gap_width_km:g} km (the slider).")  # fmt: skip
        if "coordination" in own and str(own["coordination"]) != config.coordination:
            notes.append(f"{config.scenario.name} has coordination {own['coordination']}; here "
                         f"it runs with {config.coordination} (the setting).")  # fmt: skip
        return notes

    @property
    def errors(self) -> list[ConfigError]:
        seen: dict[str, ConfigError] = {}
        for arm in self.arms:
            for err in arm.errors:
                seen.setdefault(str(err), err)
        return list(seen.values())

    @property
    def running(self) -> bool:
        return any(view.is_running(a.model) for a in self.arms)

    def advance(self, days: int = 1) -> None:
        """Every scenario on by ``days`` days (to the next midday each time)."""
        with self.lock:
            for _ in range(days):
                if not self.running:
                    break
                for arm in self.arms:
                    view.advance_day(arm.model)
                self.steps += 1

    @property
    def day(self) -> int:
        return view.day_shown(self.arms[0].model)

    @property
    def time_label(self) -> str:
        """``midday`` at the daily stop; otherwise the clock time (the end of a run: midnight)."""
        when: dt.datetime = view.now(self.arms[0].model)
        return "midday" if (when.hour, when.minute) == (12, 0) else when.strftime("%H:%M")

    @property
    def date_label(self) -> str:
        """``Tuesday 14 January 2020`` (the day on screen)."""
        when: dt.datetime = view.now(self.arms[0].model)
        return when.strftime("%A %-d %B %Y")


# -- page pieces ------------------------------------------------------------------------------------
CSS = """
.gapsim-page { font-size: 16px; }
.gapsim-page .v-label, .gapsim-page .v-select__selection, .gapsim-page input { font-size: 16px !important; }
.gapsim-page .v-btn { font-size: 15px !important; text-transform: none !important; }
.gapsim-date { font-size: 24px; font-weight: 600; line-height: 1.2; }
.gapsim-sub { font-size: 16px; color: #444; }
.gapsim-status { font-size: 15px; line-height: 1.4; }
.gapsim-legend { font-size: 14px; line-height: 1.6; }
.gapsim-legend-item { display: inline-block; margin-right: 14px; white-space: nowrap; }
.gapsim-legend-item svg { vertical-align: middle; }
.gapsim-arm-title { font-size: 18px; font-weight: 600; }
.gapsim-value { font-weight: 600; }
.gapsim-controls .v-input__slider { margin-top: 30px; }
"""


def _status_html(session: Session, arm: Arm, kinds: dict[str, int]) -> str:
    now = view.current(arm.model)
    recent = kinds.get("incident", 0)
    events = [f"day {d + 1}: {html.escape(label)}" for d, label in view.events(arm.model)
              if d > session.day - mapview.RECENT_DAYS][-2:]  # fmt: skip
    lines = [
        f"<b>{now['incidents']}</b> incident{'' if now['incidents'] == 1 else 's'} so far "
        f"({recent} in the last "
        f"{mapview.RECENT_DAYS} days) &middot; <b>{now['fighters']}</b> fighters in "
        f"{now['cells']} cells",
        f"<b>{now['tips']}</b> villager tips, <b>{now['tips_reaching_actor']}</b> reached the "
        f"force able to act &middot; {kinds.get('patrol', 0)} patrols out &middot; "
        f"{kinds.get('villager', 0)} villagers out"
        + (f" &middot; {qrf} quick-reaction unit{'' if qrf == 1 else 's'} on the way"
           if (qrf := kinds.get('quick reaction unit', 0)) else ""),
    ]
    if events:
        lines.append("latest: " + "; ".join(events))
    return "<br>".join(lines)


@solara.component
def MapPanel(session: Session, index: int, version: int, width_px: int | None = None) -> None:
    """One scenario: its title, the map (static picture + live SVG layer) and its numbers."""
    arm = session.arms[index]
    model = arm.model
    terrain = view.terrain(model)
    bg = mapview.background(terrain)
    with session.lock:
        styles = mapview.frame_styles(model)
        kinds = mapview.count_kinds(styles)
        status = _status_html(session, arm, kinds)
        night = view.is_night(model)
        c = arm.config
        data = {
            "data-arm": str(index),
            "data-step": str(session.steps),
            "data-day": str(session.day),
            "data-running": str(session.running).lower(),
            "data-gap-width-km": f"{c.gap_width_km:g}",
            "data-terrain": str(terrain.key),
            "data-scenario": c.scenario.name,
            "data-coordination": c.coordination,
            "data-seed": str(c.seed),
            "data-patrols": str(kinds.get("patrol", 0)),
            "data-cells": str(kinds.get("insurgent cell", 0)),
            "data-villagers-out": str(kinds.get("villager", 0)),
            "data-qrf-out": str(kinds.get("quick reaction unit", 0)),
            "data-incidents-recent": str(kinds.get("incident", 0)),
            "data-version": str(version),
        }
    svg = mapview.overlay_svg(bg, styles, night=night)
    width = width_px or bg.width_px
    with solara.Column(gap="4px", style={"width": f"{width}px", "max-width": f"{width}px"}):
        solara.HTML(tag="div", unsafe_innerHTML=(
            f"{html.escape(c.scenario.name)} <span class='gapsim-sub'>gap {c.gap_width_km:g} km, "
            f"coordination {html.escape(c.coordination)}</span>"),
            attributes={"class": "gapsim-arm-title"})  # fmt: skip
        for note in arm.notes:
            solara.Info(note, dense=True)
        solara.v.Html(
            tag="div",
            attributes={"class": "gapsim-map", "title": "", **data},
            style_="position: relative; width: 100%; line-height: 0;",
            children=[
                solara.HTML(tag="img", attributes={
                    "src": bg.data_url, "class": "gapsim-map-background",
                    "alt": f"Terrain map, gap {bg.gap_width_km:g} km",
                    "data-gap-width-km": f"{bg.gap_width_km:g}",
                    "style": "display: block; width: 100%; height: auto;"}),
                solara.HTML(tag="div", unsafe_innerHTML=svg,
                            style="position: absolute; left: 0; top: 0; width: 100%; height: 100%;",
                            attributes={"class": "gapsim-map-live"}),
            ],
        )  # fmt: skip
        solara.HTML(tag="div", unsafe_innerHTML=status, attributes={"class": "gapsim-status"})


@solara.component
def ChartsPanel(session: Session, version: int, width_px: int, height_px: int, ncols: int) -> None:
    """The charts, drawn at the size they are shown (no text scaled down)."""
    with session.lock:
        series = {a.config.scenario.name: view.daily_series(a.model) for a in session.arms}
        days = view.horizon_days(session.arms[0].model)
    fig = charts.charts_figure(series, days=days, width_px=width_px, height_px=height_px,
                               ncols=ncols)  # fmt: skip
    with solara.Div(classes=["gapsim-charts"], style={"width": f"{width_px}px"}):
        solara.FigureMatplotlib(fig, format="png", dependencies=[id(session), version],
                                dpi=charts.DPI)  # fmt: skip


@solara.component
def Controls(session: solara.Reactive, settings: solara.Reactive, playing: solara.Reactive,
             speed: solara.Reactive, step) -> None:
    """The left column: run controls, then the settings (applied by Restart)."""
    current: Session = session.value
    s = settings.value

    def put(key: str):
        return lambda value: settings.set({**settings.value, key: value})

    def restart() -> None:
        playing.set(False)
        session.set(Session(**settings.value))

    with solara.Column(gap="10px", classes=["gapsim-controls"]):
        solara.HTML(tag="div", unsafe_innerHTML="<b>gapsim</b>: the security gap below Mount "
                    "Qarachogh", attributes={"class": "gapsim-sub"})  # fmt: skip
        with solara.Row(gap="6px"):
            solara.Button("Pause" if playing.value else "Play", color="primary",
                          on_click=lambda: playing.set(not playing.value),
                          disabled=not current.running)  # fmt: skip
            solara.Button("+1 day", on_click=lambda: step(1),
                          disabled=playing.value or not current.running)
            solara.Button("+1 week", on_click=lambda: step(7),
                          disabled=playing.value or not current.running)
        solara.SliderInt(f"Speed: {speed.value} days a second", value=speed, min=1,
                         max=MAX_SPEED, thumb_label="always")  # fmt: skip
        solara.HTML(tag="div", unsafe_innerHTML="<b>Settings</b> (press Restart to use them)",
                    attributes={"class": "gapsim-sub"})  # fmt: skip
        solara.Select("Scenario", values=options("scenario"), value=s["scenario"],
                      on_value=put("scenario"))  # fmt: skip
        solara.Select("Side by side with", values=[NO_COMPARISON, *options("scenario")],
                      value=s["compare_with"], on_value=put("compare_with"))  # fmt: skip
        solara.SliderFloat(f"Gap between the lines: {float(s['gap_width_km']):g} km",
                           value=float(s["gap_width_km"]), min=0.0, max=10.0, step=0.5,
                           on_value=put("gap_width_km"), thumb_label="always")  # fmt: skip
        solara.Select("Coordination between the forces", values=list(COORDINATION_WORDS),
                      value=s["coordination"], on_value=put("coordination"))  # fmt: skip
        solara.InputText("Random seed (same seed, same run; Enter)", value=str(s["seed"]),
                         on_value=put("seed"), continuous_update=False)  # fmt: skip
        solara.Select("Map detail", values=list(TERRAIN_WORDS), value=s["terrain"],
                      on_value=put("terrain"))  # fmt: skip
        pending = settings.value != current.settings
        solara.Button("Restart", color="primary" if pending else None, on_click=restart)
        if pending:
            solara.HTML(tag="div", unsafe_innerHTML="Settings changed: press Restart.",
                        attributes={"class": "gapsim-sub gapsim-pending"})  # fmt: skip


@solara.component
def Page() -> None:
    """One browser tab: its own session, the controls, the date, the map(s) and the charts."""
    first = solara.use_memo(lambda: Session(), dependencies=[])
    session = solara.use_reactive(first)
    settings = solara.use_reactive(dict(DEFAULTS))
    playing = solara.use_reactive(False)
    speed = solara.use_reactive(2)
    version = solara.use_reactive(0)

    def step(days: int) -> None:
        session.value.advance(days)
        version.set(version.value + 1)

    def play_loop() -> None:
        while playing.value and session.value.running:
            started = time.monotonic()
            step(1)
            time.sleep(max(0.0, 1.0 / max(speed.value, 1) - (time.monotonic() - started)))
        playing.set(False)

    solara.lab.use_task(play_loop, dependencies=[playing.value, session.value],
                        prefer_threaded=True)  # fmt: skip
    current: Session = session.value
    pair = len(current.arms) > 1
    solara.Title("gapsim dashboard")
    solara.Style(CSS)
    with solara.Columns([3, 10], classes=["gapsim-page"]):
        Controls(session, settings, playing, speed, step)
        with solara.Column(gap="8px"):
            horizon = view.horizon_days(current.arms[0].model)
            solara.HTML(tag="div", unsafe_innerHTML=(
                f"<span class='gapsim-date'>{current.date_label}</span> "
                f"<span class='gapsim-sub'>&nbsp;day {current.day + 1} of {horizon}, "
                f"{current.time_label}"
                f"{' &middot; <b>run finished</b>' if not current.running else ''}"
                f" &middot; seed {html.escape(str(current.arms[0].config.seed))}</span>"),
                attributes={"class": "gapsim-header"})  # fmt: skip
            for err in current.errors:
                solara.Error(f"Refused input - {err}. The default is used instead; fix the "
                             "value and press Restart.", classes=["gapsim-input-error"])  # fmt: skip
            if pair:  # both maps and the charts in view at 1280 x 720
                with solara.Row(gap="12px", style={"align-items": "flex-start"}):
                    MapPanel(current, 0, version.value, width_px=300)
                    MapPanel(current, 1, version.value, width_px=300)
                    ChartsPanel(current, version.value, width_px=340, height_px=640, ncols=1)
            else:
                with solara.Row(gap="16px", style={"align-items": "flex-start"}):
                    MapPanel(current, 0, version.value)
                    ChartsPanel(current, version.value, width_px=505, height_px=640, ncols=1)
            solara.HTML(tag="div", unsafe_innerHTML=mapview.legend_html(
                view.terrain(current.arms[0].model)), attributes={"class": "gapsim-legend"})
