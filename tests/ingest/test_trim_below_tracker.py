"""A file's frames are trimmed only below what every reader still needs: the workers and, while
a tracker holds the camera's lock, the last frame it tracked and the oldest one its events'
snapshots still read (``frames_needed_from`` in its state)."""

import threading

import pytest

from common.keys import GROUP, KEYS
from common.records import FRAMES_NEEDED_FIELD
from ingest.publisher import StreamPublisher

MAXLEN = 10
FRAMES = 120


def frame(i: int) -> dict:
    return {"v": "1", "seq": str(i), "jpeg": b"\xff\xd8" + bytes(10_000)}


def publish_file(client, tracker=None) -> list[str]:
    """Publish a file's frames as ingest does, a worker acknowledging each at once; ``tracker``
    (the ids so far -> the tracker's state fields) plays the tracker as it goes."""
    pub = StreamPublisher(client, KEYS, "cam", maxlen=MAXLEN)
    stream, ids = KEYS.frames("cam"), []
    for i in range(FRAMES):
        assert pub.wait_for_room(threading.Event())
        ids.append(pub.publish(frame(i), True, pub.new_id())[0])
        for _, entries in client.xreadgroup(GROUP, "w", {stream: ">"}) or []:
            client.xack(stream, GROUP, *[entry_id for entry_id, _ in entries])
        if tracker:
            client.hset(KEYS.tracker_state("cam"), mapping=tracker(ids))
    return ids


def first_kept(client, ids: list[str]) -> int:
    return ids.index(client.xrange(KEYS.frames("cam"), count=1)[0][0].decode())


def test_without_a_tracker_the_workers_alone_bound_the_trim(redis_client):
    ids = publish_file(redis_client)
    assert first_kept(redis_client, ids) >= FRAMES - MAXLEN - 2


def test_a_tracker_behind_the_workers_keeps_what_it_still_reads(redis_client):
    redis_client.set(KEYS.tracker_lock("cam"), "t1", px=60_000)
    ids = publish_file(redis_client, lambda ids: {
        "frame_id": ids[max(0, len(ids) - 40)],
        FRAMES_NEEDED_FIELD: ids[max(0, len(ids) - 50)]})
    assert first_kept(redis_client, ids) == FRAMES - 1 - 50  # the bound as of the last add


@pytest.mark.parametrize("needed", [{}, {FRAMES_NEEDED_FIELD: "not-an-id"}])
def test_a_tracker_without_media_needs_is_bounded_by_what_it_tracked(redis_client, needed):
    redis_client.set(KEYS.tracker_lock("cam"), "t1", px=60_000)
    ids = publish_file(redis_client,
                       lambda ids: {"frame_id": ids[max(0, len(ids) - 30)], **needed})
    assert first_kept(redis_client, ids) == FRAMES - 1 - 30


def test_a_tracker_that_tracked_nothing_yet_keeps_every_frame(redis_client):
    redis_client.set(KEYS.tracker_lock("cam"), "t1", px=60_000)
    ids = publish_file(redis_client)
    assert first_kept(redis_client, ids) == 0 and redis_client.xlen(KEYS.frames("cam")) == FRAMES
