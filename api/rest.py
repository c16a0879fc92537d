"""The REST API under ``/api`` (contract: docs/protocol.md#rest-api, schema: ``/api/openapi.json``).

Events (list with filters and cursor, one, its snapshot and clip), the ``cctv status --json``
document, and the camera list with the rules of ``cctv camera add/set/rm`` (``PATCH
/api/cameras/{name}`` is a JSON merge patch: what it does not name is kept). Every answer is
JSON but the media; every error is ``{"error": "..."}`` with a 4xx status (503 while Redis is away
or, with ``Retry-After``, while an event's clip is not recorded yet; 500 with no detail for a
bug); with a password set a request without it is a 401.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Awaitable, Callable

import redis
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from common.cameras import parse_camera
from common.events import EVENT_ID_PATTERN, Event
from common.keys import Keys
from common.schema import SettingsError
from runtime.camera_list import (UnknownCamera, list_cameras, patch_camera, public_camera,
                                 remove_camera, store_camera)
from runtime.event_store import Query, camera_known, load_event, query_events
from runtime.status import collect_status

from .event_clips import NOT_YET, EventClips
from .guard import ApiError, error, guarded
from .openapi import SCHEMA
from .params import EventsQuery, SnapshotQuery, parse_query

PATCH_TYPES = ("application/merge-patch+json", "application/json")
"""Media types of a camera patch (RFC 7396's, and plain JSON)."""


def query_of(request: Request, known: Callable[[str], bool]) -> Query:
    """The :class:`Query` of ``GET /api/events``'s parameters."""
    params = parse_query(EventsQuery, request)
    if params.camera is not None and not known(params.camera):
        raise ApiError(404, f"unknown camera: {params.camera}")
    return Query(params.camera, params.label, params.zone, params.after, params.before,
                 params.limit, params.cursor)


class Resource:
    """One path's methods: HEAD as GET, any other method a JSON 405 whose ``Allow`` lists them.

    An ASGI app rather than one Starlette route per method, so that every method of the path
    reaches it and ``Allow`` names all of the path's methods.
    """

    def __init__(self, **handlers: Callable[[Request], Awaitable[Response]]):
        self.handlers = {method.upper(): handler for method, handler in handlers.items()}
        if "GET" in self.handlers:
            self.handlers["HEAD"] = self.handlers["GET"]
        self.allow = ", ".join(self.handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        handler = self.handlers.get(request.method)
        if handler is None:
            response: Response = error(405, f"{request.method} is not allowed here; "
                                            f"allowed: {self.allow}", {"Allow": self.allow})
        else:
            response = await handler(request)
        await response(scope, receive, send)


def rest_routes(client: redis.Redis, keys: Keys, media_dir: Path, password: str | None,
                recordings_dir: Path | None = None) -> list[Route]:
    """The ``/api`` routes, reading Redis through ``client``, event files under ``media_dir``
    and the recordings that event clips are cut from under ``recordings_dir``."""
    media_root = media_dir.resolve()
    clips = EventClips(client, keys, media_dir, recordings_dir)

    def event_of(request: Request) -> Event:
        event_id = request.path_params["id"]
        event = load_event(client, keys, event_id) if re.match(EVENT_ID_PATTERN,
                                                               event_id) else None
        if event is None:
            raise ApiError(404, f"unknown event: {event_id[:120]}")
        return event

    def media(event: Event, name: str | None, what: str, media_type: str) -> Response:
        path = (media_root / name).resolve() if name else None
        if path is None or not path.is_relative_to(media_root) or not path.is_file():
            why = event.media_errors.get(what)
            raise ApiError(404, f"event {event.id} has no {what}" + (f": {why}" if why else ""))
        # An open event's snapshot may still be replaced by a better one: never cached.
        cache = "max-age=3600" if event.end_ts is not None else "no-cache"
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": cache})

    def events(request: Request) -> Response:
        query = query_of(request, lambda name: camera_known(client, keys, name))
        found, cursor = query_events(client, keys, query)
        return JSONResponse({"events": [clips.checked(e).to_dict() for e in found],
                             "cursor": cursor})

    def one_event(request: Request) -> Response:
        return JSONResponse(clips.checked(event_of(request)).to_dict())

    def snapshot(request: Request) -> Response:
        event = event_of(request)
        crop = parse_query(SnapshotQuery, request).crop
        return media(event, event.crop if crop else event.snapshot, "snapshot", "image/jpeg")

    def clip(request: Request) -> Response:
        event = clips.cached(event_of(request))
        if event.media_errors.get("clip") == NOT_YET:
            retry = clips.retry_after(event)
            return error(503, f"event {event.id}'s clip is not ready: {NOT_YET}; retry in "
                              f"{retry} s", {"Retry-After": str(retry)})
        return media(event, event.clip, "clip", "video/mp4")

    def status(request: Request) -> Response:
        return JSONResponse(collect_status(client, keys).to_dict())

    def cameras(request: Request) -> Response:
        try:
            listed = list_cameras(client, keys)
        except SettingsError as exc:
            raise ApiError(409, str(exc).splitlines()[0]) from None
        return JSONResponse({"cameras": {n: public_camera(c) for n, c in listed.items()}})

    def add_camera(request: Request) -> Response:
        try:
            data = json.loads(request.state.body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the body must be a JSON camera object") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON camera object")
        try:
            camera = parse_camera(data, "camera")
            store_camera(client, keys, camera)
        except SettingsError as exc:
            raise ApiError(400, " ".join(str(exc).split())) from None
        return JSONResponse({"stored": camera.name}, 201)

    def change_camera(request: Request) -> Response:
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type not in PATCH_TYPES:
            raise ApiError(415, f"a camera patch is {' or '.join(PATCH_TYPES)}")
        name = request.path_params["name"]
        try:
            patch = json.loads(request.state.body)
        except (ValueError, UnicodeDecodeError):
            patch = None
        if not isinstance(patch, dict):
            raise ApiError(400, "the body must be a JSON object (a merge patch of the camera)")
        try:
            camera = patch_camera(client, keys, name, patch)
        except UnknownCamera:
            raise ApiError(404, f"unknown camera: {name[:64]}") from None
        except SettingsError as exc:
            raise ApiError(400, " ".join(str(exc).split())) from None
        return JSONResponse(public_camera(camera))

    def delete_camera(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            remove_camera(client, keys, name)
        except SettingsError:
            raise ApiError(404, f"unknown camera: {name[:64]}") from None
        return JSONResponse({"removed": name})

    async def openapi(request: Request) -> Response:
        return JSONResponse(SCHEMA)

    async def not_found(request: Request) -> Response:
        return error(404, f"no such route: {request.method} {request.url.path[:120]}")

    return [Route("/api/openapi.json", Resource(get=openapi)),
            Route("/api/events", Resource(get=guarded(password, events))),
            Route("/api/events/{id}", Resource(get=guarded(password, one_event))),
            Route("/api/events/{id}/snapshot.jpg", Resource(get=guarded(password, snapshot))),
            Route("/api/events/{id}/clip.mp4", Resource(get=guarded(password, clip))),
            Route("/api/status", Resource(get=guarded(password, status))),
            Route("/api/cameras", Resource(get=guarded(password, cameras), post=guarded(password, add_camera))),
            Route("/api/cameras/{name}", Resource(patch=guarded(password, change_camera),
                                                      delete=guarded(password, delete_camera))),
            Route("/api/{rest:path}", not_found,
                  methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])]
