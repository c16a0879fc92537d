"""Schemathesis hooks of tests/api/test_openapi_fuzz.py, loaded through ``SCHEMATHESIS_HOOKS``.

A JSON schema states each value's type and bounds, not rules between values: ``after`` earlier
than ``before``, a recordings range ``start``..``end`` of at most ``MAX_RANGE_S``, unique zone names, a zone that encloses an area, known required zones, no
literal credentials in a camera URL (in a camera POSTed, or a patch applied to one). A
schema-valid request refused by one of those rules is the API being right, so
:func:`filter_failure` drops exactly those refusals and keeps every other failure (a refusal
for a bound or type the document left out still fails the test).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from pydantic import ValidationError
from schemathesis.openapi.checks import RejectedPositiveData

from api.params import MAX_RANGE_S, parse_time
from common.cameras import CameraConfig
from common.urls import has_literal_secret
from runtime.camera_list import merge_patch

PATCH_BASE = {"name": "fuzzed", "url": "0"}
"""A camera a fuzzed merge patch is applied to, to tell its rule breaches from other refusals."""

RULE_ERROR = "value_error"
"""Pydantic's error type for a model's own validators (bounds and types have their own)."""


def _times_out_of_order(query: dict[str, Any]) -> bool:
    if query.get("after") is None or query.get("before") is None:
        return False
    try:
        return parse_time("after", query["after"]) >= parse_time("before", query["before"])
    except ValueError:
        return False


def _range_breaks_the_rule(query: dict[str, Any]) -> bool:
    try:
        span = parse_time("end", query["end"]) - parse_time("start", query["start"])
    except (KeyError, TypeError, ValueError):
        return False
    return not 0 < span <= MAX_RANGE_S


def _camera_breaks_a_rule(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    try:
        CameraConfig.model_validate(body)
    except ValidationError as exc:
        return all(error["type"] == RULE_ERROR for error in exc.errors())
    return has_literal_secret(str(body.get("url", "")))


@schemathesis.hook
def filter_failure(ctx, failure, case, response) -> bool:
    """Keep a failure unless it is a 400 for a rule between values (see the module's doc)."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    if case.path in ("/api/events", "/api/recordings"):
        return not _times_out_of_order(case.query or {})
    if case.path.startswith("/api/recordings/"):
        return not _range_breaks_the_rule(case.query or {})
    if case.path == "/api/cameras" and case.method.upper() == "POST":
        return not _camera_breaks_a_rule(case.body)
    if case.path == "/api/cameras/{name}" and case.method.upper() == "PATCH":
        return not (isinstance(case.body, dict)
                    and _camera_breaks_a_rule(merge_patch(PATCH_BASE, case.body)))
    return True
