"""Running a service (worker, tracker) in a thread until a condition holds, and ``cctv dashboard``
in a process; imported by tests as ``running`` (pytest puts this folder on sys.path for
tests/conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator


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


def stop_all(procs: Iterable[subprocess.Popen | None]) -> None:
    """SIGTERM every process still running (None: never started), then wait for each; one that
    has not exited after 30 s is killed."""
    procs = [proc for proc in procs if proc is not None]
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard(settings: dict[str, str], timeout: float = 60) -> Iterator[str]:
    """``cctv dashboard`` with these settings (environment variables) on a free port; yields its
    base URL once it answers, and stops it afterwards."""
    port = free_port()
    env = dict(os.environ, CCTV_DASHBOARD_PORT=str(port))
    env.pop("CCTV_DASHBOARD_PASSWORD", None)
    env.update(settings)
    server = subprocess.Popen([sys.executable, "-m", "cctv", "dashboard"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "no dashboard"
            try:
                urllib.request.urlopen(f"{base}/_stcore/health", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # still starting
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(20)
