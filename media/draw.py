"""Boxes, track ids, counting lines and zones drawn on a frame with OpenCV.

Objects are anything with ``label``, ``score`` and ``box`` (x1, y1, x2, y2 pixels) attributes, and
an optional ``track_id``: the pipeline's messages, the detector's ``Detection``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol, Sequence

import cv2
import numpy as np

PALETTE = [(255, 99, 71), (60, 179, 113), (30, 144, 255), (255, 215, 0), (238, 130, 238),
           (0, 206, 209), (255, 140, 0), (154, 205, 50)]
"""RGB colours; a label always gets the same one."""
LINE_COLOR = (0, 255, 255)  # BGR yellow
ZONE_COLOR = (255, 0, 255)  # BGR magenta

Point = tuple[float, float]


class Drawable(Protocol):
    """What a box needs to be drawn (``track_id``, when present, starts its caption)."""

    label: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class Overlay:
    """A counting line (2 points) or zone (3+ points) in frame fractions, with its caption."""

    points: Sequence[Point]
    caption: str


class Place(Protocol):
    """A counting line or zone: its ``name`` and ``points`` in frame fractions."""

    name: str
    points: Sequence[Point]


def place_overlays(lines: Iterable[Place], zones: Iterable[Place],
                   crossed: Mapping[tuple[str, str], int],
                   inside: Mapping[str, Mapping[str, int]]) -> tuple[list[Overlay], list[Overlay]]:
    """Counting lines captioned with their crossings (``crossed[(line, "in" or "out")]``) and
    zones with the objects inside now (``inside[zone][label]``)."""
    return ([Overlay(line.points, f"{line.name} in {crossed.get((line.name, 'in'), 0)} / "
                                  f"out {crossed.get((line.name, 'out'), 0)}") for line in lines],
            [Overlay(zone.points, f"{zone.name}: {sum(inside.get(zone.name, {}).values())}")
             for zone in zones])


def label_color(label: str) -> tuple[int, int, int]:
    """A stable BGR colour for ``label``."""
    r, g, b = PALETTE[zlib.crc32(label.encode()) % len(PALETTE)]
    return b, g, r


CAPTION_HEIGHT = 0.08
"""A caption's box height as a fraction of the frame's height, so it reads alike at any size."""
MIN_FONT_SCALE = 0.3
"""The smallest font scale: below it OpenCV's glyphs stop being letters."""
BANNER_HEIGHT = 0.12
"""The stale banner's band height as a fraction of the frame's height."""


def caption_style(frame_height: int) -> tuple[float, int]:
    """The font scale and stroke thickness of captions on a ``frame_height`` pixels frame."""
    # A HERSHEY_SIMPLEX caption box is about 34 px per unit of font scale (text, baseline, margin).
    font_scale = max(MIN_FONT_SCALE, frame_height * CAPTION_HEIGHT / 34)
    return font_scale, max(1, round(font_scale * 1.2))


def _caption(out: np.ndarray, text: str, at: tuple[int, int], color: tuple[int, int, int],
             font_scale: float, stroke: int = 1) -> None:
    """Text on a filled box whose top-left corner is ``at`` (moved inside the image)."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, stroke)
    x = min(max(at[0], 0), max(out.shape[1] - tw - 4, 0))
    y = min(max(at[1], 0), max(out.shape[0] - th - base - 2, 0))
    cv2.rectangle(out, (x, y), (x + tw + 4, y + th + base + 2), color, -1)
    cv2.putText(out, text, (x + 2, y + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0),
                stroke, cv2.LINE_AA)


def draw_scene(image: np.ndarray, objects: Iterable[Drawable],
               source_size: tuple[int, int] | None = None, lines: Iterable[Overlay] = (),
               zones: Iterable[Overlay] = ()) -> np.ndarray:
    """A copy of ``image`` (BGR, HxWx3) with zones, lines and each box drawn.

    Boxes are (x1, y1, x2, y2) pixels of a ``source_size`` (width, height) frame, scaled to the
    image when the sizes differ; a tracked object's caption starts with ``#id``. Line and zone
    points are fractions of the frame.
    """
    out = image.copy()
    height, width = out.shape[:2]
    sx, sy = (width / source_size[0], height / source_size[1]) if source_size else (1.0, 1.0)
    thickness = max(1, round(min(width, height) / 240))
    font_scale, stroke = caption_style(height)

    def pixel(p: Point) -> tuple[int, int]:
        return int(round(p[0] * width)), int(round(p[1] * height))

    for zone in zones:
        corners = np.array([pixel(p) for p in zone.points], np.int32)
        tint = out.copy()
        cv2.fillPoly(tint, [corners], ZONE_COLOR)
        cv2.addWeighted(tint, 0.2, out, 0.8, 0, dst=out)
        cv2.polylines(out, [corners], True, ZONE_COLOR, thickness, cv2.LINE_AA)
        _caption(out, zone.caption, tuple(corners.min(axis=0)), ZONE_COLOR, font_scale, stroke)
    for line in lines:
        a, b = pixel(line.points[0]), pixel(line.points[1])
        cv2.line(out, a, b, LINE_COLOR, thickness + 1, cv2.LINE_AA)
        _caption(out, line.caption, ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2), LINE_COLOR,
                 font_scale, stroke)
    for obj in objects:
        x1, y1, x2, y2 = obj.box
        p1 = (int(round(x1 * sx)), int(round(y1 * sy)))
        p2 = (int(round(x2 * sx)), int(round(y2 * sy)))
        color = label_color(obj.label)
        cv2.rectangle(out, p1, p2, color, thickness, cv2.LINE_AA)
        text = f"{obj.label} {obj.score:.2f}"
        track_id = getattr(obj, "track_id", None)
        if track_id is not None:
            text = f"#{track_id} {text}"
        (_, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, stroke)
        _caption(out, text, (p1[0], p1[1] - th - base - 2 if p1[1] >= th + base + 2 else p1[1]),
                 color, font_scale, stroke)
    return out


def draw_banner(image: np.ndarray, text: str) -> np.ndarray:
    """A darkened copy of ``image`` with ``text`` on a white band across its middle (a camera
    that stopped); the band is :data:`BANNER_HEIGHT` of the frame's height at any size."""
    out = (image // 2).astype(np.uint8)
    height, width = out.shape[:2]
    band = max(1, round(height * BANNER_HEIGHT))
    top = (height - band) // 2
    cv2.rectangle(out, (0, top), (width - 1, top + band - 1), (255, 255, 255), -1)
    # The text fills 60% of the band, narrowed when it would not fit the width.
    stroke = max(1, round(band / 40))
    font_scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, max(1, round(band * 0.6)),
                                            stroke)
    (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, stroke)
    font_scale *= min(1.0, width * 0.95 / max(tw, 1))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, stroke)
    cv2.putText(out, text, ((width - tw) // 2, top + (band + th) // 2), cv2.FONT_HERSHEY_SIMPLEX,
                font_scale, (0, 0, 0), stroke, cv2.LINE_AA)
    return out


def annotate_jpeg(jpeg: bytes, objects: Iterable[Drawable],
                  source_size: tuple[int, int] | None = None, lines: Iterable[Overlay] = (),
                  zones: Iterable[Overlay] = (), quality: int = 85,
                  banner: str | None = None) -> bytes:
    """Decode a JPEG, draw the scene on it (see :func:`draw_scene`), darken it under ``banner``
    when one is given, and encode it again."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a decodable JPEG")
    image = draw_scene(image, objects, source_size, lines, zones)
    if banner is not None:
        image = draw_banner(image, banner)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
