"""How far one detector's detections are from another's (int8 against fp32): matching and the bar.

Detections of both at or above the score threshold are matched one to one, same class and
IoU >= ``MATCH_IOU``, greedily by IoU; the figures are the F1 of the matching (a reference
detection without a partner is a miss, a candidate one without a partner a false alarm), the
mean IoU of the matched pairs and their mean absolute score difference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np
import torch

from .api import Detection, Detector
from .boxes import box_iou
from .errors import DetectorError

MATCH_IOU = 0.5
MIN_F1, MIN_MEAN_IOU, MAX_SCORE_DIFF = 0.97, 0.9, 0.03  # the bar for int8 against fp32


@dataclass(frozen=True)
class Agreement:
    """Figures of a candidate's detections against a reference's over some frames."""

    frames: int
    score_threshold: float
    reference: int  # detections of the reference
    candidate: int  # detections of the candidate
    matched: int
    f1: float
    mean_iou: float
    mean_score_diff: float
    max_score_diff: float

    def failures(self) -> list[str]:
        """What misses the bar, one line each (empty: it passes)."""
        out = []
        if self.f1 < MIN_F1:
            out.append(f"F1 {self.f1:.4f} < {MIN_F1}")
        if self.mean_iou < MIN_MEAN_IOU:
            out.append(f"mean IoU {self.mean_iou:.4f} < {MIN_MEAN_IOU}")
        if self.mean_score_diff > MAX_SCORE_DIFF:
            out.append(f"mean |score difference| {self.mean_score_diff:.4f} > {MAX_SCORE_DIFF}")
        return out

    def to_dict(self) -> dict:
        return asdict(self)


def match(reference: Sequence[Detection], candidate: Sequence[Detection]) -> list[tuple[int, int, float]]:
    """One-to-one pairs ``(i, j, iou)`` of same-class detections with IoU >= ``MATCH_IOU``,
    taken greedily, highest IoU first."""
    if not reference or not candidate:
        return []
    ious = box_iou(torch.tensor([d.box for d in reference]), torch.tensor([d.box for d in candidate]))
    same = torch.tensor([[a.class_id == b.class_id for b in candidate] for a in reference])
    ious = torch.where(same, ious, torch.zeros(()))
    pairs, used_i, used_j = [], set(), set()
    for flat in torch.argsort(ious.flatten(), descending=True).tolist():
        i, j = divmod(flat, len(candidate))
        value = ious[i, j].item()
        if value < MATCH_IOU:
            break
        if i not in used_i and j not in used_j:
            pairs.append((i, j, value))
            used_i.add(i)
            used_j.add(j)
    return pairs


def compare(reference: Detector, candidate: Detector, batches: Iterable[Sequence[np.ndarray]]) -> Agreement:
    """Run both detectors on each batch of BGR frames and measure their agreement."""
    frames = n_ref = n_cand = 0
    ious: list[float] = []
    diffs: list[float] = []
    for batch in batches:
        frames += len(batch)
        for ref, cand in zip(reference.detect(batch), candidate.detect(batch)):
            n_ref, n_cand = n_ref + len(ref), n_cand + len(cand)
            for i, j, value in match(ref, cand):
                ious.append(value)
                diffs.append(abs(ref[i].score - cand[j].score))
    if frames == 0:
        raise DetectorError("no frames to compare: pass images or videos with at least one frame")
    if n_ref == 0:
        raise DetectorError(f"the reference finds nothing at score >= {reference.score_threshold} in these "
                            f"{frames} frames: pass frames with objects in them")
    return Agreement(
        frames=frames, score_threshold=reference.score_threshold, reference=n_ref, candidate=n_cand, matched=len(ious),
        f1=round(2 * len(ious) / (n_ref + n_cand), 4),
        mean_iou=round(float(np.mean(ious)), 4) if ious else 0.0,
        mean_score_diff=round(float(np.mean(diffs)), 4) if diffs else 1.0,
        max_score_diff=round(float(np.max(diffs)), 4) if diffs else 1.0,
    )
