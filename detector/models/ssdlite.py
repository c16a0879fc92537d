"""SSDLite with a MobileNet-V2 trunk, mirroring TensorFlow's ``ssdlite_mobilenet_v2``.

Module names follow TensorFlow's scopes (``layers.expanded_conv_13.expand`` is
``FeatureExtractor/MobilenetV2/expanded_conv_13/expand``) so ``detector.tf_import`` maps weights
by name. Every convolution pads as TensorFlow's ``'SAME'`` does: with stride 2 on an even input
that is one row/column at the bottom/right only, which PyTorch's symmetric ``padding`` cannot
express (see ``ConvBN`` for how it is matched). Paddings are fixed at construction for
``image_size``. ``fuse_batchnorm_`` folds BatchNorm into the convs for inference.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..checkpoints import labels_for, load_strict, read_state_dict
from ..errors import DetectorError
from .common import flatten_predictions

BN_EPS = 1e-3  # TensorFlow's batch_norm epsilon in this model (the graph's FusedBatchNorm says so)
# MobileNet-V2 inverted residual settings: (expansion t, output channels c, repeats n, stride s).
MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
FEATURE_BLOCK = "expanded_conv_13"  # its expansion output (576 ch, 19x19) is feature map 0
# SSD extra layers after Conv_1: (1x1 bottleneck channels, output channels), each halving the map.
EXTRA_LAYERS = ((256, 512), (128, 256), (128, 256), (64, 128))
ANCHORS_PER_CELL = (3, 6, 6, 6, 6, 6)


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``'SAME'`` padding of one spatial dim: ``(before, after)``, extra at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm (eps 1e-3) + optional ReLU6, TF ``'SAME'`` padding.

    ``forward(x[N, cin, size, size]) -> [N, cout, ceil(size / stride), ceil(size / stride)]``.
    Where TF pads one more at the bottom/right than at the top/left (stride 2, even size), the
    conv pads symmetrically by the larger amount and runs the kernel with a leading zero row and
    column, which moves every window onto TF's without copying the input into a padded tensor.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 relu: bool = True, size: int = 300):
        super().__init__()
        before, after = tf_same_padding(size, kernel, stride)
        self.shift = after - before
        self.conv = nn.Conv2d(cin, cout, kernel, stride, after, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True) if relu else nn.Identity()
        self.out_size = -(-size // stride)

    def forward(self, x: Tensor) -> Tensor:
        conv = self.conv
        if self.shift:
            weight = F.pad(conv.weight, (self.shift, 0, self.shift, 0))
            x = F.conv2d(x, weight, conv.bias, conv.stride, conv.padding, groups=conv.groups)
        else:
            x = conv(x)
        return self.act(self.bn(x))

    def fuse_batchnorm_(self) -> None:
        """Fold the (eval-mode) BatchNorm into the conv's weight and bias, in place."""
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = fuse_conv_bn_eval(self.conv.eval(), self.bn.eval())
            self.bn = nn.Identity()


class InvertedResidual(nn.Module):
    """MobileNet-V2 block: [1x1 expand] -> 3x3 depthwise -> 1x1 linear project [+ input]."""

    def __init__(self, cin: int, cout: int, expansion: int, stride: int, size: int):
        super().__init__()
        hidden = cin * expansion
        self.expand = ConvBN(cin, hidden, size=size) if expansion != 1 else nn.Identity()
        self.depthwise = ConvBN(hidden, hidden, 3, stride, groups=hidden, size=size)
        self.project = ConvBN(hidden, cout, relu=False, size=self.depthwise.out_size)
        self.residual = stride == 1 and cin == cout
        self.out_size = self.depthwise.out_size

    def tail(self, expanded: Tensor, x: Tensor) -> Tensor:
        """The block after its expansion: ``expanded`` is ``self.expand(x)``."""
        y = self.project(self.depthwise(expanded))
        return y.add_(x) if self.residual else y  # y is this block's own fresh tensor

    def forward(self, x: Tensor) -> Tensor:
        return self.tail(self.expand(x), x)


class ExtraLayer(nn.Sequential):
    """SSDLite extra feature layer: 1x1 -> 3x3 stride-2 depthwise -> 1x1, each BN + ReLU6."""

    def __init__(self, cin: int, mid: int, cout: int, size: int):
        reduce = ConvBN(cin, mid, size=size)
        depthwise = ConvBN(mid, mid, 3, 2, groups=mid, size=size)
        super().__init__(reduce, depthwise, ConvBN(mid, cout, size=depthwise.out_size))
        self.out_size = depthwise.out_size


class PredictorHead(nn.Sequential):
    """SSDLite box predictor branch: 3x3 depthwise + BN + ReLU6, then 1x1 conv with bias."""

    def __init__(self, cin: int, cout: int, size: int):
        super().__init__(ConvBN(cin, cin, 3, groups=cin, size=size), nn.Conv2d(cin, cout, 1))


def mobilenet_v2_layers(size: int) -> nn.ModuleDict:
    """MobileNet-V2 (depth multiplier 1) keyed by TF scope: ``Conv``, ``expanded_conv[_i]``, ``Conv_1``."""
    layers = nn.ModuleDict({"Conv": ConvBN(3, 32, 3, 2, size=size)})
    cin, size, index = 32, layers["Conv"].out_size, 0
    for expansion, cout, repeats, stride in MOBILENET_V2_SETTINGS:
        for i in range(repeats):
            block = InvertedResidual(cin, cout, expansion, stride if i == 0 else 1, size)
            layers["expanded_conv" if index == 0 else f"expanded_conv_{index}"] = block
            cin, size, index = cout, block.out_size, index + 1
    layers["Conv_1"] = ConvBN(cin, 1280, size=size)
    return layers


class SSDLiteMobileNetV2(nn.Module):
    """SSDLite-MobileNet-V2 network (no anchors, no decoding).

    ``forward(x[N, 3, S, S]) -> (locations[N, P, 4], logits[N, P, num_classes])`` with
    ``S = image_size`` (300: P = 1917 = 19x19x3 + 10x10x6 + 5x5x6 + 3x3x6 + 2x2x6 + 1x1x6).
    ``x`` is RGB scaled to [-1, 1]. Locations are box codes in ``(tx, ty, tw, th)`` order (the
    importer permutes TensorFlow's ``[ty, tx, th, tw]`` head channels), logits raw with class 0
    the background. Anchor order is TensorFlow's: per feature map, cells row-major, the cell's
    anchors innermost.
    """

    def __init__(self, num_classes: int, anchors_per_cell: tuple[int, ...] = ANCHORS_PER_CELL,
                 image_size: int = 300):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2 (background + 1), got {num_classes}")
        if len(anchors_per_cell) != 2 + len(EXTRA_LAYERS):
            raise ValueError(f"anchors_per_cell needs {2 + len(EXTRA_LAYERS)} entries, "
                             f"got {anchors_per_cell}")
        self.num_classes = num_classes
        self.anchors_per_cell = tuple(anchors_per_cell)
        self.image_size = image_size
        self.layers = mobilenet_v2_layers(image_size)
        channels = [self.layers[FEATURE_BLOCK].depthwise.conv.in_channels, 1280]
        sizes = [self.layers[FEATURE_BLOCK].expand.out_size, self.layers["Conv_1"].out_size]
        self.extras = nn.ModuleList()
        for mid, cout in EXTRA_LAYERS:
            self.extras.append(ExtraLayer(channels[-1], mid, cout, sizes[-1]))
            channels.append(cout)
            sizes.append(self.extras[-1].out_size)
        self.feature_sizes = tuple(sizes)
        self.box_heads = nn.ModuleList(PredictorHead(c, a * 4, s) for c, a, s
                                       in zip(channels, self.anchors_per_cell, sizes))
        self.class_heads = nn.ModuleList(PredictorHead(c, a * num_classes, s) for c, a, s
                                         in zip(channels, self.anchors_per_cell, sizes))

    def features(self, x: Tensor) -> list[Tensor]:
        """The six feature maps the heads read: 19, 10, 5, 3, 2, 1 cells a side for 300x300."""
        feats = []
        for name, layer in self.layers.items():
            if name == FEATURE_BLOCK:
                expanded = layer.expand(x)
                feats.append(expanded)
                x = layer.tail(expanded, x)
            else:
                x = layer(x)
        feats.append(x)
        for extra in self.extras:
            x = extra(x)
            feats.append(x)
        return feats

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return flatten_predictions(self.features(x), self.box_heads, self.class_heads, self.num_classes)

    def fuse_batchnorm_(self) -> SSDLiteMobileNetV2:
        """Fold every BatchNorm into its conv for inference (same outputs, ~1/3 less CPU time);
        the ``state_dict`` then has ``conv.bias`` and no ``bn.*`` keys. Returns ``self``."""
        for module in self.modules():
            if isinstance(module, ConvBN):
                module.fuse_batchnorm_()
        return self


def build_ssdlite_mobilenet_v2(num_classes: int, anchors_per_cell: tuple[int, ...] = ANCHORS_PER_CELL,
                               image_size: int = 300) -> SSDLiteMobileNetV2:
    """SSDLite-MobileNet-V2 as TF's ``ssdlite_mobilenet_v2`` config builds it (random weights)."""
    return SSDLiteMobileNetV2(num_classes, anchors_per_cell, image_size)


def load_ssdlite_checkpoint(path: str | os.PathLike, labels_path: str | os.PathLike | None = None
                            ) -> tuple[SSDLiteMobileNetV2, list[str]]:
    """SSDLite-MobileNet-V2 from a torch checkpoint (e.g. written by ``training.train --net
    ssdlite``) and its ``labels.txt``; model in eval mode, BatchNorm kept.

    The class count and anchors per cell come from the head weights, so a fine-tuned model with
    its own classes loads without extra arguments.
    """
    path = Path(path)
    state = read_state_dict(path, "ssdlite")
    try:
        anchors = tuple(state[f"box_heads.{i}.1.weight"].shape[0] // 4 for i in range(len(ANCHORS_PER_CELL)))
        num_classes = state["class_heads.0.1.weight"].shape[0] // anchors[0]
    except KeyError as exc:
        raise DetectorError(f"{path} is not an SSDLite-MobileNet-V2 checkpoint (no {exc.args[0]}): "
                            "pass one written by training.train --net ssdlite") from None
    model = SSDLiteMobileNetV2(num_classes, anchors)
    load_strict(model, state, path, "ssdlite")
    return model.eval(), labels_for(path, labels_path, num_classes)
