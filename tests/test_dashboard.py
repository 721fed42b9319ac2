"""The workshop dashboard: its model wrapper, its command, and the page in a headless browser.

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


# -- the model behind the page ------------------------------------------------------------------
def test_dashboard_model_steps_to_midday_and_collects():
    from sim.app.dashboard import DashboardModel

    m = DashboardModel(terrain="qarachogh_coarse", gap_width_km=3.0, seed="7")
    assert m.input_errors == []
    assert (m.config.seed, m.config.gap_width_km, m.terrain.gap_width_km) == (7, 3.0, 3.0)
    tpd = m.clock.ticks_per_day
    m.step()  # to the first midday
    assert m.clock.tick == tpd // 2 and not m.is_night
    m.step()  # one day on
    assert m.clock.tick == tpd + tpd // 2 and m.steps == 2
    df = m.datacollector.get_model_vars_dataframe()
    assert len(df) == 3 and df["day"].iloc[-1] == pytest.approx(1.5)
    assert {"fighters", "tips_reaching_actor", "trust_arab_ia", "inc_kidnapping"} <= set(df)


def test_dashboard_model_refuses_bad_input_and_keeps_running():
    from sim.app.dashboard import DashboardModel

    m = DashboardModel(terrain="qarachogh_coarse", seed="abc")
    assert [e.key for e in m.input_errors] == ["seed"]
    assert m.config.seed == 20170 and "non-negative whole number" in str(m.input_errors[0])
    m = DashboardModel(terrain="qarachogh_coarse", seed="-5", coordination="joint_brigades")
    assert [e.key for e in m.input_errors] == ["seed"]
    assert m.config.coordination == "joint_brigades"  # the valid values are kept
    m = DashboardModel(terrain="qarachogh_coarse", coordination="total", step_length="month")
    assert [e.key for e in m.input_errors] == ["coordination", "step_length"]
    m.step()
    assert m.steps == 1


def test_reset_keeps_the_scenario_name():
    """SolaraViz's Reset must pass the chosen gapsim scenario on, not a Mesa Scenario object."""
    from mesa.visualization.solara_viz import _build_model_init_kwargs

    from sim.app.dashboard import DashboardModel

    m = DashboardModel(terrain="qarachogh_coarse")
    params = {
        "scenario": "joint_brigades",
        "gap_width_km": 2.5,
        "coordination": "jcc",
        "seed": "11",
        "terrain": "qarachogh_coarse",
        "step_length": "tick",
    }
    kwargs = _build_model_init_kwargs(
        m, params, add_scenario_when_empty=True, require_model_accepts_scenario=True
    )
    assert kwargs == params
    new = type(m)(**kwargs)
    assert new.input_errors == []
    assert (new.config.scenario.name, new.config.coordination, new.config.seed) == (
        "joint_brigades",
        "jcc",
        11,
    )
    assert new.notes  # the scenario's own coordination (joint_brigades) was overridden


def test_two_sessions_keep_their_own_agents():
    """A second session's model must not take the first one's agents off the shared grid."""
    from sim.app.dashboard import DashboardModel

    a = DashboardModel(terrain="qarachogh_coarse")
    b = DashboardModel(terrain="qarachogh_coarse")
    assert a.grid is not b.grid
    a.step()
    b.step()
    assert len(a.agents) > 0 and all(agent.cell is not None for agent in a.agents)


def test_overlay_lines_up_with_the_background():
    from sim.app import mapview
    from sim.app.dashboard import DashboardModel

    m = DashboardModel(terrain="qarachogh_coarse")
    m.step()
    bg = mapview.background(m.terrain)
    assert mapview.background(m.terrain) is bg  # cached per terrain and gap width
    x0, x1, y0, y1 = m.terrain.extent_km
    px, py = bg.to_px([x0, x1], [y1, y0])
    left, top, width, height = bg.axes_px
    assert np.allclose([px[0], py[0], px[1], py[1]], [left, top, left + width, top + height])
    styles = mapview.frame_styles(m, m.shown_day)
    kinds = mapview.count_kinds(styles)
    assert kinds["post"] > 10 and kinds["insurgent cell"] > 0 and kinds.get("villager", 0) > 0
    svg = mapview.overlay_svg(bg, styles, attributes={"data-test": "1"})
    assert svg.startswith("<svg") and svg.count("<title>") == len(styles)
    assert f'viewBox="0 0 {bg.width_px} {bg.height_px}"' in svg and 'data-test="1"' in svg


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


@pytest.fixture
def page(server, browser):
    """A fresh browser session (its own model) on the dashboard, with its traffic recorded."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    pg = context.new_page()
    traffic = Traffic(pg)
    pg.goto(server["url"])
    pg.wait_for_selector(".gapsim-map .gapsim-overlay", timeout=TIMEOUT_MS)
    pg.traffic = traffic
    yield pg
    context.close()
    assert traffic.foreign(server["port"]) == []
    assert traffic.failed == []


def _map(page):
    return page.locator(".gapsim-map")


def _wait_attr(page, name: str, value: str) -> None:
    page.wait_for_function(
        "([n, v]) => { const e = document.querySelector('.gapsim-map');"
        " return e && e.getAttribute(n) === v; }",
        arg=[name, value],
        timeout=TIMEOUT_MS,
    )


def _step(page, n: int = 1) -> None:
    for _ in range(n):
        before = int(_map(page).get_attribute("data-step"))
        page.get_by_role("button", name="Step", exact=True).click()
        _wait_attr(page, "data-step", str(before + 1))


def _png(data: bytes) -> np.ndarray:
    from matplotlib.image import imread

    return imread(io.BytesIO(data), format="png")[..., :3]


@needs_chromium
def test_page_loads_and_draws_the_map(page):
    img = page.locator("img.gapsim-map-background")
    assert img.evaluate("e => e.complete && e.naturalWidth") > 500
    assert img.get_attribute("data-gap-width-km") == "4"
    shapes = page.locator(".gapsim-overlay path, .gapsim-overlay circle")
    assert shapes.count() > 50  # posts and insurgent cells at the start
    assert _map(page).get_attribute("data-step") == "0"
    assert page.locator("img").count() >= 2  # the map and the charts
    assert page.get_by_role("button", name="Reset").is_visible()


@needs_chromium
def test_every_request_stays_on_this_machine(page, server):
    _step(page, 2)
    traffic = page.traffic
    assert traffic.requests and traffic.sockets  # the page and its websocket were recorded
    assert traffic.foreign(server["port"]) == []
    assert traffic.failed == []
    assert any("/_solara/cdn/" in url for url in traffic.requests)  # front end from the proxy


@needs_chromium
def test_step_advances_the_counter_and_the_screenshot(page):
    _step(page, 1)
    m = _map(page)
    assert (m.get_attribute("data-step"), m.get_attribute("data-day")) == ("1", "0")
    assert "step 1" in page.locator(".gapsim-status").inner_text()
    assert int(m.get_attribute("data-villagers-out")) > 0  # midday: people are out working
    # A month in, for the screenshot: step a week at a time.
    page.get_by_role("button", name="Step length (tick = 3 h)").click()
    page.get_by_role("option", name="week").click()
    page.get_by_role("button", name="Reset").click()
    _wait_attr(page, "data-step", "0")
    _step(page, 5)
    assert m.get_attribute("data-day") == "34"  # day 6 at midday, then four weeks on
    page.mouse.move(0, 0)
    time.sleep(0.5)  # let the chart image settle
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    if os.environ.get("GAPSIM_UPDATE_SCREENSHOT", "") not in ("", "0"):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG / "dashboard.png")


@needs_chromium
def test_gap_width_and_reset_redraw_the_gap_band(page):
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
    slider = page.get_by_role("slider", name="Gap width (km)")
    slider.focus()
    for _ in range(4):  # 0.5 km a press
        slider.press("ArrowRight")
    assert slider.get_attribute("aria-valuenow") == "6"
    page.get_by_role("button", name="Reset").click()
    _wait_attr(page, "data-gap-width-km", "6")
    page.wait_for_selector("img.gapsim-map-background[data-gap-width-km='6']", timeout=TIMEOUT_MS)
    page.wait_for_function("document.querySelector('img.gapsim-map-background').complete")
    after, band_after = band_pixels()
    assert before.shape == after.shape
    assert (np.abs(before - after).sum(axis=2) > 0.1).mean() > 0.01
    assert band_before > 500 and band_after > 1.3 * band_before  # a wider hatched band


@needs_chromium
def test_bad_seed_is_reported_in_the_page(page):
    seed = page.get_by_label("Seed (whole number; Enter to apply)")
    seed.fill("abc")
    seed.press("Enter")
    page.get_by_role("button", name="Reset").click()
    error = page.locator(".gapsim-input-error")
    error.wait_for(timeout=TIMEOUT_MS)
    assert error.count() == 1  # only the seed was refused
    text = error.inner_text()
    assert "seed='abc'" in text and "non-negative whole number" in text
    assert _map(page).get_attribute("data-seed") == "20170"  # the model still runs
    _step(page, 1)
    seed.fill("42")
    seed.press("Enter")
    page.get_by_role("button", name="Reset").click()
    _wait_attr(page, "data-seed", "42")
    assert page.locator(".gapsim-input-error").count() == 0
