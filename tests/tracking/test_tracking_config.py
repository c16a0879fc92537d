"""Lines and zones in the cameras YAML: bad ones are reported at their line by cctv config
check; the example file shows valid ones."""

from pathlib import Path

import pytest

from cctv.config_check import check_text
from common.cameras import load_cameras_file

ROOT = Path(__file__).resolve().parents[2]

CAMERA = """\
cameras:
  - name: door
    url: rtsp://cam/1
"""


@pytest.mark.parametrize("shapes, line, message", [
    ("    lines:\n      - name: a\n        points: [[0.5, 0.0], [0.5, 1.0], [0.1, 0.1]]\n",
     6, "a line needs exactly 2 points"),
    ("    lines:\n      - name: a\n        points: [[0.5, 0.5], [0.5, 0.5]]\n",
     6, "a line needs 2 different points"),
    ("    lines:\n      - {name: a, points: [[0, 0], [1, 1]]}\n"
     "      - {name: a, points: [[0, 1], [1, 0]]}\n", 6, "duplicate line name 'a'"),
    ("    zones:\n      - name: z\n        points: [[0.1, 0.1], [1.5, 0.1], [0.5, 0.5]]\n",
     6, "point [1.5, 0.1] is outside the frame"),
    ("    zones:\n      - name: z\n        points: [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]\n",
     6, "enclose no area"),
    ("    zones:\n      - name: z\n        points: [[0.1, 0.1], [0.2, 0.1]]\n",
     6, "a zone needs 3 to 64 points"),
    ("    zones:\n      - name: bad name\n        points: [[0, 0], [1, 0], [1, 1]]\n",
     5, "String should match pattern"),
])
def test_bad_lines_and_zones_are_reported_at_their_line(shapes, line, message):
    problems = check_text(CAMERA + shapes)
    assert len(problems) == 1
    assert problems[0].line == line and message in problems[0].message


def test_example_cameras_file_has_a_line_and_a_zone():
    path = ROOT / "config" / "cameras.example.yaml"
    assert check_text(path.read_text()) == []
    cameras = load_cameras_file(path)
    assert any(c.lines for c in cameras) and any(c.zones for c in cameras)


@pytest.mark.parametrize("counting, line, message", [
    ("    counting: {min_area: 0.5, max_area: 0.1}\n", 4, "min_area 0.5 is above max_area 0.1"),
    ("    counting:\n      classes: {car: {min_frame: 2}}\n", 5, "unknown key"),
    ("    counting:\n      min_area: 0.2\n      classes: {car: {max_area: 0.1}}\n", 4,
     "classes.car: Value error, min_area 0.2 is above max_area 0.1"),
    ("    counting: {line_margin: 0.7}\n", 4, "less than or equal to 0.5"),
    ("    counting:\n      masks: [{name: m, points: [[0, 0], [1, 0]]}]\n", 5,
     "a zone needs 3 to 64 points"),
])
def test_bad_counting_rules_are_reported(counting, line, message):
    problems = check_text(CAMERA + counting)
    assert len(problems) == 1
    assert problems[0].line == line and message in problems[0].message


def test_class_rules_override_the_cameras_and_survive_storing():
    from common.cameras import parse_camera
    from runtime.camera_list import parse_camera_json

    camera = parse_camera({"name": "a", "url": "x.mp4", "counting": {
        "min_frames": 5, "classes": {"car": {"min_frames": 3, "count_min_score": 0.7}}}})
    stored = parse_camera_json(camera.model_dump_json(exclude_defaults=True), "a")
    assert stored == camera
    car, person = stored.counting.rules("car"), stored.counting.rules("person")
    assert (car.min_frames, car.count_min_score) == (3, 0.7)
    assert (person.min_frames, person.count_min_score) == (5, 0.5)
