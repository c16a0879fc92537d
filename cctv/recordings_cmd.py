"""``cctv recordings``: a camera's recorded segments (``ls``, ``--json`` as ``GET /api/recordings``
answers) and a range of them as one MP4 (``export``: stream copy, or ``--annotated``: rendered
once with the tracker's boxes, ids, lines and zones drawn)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from runtime.settings import CommonSettings, from_env

from .events_cmd import duration_s
from .process import client_for


def time_arg(text: str) -> float:
    """Unix seconds or ISO 8601, as the API takes them (argparse type)."""
    from api.params import parse_time

    try:
        return float(parse_time("time", text))  # type: ignore[arg-type]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def cmd_ls(args) -> int:
    from api.recordings import segment_dict
    from runtime.event_store import camera_known
    from runtime.recordings import list_segments

    settings = from_env(CommonSettings)
    client = client_for(settings)
    if not (camera_known(client, settings.keys, args.camera)
            or client.exists(settings.keys.recordings(args.camera))):
        print(f"cctv: recordings: unknown camera: {args.camera}", file=sys.stderr)
        return 2
    after = time.time() - args.since if args.since else None
    segments = list_segments(client, settings.keys, args.camera, after)
    if args.json:
        print(json.dumps({"recordings": [segment_dict(s) for s in segments]}, indent=2))
        return 0
    for s in segments:
        print(f"{_when(s.start_ts)}  {s.end_ts - s.start_ts:6.1f}s  {s.bytes / 1e6:8.2f} MB  "
              f"{s.codec} {s.width}x{s.height}")
    print(f"{len(segments)} segments, {sum(s.bytes for s in segments) / 1e6:.1f} MB"
          if segments else "no recordings")
    return 0


def cmd_export(args) -> int:
    from api.params import MAX_RANGE_S
    from api.recordings import annotate, cut_range
    from media.draw import place_overlays
    from media.remux import NothingToCopy
    from runtime.camera_list import UnknownCamera, camera_of
    from runtime.object_log import read_objects
    from runtime.recordings import list_segments

    if not 0 < args.end - args.start <= MAX_RANGE_S:
        print(f"cctv: recordings export: END must be later than START, by at most "
              f"{MAX_RANGE_S} s", file=sys.stderr)
        return 2
    settings = from_env(CommonSettings)
    client = client_for(settings)
    root = settings.recordings_dir.resolve()
    segments = list_segments(client, settings.keys, args.camera, args.start, args.end)
    try:
        if not args.annotated:
            cut = cut_range(root, segments, args.start, args.end, args.out)
        else:
            with tempfile.TemporaryDirectory(prefix="cctv-export-") as folder:
                plain = Path(folder) / "range.mp4"
                cut = cut_range(root, segments, args.start, args.end, plain)
                try:
                    camera = camera_of(client, settings.keys, args.camera)
                    lines, zones = place_overlays(camera.lines, camera.zones, {}, {})
                except UnknownCamera:  # removed since: its boxes alone
                    lines, zones = [], []
                frames = read_objects(root, args.camera, cut.start_ts, cut.end_ts)
                annotate(plain, cut, frames, args.out, lines, zones)
    except NothingToCopy:
        print(f"cctv: recordings export: camera {args.camera} has no recording from "
              f"{_when(args.start)} to {_when(args.end)}", file=sys.stderr)
        return 2
    print(f"{args.out}: {_when(cut.start_ts)} to {_when(cut.end_ts)} "
          f"({cut.end_ts - cut.start_ts:.1f} s{', annotated' if args.annotated else ''})")
    return 0


def register(sub) -> None:
    """Add ``recordings`` to the ``cctv`` command's subparsers."""
    p = sub.add_parser("recordings", help="list a camera's recordings, export a range as MP4")
    commands = p.add_subparsers(dest="recordings_command", required=True)
    ls = commands.add_parser("ls", help="a camera's recorded segments, oldest first")
    ls.add_argument("--camera", required=True)
    ls.add_argument("--since", type=duration_s, help="only those that end this long ago or "
                                                     "later (90s, 15m, 1h, 7d)")
    ls.add_argument("--json", action="store_true", help='{"recordings": [...]} as '
                                                        "GET /api/recordings answers")
    ls.set_defaults(func=cmd_ls)
    export = commands.add_parser("export", help="START..END of a camera's recording as one MP4 "
                                                "(stream copy from the keyframe at or before "
                                                "START)")
    export.add_argument("camera")
    export.add_argument("start", type=time_arg, help="Unix seconds or ISO 8601")
    export.add_argument("end", type=time_arg, help="Unix seconds or ISO 8601 (at most 1 h on)")
    export.add_argument("--out", type=Path, required=True, help="the MP4 to write")
    export.add_argument("--annotated", action="store_true",
                        help="draw the tracker's boxes, ids, lines and zones (encodes once)")
    export.set_defaults(func=cmd_export)
