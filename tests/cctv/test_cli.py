"""The ``cctv`` command against a real Redis, through subprocesses as a user runs it."""

import argparse
import json
import os
import subprocess
import sys
import time

import pytest


def cctv(redis_url, *args, timeout=60, check=True):
    env = dict(os.environ, REDIS_URL=redis_url, CCTV_TORCH_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "cctv", *args], env=env, capture_output=True,
                         text=True, timeout=timeout)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def test_camera_add_ls_rm(redis_url):
    cctv(redis_url, "camera", "add", "door", "rtsp://admin:${DOOR_PW}@10.0.0.9/s", "--fps", "5")
    listed = json.loads(cctv(redis_url, "camera", "ls", "--json").stdout)
    assert listed["door"]["fps"] == 5 and "${DOOR_PW}" in listed["door"]["url"]
    cctv(redis_url, "camera", "rm", "door")
    assert json.loads(cctv(redis_url, "camera", "ls", "--json").stdout) == {}


@pytest.mark.parametrize("args, message", [
    (["camera", "rm", "ghost"], "unknown camera 'ghost'"),
    (["camera", "add", "a b", "x.mp4"], "name: String should match"),
    (["camera", "add", "c", "rtsp://u:pw@h/x"], "${VAR}"),
    (["replay", "/no/such.mp4", "--camera", "x"], "no such file"),
])
def test_clear_errors(redis_url, args, message):
    out = cctv(redis_url, *args, check=False)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_replay_wait_then_status_json(redis_url, small_video, tmp_path):
    env = dict(os.environ, REDIS_URL=redis_url, CCTV_TORCH_THREADS="1", CCTV_HEARTBEAT_S="0.2")
    worker = subprocess.Popen([sys.executable, "-m", "cctv", "worker", "--batch-size", "4"],
                              env=env, stdin=subprocess.DEVNULL)
    rq = subprocess.Popen([sys.executable, "-m", "cctv", "rq-worker"], env=env,
                          stdin=subprocess.DEVNULL)
    try:
        out = cctv(redis_url, "replay", str(small_video), "--camera", "rec", "--wait",
                   "--timeout", "150", "--out", str(tmp_path / "rec"), timeout=180)
        job_id, summary = out.stdout.splitlines()[0], json.loads(out.stdout.splitlines()[-1])
        assert summary["status"] == "finished" and summary["result"]["frames"] == 40
        assert summary["result"]["files"] == {  # complete once --wait returns
            kind: str(tmp_path / "rec" / f"rec.{suffix}")
            for kind, suffix in (("video", "mp4"), ("csv", "csv"), ("report", "json"))}
        assert json.loads((tmp_path / "rec" / "rec.json").read_text())["frames"] == 40
        assert json.loads(cctv(redis_url, "job", job_id).stdout)["status"] == "finished"
        for _ in range(25):  # the heartbeat catches up within a beat
            status = json.loads(cctv(redis_url, "status", "--json").stdout)
            if status["workers"] and status["workers"][0]["frames"] == 40:
                break
    finally:
        for proc in (worker, rq):
            proc.terminate()
            proc.wait(30)
    cam = status["cameras"]["rec"]
    assert (cam["frames_in"], cam["frames_processed"], cam["frames_dropped"]) == (40, 40, 0)
    assert isinstance(cam["detections_total"], dict) and cam["state"] == "finished"
    assert len(status["workers"]) == 1 and status["workers"][0]["frames"] == 40
    assert worker.returncode == 0  # SIGTERM stops cleanly


def test_status_text_and_json_on_empty_redis(redis_url):
    assert json.loads(cctv(redis_url, "status", "--json").stdout)["cameras"] == {}
    assert "no live workers" in cctv(redis_url, "status").stdout


def test_tracker_help_and_cctv_up_starts_one_tracker():
    out = subprocess.run([sys.executable, "-m", "cctv", "tracker", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "--lock-ttl-ms" in out.stdout and "--tracker-id" in out.stdout
    from cctv.up import child_commands

    services = [cmd[3:] for cmd in child_commands(None, 2, False)]
    assert services.count(["tracker"]) == 1 and services.count(["worker"]) == 2


@pytest.mark.parametrize("cpus, workers, expected", [
    (range(4), 2, [{0, 1}, {2, 3}]),
    ([5, 1, 3], 2, [{1, 3}, {5}]),
    (range(8), 3, [{0, 1, 2}, {3, 4, 5}, {6, 7}]),
    (range(4), 1, None),  # one worker takes every CPU
    (range(1), 2, None),  # fewer CPUs than workers: not pinned
])
def test_worker_cpu_shares(cpus, workers, expected):
    from cctv.up import worker_cpu_shares

    assert worker_cpu_shares(list(cpus), workers) == expected


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_a_pinned_worker_plans_lanes_for_its_own_cpus(tmp_path):
    """``cctv up`` starts each of several workers on its share of the CPUs (``spawn``); the worker
    then counts only those: one CPU, one single-threaded lane."""
    from cctv.up import spawn

    cpu, report = min(os.sched_getaffinity(0)), tmp_path / "report.json"
    code = ("import json, os, sys; from workers.service import plan_lanes, usable_cpus; "
            "open(sys.argv[1], 'w').write(json.dumps([sorted(os.sched_getaffinity(0)), "
            "plan_lanes(None, None, False, usable_cpus())]))")
    assert spawn([sys.executable, "-c", code, str(report)], dict(os.environ), {cpu}).wait(timeout=60) == 0
    assert json.loads(report.read_text()) == [[cpu], [1, 1]]


def test_tracker_process_tracks_then_stops_cleanly_on_sigterm(redis_url):
    import redis

    from common.keys import KEYS
    from common.messages import DetectedObject, DetectionMessage

    client = redis.Redis.from_url(redis_url)
    for seq in range(5):
        box = (10.0 + 4 * seq, 10.0, 50.0 + 4 * seq, 90.0)
        msg = DetectionMessage("door", f"{1000 + seq}-0", seq, 1.0 + seq, 2.0, "w", 160, 120,
                               [DetectedObject("person", 1, 0.9, box)])
        client.xadd(KEYS.detections("door"), msg.to_fields())
    client.sadd(KEYS.camera_names, "door")
    env = dict(os.environ, REDIS_URL=redis_url, CCTV_TRACKER_POLL_S="0.1")
    proc = subprocess.Popen([sys.executable, "-m", "cctv", "tracker", "--tracker-id", "t1"],
                            env=env, stdin=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if client.hget(KEYS.tracker_state("door"), "frame_id") == b"1004-0":
                break
            time.sleep(0.1)
        assert client.get(KEYS.tracker_lock("door")) == b"t1"
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0 and not client.exists(KEYS.tracker_lock("door"))
    status = json.loads(cctv(redis_url, "status", "--json").stdout)["cameras"]["door"]
    assert status["tracking"] == {"unique": {"person": 1}, "in_view": {"person": 1}, "lines": {},
                                  "zones": {}, "dwell": {}}
    assert status["detections_total"] == {"person": 5}  # counted by the tracker
    assert "tracked: unique person=1" in cctv(redis_url, "status").stdout


def test_help_prints_no_rst_markup():
    from cctv.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for text in [parser.format_help(), *(p.format_help() for p in commands.choices.values())]:
        assert "``" not in text and ":mod:" not in text and ":func:" not in text
