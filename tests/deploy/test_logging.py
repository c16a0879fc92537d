"""Log lines carry the camera or worker id bound in their thread, and never a credential."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest

from runtime.logging_setup import ContextFilter, JsonFormatter, TextFormatter, bind


@pytest.fixture
def capture():
    """A logger writing through our filter to a buffer, with the given formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("cctv.test-logging")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def use(formatter: logging.Formatter):
        handler.setFormatter(formatter)
        return logger, stream

    yield use
    logger.removeHandler(handler)


def in_thread(fn) -> None:
    thread = threading.Thread(target=fn)
    thread.start()
    thread.join(5)


def test_json_lines_carry_ids_of_their_own_thread(capture):
    logger, stream = capture(JsonFormatter())

    def camera():
        bind(camera="lobby")
        logger.warning("offline: cannot connect to %s", "rtsp://admin:hunter2@10.0.0.5/s")

    def worker():
        bind(worker="gpu-1")
        logger.info("batch of %d", 8)

    in_thread(camera)
    in_thread(worker)
    in_thread(lambda: logger.info("no ids", extra={"camera": "door"}))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["camera"] == "lobby" and "worker" not in lines[0]
    assert lines[0]["message"] == "offline: cannot connect to rtsp://***@10.0.0.5/s"
    assert lines[0]["level"] == "WARNING" and lines[0]["logger"] == "cctv.test-logging"
    assert lines[1]["worker"] == "gpu-1" and "camera" not in lines[1]
    assert lines[2]["camera"] == "door"


def test_text_lines_and_tracebacks_are_masked(capture):
    logger, stream = capture(TextFormatter())

    def camera():
        bind(camera="lobby")
        try:
            raise ConnectionError("http://user:hunter2@cam.local/video?token=tok-8812 failed")
        except ConnectionError:
            logger.exception("open failed")

    in_thread(camera)
    text = stream.getvalue()
    assert " ERROR [camera=lobby] open failed" in text
    assert "http://***@cam.local/video?token=***" in text
    assert "hunter2" not in text and "tok-8812" not in text


def test_bind_rejects_unknown_fields():
    with pytest.raises(ValueError):
        bind(camera_url="rtsp://x")
