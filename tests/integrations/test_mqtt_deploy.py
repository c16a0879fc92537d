"""How the bridge is deployed: compose's optional ``mqtt`` service (profile ``mqtt``), ``cctv up``
starting ``cctv mqtt`` when ``CCTV_MQTT_URL`` is set, and scripts/test installing mosquitto."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cctv.up import child_commands
from common.schema import SettingsError
from integrations.settings import MqttSettings
from runtime.settings import env_name, from_env

ROOT = Path(__file__).resolve().parents[2]
CCTV = Path(sys.executable).with_name("cctv")
MQTT_URL = "mqtt://cctv:broker-secret@broker:1883"


def interpolate(value: str) -> str:
    """Compose's ``${VAR:?...}`` and ``${VAR:-default}`` with the passwords and MQTT_URL set."""
    value = re.sub(r"\$\{(REDIS|DASHBOARD)_PASSWORD(:\?[^}]*)?\}", "pw-for-test", value)
    return re.sub(r"\$\{MQTT_URL(:-[^}]*)?\}", MQTT_URL, value)


@pytest.fixture(scope="module")
def service() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["mqtt"]


def test_compose_mqtt_service_is_optional_and_valid(service):
    assert service["profiles"] == ["mqtt"]
    assert service["command"] == ["mqtt"]
    run = subprocess.run([str(CCTV), *service["command"], "--help"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and "usage: cctv mqtt" in run.stdout
    env = {k: interpolate(str(v)) for k, v in service["environment"].items()}
    assert set(env) <= {env_name(f) for f in MqttSettings.model_fields}
    try:
        settings = from_env(MqttSettings, env)
    except SettingsError as exc:
        pytest.fail(str(exc))
    assert settings.mqtt_url == MQTT_URL
    tracker = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["tracker"]
    assert env["CCTV_MEDIA_DIR"] == tracker["environment"]["CCTV_MEDIA_DIR"]
    assert "recordings:/recordings:ro" in service["volumes"]
    assert str(service["user"]).split(":")[0] not in ("0", "root")
    health = service["healthcheck"]["test"]
    assert health[1:] == ["cctv", "mqtt", "--check"]
    assert subprocess.run([str(CCTV), *health[2:], "--help"], capture_output=True,
                          timeout=60).returncode == 0


def test_docker_compose_config_accepts_the_mqtt_profile():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose binary absent (scripts/test installs Debian's docker-compose "
                    "as root)")
    env = {"PATH": "/usr/bin:/bin", "REDIS_PASSWORD": "pw-for-test",
           "DASHBOARD_PASSWORD": "dashboard-pw", "MQTT_URL": MQTT_URL}
    run = subprocess.run([binary, "-f", str(ROOT / "docker-compose.yml"), "--profile", "mqtt",
                          "config"], env=env, capture_output=True, text=True, timeout=60,
                         cwd=ROOT)
    assert run.returncode == 0, run.stderr
    resolved = yaml.safe_load(run.stdout)["services"]["mqtt"]
    assert resolved["environment"]["CCTV_MQTT_URL"] == MQTT_URL


def test_cctv_up_starts_the_bridge_only_with_a_broker():
    assert not any(cmd[3:] == ["mqtt"] for cmd in child_commands(None, 1, True))
    assert [cmd[3:] for cmd in child_commands(None, 1, True, mqtt=True)][-1] == ["mqtt"]


def test_cctv_mqtt_without_a_broker_says_so():
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": "redis://127.0.0.1:1/0"}
    run = subprocess.run([str(CCTV), "mqtt"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip() == ("cctv: mqtt: no broker: set CCTV_MQTT_URL "
                                  "(mqtt://user:${MQTT_PASSWORD}@host:1883, mqtts:// for TLS)")
    run = subprocess.run([str(CCTV), "mqtt"], env=dict(env, CCTV_MQTT_URL="mqtt://u:pw@h:0"),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "CCTV_MQTT_URL: the port" in run.stderr
    assert "pw" not in run.stderr.replace("password", "")


def test_scripts_test_installs_mosquitto():
    text = (ROOT / "scripts" / "test").read_text()
    assert re.search(r"command -v mosquitto .*\|\| need\+=\(mosquitto\)", text)
