"""The lag line of Health and the Live captions: the lag, and below a ratio of 0.9 how much
detection keeps up with and what to do."""

from dashboard.live import lag_line
from runtime.status import CameraStatus


def test_a_camera_detection_keeps_up_with_shows_its_lag_only():
    assert lag_line(CameraStatus("online", lag_s=0.42, detected_ratio=0.97)) == "lag 0.4s"


def test_a_camera_detection_falls_behind_says_how_much_and_what_to_do():
    line = lag_line(CameraStatus("online", lag_s=1.63, detected_ratio=0.062))
    assert line.startswith("lag 1.6s · detection keeps up with 6% of frames")
    for advice in ("another worker", "fps", "int8", "motion gating"):
        assert advice in line


def test_no_lag_line_before_any_detection():
    assert lag_line(CameraStatus("online")) == ""
