"""The dashboard page through Streamlit's own AppTest, against a Redis filled by a real run."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from common.keys import KEYS
from common.records import WorkerHeartbeat
from common.tracks import TrackMessage
from media.video import VideoWriter
from replay.queue import fetch, queue
from replay.report import ReplayReport
from runtime.camera_list import list_cameras
from runtime.redis_conn import EmbeddedRedis
from runtime.status import collect_status

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture
def page(monkeypatch):
    """An AppTest of the page for the REDIS_URL the test sets; caches cleared around it."""
    st.cache_resource.clear()
    monkeypatch.delenv("CCTV_DASHBOARD_PASSWORD", raising=False)
    monkeypatch.setenv("CCTV_DASHBOARD_STALE_S", "3600")  # the run's frames count as fresh
    yield lambda: AppTest.from_file(APP, default_timeout=60)
    st.cache_resource.clear()


def show(at: AppTest, view: str) -> AppTest:
    at.sidebar.radio(key="view").set_value(view)
    return at.run()


def metrics(at: AppTest) -> dict[str, int]:
    return {m.label: int(m.value) for m in at.metric}


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("info", "warning", "error", "success", "caption", "markdown")
             for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def write_recording(folder: Path, name: str) -> None:
    """The three files a replay of 10 frames leaves (what replay.recorder writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    with VideoWriter(folder / f"{name}.mp4", 10.0) as writer:
        for i in range(10):
            writer.write(np.full((64, 96, 3), 20 * i, np.uint8))
    (folder / f"{name}.csv").write_text("second,label,detections,tracked\n0,person,7,2\n")
    report = ReplayReport(camera=name, source="/media/lobby.mp4", frames=10, frames_processed=10,
                          fps=10.0, duration_s=1.0, started=1_800_000_000, processing_s=2.5,
                          detections={"person": 7}, tracked=True, unique={"person": 2},
                          models=["ssdlite-person"])
    (folder / f"{name}.json").write_text(report.to_json())


def last_tracked(client, camera="bikes") -> TrackMessage:
    return TrackMessage.from_fields(client.xrevrange(KEYS.tracks(camera), count=1)[0][1])


def test_live_plays_every_camera_and_counts_what_is_in_view_now(pipeline, page, monkeypatch):
    monkeypatch.setenv("REDIS_URL", pipeline["url"])
    at = page().run()
    assert not at.exception
    assert at.header[0].value == "Live"
    players = [h.proto.body for h in at.get("html")]
    assert len(players) == 1 and 'data-cctv-src="/cameras.mjpg?names=bikes&amp;min_score=0.5"' \
        in players[0] and 'data-cctv-camera="bikes"' in players[0] and "cctvPlayer" in players[0]
    # The clip is over: nothing of a finished camera is in view now, though its tile stays.
    assert at.caption[0].value.startswith("bikes · finished · ")
    assert "nothing in view now" in at.caption[0].value and metrics(at)["person now"] == 0
    latest = last_tracked(pipeline["client"])  # the tracker is up to date: its objects count
    persons = sum(1 for o in latest.tracks if o.label == "person" and o.score >= 0.5)
    assert persons > 0, "the clip ends with pedestrians in view"
    state = pipeline["client"].hget(KEYS.state("bikes"), "state")
    pipeline["client"].hset(KEYS.state("bikes"), "state", "online")  # as if it still ran
    try:
        at.run()
        assert metrics(at)["person now"] == persons
        assert f"person {persons}" in at.caption[0].value
        # The class filter and minimum score decide what is drawn (the stream's view) and counted.
        at.sidebar.slider(key="min_score").set_value(1.0).run()
        assert metrics(at)["person now"] == 0
        assert "min_score=1" in at.get("html")[0].proto.body
    finally:
        pipeline["client"].hset(KEYS.state("bikes"), "state", state)


def test_health_shows_the_camera_and_that_no_worker_is_alive(pipeline, page, monkeypatch):
    monkeypatch.setenv("REDIS_URL", pipeline["url"])
    at = show(page().run(), "Health")
    assert not at.exception
    cameras = at.dataframe[0].value
    row = cameras.set_index("camera").loc["bikes"]
    assert row["state"] == "finished"
    assert row["frames in"] == row["processed"] == pipeline["frames"] == 40
    assert row["dropped"] == 0 and row["pending"] == 0
    assert metrics(at)["live workers"] == 0
    assert "No live workers" in texts(at)


def test_health_tells_a_live_worker_from_one_that_stopped_beating(redis_url, redis_client, page,
                                                                  monkeypatch):
    for name, age in (("fresh", 0.5), ("silent", 30.0)):  # a killed worker's beat lingers
        beat = WorkerHeartbeat(name, "host", 1, "cpu", time.time() - 60, time.time() - age)
        redis_client.hset(KEYS.worker(name), mapping=beat.to_fields())
        redis_client.expire(KEYS.worker(name), 60)
        redis_client.sadd(KEYS.workers, name)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CCTV_DASHBOARD_STALE_S", "5")
    at = show(page().run(), "Health")
    workers = at.dataframe[0].value.set_index("worker")
    assert workers["state"].to_dict() == {"fresh": "alive", "silent": "stalled"}
    assert metrics(at)["live workers"] == 1 and "No live workers" not in texts(at)


def test_health_shows_when_each_service_last_lost_redis(redis_url, redis_client, page,
                                                        monkeypatch):
    from common.records import RedisLoss
    from runtime.outage import record_loss

    now = time.time()
    record_loss(redis_client, KEYS, RedisLoss("worker-a", now - 60, now - 57.5))
    record_loss(redis_client, KEYS, RedisLoss("tracker-b", now - 20, now - 10))
    monkeypatch.setenv("REDIS_URL", redis_url)
    at = show(page().run(), "Health")
    losses = at.dataframe[-1].value
    assert list(losses["service"]) == ["tracker-b", "worker-a"]  # the newest first
    assert list(losses["outage (s)"]) == [10.0, 2.5]


def test_counts_lead_with_objects_match_status_and_download_as_csv(pipeline, page, monkeypatch):
    monkeypatch.setenv("REDIS_URL", pipeline["url"])
    at = show(page().run(), "Counts")
    assert not at.exception
    tracking = at.dataframe[0].value
    status = collect_status(pipeline["client"], KEYS).cameras["bikes"]
    unique = tracking[tracking["kind"] == "unique objects"].set_index("label")["count"].to_dict()
    assert unique == status.tracking.unique and unique["person"] > 0
    totals = at.dataframe[-1].value.set_index("camera")  # detail: detections summed over frames
    assert totals.loc["bikes", "person"] == status.detections_total["person"] > 0
    zone = tracking[tracking["kind"] == "in zone now"]
    assert set(zone["name"]) <= {"right"}
    assert len(at.get("arrow_line_chart") or at.get("vega_lite_chart")) >= 1
    assert len(at.get("download_button")) >= 1


def test_cameras_can_be_added_and_removed_from_the_page(redis_url, redis_client, page,
                                                        monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    at = page().run()
    assert "No cameras yet" in texts(at)
    at = show(at, "Cameras")
    at.text_input[0].set_value("door")
    at.text_input[1].set_value("rtsp://cam.local/stream1")
    at.number_input[0].set_value(5.0)
    at.button[0].click().run()
    assert not at.exception
    assert list_cameras(redis_client, KEYS)["door"].fps == 5.0
    assert "saved" in texts(at)
    # A literal password in the URL is refused with the reason, nothing stored.
    at.text_input[0].set_value("gate")
    at.text_input[1].set_value("rtsp://admin:hunter2@cam.local/s")
    at.button[0].click().run()
    assert "credentials" in texts(at) and "gate" not in list_cameras(redis_client, KEYS)
    remove = [s for s in at.selectbox if s.label == "Camera"][0]
    remove.set_value("door")
    at.button[1].click().run()
    assert list_cameras(redis_client, KEYS) == {}


def test_replay_enqueues_an_rq_job_for_a_file_on_the_server(redis_url, redis_client, page,
                                                            monkeypatch, media_dir, tmp_path):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CCTV_DASHBOARD_MEDIA_DIR", str(media_dir))
    monkeypatch.setenv("CCTV_REPLAY_DIR", str(tmp_path / "replays"))
    at = show(page().run(), "Replay")
    assert [s for s in at.selectbox if s.label.startswith("Video in")][0].value.name == "clip.mp4"
    at.text_input[0].set_value("lobby-replay")
    at.button[0].click().run()
    assert not at.exception
    job_ids = queue(redis_client).job_ids
    assert len(job_ids) == 1
    job = fetch(redis_client, job_ids[0])
    assert job.args == [str(media_dir / "clip.mp4"), "lobby-replay", None, False,
                        str((tmp_path / "replays").resolve())]  # recorded into CCTV_REPLAY_DIR
    jobs = at.dataframe[-1].value
    assert list(jobs["id"]) == job_ids and list(jobs["status"]) == ["queued"]
    assert "No finished recordings" in texts(at)


def test_replay_lists_a_finished_recording_with_its_video_chart_and_files(
        redis_url, page, monkeypatch, tmp_path):
    folder = tmp_path / "replays"
    write_recording(folder, "lobby")
    (folder / "half.json").write_text("{}")  # a report without its video is not listed
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CCTV_REPLAY_DIR", str(folder))
    at = show(page().run(), "Replay")
    assert not at.exception
    [recording] = [s for s in at.selectbox if s.label == "Recording"]
    assert recording.options == [recording.value.video.stem + " · camera lobby · "
                                 + time.strftime("%Y-%m-%d %H:%M", time.localtime(1_800_000_000))]
    assert at.get("video")
    assert {m.label: m.value for m in at.metric} == {
        "frames": "10", "seconds": "1.0", "detections": "7", "tracked objects": "2"}
    assert at.get("arrow_bar_chart") or at.get("vega_lite_chart")
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download lobby.mp4", "Download lobby.csv", "Download lobby.json"]


def test_a_redis_that_goes_away_shows_a_banner_and_the_page_recovers(tmp_path, page,
                                                                    monkeypatch):
    server = EmbeddedRedis(tmp_path, unix_socket=tmp_path / "redis.sock")
    monkeypatch.setenv("REDIS_URL", server.url)
    at = page().run()
    assert not at.exception
    assert "Redis is unreachable" in texts(at)
    server.start()
    try:
        at.run()
        assert "Redis is unreachable" not in texts(at)
        assert "No cameras yet" in texts(at)
    finally:
        server.stop()


@pytest.mark.parametrize("view", ["Events", "Replay"])
def test_a_redis_outage_is_one_log_line_not_a_traceback(view, tmp_path, page, monkeypatch,
                                                        caplog):
    server = EmbeddedRedis(tmp_path, unix_socket=tmp_path / "redis.sock")
    server.start()
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv("CCTV_REPLAY_DIR", str(tmp_path / "replays"))
    at = show(page().run(), view)
    server.stop()
    with caplog.at_level("INFO", logger="cctv.dashboard"):
        for _ in range(3):
            at.run()
            assert not at.exception and "Redis is unreachable" in texts(at)
        server.start()
        try:
            at.run()
        finally:
            server.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "cctv.dashboard"]
    assert len(lines) == 2 and lines[0].startswith("Redis is unreachable") \
        and lines[1] == "Redis is back", lines
    assert not any(r.exc_info for r in caplog.records)

def test_a_password_is_asked_when_configured(redis_url, page, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CCTV_DASHBOARD_PASSWORD", "correct-horse")
    at = page().run()
    assert not at.sidebar.radio and "No cameras yet" not in texts(at)
    at.text_input[0].set_value("wrong-password")
    at.button[0].click().run()
    assert "Wrong password" in texts(at) and not at.sidebar.radio
    at.text_input[0].set_value("correct-horse")
    at.button[0].click().run()
    assert at.sidebar.radio and "No cameras yet" in texts(at)
