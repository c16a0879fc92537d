"""Pieces shared by the SSD networks."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


def flatten_predictions(
    features: Sequence[Tensor],
    regression_headers: Sequence[nn.Module],
    classification_headers: Sequence[nn.Module],
    num_classes: int,
) -> tuple[Tensor, Tensor]:
    """Run each level's heads and flatten them cell by cell, boxes of a cell innermost.

    features: one Tensor[N, C_i, H_i, W_i] per level. Returns (locations Tensor[N, P, 4],
    logits Tensor[N, P, num_classes]) with P = sum over levels of H_i * W_i * boxes per cell.
    """
    locations, logits = [], []
    for feature, regress, classify in zip(features, regression_headers, classification_headers):
        n = feature.shape[0]
        locations.append(regress(feature).permute(0, 2, 3, 1).reshape(n, -1, 4))
        logits.append(classify(feature).permute(0, 2, 3, 1).reshape(n, -1, num_classes))
    return torch.cat(locations, dim=1), torch.cat(logits, dim=1)
