"""``cctv config check``: each problem of a cameras file at its YAML line, with context."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cctv.config_check import check_file, check_text

ROOT = Path(__file__).resolve().parents[2]
CCTV = Path(sys.executable).with_name("cctv")

BAD = """\
cameras:
  - name: lobby
    url: rtsp://admin:hunter2@10.0.0.5/s
    fpz: 5
  - name: door
    url: door.mp4
    fps: -1
  - url: nameless.mp4
  - name: yard
    url: yard.mp4
    jpeg_quality: high
"""


@pytest.mark.parametrize("text, expected", [
    (BAD, [(4, "cameras.0.fpz", "unknown key"),
           (7, "cameras.1.fps", "greater than or equal to 0.01"),
           (8, "cameras.2.name", "missing key 'name'"),
           (11, "cameras.3.jpeg_quality", "valid integer")]),
    ("cameras:\n  - name: a\n    url: a.mp4\n  - name: b\n    url: b.mp4\n  - name: a\n"
     "    url: c.mp4\n", [(6, "cameras", "duplicate camera name 'a'")]),
    ("cameras:\n  - name: bad name!\n    url: x.mp4\n", [(2, "cameras.0.name", "pattern")]),
    ("cameras:\n  - name: a\n    url: [unclosed\n", [(4, "(syntax)", "not valid YAML")]),
    ("- name: a\n", [(1, "(top level)", "mapping")]),
    ("camras: []\n", [(1, "camras", "unknown key")]),
    ("", []),
])
def test_problems_point_at_their_lines(text, expected):
    problems = check_text(text)
    assert [(p.line, p.where) for p in problems] == [(line, w) for line, w, _ in expected]
    for problem, (_, _, words) in zip(problems, expected):
        assert words in problem.message


def test_report_shows_the_line_with_credentials_masked(tmp_path):
    path = tmp_path / "cameras.yaml"
    path.write_text(BAD)
    errors, warnings = check_file(path)
    assert len(errors) == 4 and warnings == []
    first = errors[0].splitlines()
    assert first[0] == f"{path}:4:5: cameras.0.fpz: unknown key"
    assert first[1].strip() == "3 |     url: rtsp://***@10.0.0.5/s"
    assert first[2].strip() == ">      4 |     fpz: 5"
    assert "hunter2" not in "\n".join(errors)


def test_cli_exit_status_and_output(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    good = ROOT / "config" / "cameras.example.yaml"
    run = subprocess.run([str(CCTV), "config", "check", str(good), str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert f"{good}: ok" in run.stdout
    assert f"{bad}:11:5: cameras.3.jpeg_quality:" in run.stderr
    assert "hunter2" not in run.stdout + run.stderr
    run = subprocess.run([str(CCTV), "config", "check", str(good)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == f"{good}: ok"
    run = subprocess.run([str(CCTV), "config", "check", str(tmp_path / "missing.yaml")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "cannot read" in run.stderr


def test_literal_credentials_are_a_warning_not_an_error(tmp_path):
    path = tmp_path / "cameras.yaml"
    path.write_text("cameras:\n  - name: lobby\n    url: rtsp://admin:hunter2@10.0.0.5/s\n"
                    "  - name: door\n    url: rtsp://admin:${DOOR_PW}@10.0.0.6/s\n")
    errors, warnings = check_file(path)
    assert errors == []
    assert len(warnings) == 1 and "camera lobby" in warnings[0]
    assert "hunter2" not in warnings[0] and "rtsp://***@10.0.0.5/s" in warnings[0]
