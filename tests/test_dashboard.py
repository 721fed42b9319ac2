"""The workshop dashboard: its sessions, its command, and the page in a headless browser.

The browser tests start ``gapsim dashboard`` (as ``python -m sim.commands.dashboard``) on a free
loopback port and drive Debian's Chromium through Playwright; they are skipped, with the reason,
only when ``/usr/bin/chromium`` is missing (CI: ``apt-get update && apt-get install -y
chromium``). Every page records each request and websocket it opens and fails if one goes
anywhere but the test server, or fails.

The screenshot lands in ``tests/artifacts/dashboard.png``; set ``GAPSIM_UPDATE_SCREENSHOT=1`` to
refresh the README's copy in ``docs/img/dashboard.png`` too.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from sim.commands import dashboard as cmd
from sim.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
DOCS_IMG = REPO / "docs" / "img"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium (install it: apt-get update && apt-get install -y chromium)",
)
TIMEOUT_MS = 90_000


# -- the sessions behind the page ---------------------------------------------------------------
COARSE = "coarse (500 m squares, quicker)"


def test_a_session_steps_a_day_at_a_time_through_the_view():
    from sim.app import view
    from sim.app.dashboard import Session

    s = Session(terrain=COARSE, gap_width_km=3.0, seed="7")
    (arm,) = s.arms
    assert s.errors == [] and (arm.config.seed, arm.config.gap_width_km) == (7, 3.0)
    s.advance(1)  # to the first midday
    assert (s.day, s.steps) == (0, 1) and 9 <= view.now(arm.model).hour <= 15  # about midday
    assert s.date_label == "Wednesday 1 January 2020" and not view.is_night(arm.model)
    s.advance(7)
    assert (s.day, s.steps) == (7, 8) and s.date_label == "Wednesday 8 January 2020"
    series = view.daily_series(arm.model)
    assert list(series["day"]) == list(range(1, 8))  # completed days only
    assert {"incidents", "fighters", "tips_reaching_actor", "trust_arab_ia"} <= set(series)
    assert (series["incidents"].diff().dropna() >= 0).all()  # cumulative
    kinds = {m.kind for m in view.marks(arm.model)}
    assert {"post", "insurgent cell", "villager"} <= kinds


def _same(a, b) -> bool:
    """Equal values, NaN equal to NaN (outcome rows hold NaN where a ratio has no denominator)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
    return a.shape == b.shape and bool(np.array_equal(a, b))


def test_a_shown_model_ends_as_the_engine_runs_it():
    """Views never perturb the model: two models alive at once (as side by side), advanced a day
    at a time and read through every view function before the first step and at every midday,
    end with exactly the outcome row, daily series and incident table that the engine's
    ``run_replicate`` gives for the same configuration and replicate."""
    from sim.app import mapview, view
    from sim.config.load import load_config, resolved_dict
    from sim.model.runner import run_replicate

    days, replicate = 120, 1  # over 45 days, a view that drew day d+2's plans at d passed
    arms = []
    for scenario in ("status_quo_2019", "joint_brigades"):
        cfg, config = load_config([f"scenario={scenario}", "terrain=qarachogh_coarse",
                                   f"days={days}", "seed=7"])  # fmt: skip
        arms.append((resolved_dict(cfg), view.build_model(config, replicate=replicate)))
    seen: dict[str, int] = {}
    steps = 0
    while any(view.is_running(m) for _, m in arms):
        for _, model in arms:  # read everything the page and the animation read, then step
            for kind, n in mapview.count_kinds(mapview.frame_styles(model)).items():  # marks
                seen[kind] = seen.get(kind, 0) + n
            view.current(model), view.daily_series(model), view.snapshot(model)
            view.recent_incidents(model, 7), view.events(model), view.now(model)
            view.advance_day(model)
        steps += 1
    assert steps == days + 1  # days middays, then on to the horizon
    assert {"post", "insurgent cell", "villager"} <= set(seen)  # the reads saw the map's marks
    for plain, model in arms:
        ref = run_replicate(plain, replicate)
        row = model.outcomes()
        assert row.keys() == ref.run.keys()
        assert [k for k in row if not _same(row[k], ref.run[k])] == []
        assert row["incidents"] > 0 and row["tips"] > 0  # a run with something to lose
        table = model.recorder.timeseries_table()
        assert [k for k in ref.timeseries if not _same(table[k], ref.timeseries[k])] == []
        incidents = model.incidents.table()
        assert [k for k in ref.incidents if not _same(incidents[k], ref.incidents[k])] == []
        # The live totals and the daily series agree at the end of the run.
        series, now = view.daily_series(model), view.current(model)
        assert len(series) == days and view.day_shown(model) == days - 1
        assert (series["incidents"].iloc[-1], series["tips"].iloc[-1],
                series["tips_reaching_actor"].iloc[-1], series["fighters"].iloc[-1]) == (
                now["incidents"], now["tips"], now["tips_reaching_actor"], now["fighters"])


def test_every_chart_line_and_trust_series_has_its_column():
    """The charts and the trust series name columns the model's daily series really has (a
    renamed recorder column fails here, not as an empty chart on the projector)."""
    from sim.app import charts, view
    from sim.config.load import load_config

    _, config = load_config(["terrain=qarachogh_coarse", "days=3"])
    model = view.build_model(config)
    for _ in range(4):
        view.advance_day(model)
    assert not view.is_running(model)
    series = view.daily_series(model)
    assert len(series) == 3
    wanted = {column for _, lines, *_ in charts.PANELS for column, *_ in lines}
    assert wanted <= set(series)
    assert {column for column, *_ in view.TRUST_SERIES} <= set(model.recorder.daily)


def test_marks_are_where_the_model_says_at_any_hour():
    """Between days too (the model's own run_until): insurgent cells on a trip, patrols out and
    quick-reaction units away from base are marked where their plans put them at that time."""
    from sim.app import view
    from sim.config.load import load_config

    _, config = load_config(["terrain=qarachogh_coarse", "days=40", "seed=3"])
    model = view.build_model(config)
    found: set[str] = set()
    hour = 0.0
    while hour < 24.0 * 40 and len(found) < 3:
        hour += 1.0
        model.run_until(hour)
        marks = view.marks(model)
        units = [u for u in model.qrf.units if not u.idle(hour) and u.route.position(hour)]
        shown = [m for m in marks if m.kind == "quick reaction unit"]
        assert len(shown) == len(units)
        for mark, unit in zip(shown, units, strict=True):
            assert mark.force == unit.force_name
            assert (mark.task == "to raid a hideout") == (unit.raid_cave >= 0)
            assert mark.activity in ("driving out", "searching the site", "driving back")
            assert np.allclose((mark.x_km, mark.y_km), unit.position(hour))
            found.add("quick reaction unit")
        out = [p for p in model.forces.patrols if p.positions(np.array([hour]))[1][0]]
        assert sum(m.kind == "patrol" for m in marks) == len(out)
        found |= {"patrol"} if out else set()
        cells = {(m.x_km, m.y_km, m.fighters, m.hiding) for m in marks if m.kind == "insurgent cell"}
        expected = {(*map(float, c.position(hour)), c.fighters, not c.exposed(hour))
                    for c in model.cells()}  # fmt: skip
        assert cells == expected
        if any(not h for *_, h in cells):
            found.add("cell on a trip")
    assert found == {"quick reaction unit", "patrol", "cell on a trip"}


def test_side_by_side_runs_two_scenarios_on_one_seed():
    from sim.app.dashboard import Session

    s = Session(terrain=COARSE, compare_with="joint_brigades", seed="11")
    assert [a.config.scenario.name for a in s.arms] == ["status_quo_2019", "joint_brigades"]
    assert [a.config.seed for a in s.arms] == [11, 11]
    assert [a.config.coordination for a in s.arms] == ["none", "joint_brigades"]  # their own
    s.advance(3)
    assert s.steps == 3 and s.day == 2
    assert len({id(a.model.grid) for a in s.arms}) == 2  # each its own grid
    same = Session(terrain=COARSE, compare_with="status_quo_2019")
    assert len(same.arms) == 1  # a scenario beside itself is just one


def test_a_session_refuses_bad_input_and_keeps_running():
    from sim.app.dashboard import Session

    s = Session(terrain=COARSE, seed="abc")
    assert [e.key for e in s.errors] == ["seed"]
    assert s.arms[0].config.seed == 20170 and "non-negative whole number" in str(s.errors[0])
    s = Session(terrain=COARSE, seed="-5", coordination="joint brigades in the gap")
    assert [e.key for e in s.errors] == ["seed"]
    assert s.arms[0].config.coordination == "joint_brigades"  # the valid values are kept
    assert s.arms[0].notes  # status_quo_2019 has coordination none: the page says so
    s = Session(terrain=COARSE, coordination="total")
    assert [e.key for e in s.errors] == ["coordination"]
    s.advance(1)
    assert s.steps == 1


def test_overlay_lines_up_with_the_background():
    from sim.app import mapview, view
    from sim.app.dashboard import Session

    s = Session(terrain=COARSE)
    s.advance(1)
    model = s.arms[0].model
    bg = mapview.background(view.terrain(model))
    assert mapview.background(view.terrain(model)) is bg  # cached per terrain and gap width
    x0, x1, y0, y1 = view.terrain(model).extent_km
    px, py = bg.to_px([x0, x1], [y1, y0])
    left, top, width, height = bg.axes_px
    assert np.allclose([px[0], py[0], px[1], py[1]], [left, top, left + width, top + height])
    styles = mapview.frame_styles(model)
    kinds = mapview.count_kinds(styles)
    assert kinds["post"] > 10 and kinds["insurgent cell"] > 0 and kinds.get("villager", 0) > 0
    svg = mapview.overlay_svg(bg, styles, attributes={"data-test": "1"})
    assert svg.startswith("<svg") and svg.count("<title>") == len(styles)
    assert f'viewBox="0 0 {bg.width_px} {bg.height_px}"' in svg and 'data-test="1"' in svg
    legend = mapview.legend_html(view.terrain(model))
    assert "Peshmerga line" in legend and "kidnapping (last 7 days)" in legend


@pytest.mark.parametrize(("width", "height", "ncols", "arms"), [(505, 640, 1, 1), (340, 640, 1, 2)])
def test_chart_text_is_at_least_14_px(width, height, ncols, arms):
    """Charts are drawn at the size they are shown, so a font of n px in the figure is n px on
    the screen (the browser test checks the image is not scaled down)."""
    from sim.app import charts, view
    from sim.app.dashboard import Session

    s = Session(terrain=COARSE, compare_with="joint_brigades" if arms == 2 else DEFAULTS_NONE)
    s.advance(3)
    series = {a.config.scenario.name: view.daily_series(a.model) for a in s.arms}
    fig = charts.charts_figure(series, days=365, width_px=width, height_px=height, ncols=ncols)
    assert fig.get_size_inches() * fig.dpi == pytest.approx([width, height])
    assert charts.smallest_text_px(fig) >= 14.0


DEFAULTS_NONE = "nothing (one scenario)"


# -- the command -------------------------------------------------------------------------------
def test_command_arguments():
    assert cmd.parse_args([]) == ("127.0.0.1", 8765)
    assert cmd.parse_args(["port=9000", "host=0.0.0.0"]) == ("0.0.0.0", 9000)
    for args, key in (
        (["port=abc"], "port"),
        (["port=0"], "port"),
        (["port=70000"], "port"),
        (["host=not a host"], "host"),
        (["colour=red"], "colour"),
        (["--port"], "dashboard"),
    ):
        with pytest.raises(ConfigError) as err:
            cmd.parse_args(args)
        assert err.value.key == key and "\n" not in str(err.value)
    assert cmd.is_loopback("127.0.0.1") and cmd.is_loopback("localhost")
    assert not cmd.is_loopback("0.0.0.0")


def test_command_refuses_a_busy_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match="cannot listen"):
            cmd.dashboard_command([f"port={port}"])


def test_server_environment_is_offline():
    env = cmd.server_env({})
    assert env["SOLARA_ASSETS_PROXY"] == "true"
    assert urlsplit(env["SOLARA_ASSETS_CDN"]).hostname == "127.0.0.1"
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "false"
    assert env["SOLARA_THEME_SHOW_BANNER"] == "false"  # its corner banner covered the charts
    assert Path(env["SOLARA_ASSETS_PROXY_CACHE_DIR"], "requirejs@2.3.6").is_dir()
    argv = cmd.server_command("127.0.0.1", 8765)
    assert {"--production", "--no-open", "--no-check-version"} <= set(argv)


# -- the page in a browser -----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``gapsim dashboard`` on a free loopback port, for this module's browser tests."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("dashboard") / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.commands.dashboard", f"port={port}"],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            pytest.fail(f"dashboard exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"dashboard did not answer within 120 s:\n{log_path.read_text()}")
        time.sleep(0.5)
    yield {"url": url, "port": port, "log": log_path}
    proc.terminate()  # the command forwards it to the Solara server and waits for it
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):  # anything of this test's group still running
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()
    text = log_path.read_text()
    assert "Could not load URL" not in text, text  # the server never went to the CDN
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Traffic:
    """Every request, websocket and failure of one page."""

    def __init__(self, page) -> None:
        self.requests: list[str] = []
        self.sockets: list[str] = []
        self.failed: list[tuple[str, str | None]] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("websocket", lambda ws: self.sockets.append(ws.url))
        page.on("requestfailed", lambda r: self.failed.append((r.url, r.failure)))

    def foreign(self, port: int) -> list[str]:
        out = []
        for url in self.requests + self.sockets:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if (parts.hostname, parts.port) != ("127.0.0.1", port):
                out.append(url)
        return out


VIEWPORT = {"width": 1280, "height": 720}  # a workshop projector


@pytest.fixture
def page(server, browser):
    """A fresh browser session (its own model) on the dashboard, with its traffic recorded."""
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    traffic = Traffic(pg)
    pg.goto(server["url"])
    pg.wait_for_selector(".gapsim-map .gapsim-overlay", timeout=TIMEOUT_MS)
    pg.traffic = traffic
    yield pg
    context.close()
    assert traffic.foreign(server["port"]) == []
    assert traffic.failed == []


def _map(page, arm: int = 0):
    return page.locator(f".gapsim-map[data-arm='{arm}']")


def _wait_attr(page, name: str, value: str, arm: int = 0) -> None:
    page.wait_for_function(
        "([n, v, a]) => { const e = document.querySelector(`.gapsim-map[data-arm='${a}']`);"
        " return e && e.getAttribute(n) === v; }",
        arg=[name, value, str(arm)],
        timeout=TIMEOUT_MS,
    )


def _step(page, button: str = "+1 day", n: int = 1) -> None:
    for _ in range(n):
        before = int(_map(page).get_attribute("data-step"))  # days advanced so far
        page.get_by_role("button", name=button, exact=True).click()
        _wait_attr(page, "data-step", str(before + (7 if button == "+1 week" else 1)))


def _choose(page, select: str, option: str) -> None:
    page.get_by_role("button", name=select).click()
    page.get_by_role("option", name=option, exact=True).click()


def _png(data: bytes) -> np.ndarray:
    from matplotlib.image import imread

    return imread(io.BytesIO(data), format="png")[..., :3]


@needs_chromium
def test_page_loads_and_draws_the_map(page):
    img = page.locator("img.gapsim-map-background")
    assert img.evaluate("e => e.complete && e.naturalWidth") > 400
    assert img.get_attribute("data-gap-width-km") == "4"
    shapes = page.locator(".gapsim-overlay path, .gapsim-overlay circle")
    assert shapes.count() > 50  # posts and insurgent cells at the start
    assert _map(page).get_attribute("data-step") == "0"
    assert page.locator(".gapsim-charts img").count() == 1
    for name in ("Play", "+1 day", "+1 week", "Restart"):
        assert page.get_by_role("button", name=name, exact=True).is_visible()
    text = page.locator("body").inner_text()
    for jargon in ("Render Interval", "Use Threads", "Play Interval"):
        assert jargon not in text


@needs_chromium
def test_every_request_stays_on_this_machine(page, server):
    _step(page, n=2)
    traffic = page.traffic
    assert traffic.requests and traffic.sockets  # the page and its websocket were recorded
    assert traffic.foreign(server["port"]) == []
    assert traffic.failed == []
    assert any("/_solara/cdn/" in url for url in traffic.requests)  # front end from the proxy


@needs_chromium
def test_projector_screenshot_shows_the_date_readable_charts_and_slider_values(page):
    """At 1280 x 720: the date on top, every slider's value on screen, the charts shown at their
    natural size (their text, >= 14 px in the figure, is not scaled down) and inside the view."""
    _step(page, n=1)
    m = _map(page)
    assert (m.get_attribute("data-step"), m.get_attribute("data-day")) == ("1", "0")
    assert int(m.get_attribute("data-villagers-out")) > 0  # midday: people are out working
    _step(page, "+1 week", n=4)
    assert m.get_attribute("data-day") == "28"
    assert page.locator(".gapsim-date").inner_text() == "Wednesday 29 January 2020"
    thumbs = page.locator(".v-slider__thumb-label").all_inner_texts()
    assert [t.strip() for t in thumbs] == ["2", "4"]  # speed and gap width, always shown
    body = page.locator("body").inner_text()
    assert "Speed: 2 days a second" in body and "Gap between the lines: 4 km" in body
    chart = page.locator(".gapsim-charts img")
    natural, shown = chart.evaluate("e => [e.naturalWidth, e.getBoundingClientRect().width]")
    assert shown >= natural - 1, "the chart image must not be scaled down"
    box = chart.bounding_box()
    assert box["x"] + box["width"] <= VIEWPORT["width"] + 1 and box["y"] < VIEWPORT["height"]
    page.mouse.move(0, 0)
    time.sleep(0.5)  # let the chart image settle
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(shot))  # the projector's view, 1280 x 720
    assert _png(shot.read_bytes()).shape[:2] == (720, 1280)
    if os.environ.get("GAPSIM_UPDATE_SCREENSHOT", "") not in ("", "0"):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG / "dashboard.png")


@needs_chromium
def test_side_by_side_runs_two_scenarios_with_the_same_seed(page):
    _choose(page, "Side by side with", "joint_brigades")
    page.get_by_role("button", name="Restart", exact=True).click()
    page.wait_for_selector(".gapsim-map[data-arm='1']", timeout=TIMEOUT_MS)
    _step(page, "+1 week")
    _wait_attr(page, "data-step", "7", arm=1)  # the second map may be redrawn a moment later
    a, b = _map(page, 0), _map(page, 1)
    assert (a.get_attribute("data-scenario"), b.get_attribute("data-scenario")) == (
        "status_quo_2019", "joint_brigades")
    assert a.get_attribute("data-seed") == b.get_attribute("data-seed") == "20170"
    assert a.get_attribute("data-day") == b.get_attribute("data-day") == "6"
    chart = page.locator(".gapsim-charts img").bounding_box()
    assert chart["x"] + chart["width"] <= VIEWPORT["width"] + 1  # maps and charts all in view
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_side_by_side.png"))


@needs_chromium
def test_gap_width_and_restart_redraw_the_gap_band(page):
    def band_pixels() -> tuple[np.ndarray, int]:
        """The map as shown, and the hatch pixels of the gap band in the picture it shows."""
        img = page.locator("img.gapsim-map-background")
        shown = _png(img.screenshot())
        src = img.get_attribute("src")
        assert src.startswith("data:image/png;base64,")
        rgb = _png(base64.b64decode(src.partition(",")[2]))
        gap = np.array([0xE6, 0x9F, 0x00]) / 255.0  # the gap band's colour
        return shown, int((np.abs(rgb - gap).sum(axis=2) < 0.1).sum())

    before, band_before = band_pixels()
    slider = page.get_by_role("slider", name=re.compile("Gap between the lines"))
    slider.focus()
    for _ in range(4):  # 0.5 km a press
        slider.press("ArrowRight")
    assert slider.get_attribute("aria-valuenow") == "6"
    assert "Settings changed: press Restart." in page.locator("body").inner_text()
    page.get_by_role("button", name="Restart", exact=True).click()
    _wait_attr(page, "data-gap-width-km", "6")
    page.wait_for_selector("img.gapsim-map-background[data-gap-width-km='6']", timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelector('img.gapsim-map-background').complete")
    after, band_after = band_pixels()
    assert before.shape == after.shape
    assert (np.abs(before - after).sum(axis=2) > 0.1).mean() > 0.01
    assert band_before > 500 and band_after > 1.3 * band_before  # a wider hatched band


@needs_chromium
def test_bad_seed_is_reported_in_the_page(page):
    seed = page.get_by_label("Random seed (same seed, same run; Enter)")
    seed.fill("abc")
    seed.press("Enter")
    page.get_by_role("button", name="Restart", exact=True).click()
    error = page.locator(".gapsim-input-error")
    error.wait_for(timeout=TIMEOUT_MS)
    assert error.count() == 1  # only the seed was refused
    text = error.inner_text()
    assert "seed='abc'" in text and "non-negative whole number" in text
    assert _map(page).get_attribute("data-seed") == "20170"  # the model still runs
    _step(page)
    seed.fill("42")
    seed.press("Enter")
    page.get_by_role("button", name="Restart", exact=True).click()
    _wait_attr(page, "data-seed", "42")
    assert page.locator(".gapsim-input-error").count() == 0
