"""The OpenAPI 3.1 document of :mod:`api.rest`, served at ``/api/openapi.json``."""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(name: str, where: str, schema: dict[str, Any], description: str,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema, "description": description}


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {400: "bad parameter", 401: "password needed", 404: "not found",
               409: "stored configuration invalid", 503: "Redis unreachable"}
    return {str(s): _json(_ref("Error"), reasons[s]) for s in statuses + (401, 503)}


_TIME = {"oneOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]}
_EVENT_ID = _param("id", "path", {"type": "string"}, "Event id.")
_EVENT = {
    "type": "object",
    "required": ["id", "camera", "label", "start_ts", "end_ts", "top_score", "zones", "lines",
                 "has_snapshot", "has_clip"],
    "properties": {
        "id": {"type": "string"}, "camera": {"type": "string"}, "label": {"type": "string"},
        "start_ts": {"type": "number", "description": "Unix seconds"},
        "end_ts": {"type": ["number", "null"], "description": "null while the event is open"},
        "top_score": {"type": "number"},
        "zones": {"type": "array", "items": {"type": "string"}},
        "lines": {"type": "array", "items": {
            "type": "object", "required": ["name", "direction"],
            "properties": {"name": {"type": "string"},
                           "direction": {"type": "string", "enum": ["in", "out"]}}}},
        "has_snapshot": {"type": "boolean"}, "has_clip": {"type": "boolean"}}}

SCHEMA: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "cctv-analytics", "version": "1",
             "description": "Events, status and cameras; HTTP Basic with the dashboard's "
                            "password (any user name) when one is set."},
    "components": {
        "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "string"}}},
            "Event": _EVENT,
            "EventList": {"type": "object", "required": ["events", "cursor"],
                          "properties": {"events": {"type": "array", "items": _ref("Event")},
                                         "cursor": {"type": ["string", "null"]}}},
            "Camera": {"type": "object", "required": ["name", "url"],
                       "description": "A camera config (docs/configuration.md)",
                       "additionalProperties": True}}},
    "security": [{"basic": []}],
    "paths": {
        "/api/events": {"get": {
            "summary": "Events, newest first",
            "parameters": [
                _param("camera", "query", {"type": "string"}, "Only this camera."),
                _param("label", "query", {"type": "string"}, "Only this class."),
                _param("zone", "query", {"type": "string"}, "Only events that entered it."),
                _param("after", "query", _TIME, "Started at or after (Unix s or ISO 8601)."),
                _param("before", "query", _TIME, "Started before (Unix s or ISO 8601)."),
                _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500,
                                          "default": 50}, "Page size."),
                _param("cursor", "query", {"type": "string"}, "The previous page's cursor.")],
            "responses": {"200": _json(_ref("EventList")), **_errors(400, 404)}}},
        "/api/events/{id}": {"get": {
            "summary": "One event", "parameters": [_EVENT_ID],
            "responses": {"200": _json(_ref("Event")), **_errors(404)}}},
        "/api/events/{id}/snapshot.jpg": {"get": {
            "summary": "The frame of the best score with the box (crop=1: the box only)",
            "parameters": [_EVENT_ID, _param("crop", "query", {"type": "integer",
                                                               "enum": [0, 1]}, "The crop.")],
            "responses": {"200": {"description": "JPEG",
                                  "content": {"image/jpeg": {}}}, **_errors(400, 404)}}},
        "/api/events/{id}/clip.mp4": {"get": {
            "summary": "H.264 MP4 from pre_s before the start to post_s after the end",
            "parameters": [_EVENT_ID],
            "responses": {"200": {"description": "MP4", "content": {"video/mp4": {}}},
                          **_errors(404)}}},
        "/api/status": {"get": {
            "summary": "The `cctv status --json` document (docs/protocol.md#status)",
            "responses": {"200": _json({"type": "object"}), **_errors()}}},
        "/api/cameras": {
            "get": {"summary": "Configured cameras (URLs masked)",
                    "responses": {"200": _json({"type": "object", "properties": {
                        "cameras": {"type": "object",
                                    "additionalProperties": _ref("Camera")}}}),
                        **_errors(409)}},
            "post": {"summary": "Add or replace a camera (as `cctv camera add`)",
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": _ref("Camera")}}},
                     "responses": {"201": _json({"type": "object"}), **_errors(400)}}},
        "/api/cameras/{name}": {"delete": {
            "summary": "Remove a camera (as `cctv camera rm`)",
            "parameters": [_param("name", "path", {"type": "string"}, "Camera name.")],
            "responses": {"200": _json({"type": "object"}), **_errors(404)}}},
    },
}
