"""``cctv config check FILE...``: validate cameras YAML files, each problem at its line; exit 1
if any file is invalid."""

from __future__ import annotations

import sys


def cmd_config_check(args) -> int:
    from .config_check import check_file

    failed = False
    for path in args.files:
        errors, warnings = check_file(path)
        for error in errors:
            print(error, file=sys.stderr)
        for warning in warnings:
            print(f"{path}: warning: {warning}")
        if not errors:
            print(f"{path}: ok")
        failed = failed or bool(errors)
    return 1 if failed else 0


def register(sub) -> None:
    """Add ``config check`` to the ``cctv`` command's subparsers."""
    p = sub.add_parser("config", help="check configuration files")
    config = p.add_subparsers(dest="action", required=True)
    check = config.add_parser("check", help="validate cameras YAML files, showing each problem "
                                            "at its line (exit 1 if any is invalid)")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=cmd_config_check)
