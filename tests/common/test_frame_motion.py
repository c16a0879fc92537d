"""The frame fields of motion gating (``motion``, ``detect``) and a detection's ``carried``."""

import pytest

from common.messages import DetectedObject, DetectionMessage, FrameMessage, MessageError

JPEG = b"\xff\xd8jpeg"


def test_motion_fields_roundtrip_and_stay_absent_when_off():
    plain = FrameMessage("c", 1, 2.0, 64, 48, JPEG)
    assert "motion" not in plain.to_fields() and "detect" not in plain.to_fields()
    assert FrameMessage.from_fields(plain.to_fields()) == plain
    still = FrameMessage("c", 1, 2.0, 64, 48, JPEG, motion=[], detect=False)
    moving = FrameMessage("c", 2, 2.2, 64, 48, JPEG, motion=[(1, 2, 30, 40)])
    for msg in (still, moving):
        fields = {k.encode(): v if isinstance(v, bytes) else v.encode()
                  for k, v in msg.to_fields().items()}
        assert FrameMessage.from_fields(fields) == msg


@pytest.mark.parametrize("motion", ["{}", "[[1, 2, 3]]", "[[1, 2, 3, \"x\"]]", "nope"])
def test_bad_motion_is_refused(motion):
    fields = {**FrameMessage("c", 1, 2.0, 64, 48, JPEG).to_fields(), "motion": motion}
    with pytest.raises(MessageError, match="motion"):
        FrameMessage.from_fields(fields)


def test_carried_roundtrips_through_fields_and_json():
    msg = DetectionMessage("c", "1-0", 3, 2.0, 2.5, "w", 64, 48,
                           [DetectedObject("person", 1, 0.9, (1.0, 2.0, 3.0, 4.0))], carried=True)
    assert msg.to_fields()["carried"] == "1"
    assert DetectionMessage.from_fields(msg.to_fields()) == msg
    assert DetectionMessage.from_json(msg.to_json()) == msg
    fresh = DetectionMessage("c", "1-0", 3, 2.0, 2.5, "w", 64, 48)
    assert "carried" not in fresh.to_fields() and not DetectionMessage.from_json(
        fresh.to_json()).carried
