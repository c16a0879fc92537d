import math
from pathlib import Path

import numpy as np
import pytest
import torch

from detector.boxes import center_to_corner
from detector.priors import MB1_SSD_SPECS, ssd_priors, tf_multiple_grid_anchors

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden" / "ref"


def test_mb1_ssd_priors_count_order_and_first_cell():
    priors = ssd_priors(MB1_SSD_SPECS)
    assert priors.shape == (3000, 4)
    c = 0.5 / (300 / 16)
    small, large = 60 / 300, math.sqrt(60 * 105) / 300
    r2, r3 = math.sqrt(2), math.sqrt(3)
    expected = [
        [c, c, small, small],
        [c, c, large, large],
        [c, c, small * r2, small / r2],
        [c, c, small / r2, small * r2],
        [c, c, small * r3, small / r3],
        [c, c, small / r3, small * r3],
    ]
    torch.testing.assert_close(priors[:6], torch.tensor(expected), rtol=1e-6, atol=1e-7)
    # row-major: the next cell is one column to the right
    assert priors[6, 0].item() == pytest.approx(1.5 / (300 / 16))
    assert priors[6, 1].item() == pytest.approx(c)
    # last spec: one cell, centred, clamped to 1
    assert priors[-6:, :2].tolist() == [[0.5, 0.5]] * 6
    assert priors.max().item() <= 1.0 and priors.min().item() >= 0.0


def test_tf_anchor_count_and_lowest_layer():
    anchors = tf_multiple_grid_anchors()
    assert anchors.shape == (1917, 4)
    # lowest layer: (scale 0.1, ratio 1), (0.2, 2), (0.2, 0.5) at the first cell's centre 0.5/19
    c = 0.5 / 19
    r = math.sqrt(2)
    expected = torch.tensor([[c, c, 0.1, 0.1], [c, c, 0.2 * r, 0.2 / r], [c, c, 0.2 / r, 0.2 * r]])
    torch.testing.assert_close(anchors[:3], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(not GOLDEN.is_dir(), reason="shared/golden is not beside the checkout")
def test_tf_anchors_equal_tensorflow_graph_anchors():
    reference = np.load(GOLDEN / "bikes_000.npz")["anchors"].reshape(-1, 4)  # ymin, xmin, ymax, xmax
    ours = center_to_corner(tf_multiple_grid_anchors())[:, [1, 0, 3, 2]].numpy()
    np.testing.assert_allclose(ours, reference, atol=1e-6)
