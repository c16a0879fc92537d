"""Fixtures of the MQTT tests: a real mosquitto (helpers in mqtt_broker.py)."""

from __future__ import annotations

import pytest

from mqtt_broker import PASSWORD, USER, Mosquitto


@pytest.fixture
def broker(tmp_path):
    """A password-protected mosquitto (user ``cctv``), started."""
    folder = tmp_path / "broker"
    folder.mkdir()
    server = Mosquitto(folder, users={USER: PASSWORD})
    server.start()
    yield server
    server.stop()
