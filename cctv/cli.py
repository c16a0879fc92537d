"""The ``cctv`` console script. Every subcommand honours ``REDIS_URL`` (unset: embedded Redis).

Services are imported inside their subcommand, so ``cctv status`` or ``cctv dashboard`` never load
torch. Each family of subcommands registers itself from its own module (``service_cmd``,
``replay_cmd``, ``status_cmd``, ``camera_cmd``, ``events_cmd``, ``recordings_cmd``,
``config_cmd``); the
``dashboard`` subcommand is defined by ``dashboard/cli.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

# Only the standard library above: the project's modules load inside main's handler, so a Ctrl-C
# while they load is exit 130 like any other, not a traceback.


def build_parser() -> argparse.ArgumentParser:
    from dashboard.cli import register as register_dashboard

    from . import (camera_cmd, config_cmd, events_cmd, recordings_cmd, replay_cmd, service_cmd,
                   status_cmd)

    parser = argparse.ArgumentParser(prog="cctv", description=plain(__doc__.splitlines()[0]))
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for family in (service_cmd, replay_cmd, status_cmd, camera_cmd, events_cmd, recordings_cmd,
                   config_cmd):
        family.register(sub)
    register_dashboard(sub)
    return parser


def plain(text: str) -> str:
    """``text`` without reStructuredText's literal markup, as ``--help`` prints it."""
    return text.replace("``", "")


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; every expected failure is one line ``cctv: <command>: <why>`` on
    stderr, exit 2 for usage (settings, arguments, model specs) and 1 at run time; ``-v`` adds
    the traceback. Ctrl-C, at any point, is exit 130 without a traceback; an exception
    :func:`~cctv.errors.explain` does not know is a bug, and keeps its traceback."""
    try:
        return run(argv)
    except KeyboardInterrupt:
        return 130


def run(argv: list[str] | None) -> int:
    """Parse ``argv`` and run its subcommand, each known failure as its one line and status."""
    from common.urls import mask_text
    from runtime.logging_setup import setup_logging

    from .errors import explain

    args = build_parser().parse_args(argv)
    level, json_logs = log_settings()
    setup_logging("DEBUG" if args.verbose else level, json_logs)
    try:
        code = args.func(args) or 0
        sys.stdout.flush()  # a closed pipe fails here, inside the handler
        return code
    except BrokenPipeError:  # ``cctv status | head -1``: the reader is gone, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        code, why = explain(exc)
        if args.verbose or code is None:
            traceback.print_exc()
        print(f"cctv: {args.command}: {mask_text(why)}", file=sys.stderr)
        return code or 1


def log_settings() -> tuple[str, bool]:
    """(log level, JSON lines?) from the environment; INFO text if the settings are invalid."""
    from common.schema import SettingsError
    from runtime.settings import CommonSettings, from_env

    try:
        settings = from_env(CommonSettings)
    except SettingsError:
        return "INFO", False
    return settings.log_level, settings.log_format == "json"
