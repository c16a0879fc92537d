"""Logging for every ``cctv`` process: camera and worker ids on each line, credentials masked.

A thread binds its ids once (``bind(camera="lobby")`` in a camera's thread, ``bind(worker=id)``
in a worker); every record logged from that thread then carries them, as ``camera=lobby`` in text
or as keys of the JSON object (``log_format = json``). ``extra={"camera": ...}`` on one call wins.
Messages pass through :func:`common.urls.mask_text`, so a URL with credentials never reaches a log.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import datetime, timezone

from common.urls import mask_text

CONTEXT_FIELDS = ("camera", "worker")
ONCE_MAX = 10_000
"""Most distinct messages :func:`warn_once` remembers (memory stays bounded whatever Redis holds;
beyond, a new one is not logged)."""
_said: set[str] = set()
_context: ContextVar[dict[str, str]] = ContextVar("cctv_log_context", default={})


def bind(**fields: str) -> None:
    """Attach ids (``camera``, ``worker``) to every record logged from this thread from now on."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {', '.join(sorted(unknown))}")
    _context.set({**_context.get(), **fields})


class ContextFilter(logging.Filter):
    """Copies the ids bound in this thread onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def _context_of(record: logging.LogRecord) -> dict[str, str]:
    return {name: str(getattr(record, name)) for name in CONTEXT_FIELDS if hasattr(record, name)}


class TextFormatter(logging.Formatter):
    """``2026-01-01 12:00:00,000 cctv.ingest INFO [camera=lobby] message``, masked."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(ids)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(f"{k}={v}" for k, v in _context_of(record).items())
        record.ids = f"[{ids}] " if ids else ""
        return mask_text(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, camera/worker ids, exception."""

    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
                "level": record.levelname, "logger": record.name,
                "message": mask_text(record.getMessage()), **_context_of(record)}
        if record.exc_info:
            data["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


def setup_logging(level: str = "INFO", json_format: bool = False) -> None:
    """Route the root logger to stderr in text or JSON, with ids and masking on every record
    (replacing the handler of an earlier call; other handlers stay)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_format else TextFormatter())
    handler.addFilter(ContextFilter())
    handler.set_name("cctv")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "cctv"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def warn_once(logger: logging.Logger, message: str) -> None:
    """Log ``message`` as a warning the first time it is seen in this process only: a bad entry
    read again every pass costs one line, not one per pass."""
    if message not in _said and len(_said) < ONCE_MAX:
        _said.add(message)
        logger.warning("%s", message)
