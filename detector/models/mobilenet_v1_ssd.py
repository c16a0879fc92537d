"""MobileNet-V1 SSD with the module layout of pytorch-ssd's ``create_mobilenetv1_ssd``.

The attribute names reproduce upstream's ``state_dict`` keys exactly, so checkpoints written by
pytorch-ssd (``torch.save(net.state_dict(), path)``) load here with ``strict=True`` and back.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..errors import DetectorError
from .common import flatten_predictions

SOURCE_LAYER_INDEXES = (12, 14)
BOXES_PER_CELL = 6
HEAD_CHANNELS = (512, 1024, 512, 256, 256, 256)


def _conv_bn(inp: int, out: int, stride: int) -> nn.Sequential:
    """3x3 convolution, BatchNorm, ReLU (keys ``.0``, ``.1``)."""
    return nn.Sequential(
        nn.Conv2d(inp, out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU(inplace=True),
    )


def _conv_dw(inp: int, out: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 + pointwise 1x1, each with BatchNorm and ReLU (keys ``.0 .1 .3 .4``)."""
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
        nn.BatchNorm2d(inp),
        nn.ReLU(inplace=True),
        nn.Conv2d(inp, out, 1, 1, 0, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU(inplace=True),
    )


def mobilenet_v1_features() -> nn.Sequential:
    """MobileNet-V1's convolutional trunk (``MobileNetV1.model`` upstream): 14 blocks."""
    blocks = [_conv_bn(3, 32, 2)]
    widths = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
              (256, 512, 2)] + [(512, 512, 1)] * 5 + [(512, 1024, 2), (1024, 1024, 1)]
    blocks += [_conv_dw(inp, out, stride) for inp, out, stride in widths]
    return nn.Sequential(*blocks)


def _extra(inp: int, mid: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, mid, kernel_size=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, out, kernel_size=3, stride=2, padding=1),
        nn.ReLU(inplace=True),
    )


class SSD(nn.Module):
    """Single-shot detector wiring a trunk, extra layers and per-map heads.

    ``forward(x[N, 3, H, W]) -> (locations[N, P, 4], logits[N, P, num_classes])``: locations are
    SSD codes ``(tx, ty, tw, th)``, logits are raw scores with class 0 the background. Priors are
    ordered per feature map, cell row-major, ``boxes_per_cell`` boxes per cell.
    """

    def __init__(self, num_classes: int, base_net: nn.Sequential,
                 source_layer_indexes: tuple[int, ...], extras: nn.ModuleList,
                 classification_headers: nn.ModuleList, regression_headers: nn.ModuleList):
        super().__init__()
        self.num_classes = num_classes
        self.base_net = base_net
        self.source_layer_indexes = tuple(source_layer_indexes)
        self.extras = extras
        self.classification_headers = classification_headers
        self.regression_headers = regression_headers

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = []
        start = 0
        for end in self.source_layer_indexes:
            x = self.base_net[start:end](x)
            features.append(x)
            start = end
        x = self.base_net[start:](x)
        for extra in self.extras:
            x = extra(x)
            features.append(x)
        return flatten_predictions(features, self.regression_headers, self.classification_headers,
                                   self.num_classes)


    def fuse_batchnorm_(self) -> SSD:
        """Fold each BatchNorm of ``base_net`` into the conv before it, for inference (same
        outputs, less CPU time); the ``state_dict`` then no longer has upstream's keys. Returns ``self``."""
        for block in self.base_net:
            for i in range(1, len(block)):
                if isinstance(block[i], nn.BatchNorm2d) and isinstance(block[i - 1], nn.Conv2d):
                    block[i - 1] = fuse_conv_bn_eval(block[i - 1].eval(), block[i].eval())
                    block[i] = nn.Identity()
        return self


def create_mobilenetv1_ssd(num_classes: int) -> SSD:
    """MobileNet-V1 SSD for 300x300 inputs: 3000 priors, ``num_classes`` including background."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2 (background + 1), got {num_classes}")
    extras = nn.ModuleList([_extra(1024, 256, 512), _extra(512, 128, 256),
                            _extra(256, 128, 256), _extra(256, 128, 256)])

    def heads(per_box: int) -> nn.ModuleList:
        return nn.ModuleList([nn.Conv2d(c, BOXES_PER_CELL * per_box, kernel_size=3, padding=1)
                              for c in HEAD_CHANNELS])

    return SSD(num_classes, mobilenet_v1_features(), SOURCE_LAYER_INDEXES, extras,
               heads(num_classes), heads(4))


def read_labels(path: str | os.PathLike) -> list[str]:
    """Class names from a ``labels.txt`` (one a line, ``BACKGROUND`` first); blank lines skipped."""
    path = Path(path)
    if not path.is_file():
        raise DetectorError(f"labels file {path} not found: put labels.txt (one class a line, "
                            "BACKGROUND first) beside the checkpoint or pass its path")
    labels = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not labels:
        raise DetectorError(f"labels file {path} is empty: write one class name a line, BACKGROUND first")
    return labels


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise DetectorError(f"checkpoint {path} not found: check the path after 'mb1-ssd:'")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():  # weights_only refused a class outside its allow-list
            raise DetectorError(f"{path} is not a readable torch checkpoint: it holds Python objects "
                                "other than tensors, refused for safety; save a plain state_dict") from None
        raise DetectorError(f"{path} is not a readable torch checkpoint (not a torch file, or "
                            "corrupt): pass a state_dict saved with torch.save") from None
    except Exception as exc:  # torch raises many types for truncated or foreign files
        reason = (str(exc).strip() or type(exc).__name__).splitlines()[0].split(". ")[0][:120]
        raise DetectorError(f"{path} is not a readable torch checkpoint (corrupt or not a torch "
                            f"file: {reason}): pass a state_dict saved with torch.save") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise DetectorError(f"{path} holds no state_dict of tensors: "
                            "save it with torch.save(model.state_dict(), path)")
    return obj


def load_mb1_checkpoint(path: str | os.PathLike,
                        labels_path: str | os.PathLike | None = None) -> tuple[SSD, list[str]]:
    """Build a MobileNet-V1 SSD from a pytorch-ssd checkpoint and its labels; model in eval mode.

    Accepts a plain ``state_dict`` or a dict holding one under ``state_dict`` or ``model``. The
    class count comes from ``classification_headers.0.weight``; ``labels.txt`` beside the
    checkpoint is read unless ``labels_path`` is given. Raises ``DetectorError`` on any mismatch.
    """
    path = Path(path)
    state = _read_state_dict(path)
    head = state.get("classification_headers.0.weight")
    if head is None or head.ndim != 4 or head.shape[0] % BOXES_PER_CELL:
        raise DetectorError(f"{path} is not a MobileNet-V1 SSD checkpoint (no usable "
                            "classification_headers.0.weight): pass an mb1-ssd state_dict")
    num_classes = head.shape[0] // BOXES_PER_CELL
    if num_classes < 2:
        raise DetectorError(f"{path} has {num_classes} class(es); mb1-ssd needs background + at least one")
    labels = read_labels(labels_path if labels_path is not None else path.parent / "labels.txt")
    if len(labels) != num_classes:
        raise DetectorError(f"labels file has {len(labels)} classes but {path} has {num_classes}: "
                            "use the labels.txt written with this checkpoint")
    model = create_mobilenetv1_ssd(num_classes)
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in state:
            raise DetectorError(f"{path} lacks key {key}: it is not an mb1-ssd checkpoint")
        if state[key].shape != value.shape:
            raise DetectorError(f"{path}: {key} has shape {list(state[key].shape)}, mb1-ssd "
                                f"expects {list(value.shape)}: pass an mb1-ssd checkpoint")
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        raise DetectorError(f"{path} has unexpected key {unexpected[0]}: it is not an mb1-ssd checkpoint")
    model.load_state_dict(state, strict=True)
    return model.eval(), labels
