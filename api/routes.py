"""The Starlette routes of live video (contract, docs/protocol.md):

- ``GET /cameras/{name}/live.mjpg``: ``multipart/x-mixed-replace`` MJPEG of annotated frames (VLC,
  Home Assistant's MJPEG camera, a plain ``<img>``); each part also carries ``X-Frame-Id`` and
  ``X-Frame-Ts`` (capture time, Unix seconds);
- ``GET /cameras/{name}/latest.jpg``: the newest annotated frame;
- ``GET /cameras.mjpg?names=a,b``: several cameras in one multipart stream, each part naming its
  camera in ``X-Camera`` (the page plays all its cameras through one connection: browsers open
  at most six to one server).

All take ``?min_score=`` (default 0.5) and ``?classes=a,b``. An unknown camera is a 404, a bad
parameter a 400, each with a one-line text reason; with a password set, a request without it
(HTTP Basic, any user name, or the page's stream ``token``) is a 401.
"""

from __future__ import annotations

import asyncio
import re
from typing import AsyncIterator, Awaitable, Callable

import redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from common.cameras import CAMERA_NAME_PATTERN
from common.keys import Keys
from runtime.outage import REDIS_DOWN, is_wrong_type, wrong_type_keys

from .auth import CHALLENGE, authorized
from .live import LiveHub, Part, View, overlay_state, render
from .scene import newest_scene

BOUNDARY = "frame"
MAX_CAMERAS = 64
"""Most cameras in one ``/cameras.mjpg`` stream."""
Endpoint = Callable[[Request], Awaitable[Response]]


class BadRequest(ValueError):
    """A request parameter that cannot be used (answered with 400 and the reason)."""


def view_of(request: Request) -> View:
    """The :class:`View` asked for by ``min_score`` and ``classes``."""
    raw = request.query_params.get("min_score", "0.5")
    try:
        min_score = float(raw)
    except ValueError:
        raise BadRequest(f"min_score is not a number: {raw[:40]!r}") from None
    if not 0.0 <= min_score <= 1.0:
        raise BadRequest(f"min_score must be within 0..1, not {raw[:40]}")
    classes = request.query_params.get("classes")
    labels = tuple(sorted({c.strip() for c in classes.split(",") if c.strip()})) \
        if classes else None
    return View(min_score, labels or None)


def names_of(request: Request) -> list[str]:
    """The camera of the path, or the cameras of ``?names=a,b`` (at most :data:`MAX_CAMERAS`)."""
    if "name" in request.path_params:
        return [request.path_params["name"]]
    names = list(dict.fromkeys(n for n in request.query_params.get("names", "").split(",") if n))
    if not 1 <= len(names) <= MAX_CAMERAS:
        raise BadRequest(f"names must list 1 to {MAX_CAMERAS} cameras")
    return names


def part_bytes(part: Part) -> bytes:
    """One part of the multipart stream."""
    head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(part.jpeg)}\r\n"
            f"X-Camera: {part.camera}\r\nX-Frame-Id: {part.frame_id}\r\n"
            f"X-Frame-Ts: {part.ts!r}\r\nX-Stale: {int(part.stale)}\r\n\r\n")
    return head.encode() + part.jpeg + b"\r\n"


def wrong_type_error(client: redis.Redis, keys: Keys, names: list[str]) -> str:
    """The cameras' video streams (frames, detections, tracks) that hold another type,
    described ("" when none): such a camera is answered with 503, never a traceback."""
    streams = {key(keys, name): "stream" for name in names
               for key in (Keys.frames, Keys.detections, Keys.tracks)}
    return "; ".join(wrong_type_keys(client, streams))


def live_routes(client: redis.Redis, keys: Keys, hub: LiveHub,
                password: str | None) -> list[Route]:
    """The video routes, reading Redis through ``client`` and sharing feeds through ``hub``."""

    def known(name: str) -> bool:
        return bool(re.match(CAMERA_NAME_PATTERN, name)) and bool(
            client.hexists(keys.cameras, name) or client.sismember(keys.camera_names, name))

    def guarded(endpoint: Callable[[Request, list[str], View], Awaitable[Response]]) -> Endpoint:
        async def checked(request: Request) -> Response:
            if not authorized(password, request.headers.get("authorization"),
                              request.query_params.get("token")):
                return PlainTextResponse("unauthorized: this dashboard needs its password "
                                         "(HTTP Basic, any user name)\n", 401, headers=CHALLENGE)
            try:
                names = names_of(request)
                view = view_of(request)
                for name in names:
                    if not await run_in_threadpool(known, name):
                        return PlainTextResponse(f"unknown camera: {name[:64]}\n", 404)
                fault = await run_in_threadpool(wrong_type_error, client, keys, names)
                if fault:
                    return JSONResponse({"error": fault}, 503)
                return await endpoint(request, names, view)
            except BadRequest as exc:
                return PlainTextResponse(f"bad request: {exc}\n", 400)
            except REDIS_DOWN:
                return PlainTextResponse("Redis is unreachable; try again shortly\n", 503)
            except redis.ResponseError as exc:
                if not is_wrong_type(exc):
                    raise
                return JSONResponse({"error": f"a key of this camera holds the wrong type: "
                                              f"{exc}"}, 503)
        return checked

    async def live(request: Request, names: list[str], view: View) -> Response:
        queue: asyncio.Queue[Part] = asyncio.Queue(2 * len(names))
        subscriptions = [hub.subscribe(name, view, queue) for name in names]

        async def parts() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield part_bytes(await queue.get())
            finally:
                for subscription in subscriptions:
                    hub.unsubscribe(subscription)

        return StreamingResponse(parts(), media_type=f"multipart/x-mixed-replace; "
                                                     f"boundary={BOUNDARY}",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def latest(request: Request, names: list[str], view: View) -> Response:
        name = names[0]
        def newest() -> Part | None:
            scene = newest_scene(client, keys, name)
            if scene is None:
                return None
            config, line_totals = overlay_state(client, keys, name)
            return Part(name, render(scene, view, config, line_totals), scene.frame_id, scene.ts)

        part = await run_in_threadpool(newest)
        if part is None:
            return PlainTextResponse(f"camera {name} has no frame yet\n", 404)
        return Response(part.jpeg, media_type="image/jpeg",
                        headers={"Cache-Control": "no-store", "X-Frame-Id": part.frame_id,
                                 "X-Frame-Ts": repr(part.ts)})

    return [Route("/cameras/{name}/live.mjpg", guarded(live)),
            Route("/cameras/{name}/latest.jpg", guarded(latest)),
            Route("/cameras.mjpg", guarded(live))]
