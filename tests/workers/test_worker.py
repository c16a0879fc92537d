import threading

import pytest
from running import run_until

from common.cameras import CameraConfig
from common.counts import FRAMES_PROCESSED, MinuteCounts
from common.keys import GROUP, KEYS
from common.messages import DetectionMessage
from common.records import DeadLetter
from ingest.camera import CameraRunner
from ingest.settings import IngestSettings
from workers.service import Worker, plan_lanes
from workers.settings import WorkerSettings


@pytest.fixture(scope="module")
def detector():
    from detector import load_detector

    return load_detector("ssdlite-person", num_threads=1)


def ingest_file(client, url, video, camera="cam", **options):
    settings = IngestSettings(redis_url=url, stream_maxlen=1000)
    cam = CameraConfig(name=camera, url=str(video), **options)
    runner = CameraRunner(client, KEYS, cam, str(video), settings, threading.Event(), "file")
    assert runner.run() == "finished"
    return [e[0].decode() for e in client.xrange(KEYS.frames(camera))]


def detection_ids(client, camera="cam"):
    return [DetectionMessage.from_fields(f).frame_id
            for _, f in client.xrange(KEYS.detections(camera))]


def processed(client, camera="cam"):
    return int(client.hget(KEYS.stats(camera), "frames_processed") or 0)


@pytest.mark.parametrize("lanes", [1, 3])
def test_file_to_detections_exactly_once_with_garbage(redis_client, redis_url, small_video,
                                                      detector, lanes):
    ids = ingest_file(redis_client, redis_url, small_video)
    bad = redis_client.xadd(KEYS.frames("cam"), {"v": "1", "camera": "cam", "jpeg": b"nope"})
    settings = WorkerSettings(redis_url=redis_url, batch_size=4, heartbeat_s=0.2, lanes=lanes)
    worker = Worker(redis_client, settings, detector)
    beat: dict[bytes, bytes] = {}

    def all_reported() -> bool:
        beat.update(redis_client.hgetall(KEYS.worker(worker.id)))
        return beat.get(b"frames") == b"40" and beat.get(b"dead_letters") == b"1"

    # the heartbeat's counts add up across lanes
    run_until(worker, lambda: processed(redis_client) == 40 and all_reported())
    assert redis_client.xlen(KEYS.dead_letter) == 1
    assert sorted(detection_ids(redis_client)) == sorted(ids)
    letter = DeadLetter.from_fields(redis_client.xrange(KEYS.dead_letter)[0][1])
    assert letter.entry_id == bad.decode() and "not a JPEG" in letter.reason
    assert redis_client.xpending(KEYS.frames("cam"), GROUP)["pending"] == 0
    assert int(redis_client.hget(KEYS.stats("cam"), "dead_letters")) == 1


def test_publishing_is_idempotent(redis_client, redis_url, small_video, detector):
    ingest_file(redis_client, redis_url, small_video, fps=5)
    worker = Worker(redis_client, WorkerSettings(redis_url=redis_url, batch_size=8), detector)
    worker.batcher.refresh_streams()
    batch = worker.batcher.next_batch()
    assert len(batch) == 8
    assert worker.process(batch) == 8
    counts = redis_client.hgetall(KEYS.stats("cam"))
    assert worker.process(batch) == 0  # the same frames again: nothing published or counted
    assert redis_client.hgetall(KEYS.stats("cam")) == counts
    assert len(detection_ids(redis_client)) == 8


def test_dead_consumers_frames_are_reclaimed(redis_client, redis_url, small_video, detector):
    ids = ingest_file(redis_client, redis_url, small_video, fps=5)
    taken = redis_client.xreadgroup(GROUP, "dead", {KEYS.frames("cam"): ">"}, count=6)
    assert len(taken[0][1]) == 6  # read, never acked: the consumer "died"
    settings = WorkerSettings(redis_url=redis_url, batch_size=4, claim_idle_ms=300)
    run_until(Worker(redis_client, settings, detector),
              lambda: processed(redis_client) == len(ids))
    assert sorted(detection_ids(redis_client)) == sorted(ids)
    assert redis_client.xpending(KEYS.frames("cam"), GROUP)["pending"] == 0


def test_a_deleted_stream_is_joined_again_not_a_crash(redis_client, redis_url, small_video, detector):
    """An operator deletes a camera's stream (or its group) under a running worker: the worker
    logs it, joins the stream again, and processes what ingest sends next."""
    ingest_file(redis_client, redis_url, small_video, fps=5)
    worker = Worker(redis_client, WorkerSettings(redis_url=redis_url, batch_size=4, claim_idle_ms=300), detector)
    worker.batcher.refresh_streams()
    assert len(worker.batcher.next_batch()) == 4  # read, not acked: pending
    redis_client.delete(KEYS.frames("cam"))
    assert worker.batcher.next_batch() == []
    assert worker.batcher.reclaim() == []
    redis_client.xgroup_destroy(KEYS.frames("cam"), GROUP)
    assert worker.batcher.reclaim() == []
    assert [g["name"] for g in redis_client.xinfo_groups(KEYS.frames("cam"))] == [GROUP.encode()]
    ids = ingest_file(redis_client, redis_url, small_video, fps=5)
    run_until(worker, lambda: processed(redis_client) >= len(ids))
    assert set(ids) <= set(detection_ids(redis_client))


def test_workers_count_frames_only_and_beat(redis_client, redis_url, sample_video, detector):
    ingest_file(redis_client, redis_url, sample_video, fps=2, max_width=320)
    settings = WorkerSettings(redis_url=redis_url, batch_size=4, heartbeat_s=0.1)
    worker = Worker(redis_client, settings, detector)
    run_until(worker, lambda: processed(redis_client) == 20
              and redis_client.exists(KEYS.worker(worker.id)))
    messages = [DetectionMessage.from_fields(f)
                for _, f in redis_client.xrange(KEYS.detections("cam"))]
    people = sum(m.counts.get("person", 0) for m in messages)
    assert people > 0 and all(o.score >= 0.5 for m in messages for o in m.objects)
    assert redis_client.hgetall(KEYS.stats("cam")) == {FRAMES_PROCESSED.encode(): b"20"}
    minutes = [MinuteCounts.parse(0, redis_client.hgetall(k), {})
               for k in redis_client.keys(KEYS.minute("cam", 0)[:-1] + "*")]
    assert sum(m.frames for m in minutes) == 20  # the tracker counts objects
    assert worker.beat.model == "ssdlite-person"  # the heartbeat names WorkerSettings.detector


@pytest.mark.parametrize("lanes,threads,cuda,cpus,expected", [
    (None, None, False, 2, (2, 1)),   # CPU: one single-threaded lane per core
    (None, None, False, 16, (4, 4)),  # ... at most 4 lanes, then more threads each
    (None, 2, False, 4, (2, 2)),      # threads given: the cores shared out in lanes of that many
    (2, None, False, 8, (2, 4)),      # lanes given: the cores shared out among them
    (3, 1, False, 2, (3, 1)),         # both given: as given
    (None, None, False, 1, (1, 1)),
    (None, None, True, 16, (2, None)),  # CUDA: two lanes, torch's own thread default
])
def test_plan_lanes(lanes, threads, cuda, cpus, expected):
    assert plan_lanes(lanes, threads, cuda, cpus) == expected


@pytest.mark.parametrize("lanes", [1, 2])
def test_a_failing_lane_stops_the_worker_with_its_error(redis_client, redis_url, small_video,
                                                        lanes):
    """Every frame fails and so does a blank one: the device is lost, not the frames poisoned.
    The worker stops with the error and leaves the frames pending (none dead-lettered) for
    another worker."""
    class Broken:
        calls = 0

        def detect(self, frames):
            self.calls += 1
            if self.calls > 1:  # the warm-up passes
                raise RuntimeError("device lost")
            return [[] for _ in frames]

    ingest_file(redis_client, redis_url, small_video)
    worker = Worker(redis_client, WorkerSettings(redis_url=redis_url, lanes=lanes), Broken())
    with pytest.raises(RuntimeError, match="device lost"):
        worker.run(threading.Event())
    assert redis_client.xlen(KEYS.dead_letter) == 0
    assert not redis_client.sismember(KEYS.workers, worker.id)
    assert redis_client.xpending(KEYS.frames("cam"), GROUP)["pending"] > 0  # left for reclaim
