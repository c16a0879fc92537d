"""Helpers shared by the ingest network tests, as fixtures that hand back plain functions.

``free_port()`` a free TCP port on 127.0.0.1; ``wait_for(predicate, timeout)`` polls until true
(bounded); ``frames_in(client, name="cam")`` the camera's frames_in counter from its state hash;
``stop(proc)`` kills a server process and reaps it.
"""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from common.keys import KEYS
from ingest.camera import read_state


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _frames_in(client, name: str = "cam") -> int:
    state = read_state(client, KEYS, name)
    return state.frames_in if state else 0


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(10)


@pytest.fixture
def free_port():
    return _free_port


@pytest.fixture
def wait_for():
    return _wait_for


@pytest.fixture
def frames_in():
    return _frames_in


@pytest.fixture
def stop():
    return _stop
