import math

import pytest
import torch

from detector.boxes import NMS_BLOCK, batched_nms, box_iou, center_to_corner, corner_to_center, decode, encode, nms


def test_corner_centre_round_trip():
    corners = torch.tensor([[0.1, 0.2, 0.5, 0.9], [10.0, 20.0, 30.0, 25.0]])
    centres = corner_to_center(corners)
    assert torch.allclose(centres[0], torch.tensor([0.3, 0.55, 0.4, 0.7]))
    assert torch.allclose(center_to_corner(centres), corners)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7),  # overlap 1, union 4 + 4 - 1
        ([0, 0, 2, 2], [0, 0, 2, 2], 1.0),
        ([0, 0, 1, 1], [2, 2, 3, 3], 0.0),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # empty union: 0, never NaN
    ],
)
def test_box_iou_hand_computed(a, b, expected):
    iou = box_iou(torch.tensor([a], dtype=torch.float32), torch.tensor([b], dtype=torch.float32))
    assert iou.shape == (1, 1)
    assert iou.item() == pytest.approx(expected)


def test_encode_matches_pytorch_ssd_formula_and_decodes_back():
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.4]])
    box = torch.tensor([[0.55, 0.4, 0.3, 0.2]])
    codes = encode(box, priors, 0.1, 0.2)
    expected = [(0.55 - 0.5) / 0.2 / 0.1, (0.4 - 0.5) / 0.4 / 0.1, math.log(0.3 / 0.2) / 0.2, math.log(0.2 / 0.4) / 0.2]
    assert codes[0].tolist() == pytest.approx(expected, rel=1e-5)
    assert torch.allclose(decode(codes, priors, 0.1, 0.2), box, atol=1e-6)


def test_encode_of_degenerate_box_is_finite():
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.2]])
    codes = encode(torch.tensor([[0.5, 0.5, 0.0, 0.0]]), priors, 0.1, 0.2)
    assert torch.isfinite(codes).all()


def test_nms_keeps_best_of_overlapping_and_separate_boxes():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.0]])
    scores = torch.tensor([0.9, 0.95, 0.5, 0.1])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.5, max_output=1).tolist() == [1]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 2, 3]
    assert nms(torch.empty(0, 4), torch.empty(0), 0.5).tolist() == []


def test_batched_nms_never_suppresses_across_classes():
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    idxs = torch.tensor([0, 1, 0])
    assert batched_nms(boxes, scores, idxs, 0.5).tolist() == [0, 1]


@pytest.mark.parametrize("count, max_output", [(200, None), (1300, None), (1300, 700), (1300, 3)])
def test_nms_equals_brute_force_on_random_boxes(count, max_output):
    """Also across several blocks of NMS_BLOCK boxes, and stopping at max_output inside one."""
    assert count < NMS_BLOCK or count > 2 * NMS_BLOCK
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(count, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + torch.rand(count, 2, generator=g) * 30 + 1], dim=1)
    scores = torch.rand(count, generator=g)
    order = scores.argsort(descending=True).tolist()
    iou = box_iou(boxes, boxes).numpy()
    expected: list[int] = []
    for i in order:
        if all(iou[i, k] <= 0.45 for k in expected):
            expected.append(i)
    assert nms(boxes, scores, 0.45, max_output).tolist() == expected[:max_output]
