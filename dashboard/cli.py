"""``cctv dashboard [--port N] [--host H]``: serve :mod:`dashboard.server` (the page and the video
routes) with Streamlit.

The ``cctv`` command adds this subcommand through :func:`register`. The process replaces itself
with ``python -m streamlit run``, so a SIGTERM from ``cctv up`` or Docker reaches Streamlit.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from common.schema import SettingsError
from runtime.settings import from_env

from .auth import check_bind
from .settings import DashboardSettings

SERVER = Path(__file__).with_name("server.py")


def streamlit_command(host: str, port: int) -> list[str]:
    """The Streamlit command line that serves the page and the routes on ``host:port``."""
    return [sys.executable, "-m", "streamlit", "run", str(SERVER),
            "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
            # no full garbage collection after every run: the Live view's counts rerun each
            # second per viewer, and a forced gc.collect(2) was most of the server's CPU
            "--runner.postScriptGC", "false",
            "--client.toolbarMode", "viewer"]


def check_address(host: str, port: int) -> None:
    """SettingsError unless ``host`` resolves (Streamlit, after the exec, would fail to bind it
    with a traceback)."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        why = "name not known" if exc.errno == socket.EAI_NONAME else exc.strerror
        raise SettingsError(f"cannot bind {host}:{port}: {why}") from exc


def serve(port: int | None = None, host: str | None = None) -> int:
    """Check the settings (a password when not on loopback, a host that resolves), then exec
    Streamlit."""
    settings = from_env(DashboardSettings, dashboard_port=port, dashboard_host=host)
    check_bind(settings, settings.dashboard_host)
    check_address(settings.dashboard_host, settings.dashboard_port)
    env = dict(os.environ, CCTV_DASHBOARD_HOST=settings.dashboard_host,
               CCTV_DASHBOARD_PORT=str(settings.dashboard_port))
    command = streamlit_command(settings.dashboard_host, settings.dashboard_port)
    sys.stdout.flush()
    os.execve(command[0], command, env)
    return 0  # not reached


def register(subparsers) -> None:
    """Add ``dashboard`` to the ``cctv`` command's subcommands."""
    p = subparsers.add_parser("dashboard", help="serve the Streamlit dashboard "
                                                "(default http://127.0.0.1:8501)")
    p.add_argument("--port", type=int, help="port (default 8501, CCTV_DASHBOARD_PORT)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1, CCTV_DASHBOARD_HOST); "
                                  "anything else needs CCTV_DASHBOARD_PASSWORD")
    p.set_defaults(func=lambda args: serve(args.port, args.host))
