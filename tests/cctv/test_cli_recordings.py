"""``cctv recordings``: ls as text and as the API's JSON, export of a range by stream copy and
annotated (ffprobe: codec, size, frames; the box drawn), and each refusal as exit 2."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from ffprobe import probe_stream
from recorded import FPS, T0, box_at, encode_h264, keyframe_times, log_objects, record

from api.recordings import segment_dict
from cctv.cli import main
from common.keys import KEYS


@pytest.fixture(scope="module")
def h264_video(sample_video, tmp_path_factory):
    return encode_h264(sample_video, tmp_path_factory.mktemp("h264") / "gop25.mp4")


@pytest.fixture
def recorded(redis_client, redis_url, monkeypatch, tmp_path, h264_video):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CCTV_RECORDINGS_DIR", str(tmp_path / "recordings"))
    segments = record(redis_client, h264_video, tmp_path / "recordings")
    log_objects(redis_client, tmp_path / "recordings")
    redis_client.sadd(KEYS.camera_names, "gate")
    return segments


def test_ls_lists_the_segments(recorded, capsys):
    assert main(["recordings", "ls", "--camera", "gate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "recordings": [segment_dict(s) for s in recorded]}
    assert main(["recordings", "ls", "--camera", "gate"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(recorded) + 1 and "h264 640x272" in lines[0]
    assert main(["recordings", "ls", "--camera", "gate", "--since", "1h"]) == 0
    assert capsys.readouterr().out == "no recordings\n"  # recorded in May 2026


def test_export_copies_the_range_and_annotated_draws_the_boxes(recorded, tmp_path, h264_video,
                                                               capsys):
    plain, annotated = tmp_path / "plain.mp4", tmp_path / "annotated.mp4"
    start, end = "2026-05-28T20:26:41.5Z", str(T0 + 4.5)
    assert main(["recordings", "export", "gate", start, end, "--out", str(plain)]) == 0
    assert main(["recordings", "export", "gate", start, end, "--out", str(annotated),
                 "--annotated"]) == 0
    assert "annotated" in capsys.readouterr().out.splitlines()[-1]
    keyframe = max(t for t in keyframe_times(h264_video) if t <= T0 + 1.5)
    frames = sum(keyframe <= T0 + k / FPS < T0 + 4.5 for k in range(10 * FPS))
    for path in (plain, annotated):
        stream = probe_stream(path)
        assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 640, 272)
        assert int(stream["nb_read_frames"]) == frames
    with av.open(str(plain)) as a, av.open(str(annotated)) as b:
        first_plain = next(a.decode(video=0)).to_ndarray(format="bgr24").astype(int)
        first_drawn = next(b.decode(video=0)).to_ndarray(format="bgr24").astype(int)
    k = round((keyframe - T0) * FPS)
    x1, y1, _, y2 = box_at(k)
    edge = (slice(int(y1 * 272) + 4, int(y2 * 272) - 4), round(x1 * 640))
    inside = (slice(int(y1 * 272) + 20, int(y2 * 272) - 20), round(x1 * 640) + 30)
    assert np.abs(first_drawn[edge] - first_plain[edge]).mean() > 40  # the box's left side
    assert np.abs(first_drawn[inside] - first_plain[inside]).mean() < 15  # not over it


@pytest.mark.parametrize("argv, says", [
    (["recordings", "ls", "--camera", "nobody"], "unknown camera"),
    (["recordings", "export", "gate", str(T0 + 60), str(T0 + 70), "--out", "x.mp4"],
     "no recording"),
    (["recordings", "export", "gate", str(T0), str(T0 + 3601), "--out", "x.mp4"],
     "at most 3600"),
])
def test_refusals_exit_2(recorded, argv, says, capsys):
    assert main(argv) == 2 and says in capsys.readouterr().err


def test_a_bad_time_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["recordings", "export", "gate", "noon", "1", "--out", "x.mp4"])
    assert exit_.value.code == 2 and "neither Unix seconds" in capsys.readouterr().err
