import json

import numpy as np

from common.messages import DetectedObject
from tracking.bytetrack import ByteTrack


def box(x: float, y: float, size: float = 40) -> tuple[float, float, float, float]:
    return (x, y, x + size, y + size * 2)


def person(x, y, score=0.9):
    return DetectedObject("person", 1, score, box(x, y))


def ids_by_row(tracks):
    """Track id of each output box, keyed by its y1."""
    return {round(t.box[1]): t.track_id for t in tracks}


def test_two_people_crossing_paths_keep_their_ids():
    tracker = ByteTrack()
    first = second = None
    for frame in range(40):
        left, right = 20 + 6 * frame, 260 - 6 * frame  # they pass each other near frame 20
        tracks = tracker.update([person(left, 100), person(right, 112)])
        ids = ids_by_row(tracks)
        assert len(ids) == 2
        if first is None:
            first, second = ids[100], ids[112]
        assert (ids[100], ids[112]) == (first, second), frame
    assert tracker.next_id == 3


def test_person_and_car_on_the_same_spot_never_swap():
    tracker = ByteTrack()
    seen = set()
    for frame in range(30):
        x = 20 + 8 * frame
        tracks = tracker.update([person(x, 100), DetectedObject("car", 3, 0.9, box(300 - x, 100))])
        seen |= {(t.label, t.track_id) for t in tracks}
    assert seen == {("person", 1), ("car", 2)}


def test_lost_track_found_within_the_buffer_keeps_its_id():
    tracker = ByteTrack(lost_frames=15)
    ids = []
    for frame in range(40):
        hidden = 15 <= frame < 25  # occluded for 10 frames, walking on
        ids += [t.track_id for t in tracker.update([] if hidden else [person(10 + 5 * frame, 50)])]
    assert set(ids) == {1} and len(ids) == 30


def test_track_lost_longer_than_the_buffer_gets_a_new_id():
    tracker = ByteTrack(lost_frames=5)
    ids = []
    for frame in range(40):
        hidden = 15 <= frame < 25
        ids += [t.track_id for t in tracker.update([] if hidden else [person(10 + 5 * frame, 50)])]
    assert ids[:15] == [1] * 15 and set(ids[15:]) == {2}


def test_low_score_detections_only_extend_tracks():
    tracker = ByteTrack(track_threshold=0.5)
    assert tracker.update([person(10, 10, 0.3)]) == []  # too weak to start a track
    tracker = ByteTrack(track_threshold=0.5)
    scores = [0.9, 0.9, 0.3, 0.3, 0.9]
    ids = [[t.track_id for t in tracker.update([person(10 + 3 * f, 10, s)])]
           for f, s in enumerate(scores)]
    assert ids == [[1]] * 5


def test_new_tracks_need_a_second_frame_except_on_the_first():
    tracker = ByteTrack()
    assert [t.track_id for t in tracker.update([person(10, 10)])] == [1]
    assert [t.track_id for t in tracker.update([person(12, 10), person(200, 10)])] == [1]
    assert sorted(t.track_id for t in tracker.update([person(14, 10), person(202, 10)])) == [1, 2]


def test_state_round_trip_continues_exactly():
    rng = np.random.default_rng(0)

    def frame_detections(frame):
        objects = []
        for k in range(5):
            if (frame + k) % 9 == 0:
                continue  # now and then one is missed
            x, y = 20 + k * 60 + 3 * frame, 30 + 20 * k + rng.normal(0, 1.5)
            objects.append(DetectedObject("person" if k % 2 else "car", k % 2 + 1,
                                          float(rng.uniform(0.15, 0.95)), box(x, y)))
        return objects

    frames = [frame_detections(f) for f in range(60)]
    straight = ByteTrack()
    halted = ByteTrack()
    expected = [straight.update(dets) for dets in frames]
    got = [halted.update(dets) for dets in frames[:30]]
    resumed = ByteTrack()
    resumed.load(json.loads(json.dumps(halted.to_dict())))
    got += [resumed.update(dets) for dets in frames[30:]]
    assert got == expected
    assert resumed.to_dict() == straight.to_dict()
    assert len({t.track_id for tracks in expected for t in tracks}) >= 5
