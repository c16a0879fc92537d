"""Box geometry for SSD: format conversion, IoU, box coding and non-maximum suppression.

All functions are stateless and work on the last dimension of a tensor holding four numbers:
corner form ``(x1, y1, x2, y2)`` or centre form ``(cx, cy, w, h)``, normalized or in pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor


def center_to_corner(boxes: Tensor) -> Tensor:
    """boxes (Tensor[..., 4]) in (cx, cy, w, h) -> (x1, y1, x2, y2)."""
    centre, size = boxes[..., :2], boxes[..., 2:]
    return torch.cat([centre - size / 2, centre + size / 2], dim=-1)


def corner_to_center(boxes: Tensor) -> Tensor:
    """boxes (Tensor[..., 4]) in (x1, y1, x2, y2) -> (cx, cy, w, h)."""
    top_left, bottom_right = boxes[..., :2], boxes[..., 2:]
    return torch.cat([(top_left + bottom_right) / 2, bottom_right - top_left], dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """boxes (Tensor[..., 4]) in (x1, y1, x2, y2) -> area (Tensor[...]); inverted boxes give 0."""
    size = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0)
    return size[..., 0] * size[..., 1]


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise IoU of boxes1 (Tensor[N, 4]) and boxes2 (Tensor[M, 4]), both (x1, y1, x2, y2).

    Returns Tensor[N, M]. Pairs whose union is empty get IoU 0, never NaN.
    """
    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    size = (bottom_right - top_left).clamp(min=0)
    inter = size[..., 0] * size[..., 1]
    union = box_area(boxes1)[:, None] + box_area(boxes2)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(inter.dtype).tiny), 0.0)


def encode(
    boxes: Tensor, priors: Tensor, center_variance: float, size_variance: float, eps: float = 1e-6
) -> Tensor:
    """Encode boxes (Tensor[..., P, 4], (cx, cy, w, h)) against priors (Tensor[P, 4], same form).

    Returns SSD regression targets (Tensor[..., P, 4]) in (tx, ty, tw, th) order:
    ``((cx - pcx) / pw / cv, (cy - pcy) / ph / cv, log(w / pw) / sv, log(h / ph) / sv)``.
    Widths and heights are clamped to ``eps`` first, so a degenerate box gives a large but finite
    target instead of ``log(0) = -inf`` (the cause of the tutorial's ``Loss-nan``).
    """
    centre = (boxes[..., :2] - priors[..., :2]) / priors[..., 2:] / center_variance
    size = torch.log(boxes[..., 2:].clamp(min=eps) / priors[..., 2:]) / size_variance
    return torch.cat([centre, size], dim=-1)


def decode(codes: Tensor, priors: Tensor, center_variance: float, size_variance: float) -> Tensor:
    """Inverse of :func:`encode`: codes (Tensor[..., P, 4], (tx, ty, tw, th)) -> (cx, cy, w, h)."""
    centre = codes[..., :2] * center_variance * priors[..., 2:] + priors[..., :2]
    size = torch.exp(codes[..., 2:] * size_variance) * priors[..., 2:]
    return torch.cat([centre, size], dim=-1)


NMS_BLOCK = 512  # boxes whose pairwise IoU is computed at once: 1 MB of float32


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, max_output: int | None = None) -> Tensor:
    """Greedy non-maximum suppression.

    boxes (Tensor[N, 4]) in (x1, y1, x2, y2), scores (Tensor[N]). Returns the indices (Tensor[K],
    int64) of the kept boxes, by decreasing score, at most ``max_output`` of them. A box is dropped
    when its IoU with a kept, higher-scoring box is greater than ``iou_threshold``.

    Works through the boxes by decreasing score in blocks of ``NMS_BLOCK``: a few tensor
    operations find which boxes of a block overlap the boxes kept so far and each other, and the
    greedy pass over the block is a loop over booleans, not over tensor operations.
    """
    order = scores.argsort(descending=True)
    ordered = boxes[order]
    limit = order.numel() if max_output is None else max_output
    keep: list[int] = []
    for start in range(0, order.numel(), NMS_BLOCK):
        if len(keep) >= limit:
            break
        block = ordered[start:start + NMS_BLOCK]
        alive = torch.ones(len(block), dtype=torch.bool, device=boxes.device)
        if keep:
            alive = (box_iou(ordered[keep], block) <= iou_threshold).all(dim=0)
        alive = alive.cpu().numpy()
        overlaps = (box_iou(block, block) > iou_threshold).cpu().numpy()
        for i in range(len(block)):
            if alive[i]:
                keep.append(start + i)
                if len(keep) >= limit:
                    break
                alive &= ~overlaps[i]
    return order[torch.tensor(keep, dtype=torch.int64, device=boxes.device)]


def batched_nms(
    boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float, max_output: int | None = None
) -> Tensor:
    """NMS done independently per category: boxes of different ``idxs`` never suppress each other.

    boxes (Tensor[N, 4]) in (x1, y1, x2, y2), scores (Tensor[N]), idxs (Tensor[N], int64 category
    per box). Returns kept indices (Tensor[K]) by decreasing score. Works by shifting each
    category's boxes to a disjoint region, then running one NMS.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    offsets = idxs.to(boxes.dtype) * (boxes.max() - boxes.min() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold, max_output)


def select_per_image(
    boxes: Tensor, scores: Tensor, score_threshold: float, iou_threshold: float, max_output: int | None = None
) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per image of a batch, the boxes at or above ``score_threshold`` that survive per-class NMS.

    boxes (Tensor[N, P, 4]) in (x1, y1, x2, y2), scores (Tensor[N, P, K], no background column).
    Returns per image (boxes Tensor[D, 4], scores Tensor[D], class indices into K Tensor[D]), by
    decreasing score. One pass over the batch finds the candidates, so an image with none costs
    nothing more; a candidate below the threshold can never suppress one above it, so filtering
    first leaves the kept set above the threshold unchanged.
    """
    image_idx, prior_idx, class_idx = torch.nonzero(scores >= score_threshold, as_tuple=True)
    empty = (boxes.new_zeros(0, 4), scores.new_zeros(0), class_idx.new_zeros(0))
    selected = [empty] * len(boxes)
    for i in image_idx.unique().tolist():
        mine = image_idx == i
        priors, classes = prior_idx[mine], class_idx[mine]
        candidates, candidate_scores = boxes[i, priors], scores[i, priors, classes]
        keep = batched_nms(candidates, candidate_scores, classes, iou_threshold, max_output)
        selected[i] = (candidates[keep], candidate_scores[keep], classes[keep])
    return selected
