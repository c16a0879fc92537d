"""How to feed each kind of network and read its output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

from torch import Tensor

from .priors import MB1_SSD_SPECS, ssd_priors, tf_multiple_grid_anchors

Resize = Literal["linear", "tf_legacy_bilinear"]


@dataclass(frozen=True)
class ModelConfig:
    """How to feed a network and read its output.

    The network input is ``(rgb - mean) / std`` at ``image_size`` squared; ``priors`` is
    Tensor[P, 4] in (cx, cy, w, h), normalized; ``labels[0]`` is the background.
    """

    labels: tuple[str, ...]
    priors: Tensor = field(repr=False)
    image_size: int = 300
    mean: float = 127.0
    std: float = 128.0
    resize: Resize = "linear"
    center_variance: float = 0.1
    size_variance: float = 0.2
    score: Literal["softmax", "sigmoid"] = "softmax"
    nms_iou: float = 0.45
    max_detections: int = 100


def mb1_ssd_config(labels: Sequence[str]) -> ModelConfig:
    """pytorch-ssd's ``mobilenetv1_ssd_config``: mean 127, std 128, NMS IoU 0.45, softmax."""
    return ModelConfig(labels=tuple(labels), priors=ssd_priors(MB1_SSD_SPECS))


def ssdlite_config(labels: Sequence[str]) -> ModelConfig:
    """TensorFlow's ``ssdlite_mobilenet_v2``: x * 2/255 - 1, legacy bilinear resize, sigmoid
    scores, faster-rcnn box coder with scales 10, 10, 5, 5, NMS IoU 0.6, at most 100 boxes."""
    return ModelConfig(
        labels=tuple(labels),
        priors=tf_multiple_grid_anchors(),
        mean=127.5,
        std=127.5,
        resize="tf_legacy_bilinear",
        score="sigmoid",
        nms_iou=0.6,
    )
