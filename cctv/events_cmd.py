"""``cctv events``: events (one per counted object), newest first, filtered by camera, label,
zone and age; ``--json`` answers as ``GET /api/events`` does."""

from __future__ import annotations

import argparse
import json
import time

from runtime.settings import CommonSettings, from_env

from .process import client_for


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


def cmd_events(args) -> int:
    from runtime.event_store import Query, query_events

    settings = from_env(CommonSettings)
    query = Query(args.camera, args.label, args.zone,
                  time.time() - args.since if args.since else None, limit=args.limit)
    events, cursor = query_events(client_for(settings), settings.keys, query)
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
    return 0


def register(sub) -> None:
    """Add ``events`` to the ``cctv`` command's subparsers."""
    p = sub.add_parser("events", help="list events (one per counted object), newest first")
    p.add_argument("--camera")
    p.add_argument("--label")
    p.add_argument("--zone")
    p.add_argument("--since", type=duration_s, help="only those started this long ago or less "
                                                    "(90s, 15m, 1h, 7d)")
    p.add_argument("--limit", type=int, default=50, choices=range(1, 501), metavar="1..500")
    p.add_argument("--json", action="store_true", help='{"events": [EVENT...], "cursor"} as '
                                                       "GET /api/events answers")
    p.set_defaults(func=cmd_events)
