"""Prior matching: ground-truth boxes -> per-prior regression targets and class labels."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from detector.boxes import box_iou, center_to_corner, corner_to_center, encode

SIZE_EPS = 1e-6  # widths/heights are clamped to this before log() in the encoding


def match_priors(gt_boxes: Tensor, gt_labels: Tensor, priors_corner: Tensor,
                 iou_threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """Assign each prior a ground truth, SSD style.

    gt_boxes (Tensor[G, 4]) and priors_corner (Tensor[P, 4]) in (x1, y1, x2, y2); gt_labels
    (Tensor[G], int64). A prior takes the ground truth it overlaps most if that IoU is at least
    ``iou_threshold``, else the background (label 0); every ground truth also takes its best
    prior, whatever the IoU. Returns (boxes Tensor[P, 4] corner form, labels Tensor[P]). With no
    ground truth every prior is background and its box is itself (a zero regression target).
    """
    num_priors = priors_corner.shape[0]
    if gt_boxes.numel() == 0:
        return priors_corner.clone(), torch.zeros(num_priors, dtype=torch.int64)
    ious = box_iou(gt_boxes, priors_corner)  # [G, P]
    best_iou, best_gt = ious.max(dim=0)
    best_prior = ious.argmax(dim=1)
    best_gt[best_prior] = torch.arange(len(best_prior))
    best_iou[best_prior] = 2.0  # forced matches survive the threshold
    labels = gt_labels[best_gt].clone()
    labels[best_iou < iou_threshold] = 0
    return gt_boxes[best_gt], labels


class MatchPrior:
    """``target_transform`` of the datasets: normalized corner boxes (array[G, 4]) and labels
    (array[G]) -> (locations Tensor[P, 4] codes (tx, ty, tw, th), labels Tensor[P] int64)."""

    def __init__(self, priors: Tensor, center_variance: float, size_variance: float,
                 iou_threshold: float = 0.5):
        self.priors = priors.float()
        self.priors_corner = center_to_corner(self.priors)
        self.center_variance, self.size_variance = center_variance, size_variance
        self.iou_threshold = iou_threshold

    def __call__(self, gt_boxes: np.ndarray | Tensor, gt_labels: np.ndarray | Tensor) -> tuple[Tensor, Tensor]:
        boxes = torch.as_tensor(np.asarray(gt_boxes, dtype=np.float32)).reshape(-1, 4)
        labels = torch.as_tensor(np.asarray(gt_labels, dtype=np.int64)).reshape(-1)
        matched, labels = match_priors(boxes, labels, self.priors_corner, self.iou_threshold)
        codes = encode(corner_to_center(matched), self.priors, self.center_variance,
                       self.size_variance, eps=SIZE_EPS)
        return codes, labels
