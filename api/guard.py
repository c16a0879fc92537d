"""What every REST route shares: the password check, the body limit and errors as JSON.

A handler is a plain function run in the thread pool; :func:`guarded` turns it into the route's
coroutine. Every error is ``{"error": "..."}``: :class:`ApiError` with its status, a bad parameter
400, Redis away 503, and any other exception (a bug) 500 with no detail, logged here.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runtime.outage import REDIS_DOWN

from .auth import CHALLENGE, authorized
from .params import ParameterError

log = logging.getLogger("cctv.api")

MAX_BODY = 64 * 1024
"""Bytes a POST or PATCH body may have (413 above)."""
Handler = Callable[[Request], Response]


class ApiError(Exception):
    """An answer other than success: ``status`` and a one-line reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


def error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status, headers=headers)


def guarded(password: str | None, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` behind the dashboard's ``password`` (None: open), a POST or PATCH body read
    into ``request.state.body`` first, its errors answered as JSON."""

    async def checked(request: Request) -> Response:
        if not authorized(password, request.headers.get("authorization"),
                          request.query_params.get("token")):
            return error(401, "unauthorized: this API needs the dashboard's password "
                              "(HTTP Basic, any user name)", CHALLENGE)
        try:
            if request.method in ("POST", "PATCH"):
                body = await request.body()
                if len(body) > MAX_BODY:
                    raise ApiError(413, "body too large")
                request.state.body = body
            return await run_in_threadpool(handler, request)
        except ApiError as exc:
            return error(exc.status, str(exc))
        except ParameterError as exc:
            return error(400, str(exc))
        except REDIS_DOWN:
            return error(503, "Redis is unreachable; try again shortly")
        except Exception:  # a bug: logged here, never shown to the client
            log.exception("%s %s failed", request.method, request.url.path)
            return error(500, "internal error (logged by the server)")

    return checked
