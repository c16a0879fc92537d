"""Running a service (worker, tracker) in a thread until a condition holds; imported by tests as
``running`` (pytest puts this folder on sys.path for tests/conftest.py)."""

from __future__ import annotations

import threading
import time
from typing import Callable


def run_until(service, predicate: Callable[[], object], timeout: float = 60) -> None:
    """Run ``service.run(stop)`` in a thread until ``predicate()`` holds (at most ``timeout``
    seconds), then stop it; fails unless the condition was met and the service stopped."""
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not (met := predicate()) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(30)
    assert met, "the condition was not met in time"
    assert not thread.is_alive(), "the service did not stop"
