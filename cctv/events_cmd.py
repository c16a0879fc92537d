"""``cctv events``: events (one per counted object), newest first, filtered by camera, label,
zone and age, a page at a time (``--limit``, ``--cursor``); ``--json`` answers as
``GET /api/events`` does, and an unknown camera is an error as there (404)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

from runtime.settings import CommonSettings, from_env

from .process import client_for

DEFAULT_LIMIT = 50


def duration_s(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h`` or ``7d`` -> seconds (argparse type)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    number, unit = (text[:-1], units[text[-1]]) if text[-1:] in units else (text, 1)
    try:
        value = float(number) * unit
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration (90s, 15m, 1h, 7d): {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"a duration must be above 0: {text!r}")
    return value


def cursor_arg(text: str) -> str:
    """A cursor that ``cctv events`` or ``GET /api/events`` printed (argparse type)."""
    from runtime.event_store import parse_cursor

    try:
        parse_cursor(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a cursor this command printed: {text!r}") from None
    return text


def next_page_hint(args, cursor: str) -> str:
    """The command line that lists the page after this one (same filters)."""
    words = ["cctv events"]
    for option in ("camera", "label", "zone"):
        if getattr(args, option) is not None:
            words.append(f"--{option} {shlex.quote(getattr(args, option))}")
    if args.since:
        words.append(f"--since {args.since:g}s")
    if args.limit != DEFAULT_LIMIT:
        words.append(f"--limit {args.limit}")
    return " ".join([*words, "--cursor", shlex.quote(cursor)])


def cmd_events(args) -> int:
    from runtime.event_store import Query, camera_known, query_events

    settings = from_env(CommonSettings)
    client = client_for(settings)
    if args.camera is not None and not camera_known(client, settings.keys, args.camera):
        print(f"cctv: events: unknown camera: {args.camera}", file=sys.stderr)
        return 2
    query = Query(args.camera, args.label, args.zone,
                  time.time() - args.since if args.since else None, limit=args.limit,
                  cursor=args.cursor)
    events, cursor = query_events(client, settings.keys, query)
    if args.json:
        print(json.dumps({"events": [e.to_dict() for e in events], "cursor": cursor}, indent=2))
        return 0
    for e in events:
        start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.start_ts))
        length = f"{e.end_ts - e.start_ts:5.1f}s" if e.end_ts is not None else " open "
        where = " ".join([f"zone:{z}" for z in e.zones]
                         + [f"{c.name}:{c.direction}" for c in e.lines])
        print(f"{start} {length} {e.camera:12} {e.label:10} {e.top_score:.2f} "
              f"{'clip' if e.clip else '-   '} {e.id}  {where}".rstrip())
    if not events:
        print("no events")
    if cursor:
        print(f"more: {next_page_hint(args, cursor)}")
    return 0


def register(sub) -> None:
    """Add ``events`` to the ``cctv`` command's subparsers."""
    p = sub.add_parser("events", help="list events (one per counted object), newest first")
    p.add_argument("--camera")
    p.add_argument("--label")
    p.add_argument("--zone")
    p.add_argument("--since", type=duration_s, help="only those started this long ago or less "
                                                    "(90s, 15m, 1h, 7d)")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, choices=range(1, 501),
                   metavar="1..500", help=f"events a page (default {DEFAULT_LIMIT})")
    p.add_argument("--cursor", type=cursor_arg,
                   help='continue after the page that printed it ("more: ..." line)')
    p.add_argument("--json", action="store_true", help='{"events": [EVENT...], "cursor"} as '
                                                       "GET /api/events answers")
    p.set_defaults(func=cmd_events)
