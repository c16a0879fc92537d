"""End-to-end training runs: NaN-proof on a salted dataset; a real fine-tune on bikes.mp4."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from detector.api import load_detector
from training import autolabel, eval as evaluation, train
from training.nets import build_net, init_from_pretrained

from openimages_fixtures import write_open_images


def _salted(root: Path) -> None:
    """Six training images, each with a good box and degenerate ones (zero width, zero height,
    a point, inverted, NaN, out of range): the boxes that made the tutorial's run NaN."""
    bad = [("Car", 0.3, 0.3, 0.3, 0.7), ("Car", 0.2, 0.5, 0.6, 0.5), ("Person", 0.4, 0.4, 0.4, 0.4),
           ("Person", 0.9, 0.9, 0.5, 0.6), ("Car", math.nan, 0.1, 0.3, 0.3), ("Person", -0.1, 0.2, 1.2, 0.8)]
    write_open_images(root, "train", {f"img{i}": [("Person" if i % 2 else "Car", 0.1 + 0.05 * i, 0.15, 0.55, 0.85), bad[i]]
                                      for i in range(6)})
    write_open_images(root, "test", {"val0": [("Person", 0.2, 0.1, 0.6, 0.9), ("Car", 0.5, 0.5, 0.5, 0.9)],
                                     "val1": [("Car", 0.1, 0.2, 0.7, 0.6)]})


def test_training_on_degenerate_boxes_never_logs_a_non_finite_loss(tmp_path):
    _salted(tmp_path / "data")
    models = tmp_path / "models"
    args = train.get_args_parser().parse_args([
        f"--data={tmp_path / 'data'}", f"--model-dir={models}", "--batch-size=2", "--epochs=2",
        "--max-steps=2", "--lr=0.01", "--warmup-steps=2", "--workers=0"])
    result = train.main(args)
    steps = pd.read_csv(models / "steps.csv")
    assert len(steps) == 4 and steps["skipped"].sum() == 0
    assert steps[["loss", "regression", "classification"]].notna().all().all()
    metrics = pd.read_csv(models / "metrics.csv")
    assert list(metrics["epoch"]) == [0, 1] and metrics["val_loss"].map(math.isfinite).all()
    assert (models / "loss.png").stat().st_size > 0
    assert (models / "labels.txt").read_text().split() == ["BACKGROUND", "Car", "Person"]
    checkpoint = Path(result["checkpoint"])
    assert checkpoint.name.startswith("mb1-ssd-Epoch-1-Loss-") and "nan" not in checkpoint.name
    detector = load_detector(f"mb1-ssd:{checkpoint}", device="cpu")
    assert detector.labels == ["BACKGROUND", "Car", "Person"]

    # --resume continues from the saved state: one more epoch, the step log kept.
    args.epochs, args.resume = 3, str(models / "train-state.pt")
    train.main(args)
    assert list(pd.read_csv(models / "metrics.csv")["epoch"]) == [0, 1, 2]
    assert len(pd.read_csv(models / "steps.csv")) == 6


@pytest.mark.slow
def test_fine_tuning_on_auto_labelled_bikes_beats_an_untrained_model(tmp_path, sample_video, capsys):
    data, models = tmp_path / "bikes", tmp_path / "models"
    counts = autolabel.autolabel([sample_video], data, "ssdlite-person", every=3, min_score=0.3, split_ratio=0.25)
    assert counts["train"] >= 10 and counts["test"] >= 3
    labels = ["BACKGROUND", "person"]

    # The starting point: ssdlite-person's features and box heads, a new classification head.
    untrained, _ = build_net("ssdlite", labels)
    init_from_pretrained(untrained, "ssdlite", "ssdlite-person")
    (models / "untrained").mkdir(parents=True)
    (models / "untrained" / "labels.txt").write_text("BACKGROUND\nperson\n")
    torch.save(untrained.state_dict(), models / "untrained" / "start.pth")

    result = train.main(train.get_args_parser().parse_args([
        f"--data={data}", f"--model-dir={models}", "--net=ssdlite", "--pretrained-ssd=ssdlite-person",
        "--freeze-net", "--batch-size=5", "--epochs=8", "--lr=0.05", "--warmup-steps=3", "--workers=0"]))
    steps = pd.read_csv(models / "steps.csv")
    first, last = steps[steps["epoch"] == 0]["loss"].mean(), steps[steps["epoch"] == 7]["loss"].mean()
    assert steps["loss"].notna().all() and last < 0.8 * first

    def map50(spec: str) -> dict:
        capsys.readouterr()
        evaluation.main(evaluation.get_args_parser().parse_args(
            ["--model", spec, "--dataset", str(data), "--device", "cpu", "--json"]))
        return json.loads(capsys.readouterr().out)

    before = map50(f"ssdlite:{models / 'untrained' / 'start.pth'}")
    after = map50(f"ssdlite:{result['checkpoint']}")
    print(f"mAP@0.5 untrained {before['map50']:.3f} -> trained {after['map50']:.3f} "
          f"(COCO {before['coco_map']:.3f} -> {after['coco_map']:.3f}); loss {first:.3f} -> {last:.3f}")
    assert after["map50"] >= 0.5 and after["map50"] >= before["map50"] + 0.3
    assert after["classes"][0]["name"] == "person" and after["classes"][0]["objects"] >= 3
