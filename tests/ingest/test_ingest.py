import threading
import time

import pytest

from common.cameras import CameraConfig, WebhookConfig
from common.counting_rules import LineConfig
from common.keys import GROUP, KEYS
from ingest.camera import CameraRunner, read_state
from ingest.capture import FpsFilter
from ingest.publisher import StreamPublisher
from ingest.service import IngestService
from ingest.settings import IngestSettings
from ingest.sources import Frame
from runtime.camera_list import store_camera


def wait_for(predicate, timeout=20.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def fields(i):
    return {"v": "1", "seq": str(i), "jpeg": b"\xff\xd8" + bytes(10_000)}


def test_live_cap_bounds_memory_and_counts_drops(redis_client):
    pub = StreamPublisher(redis_client, KEYS, "cam", maxlen=20)
    before = redis_client.info("memory")["used_memory"]
    delivered = 0
    dropped = 0
    for i in range(400):
        dropped += pub.publish(fields(i))[1]
        if i == 150:  # a worker takes a few frames once, then stops
            got = redis_client.xreadgroup(GROUP, "w", {KEYS.frames("cam"): ">"}, count=5)
            delivered = len(got[0][1])
    length = redis_client.xlen(KEYS.frames("cam"))
    assert length <= 20 + 100  # MAXLEN ~ trims whole nodes of up to 100 entries
    assert dropped == 400 - length - delivered
    assert redis_client.info("memory")["used_memory"] - before < 120 * 10_000 * 2


def test_a_file_frame_added_twice_is_one_entry(redis_client):
    """The retry of an add whose reply was lost (Redis stopped, then ran what it had read) keeps
    the frame's id: the second add is a no-op, and the frame is known as added."""
    pub = StreamPublisher(redis_client, KEYS, "cam", maxlen=20)
    entry_id = pub.new_id()
    assert pub.publish(fields(0), True, entry_id) == (entry_id, 0)
    again = StreamPublisher(redis_client, KEYS, "cam", maxlen=20)  # its reply was lost
    assert not again.landed(again.new_id())
    assert again.publish(fields(0), True, entry_id) == (entry_id, 0)
    assert redis_client.xlen(KEYS.frames("cam")) == 1
    assert again.new_id() > entry_id


def test_a_file_frame_after_a_clock_step_back_is_added_after_the_newest(redis_client):
    pub = StreamPublisher(redis_client, KEYS, "cam", maxlen=20)
    ahead = f"{int(time.time() * 1000) + 60_000}-0"  # written by a clock a minute ahead
    redis_client.xadd(KEYS.frames("cam"), fields(0), id=ahead)
    added, _ = pub.publish(fields(1), True, pub.new_id())
    assert added > ahead and redis_client.xlen(KEYS.frames("cam")) == 2


def test_file_backpressure_loses_nothing(redis_client, redis_url, small_video):
    settings = IngestSettings(redis_url=redis_url, stream_maxlen=10)
    stop = threading.Event()
    runner = CameraRunner(redis_client, KEYS, CameraConfig(name="f", url=str(small_video)),
                          str(small_video), settings, stop, "file")
    thread = threading.Thread(target=runner.run)
    thread.start()
    seen = []
    stream = KEYS.frames("f")
    deadline = time.monotonic() + 30
    while len(seen) < 40 and time.monotonic() < deadline:
        got = redis_client.xreadgroup(GROUP, "slow", {stream: ">"}, count=3, block=200)
        for _, items in got or []:
            for entry_id, f in items:
                seen.append(int(f[b"seq"]))
                redis_client.xack(stream, GROUP, entry_id)
        time.sleep(0.02)
        assert redis_client.xlen(stream) <= 10 + 100
    thread.join(10)
    assert seen == list(range(40))
    state = read_state(redis_client, KEYS, "f")
    assert state.state == "finished" and state.frames_in == 40 and state.frames_dropped == 0


def test_fps_and_resize(redis_client, redis_url, small_video):
    settings = IngestSettings(redis_url=redis_url, stream_maxlen=100)
    cam = CameraConfig(name="r", url=str(small_video), fps=5, max_width=80)
    CameraRunner(redis_client, KEYS, cam, str(small_video), settings, threading.Event()).run()
    entries = redis_client.xrange(KEYS.frames("r"))
    assert len(entries) == 10  # 2 s of a 20 fps clip at 5 fps
    assert {(e[1][b"width"], e[1][b"height"]) for e in entries} == {(b"80", b"60")}


def run_service(redis_client, settings, seed=()):
    service = IngestService(redis_client, settings, list(seed))
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,))
    thread.start()
    return stop, thread


def test_fps_keeps_the_first_frame_of_each_period_even_after_a_gap():
    """5 fps of 25 fps timestamps: frames 0, 0.2, 0.4, ...; after a gap of a second in the file the
    next frame is kept, and the one after it is not."""
    keep = FpsFilter(5, live=False)
    times = [i * 0.04 for i in range(25)] + [2.0 + i * 0.04 for i in range(25)]
    kept = [t for i, t in enumerate(times) if keep(Frame(None, t * 1000, i))]
    assert kept == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 2.0, 2.2, 2.4, 2.6, 2.8])


def test_cameras_added_and_removed_while_running(redis_client, redis_url, small_video):
    settings = IngestSettings(redis_url=redis_url, camera_poll_s=0.1, stream_maxlen=1000)
    stop, thread = run_service(redis_client, settings,
                               [CameraConfig(name="missing", url="/no/such.mp4")])
    try:
        store_camera(redis_client, KEYS, CameraConfig(name="loop", url=str(small_video),
                                                      loop=True, realtime=True))
        assert wait_for(lambda: redis_client.xlen(KEYS.frames("loop")) >= 5)
        assert read_state(redis_client, KEYS, "missing").error == "no such file: /no/such.mp4"
        redis_client.hdel(KEYS.cameras, "loop")
        assert wait_for(lambda: read_state(redis_client, KEYS, "loop").state == "stopped")
        count = redis_client.xlen(KEYS.frames("loop"))
        time.sleep(0.5)
        assert redis_client.xlen(KEYS.frames("loop")) == count
    finally:
        stop.set()
        thread.join(20)
    assert not thread.is_alive()


def test_a_change_of_lines_or_webhooks_leaves_the_capture_running(redis_client, redis_url,
                                                                small_video):
    settings = IngestSettings(redis_url=redis_url, camera_poll_s=0.1, stream_maxlen=1000)
    cam = CameraConfig(name="loop", url=str(small_video), loop=True, realtime=True)
    stop, thread = run_service(redis_client, settings, [cam])
    try:
        assert wait_for(lambda: redis_client.xlen(KEYS.frames("loop")) >= 3)
        seq = lambda: int(redis_client.xrevrange(KEYS.frames("loop"), count=1)[0][1][b"seq"])  # noqa: E731
        store_camera(redis_client, KEYS, cam.model_copy(update={
            "lines": [LineConfig(name="door", points=[(0.5, 0.0), (0.5, 1.0)])],
            "webhooks": [WebhookConfig(url="http://127.0.0.1:9/hook")]}))
        before = seq()
        assert wait_for(lambda: seq() >= before + 10)  # 0.5 s at 20 fps
        seqs = [int(f[b"seq"]) for _, f in redis_client.xrange(KEYS.frames("loop"))]
        assert seqs == list(range(len(seqs)))  # numbered on: never started again
        store_camera(redis_client, KEYS, cam.model_copy(update={"fps": 5.0}))
        assert wait_for(lambda: seq() < before)  # a capture setting: started again from 0
    finally:
        stop.set()
        thread.join(20)


def test_credentials_never_reach_redis_or_logs(redis_client, redis_url, caplog):
    settings = IngestSettings(redis_url=redis_url, camera_poll_s=0.1, open_timeout_s=1,
                              backoff_initial_s=0.1)
    secret = "rtsp://admin:hunter2@127.0.0.1:9/stream"
    stop, thread = run_service(redis_client, settings, [CameraConfig(name="c", url=secret)])
    try:
        assert wait_for(lambda: getattr(read_state(redis_client, KEYS, "c"), "reconnects", 0) >= 2)
        assert read_state(redis_client, KEYS, "c").state == "offline"
    finally:
        stop.set()
        thread.join(20)
    dump = b"".join(redis_client.dump(k) or b"" for k in redis_client.keys("*"))
    assert b"hunter2" not in dump and "hunter2" not in caplog.text
    assert read_state(redis_client, KEYS, "c").url == "rtsp://***@127.0.0.1:9/stream"


@pytest.mark.parametrize("url", ["rtsp://a:pw@h/x", "http://h/x?token=abc"])
def test_camera_list_refuses_literal_secrets(redis_client, url):
    from common.schema import SettingsError

    with pytest.raises(SettingsError, match=r"\$\{VAR\}"):
        store_camera(redis_client, KEYS, CameraConfig(name="x", url=url))


def test_a_camera_whose_stream_key_has_the_wrong_type_is_left_out(redis_client, redis_url,
                                                                   small_video, caplog):
    redis_client.set(KEYS.frames("bad"), "y")
    settings = IngestSettings(redis_url=redis_url, camera_poll_s=0.1, stream_maxlen=1000)
    stop, thread = run_service(redis_client, settings, [
        CameraConfig(name="bad", url=str(small_video)),
        CameraConfig(name="good", url=str(small_video))])
    try:
        assert wait_for(lambda: (s := read_state(redis_client, KEYS, "good")) is not None
                        and s.state == "finished")
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(10)
    assert caplog.text.count("camera bad: not started") == 1 and "WRONGTYPE" in caplog.text


def test_a_file_cut_short_is_said(redis_client, redis_url, tmp_path, caplog):
    import numpy as np

    from media.video import VideoWriter

    full = tmp_path / "full.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(full, 20.0) as writer:  # moov first (+faststart): a cut file still opens
        for _ in range(100):
            writer.write(rng.integers(0, 255, (120, 160, 3), np.uint8))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[:int(full.stat().st_size * 0.6)])
    settings = IngestSettings(redis_url=redis_url, stream_maxlen=1000)
    runner = CameraRunner(redis_client, KEYS, CameraConfig(name="cut", url=str(cut)), str(cut),
                          settings, threading.Event())
    assert runner.run() == "finished"
    state = read_state(redis_client, KEYS, "cut")
    assert "of its 100 frames: it is cut short or corrupt" in state.error
    assert "cut short" in caplog.text and runner.frames_published < 100


def test_a_full_redis_is_waited_out(redis_client, redis_url, small_video, caplog):
    """Under ``noeviction`` a full Redis refuses writes (OOM): a file's ingest logs it once,
    waits, and finishes once there is room, losing nothing."""
    settings = IngestSettings(redis_url=redis_url, stream_maxlen=1000)
    runner = CameraRunner(redis_client, KEYS, CameraConfig(name="full", url=str(small_video)),
                          str(small_video), settings, threading.Event())
    thread = threading.Thread(target=runner.run)
    redis_client.config_set("maxmemory", 1)  # every write refused
    try:
        thread.start()
        assert wait_for(lambda: "Redis refused a command" in caplog.text)
        assert thread.is_alive()
    finally:
        redis_client.config_set("maxmemory", 0)
    thread.join(30)
    assert redis_client.xlen(KEYS.frames("full")) == 40
    assert read_state(redis_client, KEYS, "full").frames_in == 40
