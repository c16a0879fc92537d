"""MobileNet-V1 SSD with the module layout of pytorch-ssd's ``create_mobilenetv1_ssd``.

The attribute names reproduce upstream's ``state_dict`` keys exactly, so checkpoints written by
pytorch-ssd (``torch.save(net.state_dict(), path)``) load here with ``strict=True`` and back.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..checkpoints import labels_for, load_strict, read_state_dict
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


def load_mb1_checkpoint(path: str | os.PathLike,
                        labels_path: str | os.PathLike | None = None) -> tuple[SSD, list[str]]:
    """Build a MobileNet-V1 SSD from a pytorch-ssd checkpoint and its labels; model in eval mode.

    Accepts a plain ``state_dict`` or a dict holding one under ``state_dict`` or ``model``. The
    class count comes from ``classification_headers.0.weight``; ``labels.txt`` beside the
    checkpoint is read unless ``labels_path`` is given. Raises ``DetectorError`` on any mismatch.
    """
    path = Path(path)
    state = read_state_dict(path, "mb1-ssd")
    head = state.get("classification_headers.0.weight")
    if head is None or head.ndim != 4 or head.shape[0] % BOXES_PER_CELL:
        raise DetectorError(f"{path} is not a MobileNet-V1 SSD checkpoint (no usable "
                            "classification_headers.0.weight): pass an mb1-ssd state_dict")
    num_classes = head.shape[0] // BOXES_PER_CELL
    if num_classes < 2:
        raise DetectorError(f"{path} has {num_classes} class(es); mb1-ssd needs background + at least one")
    labels = labels_for(path, labels_path, num_classes)
    model = create_mobilenetv1_ssd(num_classes)
    load_strict(model, state, path, "mb1-ssd")
    return model.eval(), labels
