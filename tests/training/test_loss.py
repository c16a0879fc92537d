"""Prior matching and the multibox loss: finite on degenerate and empty inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detector.boxes import center_to_corner, decode
from detector.config import mb1_ssd_config
from training.loss import MultiboxLoss, hard_negative_mining
from training.matching import MatchPrior, match_priors

CONFIG = mb1_ssd_config(["BACKGROUND", "a", "b"])


def test_match_priors_threshold_and_forced_best_prior():
    priors = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [0.0, 0.5, 0.5, 1.0]])
    gt = torch.tensor([[0.0, 0.0, 0.5, 0.4],     # IoU 0.8 with prior 0
                       [0.55, 0.55, 0.65, 0.65]])  # IoU 0.04 with prior 1: still takes it
    boxes, labels = match_priors(gt, torch.tensor([1, 2]), priors, 0.5)
    assert labels.tolist() == [1, 2, 0]
    torch.testing.assert_close(boxes[:2], gt)


def test_match_prior_targets_decode_back_and_empty_targets_are_background():
    match = MatchPrior(CONFIG.priors, CONFIG.center_variance, CONFIG.size_variance)
    gt = np.array([[0.1, 0.2, 0.4, 0.7]], np.float32)
    codes, labels = match(gt, np.array([1]))
    assert codes.shape == (3000, 4) and (labels == 1).sum() >= 1
    decoded = center_to_corner(decode(codes[labels == 1], CONFIG.priors[labels == 1], 0.1, 0.2))
    torch.testing.assert_close(decoded, torch.tensor(gt).expand_as(decoded), atol=1e-5, rtol=0)
    codes, labels = match(np.zeros((0, 4)), np.zeros(0))
    assert (labels == 0).all() and codes.abs().max() < 1e-5  # the priors themselves: zero targets


def test_degenerate_box_encodes_finite():
    """A zero-width box is log(0) in pytorch-ssd's encoding; here it is clamped first."""
    match = MatchPrior(CONFIG.priors, CONFIG.center_variance, CONFIG.size_variance)
    codes, labels = match(np.array([[0.3, 0.3, 0.3, 0.6]], np.float32), np.array([1]))
    assert torch.isfinite(codes).all() and (labels == 1).sum() >= 1


@pytest.mark.parametrize("score", ["softmax", "sigmoid"])
@pytest.mark.parametrize("with_objects", [True, False])
def test_loss_is_finite_with_and_without_positives(score, with_objects):
    torch.manual_seed(0)
    match = MatchPrior(CONFIG.priors, CONFIG.center_variance, CONFIG.size_variance)
    gt = np.array([[0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.2, 0.9]], np.float32) if with_objects else np.zeros((0, 4))
    codes, labels = match(gt, np.array([1, 2])[: len(gt)])
    confidence = torch.randn(2, 3000, 3, requires_grad=True)
    locations = torch.randn(2, 3000, 4, requires_grad=True)
    regression, classification = MultiboxLoss(score=score)(
        confidence, locations, torch.stack([labels, labels]), torch.stack([codes, codes]))
    (regression + classification).backward()
    assert torch.isfinite(regression) and torch.isfinite(classification) and classification > 0
    assert torch.isfinite(confidence.grad).all() and torch.isfinite(locations.grad).all()
    assert (regression > 0) == with_objects


def test_hard_negative_mining_takes_three_negatives_per_positive():
    loss = torch.arange(20.0).repeat(2, 1)
    labels = torch.zeros(2, 20, dtype=torch.long)
    labels[0, [0, 5]] = 1  # two positives -> six negatives, the highest-loss ones
    mask = hard_negative_mining(loss, labels, neg_pos_ratio=3, min_negatives=3)
    assert mask[0].nonzero().flatten().tolist() == [0, 5, 14, 15, 16, 17, 18, 19]
    assert mask[1].nonzero().flatten().tolist() == [17, 18, 19]  # background-only image: minimum 3
