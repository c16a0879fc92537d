"""``cctv camera add|set|show|rm|ls``: change or list the cameras of the running ingest (the camera
hash in Redis, which ingest re-reads). ``set`` changes only the keys it names; ``add`` refuses a
name that exists unless ``--replace``."""

from __future__ import annotations

import argparse
import json
from typing import get_args

import yaml

from common.cameras import CameraConfig, parse_camera
from common.schema import SettingsError
from common.urls import mask_url
from runtime.settings import CommonSettings, from_env

from .process import client_for

OPTIONS = {"fps": float, "max_width": int, "jpeg_quality": int, "max_lag_s": float}
"""Numeric camera keys that ``add`` and ``set`` take as ``--key value``."""
SWITCHES = ("loop", "realtime")
"""Boolean camera keys that ``add`` and ``set`` take as ``--key`` / ``--no-key``."""
CHOICES = ("hwaccel", "rtsp_transport")
"""Camera keys of a few fixed values, taken as ``--key value``."""


def named_options(args: argparse.Namespace) -> dict:
    """The camera keys given on the command line (``--fps 5`` -> ``{"fps": 5.0}``)."""
    given = {key: getattr(args, key) for key in (*OPTIONS, *SWITCHES, *CHOICES)}
    return {key: value for key, value in given.items() if value is not None}


def patch_of(args: argparse.Namespace) -> dict:
    """``cctv camera set``'s merge patch: ``--patch`` JSON, then the named options over it."""
    patch = {}
    if args.patch:
        try:
            patch = json.loads(args.patch)
        except ValueError as exc:
            raise SettingsError(f"--patch is not JSON: {exc}") from None
        if not isinstance(patch, dict):
            raise SettingsError("--patch must be a JSON object (a merge patch)")
    patch |= named_options(args) | ({"url": args.url} if args.url else {})
    if not patch:
        raise SettingsError("nothing to change: name a key (--url, --fps, ... or --patch JSON)")
    return patch


def cmd_camera(args: argparse.Namespace) -> int:
    from runtime.camera_list import (
        add_camera,
        camera_of,
        list_cameras,
        patch_camera,
    public_camera,
        remove_camera,
        store_camera,
    )

    settings = from_env(CommonSettings)
    client = client_for(settings)
    if args.action == "add":
        cam = parse_camera({"name": args.name, "url": args.url, **named_options(args)})
        if args.replace:
            store_camera(client, settings.keys, cam)
        elif not add_camera(client, settings.keys, cam):
            raise SettingsError(f"camera {cam.name} exists: change it with `cctv camera set "
                                f"{cam.name} --url ...` (or add it again with --replace)")
        print(f"camera {cam.name} stored; the running ingest picks it up within seconds")
    elif args.action == "set":
        cam = patch_camera(client, settings.keys, args.name, patch_of(args))
        print(f"camera {cam.name} changed; the running ingest picks it up within seconds")
    elif args.action == "show":
        cam = camera_of(client, settings.keys, args.name)
        print(json.dumps(public_camera(cam), indent=2) if args.json
              else yaml.safe_dump(public_camera(cam), sort_keys=False).rstrip())
    elif args.action == "rm":
        remove_camera(client, settings.keys, args.name)
        print(f"camera {args.name} removed")
    else:
        cameras = list_cameras(client, settings.keys)
        if args.json:
            print(json.dumps({n: public_camera(c) for n, c in cameras.items()}, indent=2))
        for name, cam in cameras.items() if not args.json else ():
            print(f"{name:16} {mask_url(cam.url)}  fps={cam.fps or 'all'} "
                  f"max_width={cam.max_width}")
    return 0


def add_camera_options(parser: argparse.ArgumentParser, switch: type[argparse.Action]) -> None:
    """``--fps`` and the other camera keys; ``switch`` is the action of ``--loop``-like flags."""
    for key, kind in OPTIONS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=kind)
    for key in SWITCHES:
        parser.add_argument(f"--{key}", dest=key, action=switch, default=None)
    for key in CHOICES:
        choices = get_args(CameraConfig.model_fields[key].annotation)
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, choices=choices)


def register(sub) -> None:
    """Add ``camera`` (add, set, show, rm, ls) to the ``cctv`` command's subparsers."""
    p = sub.add_parser("camera", help="add, change, show, remove or list cameras of the running "
                                      "ingest")
    cam = p.add_subparsers(dest="action", required=True)
    add = cam.add_parser("add", help="add a camera (an existing name is refused unless "
                                     "--replace: change one with `cctv camera set`)")
    add.add_argument("name")
    add.add_argument("url", help="file, folder, webcam index, rtsp:// or http(s):// URL; "
                                 "credentials as ${VAR}")
    add_camera_options(add, argparse.BooleanOptionalAction)
    add.add_argument("--replace", action="store_true",
                     help="replace an existing camera whole (its lines, zones, counting, events "
                          "and webhooks are dropped)")
    change = cam.add_parser("set", help="change only the keys named; the rest (lines, zones, "
                                        "counting, events, webhooks) is kept")
    change.add_argument("name")
    change.add_argument("--url", help="new source; credentials as ${VAR}")
    add_camera_options(change, argparse.BooleanOptionalAction)
    change.add_argument("--patch", metavar="JSON",
                        help='a JSON merge patch of any keys, e.g. \'{"lines": [...]}\' '
                             "(null removes a key, objects merge, lists replace)")
    show = cam.add_parser("show", help="print a camera whole as YAML (URL masked)")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="JSON instead of YAML")
    rm = cam.add_parser("rm", help="remove a camera")
    rm.add_argument("name")
    ls = cam.add_parser("ls", help="list cameras")
    ls.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_camera)
