"""`gapsim dashboard`: serve the interactive dashboard (``sim.app.dashboard``) in a browser.

Why a separate Solara process with a prepared environment: workshops often have no internet, and
by default Solara's page loads its front end from a public CDN (a blank page offline), asks PyPI
for a newer version, opens a browser and sends usage telemetry. Here the server runs with Solara's
assets proxy on, serving the copies that ``solara-assets`` installed under this environment's
``share/solara/cdn``; the CDN it would fall back to for a missing file is pointed at a closed local
port, so nothing is fetched from the internet; the version check, the browser and the telemetry
are off, and production mode drops the development checks (one of them loads a page from
solara.dev). Only ``port=`` and ``host=`` are taken; the model's own settings are chosen in the page.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from sim.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
APP_MODULE = "sim.app.dashboard"
#: Where Solara would fetch an asset that is not in the local copy: a closed local port, so a
#: missing file fails at once instead of reaching the internet.
NO_CDN = "http://127.0.0.1:9/"
_HOSTNAME = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*"
)
USAGE = "usage: gapsim dashboard [port=8765] [host=127.0.0.1]"


def parse_args(args: list[str]) -> tuple[str, int]:
    """``host=`` and ``port=`` from the command line; raises ConfigError on anything else."""
    host, port = DEFAULT_HOST, DEFAULT_PORT
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise ConfigError("dashboard", arg, "takes port=N and host=ADDRESS only")
        if key == "port":
            try:
                port = int(value)
            except ValueError:
                raise ConfigError("port", value, "must be a whole number from 1 to 65535") from None
            if not 1 <= port <= 65535:
                raise ConfigError("port", value, "must be a whole number from 1 to 65535")
        elif key == "host":
            host = _check_host(value)
        else:
            raise ConfigError(key, value, "unknown key; gapsim dashboard takes port= and host=")
    return host, port


def _check_host(value: str) -> str:
    if value == "localhost":
        return value
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.fullmatch(value):
            raise ConfigError(
                "host",
                value,
                "must be an IP address or a host name (127.0.0.1 for this machine only)",
            ) from None
        try:
            socket.getaddrinfo(value, None)
        except OSError:
            raise ConfigError(
                "host",
                value,
                "must be an IP address or a resolvable host name (127.0.0.1 for this machine only)",
            ) from None
    return value


def is_loopback(host: str) -> bool:
    """True when ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise ConfigError(
                "port",
                port,
                f"cannot listen on {host}:{port} ({err.strerror}); choose another port=",
            ) from None


def assets_dir() -> Path:
    """The local copy of Solara's front end (installed by the ``solara-assets`` package)."""
    return Path(sys.prefix) / "share" / "solara" / "cdn"


def server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that keeps the Solara server and its page off the internet."""
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "SOLARA_ASSETS_PROXY": "true",
            "SOLARA_ASSETS_CDN": NO_CDN,
            "SOLARA_ASSETS_PROXY_CACHE_DIR": str(assets_dir()),
            "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false",
            "SOLARA_THEME_SHOW_BANNER": "false",  # its corner banner covers the charts
            "SOLARA_THEME_TITLE": "gapsim dashboard",
            "SOLARA_MODE": "production",
            "MPLBACKEND": "Agg",
            # Solara warns on every page load over plain http that it cannot use samesite=none
            # cookies (only needed when the page is embedded in another site's iframe).
            "PYTHONWARNINGS": ",".join(
                x
                for x in (
                    env.get("PYTHONWARNINGS", ""),
                    "ignore:Cookies with samesite=none require https:UserWarning",
                )
                if x
            ),
        }
    )
    return env


def server_command(host: str, port: int) -> list[str]:
    """The ``solara run`` command line for the dashboard."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        APP_MODULE,
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--no-check-version",
        "--log-level",
        "warning",
    ]


def dashboard_command(args: list[str]) -> int:
    """Serve the dashboard until Ctrl-C; returns the exit code (ConfigError on bad input)."""
    if any(a in ("-h", "--help", "help") for a in args):
        print(USAGE)
        return 0
    host, port = parse_args(args)
    _check_port_free(host, port)
    if not (assets_dir() / "requirejs@2.3.6").is_dir():
        print(
            f"gapsim: warning: no local Solara assets under {assets_dir()} (is solara-assets "
            "installed?); the page will not load without internet",
            file=sys.stderr,
        )
    if not is_loopback(host):
        print(
            f"gapsim: warning: host={host} is not a loopback address: anyone who can reach "
            f"this machine on port {port} can open and drive the dashboard",
            file=sys.stderr,
        )
    shown = f"[{host}]" if ":" in host else host
    print(f"gapsim dashboard: http://{shown}:{port}/  (Ctrl-C to stop)", flush=True)
    proc = subprocess.Popen(server_command(host, port), env=server_env())
    terminated = []

    def on_sigterm(signum: int, frame: object) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if in_main else None
    try:
        return proc.wait()
    except KeyboardInterrupt:
        _stop(proc, already_signalled=not terminated)
        print("gapsim dashboard: stopped", flush=True)
        return 0
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _stop(proc: subprocess.Popen, *, already_signalled: bool) -> None:
    """Stop the server: after Ctrl-C the terminal has signalled it too, so wait a moment first."""
    if already_signalled:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    for sig, wait_s in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait_s)


def main() -> int:  # pragma: no cover - `python -m sim.commands.dashboard`, used by the tests
    try:
        return dashboard_command(sys.argv[1:])
    except ConfigError as err:
        print(f"gapsim: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
