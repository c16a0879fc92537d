"""``cctv camera add|rm|ls``: change or list the cameras of the running ingest (the camera hash in
Redis, which ingest re-reads)."""

from __future__ import annotations

import json

from common.cameras import parse_camera
from common.urls import mask_url
from runtime.settings import CommonSettings, from_env

from .process import client_for


def cmd_camera(args) -> int:
    from runtime.camera_list import list_cameras, remove_camera, store_camera

    settings = from_env(CommonSettings)
    client = client_for(settings)
    if args.action == "add":
        options = {"fps": args.fps, "max_width": args.max_width,
                   "jpeg_quality": args.jpeg_quality, "loop": args.loop or None,
                   "realtime": args.realtime or None}
        cam = parse_camera({"name": args.name, "url": args.url,
                            **{k: v for k, v in options.items() if v is not None}})
        store_camera(client, settings.keys, cam)
        print(f"camera {cam.name} stored; the running ingest picks it up within seconds")
    elif args.action == "rm":
        remove_camera(client, settings.keys, args.name)
        print(f"camera {args.name} removed")
    else:
        cameras = list_cameras(client, settings.keys)
        if args.json:
            print(json.dumps({n: c.model_dump() | {"url": mask_url(c.url)}
                              for n, c in cameras.items()}, indent=2))
        for name, cam in cameras.items() if not args.json else ():
            print(f"{name:16} {mask_url(cam.url)}  fps={cam.fps or 'all'} "
                  f"max_width={cam.max_width}")
    return 0


def register(sub) -> None:
    """Add ``camera`` (add, rm, ls) to the ``cctv`` command's subparsers."""
    p = sub.add_parser("camera", help="add, remove or list cameras of the running ingest")
    cam = p.add_subparsers(dest="action", required=True)
    add = cam.add_parser("add", help="add or change a camera")
    add.add_argument("name")
    add.add_argument("url", help="file, folder, webcam index, rtsp:// or http(s):// URL; "
                                 "credentials as ${VAR}")
    add.add_argument("--fps", type=float)
    add.add_argument("--max-width", type=int)
    add.add_argument("--jpeg-quality", type=int)
    add.add_argument("--loop", action="store_true")
    add.add_argument("--realtime", action="store_true")
    rm = cam.add_parser("rm", help="remove a camera")
    rm.add_argument("name")
    ls = cam.add_parser("ls", help="list cameras")
    ls.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_camera)
