"""Property tests: any junk a Redis client could hand a decoder (nested JSON, huge or NaN numbers,
wrong types, random bytes, in place of any field of a valid entry) decodes or raises
MessageError (SettingsError for a camera), never anything else."""

from typing import Any, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from junk import dumps, fuzz_fields, fuzz_json_fields, json_values, junk, nested

from common.events import Event
from common.fields import MessageError, load_json
from common.messages import DetectedObject, DetectionMessage, FrameMessage
from common.records import CameraState, DeadLetter, RedisLoss, WorkerHeartbeat
from common.schema import SettingsError
from common.tracks import Crossing, Stay, TrackedObject, TrackMessage
from runtime.camera_list import parse_camera_json

FUZZ = settings(max_examples=120, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
"""Fixed examples and no deadline: the file runs in a few seconds, the same way every time."""

def decodes_or_refuses(decode: Callable[[Any], Any], value: Any,
                       refusal: type[Exception] = MessageError) -> None:
    try:
        decode(value)
    except refusal:
        pass


OBJECT = DetectedObject("person", 1, 0.9, (1.0, 2.0, 3.0, 4.0))
FRAME = FrameMessage("c", 1, 1.0, 64, 48, b"\xff\xd8jpeg", motion=[(1, 2, 3, 4)]).to_fields()
DETECTIONS = DetectionMessage("c", "1-0", 3, 1.0, 1.0, "w", 64, 48, [OBJECT]).to_fields()
TRACKS = TrackMessage("c", "5-0", 4, 10.0, 640, 480, [TrackedObject(7, "person", 1, 0.9,
                                                                   (1.0, 2.0, 3.0, 4.0))],
                      [Crossing("door", "in", "person", 7)], {"z": {"person": 1}},
                      {"person": 1}, [Stay("z", "person", 7, 2.5)]).to_fields()
DEAD_LETTER = DeadLetter("c", "1-0", "why", "w", 3.0).to_fields()
STATE = CameraState("online", "rtsp://h/x", 5.0, 12.5, 10, 2, 1, "", 13.0).to_fields()
BEAT = WorkerHeartbeat("w", "h", 1, "cpu", 1.0, 2.0, 3, 4.0, 5.0, 6.0, 7, "m").to_fields()


@FUZZ
@given(st.one_of(junk, nested))
def test_load_json(raw):
    decodes_or_refuses(lambda r: load_json(r, what="x"), raw)


@FUZZ
@given(st.one_of(fuzz_fields(FRAME), fuzz_json_fields(FRAME, ["motion"])))
def test_frame_fields(fields):
    decodes_or_refuses(FrameMessage.from_fields, fields)


@FUZZ
@given(st.one_of(fuzz_fields(DETECTIONS), fuzz_json_fields(DETECTIONS, ["detections"])))
def test_detection_fields(fields):
    decodes_or_refuses(DetectionMessage.from_fields, fields)


@FUZZ
@given(st.one_of(fuzz_fields(TRACKS), fuzz_json_fields(TRACKS, [
    "tracks", "crossings", "zones", "counts", "stays"])))
def test_track_fields(fields):
    decodes_or_refuses(TrackMessage.from_fields, fields)


@FUZZ
@given(st.one_of(junk, st.dictionaries(st.sampled_from(sorted(TRACKS)), json_values)
                 .map(dumps)))
def test_payloads(payload):
    decodes_or_refuses(DetectionMessage.from_json, payload)
    decodes_or_refuses(TrackMessage.from_json, payload)
    decodes_or_refuses(lambda p: RedisLoss.from_json("w", p), payload)


@FUZZ
@given(st.one_of(json_values, st.fixed_dictionaries(
    {}, optional={k: json_values for k in ("id", "label", "class_id", "score", "box", "line",
                                           "direction", "zone", "s")})))
def test_objects(data):
    for decode in (DetectedObject.from_dict, TrackedObject.from_dict, Crossing.from_dict,
                   Stay.from_dict):
        decodes_or_refuses(decode, data)


@FUZZ
@given(fuzz_fields(DEAD_LETTER), fuzz_fields(STATE), fuzz_fields(BEAT))
def test_records(letter, state, beat):
    decodes_or_refuses(DeadLetter.from_fields, letter)
    decodes_or_refuses(CameraState.from_fields, state)
    decodes_or_refuses(WorkerHeartbeat.from_fields, beat)


@FUZZ
@given(st.one_of(junk, st.dictionaries(st.sampled_from(["id", "camera", "label", "start_ts",
                                                        "lines", "path", "zones"]),
                                       json_values).map(dumps)))
def test_event_records(raw):
    decodes_or_refuses(Event.from_json, raw)


@FUZZ
@given(st.one_of(junk, st.dictionaries(st.sampled_from(["name", "url", "fps", "zones", "lines",
                                                        "counting", "motion"]),
                                       json_values).map(dumps)))
def test_camera_json(raw):
    decodes_or_refuses(lambda r: parse_camera_json(r, "cam"), raw, SettingsError)
