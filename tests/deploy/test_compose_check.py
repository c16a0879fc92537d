"""scripts/compose-check: the images built and docker-compose.yml run for real (Podman here).

The slow test builds the images (cached between runs on one machine; about 8 minutes cold on 2
cores), brings the stack up on the sample video and reads the dashboard's /api/status. The quick
ones feed it bad input, each of which must end it with one clear line before anything is built.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "compose-check"
CONTAINERS_CONF = ROOT / "docker" / "podman-containers.conf"
TORCH_WHEELS = Path("/opt/wheels")
"""Where this machine keeps the CPU torch wheel (download.pytorch.org is unreachable here)."""


def engine_problem() -> str | None:
    """Why no container stack can run here (None when one can)."""
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True,
                                                 timeout=60).returncode == 0:
        return None
    if not shutil.which("podman"):
        return "no Docker engine and no podman (scripts/test installs podman as root)"
    info = subprocess.run(["podman", "info"], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "CONTAINERS_CONF": str(CONTAINERS_CONF)})
    if info.returncode != 0:
        return f"podman info fails here: {info.stderr.strip().splitlines()[-1:]}"
    if not shutil.which("docker-compose"):
        return "docker-compose absent (scripts/test installs Debian's as root)"
    return None


def compose_check(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


@pytest.fixture(scope="module")
def engine() -> None:
    problem = engine_problem()
    if problem:
        pytest.skip(problem)


def torch_wheels() -> list[str]:
    return ["--torch-wheels", str(TORCH_WHEELS)] if any(TORCH_WHEELS.glob("torch-*+cpu-*.whl")) \
        else []


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_the_stack_counts_a_person_in_the_sample_video(engine):
    run = compose_check(*torch_wheels(), "--timeout", "600", timeout=2300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)  # one line, nothing else on stdout
    assert report["frames_processed"] > 0
    assert report["persons"] >= 1
    assert report["engine"] in ("docker", "podman")
    assert any(image["name"] == "cctv:cpu" and image["mb"] > 0 for image in report["images"])
    assert report["build_s"] >= 0 and report["up_s"] > 0
    sizes = {image["name"]: image["mb"] for image in report["images"]}
    assert 0 < sizes["cctv:cpu"] < 1500, "the worker image's goal (issue 27): under 1.5 GB"
    assert 0 < sizes["cctv:app"] < sizes["cctv:cpu"], "the app image carries no torch"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_cluster_stack_counts_a_person_on_six_nodes(engine):
    run = compose_check("--cluster", *torch_wheels(), "--timeout", "600", timeout=1100)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["cluster_nodes"] == 6
    assert report["frames_processed"] > 0 and report["persons"] >= 1


def test_a_missing_secret_is_one_line_before_any_build(engine, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DASHBOARD_PASSWORD=dashboard-s3cret\n")
    run = compose_check("--env-file", str(env_file), timeout=300)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "set REDIS_PASSWORD" in run.stderr


def test_a_taken_port_is_one_line_before_any_build(engine, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env_file = tmp_path / ".env"
        env_file.write_text(f"REDIS_PASSWORD=redis-s3cret\nDASHBOARD_PASSWORD=dashboard-s3cret\n"
                            f"DASHBOARD_PORT={port}\n")
        run = compose_check("--env-file", str(env_file), timeout=300)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == f"compose-check: port 127.0.0.1:{port} is already taken: set " \
                         "DASHBOARD_PORT to a free one\n"


def test_the_script_builds_the_images_the_cpu_profile_runs():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    built = dict(re.findall(r'"(cctv:\w+)": "(\w+)"',
                            re.search(r"^IMAGE_TARGETS = .*$", SCRIPT.read_text(), re.M).group()))
    wanted = {compose[name]["image"]: compose[name]["build"]["target"]
              for name in ("ingest", "worker-cpu", "tracker", "rq-worker", "dashboard", "webhooks")}
    assert built == wanted == {"cctv:cpu": "worker", "cctv:app": "app"}


def test_env_example_names_every_secret_compose_asks_for():
    text = "\n".join((ROOT / name).read_text() for name in
                     ("docker-compose.yml", "docker-compose.cluster.yml"))
    asked = set(re.findall(r"\$\{([A-Z_]+)", text))
    named = {line.split("=", 1)[0].lstrip("# ") for line in
             (ROOT / ".env.example").read_text().splitlines() if "=" in line}
    assert asked <= named
