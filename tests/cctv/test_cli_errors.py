"""Every expected failure of the ``cctv`` command is one line, ``cctv: <what>: <why>``, with
exit 2 for usage and 1 for runtime errors; no traceback unless ``-v``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest



def cctv(redis_url, *args, check=True, **env):
    env = dict(os.environ, REDIS_URL=redis_url, CCTV_TORCH_THREADS="1", **env)
    out = subprocess.run([sys.executable, "-m", "cctv", *args], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 or not check, out.stderr
    return out


def test_status_survives_keys_of_the_wrong_type(redis_url, redis_client):
    redis_client.set("cctv:frames:x", "y")
    redis_client.sadd("cctv:camera-names", "x")
    out = cctv(redis_url, "status")
    assert "Traceback" not in out.stderr and "unreadable keys" in out.stdout
    camera = json.loads(cctv(redis_url, "status", "--json").stdout)["cameras"]["x"]
    assert camera["state"] == "error" and "WRONGTYPE" in camera["error"]


def one_line(out, code: int, *words: str) -> None:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == code, out.stderr
    assert len(lines) == 1 and lines[0].startswith("cctv: "), out.stderr
    assert all(w in lines[0] for w in words), lines[0]


@pytest.mark.parametrize("url, why", [
    ("nonsense", "must start with redis://"),
    ("http://127.0.0.1:6379/0", "must start with redis://"),
    ("redis://127.0.0.1:99999/0", "port must be a number"),
    ("redis://127.0.0.1:6379/x", "database after the host must be a number"),
])
def test_bad_redis_urls(url, why):
    one_line(cctv(url, "status", check=False), 2, "REDIS_URL", why)


def test_status_when_redis_is_unreachable():
    url = "redis://:hunter5@127.0.0.1:1/0"
    one_line(out := cctv(url, "status", check=False), 3,
             "Redis unreachable at redis://127.0.0.1:1/0")
    assert "hunter5" not in out.stderr
    out = cctv(url, "status", "--json", check=False)
    assert out.returncode == 3
    assert json.loads(out.stdout)["error"].startswith("Redis unreachable at redis://127.0.0.1:1/0")


def test_status_on_a_database_out_of_range(redis_url):
    out = cctv(redis_url + "?db=99", "status", "--json", check=False)
    assert out.returncode == 3 and "DB index is out of range" in json.loads(out.stdout)["error"]


def test_verbose_shows_the_traceback():
    out = cctv("redis://127.0.0.1:1/0", "-v", "camera", "ls", check=False)
    assert out.returncode == 1 and "Traceback" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("cctv: camera: Redis unreachable")


def test_a_closed_pipe_is_quiet(redis_url):
    proc = subprocess.Popen([sys.executable, "-m", "cctv", "status"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, REDIS_URL=redis_url))
    proc.stdout.close()
    assert proc.wait(30) == 1 and proc.stderr.read() == b""


def test_latin1_cameras_file(redis_url, tmp_path):
    path = tmp_path / "cameras.yaml"
    path.write_bytes("cameras:\n  - name: caf\u00e9\n    url: x.mp4\n".encode("latin-1"))
    out = cctv(redis_url, "config", "check", str(path), check=False)
    assert out.returncode == 1 and out.stderr.strip() == (
        f"{path}: not UTF-8 (byte 0xe9 at offset 22): save it as UTF-8")
    one_line(cctv(redis_url, "ingest", "--cameras-file", str(path), check=False), 2,
             "not UTF-8")


@pytest.fixture(scope="module")
def evil_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint whose unpickling would run a shell command (and leave a file behind)."""
    folder = tmp_path_factory.mktemp("evil")

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {folder / 'pwned'}",)

    import torch

    path = folder / "evil.pth"
    torch.save({"state": Evil()}, path)
    (folder / "labels.txt").write_text("BACKGROUND\nperson\n")
    return path


@pytest.mark.parametrize("args, env, why", [
    (["--detector", "nonsense"], {}, "unknown model 'nonsense'"),
    (["--detector", "mb1-ssd:/no/such.pth"], {}, "checkpoint /no/such.pth not found"),
    (["--device", "banana"], {}, "device 'banana' is not a torch device"),
    ([], {"CCTV_DEVICE": "cuda"}, "CUDA is not available on this machine"),
])
def test_worker_usage_errors(redis_url, args, env, why):
    if env.get("CCTV_DEVICE") == "cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    one_line(cctv(redis_url, "worker", *args, check=False, **env), 2, why)


def test_a_malicious_checkpoint_is_refused_and_not_run(redis_url, evil_checkpoint):
    one_line(cctv(redis_url, "worker", "--detector", f"mb1-ssd:{evil_checkpoint}", check=False),
             2, "holds Python objects")
    assert not (evil_checkpoint.parent / "pwned").exists()


@pytest.mark.slow
def test_rq_worker_logs_a_failed_replay_in_one_line(redis_url, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    job = cctv(redis_url, "replay", str(text), "--camera", "notes").stdout.strip()
    worker = cctv(redis_url, "rq-worker", "--burst")
    failed = [line for line in worker.stderr.splitlines() if f"replay job {job} failed: " in line]
    assert len(failed) == 1 and str(text) in failed[0]
    assert "Traceback" not in worker.stderr


@pytest.mark.parametrize("args", [["camera", "add", "slow", "x.mp4", "--fps", "1e-9"],
                                  ["replay", __file__, "--camera", "slow", "--fps", "1e-9"]])
def test_a_frame_rate_near_zero_is_refused(redis_url, args):
    one_line(cctv(redis_url, *args, check=False), 2, "fps", "greater than or equal to 0.01")
