"""media.draw: captions and the stale banner keep their share of the frame's height at any size."""

from __future__ import annotations

import numpy as np
import pytest

from media.draw import BANNER_HEIGHT, LINE_COLOR, Overlay, draw_banner, draw_scene

SIZES = [(160, 90), (1920, 1080)]


def caption_height_fraction(width: int, height: int) -> float:
    """The share of the height taken by a vertical line's caption (rows wider than the line)."""
    line = Overlay([(0.1, 0.0), (0.1, 1.0)], "door in 12 / out 3")
    out = draw_scene(np.zeros((height, width, 3), np.uint8), [], lines=[line])
    yellow = (out == LINE_COLOR).all(axis=2).sum(axis=1)
    return (yellow > width * 0.05).sum() / height


def banner_height_fraction(width: int, height: int) -> float:
    out = draw_banner(np.zeros((height, width, 3), np.uint8), "stale: no frame for 12 s")
    white = (out == 255).all(axis=2).sum(axis=1)
    return (white > width * 0.05).sum() / height


@pytest.mark.parametrize("fraction", [caption_height_fraction, banner_height_fraction])
def test_captions_and_banner_take_a_similar_share_of_small_and_large_frames(fraction):
    small, large = (fraction(width, height) for width, height in SIZES)
    assert small > 0 and large > 0
    assert 0.5 <= small / large <= 2, (small, large)


def test_the_banner_band_is_a_fixed_fraction_of_the_height():
    assert banner_height_fraction(1920, 1080) == pytest.approx(BANNER_HEIGHT, abs=0.01)
