"""The OpenAPI 3.1 document of :mod:`api.rest`, served at ``/api/openapi.json``.

Query parameters come from the models that validate them (:mod:`api.params`) and the camera
body from :class:`common.cameras.CameraConfig`, so the document says what the routes accept.
"""

from __future__ import annotations

from typing import Any

from common.cameras import CAMERA_NAME_PATTERN, CameraConfig
from common.events import EVENT_ID_PATTERN

from .params import EventsQuery, RangeQuery, RecordingsQuery, SnapshotQuery, query_parameters

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path(name: str, pattern: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


def _errors(*statuses: int) -> dict[str, Any]:
    """Each JSON error answer of an operation: these ``statuses``, 401 and 503."""
    reasons = {400: "bad parameter or body", 401: "password needed", 404: "not found",
               409: "stored configuration invalid", 413: "body too large",
               415: "not JSON (application/merge-patch+json or application/json)",
               503: "Redis unreachable"}
    return {str(s): _json(_ref("Error"), reasons[s]) for s in statuses + (401, 503)}


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


_STRING = {"type": "string"}
_EVENT_ID = _path("id", EVENT_ID_PATTERN, "Event id.")
_EVENT = _object(
    id=_STRING, camera=_STRING, label=_STRING,
    start_ts={"type": "number", "description": "Unix seconds"},
    end_ts={"type": ["number", "null"], "description": "null while the event is open"},
    top_score={"type": "number"},
    zones={"type": "array", "items": _STRING},
    lines={"type": "array", "items": _object(
        name=_STRING, direction={"type": "string", "enum": ["in", "out"]})},
    has_snapshot={"type": "boolean"}, has_clip={"type": "boolean"})


_CLIP_NOT_YET = {
    **_json(_ref("Error"), "Redis unreachable, or the recording does not reach the event's end "
                           "yet (its segment is still being written): retry after Retry-After"),
    "headers": {"Retry-After": {
        "description": "Seconds until the segment holding the clip's end should be closed "
                       "(its segment_s and a margin after the end); only when not recorded yet",
        "schema": {"type": "integer", "minimum": 1}}}}

_CAMERA = _path("camera", CAMERA_NAME_PATTERN, "Camera name.")
_SECONDS = {"type": "number", "description": "Unix seconds"}
_RECORDING_SCHEMAS = {
    "Recording": _object(camera=_STRING, start_ts=_SECONDS, end_ts=_SECONDS,
                         bytes={"type": "integer"}, codec=_STRING, width={"type": "integer"},
                         height={"type": "integer"}),
    "RecordingList": _object(recordings={"type": "array", "items": _ref("Recording")}),
    "FrameObjectsList": _object(objects={"type": "array", "items": _object(
        ts=_SECONDS, frame_id=_STRING, boxes={"type": "array", "items": _object(
            track_id={"type": "integer"}, label=_STRING, score={"type": "number"},
            box={"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4,
                 "description": "x1, y1, x2, y2 as fractions of the frame"})})})}


def _camera_schemas() -> dict[str, Any]:
    """``CameraConfig``, the models it refers to, and the camera patch, as component schemas."""
    schema = CameraConfig.model_json_schema(ref_template=REF)
    defs = schema.pop("$defs", {})
    patch = _patch_of({**schema, "properties": {k: v for k, v in schema["properties"].items()
                                                if k != "name"}}, defs)
    return defs | {"CameraConfig": schema, "CameraPatch": patch | {
        "description": "Keys to change (the name is the path's); objects merge, lists replace, "
                       "null removes a key."}}


def _patch_of(model: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A model's schema as a JSON merge patch of it (RFC 7396): every key optional, null removes
    one (back to its default) but for a required one; a model it holds merges as that model's
    patch (``{Model}Patch``, added to ``defs``), a map of models key by key; lists replace."""
    required = set(model.get("required", ()))
    properties = {}
    for key, field in model["properties"].items():
        field = {k: v for k, v in field.items() if k not in ("title", "default")}
        described = {"description": field.pop("description", "")}
        field = _merging(field, defs)
        nullable = key not in required and {"type": "null"} not in field.get("anyOf", ())
        properties[key] = described | ({"anyOf": [field, {"type": "null"}]} if nullable
                                       else field)
    return {"type": "object", "additionalProperties": False, "properties": properties}


def _merging(field: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A property's schema where a patch merges into it: a model as its patch, a map of models
    as a map of their patches or nulls; any other as it is."""
    if "$ref" in field:
        return _patch_ref(field["$ref"], defs)
    values = field.get("additionalProperties")
    if isinstance(values, dict) and "$ref" in values:
        return field | {"additionalProperties": {"anyOf": [_patch_ref(values["$ref"], defs),
                                                           {"type": "null"}]}}
    return field


def _patch_ref(ref: str, defs: dict[str, Any]) -> dict[str, str]:
    name = ref.rsplit("/", 1)[1]
    if f"{name}Patch" not in defs:
        defs[f"{name}Patch"] = _patch_of(defs[name], defs) | {
            "description": f"{name} as a JSON merge patch."}
    return _ref(f"{name}Patch")


SCHEMA: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "cctv-analytics", "version": "1",
             "description": "Events, status and cameras. With no dashboard password set (the "
                            "dashboard then binds loopback only) no credentials are needed; "
                            "with one, HTTP Basic with it (any user name) or the page's stream "
                            "token."},
    "components": {
        "securitySchemes": {"basic": {"type": "http", "scheme": "basic"},
                            "token": {"type": "apiKey", "in": "query", "name": "token"}},
        "schemas": {
            "Error": _object(error=_STRING),
            "Event": _EVENT,
            "EventList": _object(events={"type": "array", "items": _ref("Event")},
                                 cursor={"type": ["string", "null"]}),
            **_camera_schemas(), **_RECORDING_SCHEMAS}},
    "security": [{}, {"basic": []}, {"token": []}],
    "paths": {
        "/api/events": {"get": {
            "summary": "Events, newest first", "parameters": query_parameters(EventsQuery),
            "responses": {"200": _json(_ref("EventList")), **_errors(400, 404)}}},
        "/api/events/{id}": {"get": {
            "summary": "One event", "parameters": [_EVENT_ID],
            "responses": {"200": _json(_ref("Event")), **_errors(404)}}},
        "/api/events/{id}/snapshot.jpg": {"get": {
            "summary": "The frame of the best score with the box (crop=1: the box only)",
            "parameters": [_EVENT_ID, *query_parameters(SnapshotQuery)],
            "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}},
                          **_errors(400, 404)}}},
        "/api/events/{id}/clip.mp4": {"get": {
            "summary": "The camera's recording from pre_s before the start to post_s after "
                       "the end, as MP4 (stream copy)",
            "parameters": [_EVENT_ID],
            "responses": {"200": {"description": "MP4", "content": {"video/mp4": {}}},
                          **_errors(404), "503": _CLIP_NOT_YET}}},
        "/api/status": {"get": {
            "summary": "The `cctv status --json` document (docs/protocol.md#status)",
            "responses": {"200": _json({"type": "object"}), **_errors()}}},
        "/api/cameras": {
            "get": {"summary": "Configured cameras (URLs masked)",
                    "responses": {"200": _json(_object(cameras={
                        "type": "object", "additionalProperties": _ref("CameraConfig")})),
                        **_errors(409)}},
            "post": {"summary": "Add or replace a camera whole (as `cctv camera add --replace`: "
                                "an existing camera's lines, zones and settings not in the body "
                                "are dropped; PATCH /api/cameras/{name} keeps them); a URL with "
                                "literal credentials is refused (write them as ${VAR})",
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": _ref("CameraConfig")}}},
                     "responses": {"201": _json(_object(stored=_STRING)),
                                   **_errors(400, 413)}}},
        "/api/cameras/{name}": {
            "parameters": [_path("name", CAMERA_NAME_PATTERN, "Camera name.")],
            "patch": {"summary": "Change what the JSON merge patch names (as `cctv camera set`); "
                                 "the rest (lines, zones, counting, events, webhooks) is kept. "
                                 "Validated as the cameras file; literal credentials refused",
                      "requestBody": {"required": True, "content": {
                          media: {"schema": _ref("CameraPatch")}
                          for media in ("application/merge-patch+json", "application/json")}},
                      "responses": {"200": _json(_ref("CameraConfig"), "the camera, URL masked"),
                                    **_errors(400, 404, 413, 415)}},
            "delete": {"summary": "Remove a camera (as `cctv camera rm`)",
                       "responses": {"200": _json(_object(removed=_STRING)), **_errors(404)}}},
        "/api/recordings": {"get": {
            "summary": "A camera's recorded segments overlapping after..before, oldest first",
            "parameters": query_parameters(RecordingsQuery),
            "responses": {"200": _json(_ref("RecordingList")), **_errors(400, 404)}}},
        "/api/recordings/{camera}/video.mp4": {"get": {
            "summary": "start..end as one MP4 by stream copy, from the keyframe at or before "
                       "start (X-Start-Ts: the Unix time of its 0 s)",
            "parameters": [_CAMERA, *query_parameters(RangeQuery)],
            "responses": {"200": {"description": "MP4", "content": {"video/mp4": {}}},
                          **_errors(400, 404)}}},
        "/api/recordings/{camera}/objects": {"get": {
            "summary": "The tracker's objects of each frame captured from start to before end",
            "parameters": [_CAMERA, *query_parameters(RangeQuery)],
            "responses": {"200": _json(_ref("FrameObjectsList")), **_errors(400, 404)}}},
    },
}
