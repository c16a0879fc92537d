"""The synthetic scene through the real ingest, the real worker loop (a colour detector stands in
for the network) and the tracker: the counts are exact."""

import threading

import cv2
import numpy as np
from running import run_until
from tracking_scene import (
    BGR,
    EXPECTED,
    EXPECTED_PEAK,
    FRAMES,
    LABELS,
    scene_camera,
    tracked_frame_id,
    tracker_settings,
)

from common.keys import KEYS
from common.messages import DetectedObject
from common.tracks import TrackMessage
from ingest.camera import CameraRunner
from ingest.settings import IngestSettings
from runtime.camera_list import store_camera
from runtime.status import collect_status
from tracking.service import Tracker
from workers.service import Worker
from workers.settings import WorkerSettings


class ColourDetector:
    """Finds the scene's saturated squares by colour (what DetectorLike asks: one list per
    frame of objects with label, class_id, score, box)."""

    def detect(self, frames):
        return [self._one(frame) for frame in frames]

    @staticmethod
    def _one(frame: np.ndarray) -> list[DetectedObject]:
        found = []
        for colour, bgr in BGR.items():
            lower = np.array([150 if v else 0 for v in bgr], np.uint8)
            upper = np.array([255 if v else 90 for v in bgr], np.uint8)
            mask = cv2.inRange(frame, lower, upper)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            for contour in contours:
                x, y, w, h = cv2.boundingRect(contour)
                if w * h >= 100:
                    found.append(DetectedObject(*LABELS[colour], 0.9, (x, y, x + w, y + h)))
        return found


def test_synthetic_video_counts_are_exact(redis_client, redis_url, scene_video):
    camera = scene_camera(url=str(scene_video))
    store_camera(redis_client, KEYS, camera)
    runner = CameraRunner(redis_client, KEYS, camera, str(scene_video),
                          IngestSettings(redis_url=redis_url, stream_maxlen=1000),
                          threading.Event(), "file")
    assert runner.run() == "finished"
    worker = Worker(redis_client, WorkerSettings(redis_url=redis_url, batch_size=4),
                    ColourDetector())
    run_until(worker, lambda: redis_client.xlen(KEYS.detections("cam")) == FRAMES)
    last_frame = redis_client.xrevrange(KEYS.frames("cam"), count=1)[0][0].decode()

    run_until(Tracker(redis_client, tracker_settings(redis_url)),
                      lambda: tracked_frame_id(redis_client) == last_frame)

    status = collect_status(redis_client, KEYS).to_dict()["cameras"]["cam"]
    assert {k: status["tracking"][k] for k in EXPECTED} == EXPECTED
    assert status["detections_total"] == {"car": FRAMES, "person": 4 * FRAMES}
    assert status["tracking"]["in_view"] == {"car": 1, "person": 4}  # the last frame
    # E's stay on the bench ended; D's goes on
    assert status["tracking"]["dwell"]["bench"]["person"]["objects"] == 1
    stats = {k.decode(): int(v) for k, v in redis_client.hgetall(KEYS.track_stats("cam")).items()}
    assert stats["frames_tracked"] == FRAMES and "bad_entries" not in stats
    messages = [TrackMessage.from_fields(f) for _, f in redis_client.xrange(KEYS.tracks("cam"))]
    assert [m.seq for m in messages] == list(range(FRAMES))
    assert {t.track_id for m in messages for t in m.tracks} == {1, 2, 3, 4, 5}
    crossings = [(c.line, c.direction, c.label) for m in messages for c in m.crossings]
    assert sorted(crossings) == sorted([("door", "in", "person"), ("door", "out", "person"),
                                        ("door", "in", "car"), ("door", "out", "car"),
                                        ("door", "in", "car")])
    assert max(m.zones["bench"].get("person", 0) for m in messages) == 2

    minutes = sorted({int(m.ts // 60) for m in messages})
    buckets = [{k.decode(): int(v) for k, v in redis_client.hgetall(
        KEYS.track_minute("cam", minute)).items()} for minute in minutes]
    assert sum(b["_frames"] for b in buckets) == FRAMES
    for name in ("in:door:car", "out:door:car", "in:door:person", "out:door:person"):
        assert sum(b.get(name, 0) for b in buckets) == stats[name]
    assert max(b.get("peak:bench:person", 0) for b in buckets) == EXPECTED_PEAK["bench:person"]
    for minute, bucket in zip(minutes, buckets):
        seen = {s.decode() for s in redis_client.smembers(KEYS.track_seen("cam", minute))}
        in_minute = {f"{t.track_id}:{t.label}" for m in messages if int(m.ts // 60) == minute
                     for t in m.tracks}
        assert seen == in_minute
        for label in ("person", "car"):
            assert bucket.get(f"unique:{label}", 0) == sum(s.endswith(f":{label}") for s in seen)
