"""SSD multibox loss: smooth L1 on matched priors + classification with 3:1 hard negative mining."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def hard_negative_mining(loss: Tensor, labels: Tensor, neg_pos_ratio: int, min_negatives: int) -> Tensor:
    """Mask (Tensor[N, P], bool) of the positives plus, per image, the ``neg_pos_ratio`` x
    positives (at least ``min_negatives``) background priors with the highest ``loss`` [N, P]."""
    pos_mask = labels > 0
    num_neg = (pos_mask.sum(dim=1, keepdim=True) * neg_pos_ratio).clamp(min=min_negatives)
    loss = loss.masked_fill(pos_mask, -torch.inf)
    _, indexes = loss.sort(dim=1, descending=True)
    _, orders = indexes.sort(dim=1)
    return pos_mask | (orders < num_neg)


class MultiboxLoss(nn.Module):
    """``forward(confidence[N, P, C], locations[N, P, 4], labels[N, P], gt_locations[N, P, 4])
    -> (regression loss, classification loss)``, both summed then divided by the number of
    positive priors in the batch (at least 1, so a batch without objects gives a finite loss).

    ``score`` follows the model's :class:`~detector.config.ModelConfig`: ``softmax``
    cross-entropy (pytorch-ssd, mb1-ssd) or ``sigmoid`` per-class binary cross-entropy against
    one-hot targets, background column included (TensorFlow's SSDLite). Negatives are mined on
    the background loss; ``min_negatives`` per image keeps background-only images teaching.
    """

    def __init__(self, neg_pos_ratio: int = 3, score: Literal["softmax", "sigmoid"] = "softmax",
                 min_negatives: int = 3):
        super().__init__()
        if score not in ("softmax", "sigmoid"):
            raise ValueError(f"score must be 'softmax' or 'sigmoid', got {score!r}")
        self.neg_pos_ratio, self.score, self.min_negatives = neg_pos_ratio, score, min_negatives

    def _per_prior_classification(self, confidence: Tensor, labels: Tensor) -> Tensor:
        if self.score == "softmax":
            return F.cross_entropy(confidence.flatten(0, 1), labels.flatten(), reduction="none").view_as(labels)
        one_hot = F.one_hot(labels, confidence.shape[-1]).to(confidence.dtype)
        return F.binary_cross_entropy_with_logits(confidence, one_hot, reduction="none").sum(dim=-1)

    def forward(self, confidence: Tensor, locations: Tensor, labels: Tensor,
                gt_locations: Tensor) -> tuple[Tensor, Tensor]:
        confidence, locations = confidence.float(), locations.float()
        per_prior = self._per_prior_classification(confidence, labels)
        # For background priors the per-prior loss is the background loss, which mining ranks by.
        mask = hard_negative_mining(per_prior.detach(), labels, self.neg_pos_ratio, self.min_negatives)
        pos_mask = labels > 0
        num_pos = pos_mask.sum().clamp(min=1).to(confidence.dtype)
        classification = per_prior[mask].sum() / num_pos
        regression = F.smooth_l1_loss(locations[pos_mask], gt_locations[pos_mask], reduction="sum") / num_pos
        return regression, classification
