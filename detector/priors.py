"""Prior (anchor) boxes for the two SSD layouts this project runs.

Both generators return Tensor[P, 4] in (cx, cy, w, h), normalized to the image, ordered cell by
cell (row-major over the feature map) with the boxes of one cell innermost: the order in which
the heads' outputs are flattened.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor


@dataclass(frozen=True)
class PriorSpec:
    """One feature map of the pytorch-ssd layout; sizes in pixels of the network input."""

    feature_map_size: int
    shrinkage: int
    min_size: float
    max_size: float
    aspect_ratios: tuple[float, ...]


# upstream pytorch-ssd `mobilenetv1_ssd_config.py` (6 boxes a cell, 3000 priors at 300x300)
MB1_SSD_SPECS: tuple[PriorSpec, ...] = (
    PriorSpec(19, 16, 60, 105, (2, 3)),
    PriorSpec(10, 32, 105, 150, (2, 3)),
    PriorSpec(5, 64, 150, 195, (2, 3)),
    PriorSpec(3, 100, 195, 240, (2, 3)),
    PriorSpec(2, 150, 240, 285, (2, 3)),
    PriorSpec(1, 300, 285, 330, (2, 3)),
)


def ssd_priors(specs: Sequence[PriorSpec], image_size: int = 300, clamp: bool = True) -> Tensor:
    """Priors of the pytorch-ssd layout (Tensor[P, 4], (cx, cy, w, h)).

    Per cell: a square of side ``min_size``, a square of side ``sqrt(min_size * max_size)``, then
    for each aspect ratio r the ``min_size`` square stretched to (w*sqrt(r), h/sqrt(r)) and
    (w/sqrt(r), h*sqrt(r)).
    """
    priors = []
    for spec in specs:
        cells = image_size / spec.shrinkage
        small = spec.min_size / image_size
        large = math.sqrt(spec.min_size * spec.max_size) / image_size
        for row, col in itertools.product(range(spec.feature_map_size), repeat=2):
            cx, cy = (col + 0.5) / cells, (row + 0.5) / cells
            priors.append([cx, cy, small, small])
            priors.append([cx, cy, large, large])
            for ratio in spec.aspect_ratios:
                r = math.sqrt(ratio)
                priors.append([cx, cy, small * r, small / r])
                priors.append([cx, cy, small / r, small * r])
    out = torch.tensor(priors, dtype=torch.float32)
    return out.clamp_(0.0, 1.0) if clamp else out


def tf_ssd_box_specs(
    num_layers: int = 6,
    min_scale: float = 0.2,
    max_scale: float = 0.95,
    aspect_ratios: Sequence[float] = (1.0, 2.0, 0.5, 3.0, 0.3333),
    interpolated_scale_aspect_ratio: float = 1.0,
    reduce_boxes_in_lowest_layer: bool = True,
) -> list[list[tuple[float, float]]]:
    """(scale, aspect ratio) pairs per layer, as TensorFlow's ``create_ssd_anchors`` makes them."""
    scales = [min_scale + (max_scale - min_scale) * i / (num_layers - 1) for i in range(num_layers)]
    scales.append(1.0)
    layers = []
    for layer, (scale, next_scale) in enumerate(zip(scales[:-1], scales[1:])):
        if layer == 0 and reduce_boxes_in_lowest_layer:
            layers.append([(0.1, 1.0), (scale, 2.0), (scale, 0.5)])
            continue
        specs = [(scale, ratio) for ratio in aspect_ratios]
        if interpolated_scale_aspect_ratio > 0:
            specs.append((math.sqrt(scale * next_scale), interpolated_scale_aspect_ratio))
        layers.append(specs)
    return layers


def tf_multiple_grid_anchors(
    feature_map_sizes: Sequence[int] = (19, 10, 5, 3, 2, 1),
    box_specs: Sequence[Sequence[tuple[float, float]]] | None = None,
) -> Tensor:
    """Anchors of TensorFlow's ``MultipleGridAnchorGenerator`` (SSD defaults) as (cx, cy, w, h).

    Default arguments give the 1917 anchors of ``ssdlite_mobilenet_v2``. Stride is one cell
    (``1 / size``), offset half a cell; anchors are not clipped, as in TensorFlow.
    """
    box_specs = box_specs if box_specs is not None else tf_ssd_box_specs(len(feature_map_sizes))
    grids = []
    for size, specs in zip(feature_map_sizes, box_specs, strict=True):
        scales = torch.tensor([s for s, _ in specs], dtype=torch.float32)
        ratios = torch.tensor([r for _, r in specs], dtype=torch.float32).sqrt()
        widths, heights = scales * ratios, scales / ratios
        stride = 1.0 / size
        centres = torch.arange(size, dtype=torch.float32) * stride + 0.5 * stride
        cy, cx = torch.meshgrid(centres, centres, indexing="ij")
        n = len(specs)
        grid = torch.stack(
            [
                cx[..., None].expand(size, size, n),
                cy[..., None].expand(size, size, n),
                widths.expand(size, size, n),
                heights.expand(size, size, n),
            ],
            dim=-1,
        )
        grids.append(grid.reshape(-1, 4))
    return torch.cat(grids)
