"""No pickle on any path that carries frames, detections or jobs.

Statically: no module of ours imports pickle (or a relative of it). Dynamically: after the real
pipeline ran (ingest, a worker with the real detector, a dead letter, a replay job enqueued on
RQ), no value anywhere in Redis and no pub/sub message parses as a pickle.
"""

from __future__ import annotations

import ast
import json
import pickletools
import threading
import time
import zlib
from pathlib import Path

import pytest

from common.cameras import CameraConfig
from common.keys import KEYS
from ingest.camera import CameraRunner
from ingest.settings import IngestSettings
from workers.service import Worker
from workers.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "ingest", "workers", "dashboard", "cctv")
PICKLERS = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "shelve", "marshal", "joblib"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_of_ours_imports_pickle():
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    assert len(files) > 20
    offenders = {str(p.relative_to(ROOT)): sorted(imported_modules(p) & PICKLERS)
                 for p in files if imported_modules(p) & PICKLERS}
    assert offenders == {}


def parses_as_pickle(value: bytes) -> bool:
    """True when ``value`` is a complete pickle (any protocol); nothing is unpickled."""
    try:
        ops = list(pickletools.genops(value))
    except Exception:  # noqa: BLE001 (any malformed opcode stream)
        return False
    return bool(ops) and ops[-1][0].name == "STOP" and ops[-1][2] == len(value) - 1


def test_pickle_check_recognises_pickles_and_only_them():
    import pickle  # the test's own reference point, not on any path of ours

    assert parses_as_pickle(pickle.dumps({"frame": b"x"}, protocol=0))
    assert parses_as_pickle(pickle.dumps([1.5, "a"], protocol=5))
    assert not parses_as_pickle(b'{"camera": "cam"}')
    assert not parses_as_pickle(b"\xff\xd8\xff\xe0 jpeg")


@pytest.fixture(scope="module")
def detector():
    from detector import load_detector

    return load_detector("ssdlite-person", num_threads=1)


def test_no_value_in_redis_or_on_pub_sub_is_a_pickle(redis_client, redis_url, small_video,
                                                      detector, dump_redis):
    from replay.queue import enqueue

    pubsub = redis_client.pubsub()
    pubsub.psubscribe(KEYS.live_pattern)
    cam = CameraConfig(name="cam", url=str(small_video))
    settings = IngestSettings(redis_url=redis_url, stream_maxlen=1000)
    assert CameraRunner(redis_client, KEYS, cam, cam.url, settings, threading.Event()).run() \
        == "finished"
    redis_client.xadd(KEYS.frames("cam"), {"v": "1", "camera": "cam", "jpeg": b"garbage"})
    job = enqueue(redis_client, str(small_video), "replayed", None, False, 60)
    worker = Worker(redis_client, WorkerSettings(redis_url=redis_url, batch_size=8,
                                                 heartbeat_s=0.2), detector)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    live = []
    deadline = time.monotonic() + 60
    try:
        while len(live) < 40 and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
            if message and message["type"] == "pmessage":
                live.append(message["data"])
        while not redis_client.exists(KEYS.worker(worker.id)) and time.monotonic() < deadline:
            time.sleep(0.05)
        values = dump_redis(redis_client)  # with the heartbeat hash still there
    finally:
        stop.set()
        thread.join(30)
        pubsub.close()
    assert len(live) == 40 and all(json.loads(m)["camera"] == "cam" for m in live)
    assert redis_client.xlen(KEYS.detections("cam")) == 40
    assert redis_client.xlen(KEYS.dead_letter) == 1
    job_data = redis_client.hget(f"rq:job:{job.id}", "data")
    assert json.loads(zlib.decompress(job_data))[0] == "replay.job.replay_file"
    values += [zlib.decompress(job_data)]
    assert len(values) > 200
    pickles = [v[:60] for v in values + live if parses_as_pickle(v)]
    assert pickles == []
