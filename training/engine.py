"""One epoch of training and one pass of evaluation (torchvision's ``engine.py`` shape)."""

from __future__ import annotations

import logging
import math
import time
from typing import Iterable

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from detector.boxes import select_per_image
from detector.config import ModelConfig
from detector.network import decode_predictions

from .datasets import DetectionDataset
from .loss import MultiboxLoss
from .metrics import voc_map
from .nets import train_mode

log = logging.getLogger(__name__)


def train_one_epoch(model: nn.Module, criterion: MultiboxLoss, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, loader: Iterable, device: torch.device,
                    epoch: int, max_norm: float, max_steps: int | None = None) -> list[dict]:
    """Train over ``loader`` (at most ``max_steps`` batches); one record per step:
    ``{"epoch", "lr", "loss", "regression", "classification", "skipped", "images", "seconds"}``.

    A step whose loss or gradient norm is not finite is skipped: no weight changes, a logged
    warning, ``skipped`` set, and its loss recorded as NaN so that it shows. Gradients are
    clipped to ``max_norm``; the scheduler steps every batch (warm-up, then the schedule).
    """
    train_mode(model)
    records = []
    bar = tqdm(loader, desc=f"epoch {epoch}", total=_total(loader, max_steps), leave=False, dynamic_ncols=True)
    for step, (images, gt_locations, labels) in enumerate(bar):
        if max_steps is not None and step >= max_steps:
            break
        start = time.perf_counter()
        images, gt_locations, labels = images.to(device), gt_locations.to(device), labels.to(device)
        lr = optimizer.param_groups[0]["lr"]
        locations, confidence = model(images)
        regression, classification = criterion(confidence, locations, labels, gt_locations)
        loss = regression + classification
        optimizer.zero_grad(set_to_none=True)
        skipped = not torch.isfinite(loss)
        if not skipped:
            loss.backward()
            grad_norm = nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_norm)
            skipped = not torch.isfinite(grad_norm)
        if skipped:
            log.warning("epoch %d step %d: non-finite loss or gradient (regression %s, classification %s): "
                        "step skipped, weights unchanged", epoch, step, regression.item(), classification.item())
            optimizer.zero_grad(set_to_none=True)
        else:
            optimizer.step()
        scheduler.step()
        record = {"epoch": epoch, "lr": lr, "loss": math.nan if skipped else loss.item(),
                  "regression": math.nan if skipped else regression.item(),
                  "classification": math.nan if skipped else classification.item(),
                  "skipped": int(skipped), "images": len(images), "seconds": time.perf_counter() - start}
        records.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{lr:.2e}")
    return records


def _total(loader: Iterable, max_steps: int | None) -> int | None:
    size = len(loader) if hasattr(loader, "__len__") else None
    return min(size, max_steps) if size is not None and max_steps is not None else size or max_steps


def postprocess(locations: Tensor, logits: Tensor, config: ModelConfig, score_threshold: float = 0.01,
                max_detections: int = 100) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Network output -> per image (boxes float[D, 4] normalized corners, scores, labels),
    as ``Detector`` does: decode, softmax or sigmoid, per-class NMS."""
    scores, boxes = decode_predictions(locations, logits, config.priors.to(locations.device), config)
    return [(kept.clamp(0, 1).numpy(), kept_scores.numpy(), (classes + 1).numpy()) for kept, kept_scores, classes
            in select_per_image(boxes.cpu(), scores[..., 1:].cpu(), score_threshold, config.nms_iou, max_detections)]

@torch.no_grad()
def evaluate(model: nn.Module, criterion: MultiboxLoss, loader: torch.utils.data.DataLoader,
             dataset: DetectionDataset, config: ModelConfig, device: torch.device) -> dict:
    """Validation loss and VOC mAP@0.5 over ``loader`` (unshuffled, over ``dataset`` with the
    test transform). Returns ``{"loss", "regression", "classification", "map50", "ap50"}``."""
    model.eval()
    totals = np.zeros(3)
    batches = 0
    detections = []
    for images, gt_locations, labels in tqdm(loader, desc="validate", leave=False, dynamic_ncols=True):
        images, gt_locations, labels = images.to(device), gt_locations.to(device), labels.to(device)
        locations, confidence = model(images)
        regression, classification = criterion(confidence, locations, labels, gt_locations)
        totals += [(regression + classification).item(), regression.item(), classification.item()]
        batches += 1
        detections += postprocess(locations, confidence, config)
    ground_truth = [dataset.get_annotation(i)[1:] for i in range(len(detections))]
    map50, per_class = voc_map(ground_truth, detections, len(dataset.class_names))
    loss, regression, classification = (float(x) for x in totals / max(batches, 1))
    return {"loss": loss, "regression": regression, "classification": classification,
            "map50": map50, "ap50": per_class}
