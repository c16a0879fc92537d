"""The ``cctv`` command never starts half-broken and never prints a traceback for an expected
failure: ``cctv up`` checks the cameras file and every service's settings before starting
anything, an empty ``REDIS_URL`` is an error, and an unresolvable dashboard host, Ctrl-C and an
invalid job id are one line (or nothing) with their exit status."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import cctv.up as up_module
from cctv import cli, status_cmd
from common.schema import SettingsError
from runtime.settings import CommonSettings, from_env

EMPTY_REDIS_URL = "REDIS_URL is set but empty"


def cctv(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cctv", *args], env=dict(os.environ, **env),
                          capture_output=True, text=True, timeout=120, check=False)


def one_line(out: subprocess.CompletedProcess, code: int, *words: str) -> None:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == code, out.stderr
    assert len(lines) == 1 and lines[0].startswith("cctv: "), out.stderr
    assert all(w in lines[0] for w in words), lines[0]


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A private run folder: ``cctv up`` may start its embedded Redis nowhere else."""
    folder = tmp_path / "run"
    folder.mkdir()
    return folder


def test_up_stops_on_a_latin1_cameras_file_before_starting_anything(tmp_path, run_dir):
    path = tmp_path / "cameras.yaml"
    path.write_bytes("cameras:\n  - name: caf\u00e9\n    url: x.mp4\n".encode("latin-1"))
    out = cctv("up", "--no-dashboard", CCTV_CAMERAS_FILE=str(path), CCTV_RUN_DIR=str(run_dir))
    one_line(out, 1, f"{path}: not UTF-8 (byte 0xe9 at offset 22)")
    assert list(run_dir.iterdir()) == []  # no embedded Redis was started


def test_up_names_the_first_problem_of_an_invalid_cameras_file(tmp_path, run_dir):
    path = tmp_path / "cameras.yaml"
    path.write_text("cameras:\n  - name: a\n    url: a.mp4\n    fpz: 3\n    fps: -1\n")
    out = cctv("up", "--cameras-file", str(path), CCTV_RUN_DIR=str(run_dir))
    one_line(out, 1, f"{path}:4:5: cameras.0.fpz: unknown key", "and 1 more")


def test_up_checks_every_service_settings_before_starting(run_dir):
    out = cctv("up", "--no-dashboard", CCTV_RUN_DIR=str(run_dir), CCTV_BATCH_SIZE="0")
    one_line(out, 2, "CCTV_BATCH_SIZE")
    out = cctv("up", CCTV_RUN_DIR=str(run_dir), CCTV_DASHBOARD_HOST="no.such.host.invalid",
               CCTV_DASHBOARD_PASSWORD="correct-horse")
    one_line(out, 2, "cannot bind no.such.host.invalid:8501: name not known")
    assert list(run_dir.iterdir()) == []


def test_an_empty_redis_url_is_an_error_not_the_embedded_server():
    with pytest.raises(SettingsError, match=EMPTY_REDIS_URL):
        from_env(CommonSettings, {"REDIS_URL": ""})
    assert from_env(CommonSettings, {}).redis_url is None  # unset: the embedded server
    assert from_env(CommonSettings, {"CCTV_LOG_LEVEL": ""}).log_level == "INFO"  # others: unset
    one_line(cctv("status", REDIS_URL=""), 2, EMPTY_REDIS_URL, "redis://host:port")


def test_an_unresolvable_dashboard_host_is_one_line():
    out = cctv("dashboard", "--host", "no.such.host.invalid",
               CCTV_DASHBOARD_PASSWORD="correct-horse")
    one_line(out, 2, "cctv: dashboard: cannot bind no.such.host.invalid:8501: name not known")


@pytest.mark.parametrize("job_id, why", [("bad id!", "invalid job id 'bad id!'"),
                                         ("no-such-job", "no such job: no-such-job")])
def test_a_bad_job_id_is_one_line(redis_url, job_id, why):
    one_line(cctv("job", job_id, REDIS_URL=redis_url), 2, why)


def test_ctrl_c_anywhere_in_the_command_is_exit_130_and_quiet(monkeypatch, capsys):
    def interrupted(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)  # while the subcommands load
    assert cli.main(["status"]) == 130
    monkeypatch.undo()
    monkeypatch.setattr(status_cmd, "cmd_status", interrupted)  # while one runs
    assert cli.main(["status"]) == 130
    assert capsys.readouterr().err == ""


def test_an_unknown_exception_keeps_its_traceback(monkeypatch, capsys):
    def buggy(_args):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(status_cmd, "cmd_status", buggy)
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1] == (
        "cctv: status: ZeroDivisionError: oops (a bug: please report it)")


def test_up_stopped_during_start_starts_no_service(redis_url, monkeypatch):
    started = []
    monkeypatch.setattr(up_module, "spawn", lambda *a, **k: started.append(a))
    stop = threading.Event()
    stop.set()
    settings = from_env(CommonSettings, {"REDIS_URL": redis_url})
    assert up_module.up(settings, stop, dashboard=False) == 130
    assert started == []


def caught_signals(pid: int) -> int:
    """The mask of signals process ``pid`` has handlers for (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("SigCgt:"))
               .split()[1], 16)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_sigint_during_up_start_prints_no_traceback(redis_url):
    """SIGINT once ``cctv up`` handles signals (Python's own start-up is outside any program):
    it stops before or right after starting its services, quietly."""
    env = dict(os.environ, REDIS_URL=redis_url, CCTV_TORCH_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "cctv", "up", "--no-dashboard"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not caught_signals(proc.pid) & 1 << (signal.SIGTERM - 1):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (130, 0), err  # 0: the services had started and were stopped
    assert "Traceback" not in err
