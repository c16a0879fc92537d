"""The bundled bikes.mp4 through the real ingest, the real worker with the ssdlite-person
detector, and the tracker: ids behave as on real footage."""

import threading
from itertools import groupby

import pytest
from running import run_until
from tracking_scene import tracked_frame_id, tracker_settings

from common.cameras import CameraConfig
from common.counting_rules import LineConfig, ZoneConfig
from common.keys import KEYS
from common.messages import DetectionMessage
from common.tracks import TrackMessage
from ingest.camera import CameraRunner
from ingest.settings import IngestSettings
from runtime.camera_list import store_camera
from runtime.status import collect_status
from tracking.service import Tracker
from workers.service import Worker
from workers.settings import WorkerSettings


@pytest.fixture(scope="module")
def detector():
    from detector import load_detector

    return load_detector("ssdlite-person", num_threads=1)


def longest_run(frames_with_id: list[int]) -> int:
    """Longest stretch of consecutive frame numbers."""
    return max(len(list(g)) for _, g in groupby(enumerate(frames_with_id), lambda p: p[1] - p[0]))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bikes_video_tracks(redis_client, redis_url, sample_video, detector):
    camera = CameraConfig(name="cam", url=str(sample_video),
                          lines=[LineConfig(name="middle", points=[(0.5, 0.0), (0.5, 1.0)])],
                          zones=[ZoneConfig(name="left", points=[(0, 0), (0.5, 0), (0.5, 1),
                                                                 (0, 1)])])
    store_camera(redis_client, KEYS, camera)
    runner = CameraRunner(redis_client, KEYS, camera, str(sample_video),
                          IngestSettings(redis_url=redis_url, stream_maxlen=1000),
                          threading.Event(), "file")
    assert runner.run() == "finished"
    frames = redis_client.xlen(KEYS.frames("cam"))
    stop = threading.Event()
    worker = threading.Thread(target=Worker(redis_client, WorkerSettings(
        redis_url=redis_url, batch_size=4), detector).run, args=(stop,))
    worker.start()
    try:  # the tracker follows the detections stream while the worker fills it
        last = redis_client.xrevrange(KEYS.frames("cam"), count=1)[0][0].decode()
        run_until(Tracker(redis_client, tracker_settings(redis_url)),
                          lambda: tracked_frame_id(redis_client) == last, timeout=240)
    finally:
        stop.set()
        worker.join(60)

    detections = {m.frame_id: m for m in (DetectionMessage.from_fields(f) for _, f in
                                          redis_client.xrange(KEYS.detections("cam")))}
    tracked = [TrackMessage.from_fields(f) for _, f in redis_client.xrange(KEYS.tracks("cam"))]
    assert len(tracked) == len(detections) == frames == 250
    assert [m.seq for m in tracked] == list(range(frames))  # capture order, none skipped
    people = sum(m.counts.get("person", 0) for m in detections.values())
    ids = sorted({t.track_id for m in tracked for t in m.tracks})
    assert people >= 40 and ids == list(range(1, len(ids) + 1))
    assert len(ids) * 3 <= people  # unique persons well below the boxes drawn
    for m in tracked:  # every tracked box is one of its frame's detections
        boxes = {o.box for o in detections[m.frame_id].objects}
        assert {t.box for t in m.tracks} <= boxes
    runs = {i: longest_run([m.seq for m in tracked if i in {t.track_id for t in m.tracks}])
            for i in ids}
    assert max(runs.values()) >= 20  # the cyclist in frames ~100-135 keeps one id

    status = collect_status(redis_client, KEYS).to_dict()["cameras"]["cam"]["tracking"]
    assert status["unique"] == {"person": len(ids)}
    crossings = [c for m in tracked for c in m.crossings]
    line = status["lines"]["middle"]
    assert sum(line["in"].values()) + sum(line["out"].values()) == len(crossings)
    assert status["zones"]["left"] == tracked[-1].zones["left"]
