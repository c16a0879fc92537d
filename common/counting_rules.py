"""Where and when tracked objects count, per camera: counting lines and zones (points as
fractions of the frame) and the counting rules (per camera, overridable per class).
"""

from __future__ import annotations

from typing import Any

from pydantic import (Field, PrivateAttr, ValidationError, field_serializer, field_validator,
                      model_validator)

from .schema import Integer, Number, Strict

SHAPE_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"


Point = tuple[Number, Number]


def _check_points(points: list[Point]) -> list[Point]:
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point [{x}, {y}] is outside the frame: coordinates are fractions "
                             "of the frame width and height, from 0 to 1")
    return points


class LineConfig(Strict):
    """A counting line between two points, as fractions of the frame (0..1, y down)."""

    name: str = Field(pattern=SHAPE_NAME_PATTERN,
                      description="Line id: letters, digits, '_', '.', '-'; at most 32 chars.")
    points: list[Point] = Field(description="[[x1, y1], [x2, y2]] in 0..1; 'in' is a crossing "
                                            "towards the side 90 degrees counter-clockwise of "
                                            "the direction first -> second point on screen.")

    @field_validator("points")
    @classmethod
    def _two_points(cls, points: list[Point]) -> list[Point]:
        if len(points) != 2:
            raise ValueError(f"a line needs exactly 2 points [[x1, y1], [x2, y2]], "
                             f"got {len(points)}")
        if points[0] == points[1]:
            raise ValueError("a line needs 2 different points")
        return _check_points(points)


class ZoneConfig(Strict):
    """A polygon zone, its corners as fractions of the frame (0..1, y down)."""

    name: str = Field(pattern=SHAPE_NAME_PATTERN,
                      description="Zone id: letters, digits, '_', '.', '-'; at most 32 chars.")
    points: list[Point] = Field(description="3 to 64 corners [[x, y], ...] in 0..1.")

    @field_validator("points")
    @classmethod
    def _polygon(cls, points: list[Point]) -> list[Point]:
        if not 3 <= len(points) <= 64:
            raise ValueError(f"a zone needs 3 to 64 points [[x, y], ...], got {len(points)}")
        area2 = sum(x1 * y2 - x2 * y1
                    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]))
        if abs(area2) < 1e-9:
            raise ValueError("a zone's points enclose no area")
        return _check_points(points)


class CountRules(Strict):
    """When a tracked object counts (per camera, overridable per class); sizes are fractions of
    the frame."""

    min_frames: Integer = Field(3, ge=1, le=1000,
                                description="Frames (at or above count_min_score) before a "
                                            "track counts as an object; also frames on a "
                                            "line's new side before a crossing counts, and "
                                            "inside a zone before the object occupies it.")
    line_margin: Number = Field(0.02, ge=0.0, le=0.5,
                                description="How far past a line (fraction of the frame) an "
                                            "object must be before its side counts.")
    count_min_score: Number = Field(0.5, ge=0.0, le=1.0,
                                    description="Lowest detection score that counts (weaker "
                                                "boxes only keep tracks alive).")
    min_area: Number = Field(0.0, ge=0.0, le=1.0,
                             description="Smallest box area (fraction of the frame) kept.")
    max_area: Number = Field(1.0, gt=0.0, le=1.0,
                             description="Largest box area (fraction of the frame) kept.")
    max_ratio: Number | None = Field(None, gt=0.0, le=100.0,
                                     description="Widest box kept, width / height; None = "
                                                 "any.")
    masks: list[ZoneConfig] = Field(default_factory=list, max_length=32,
                                    description="Polygons where detections are ignored (their "
                                                "box's bottom centre inside): a poster, a tree.")

    @model_validator(mode="after")
    def _areas(self) -> "CountRules":
        if self.min_area > self.max_area:
            raise ValueError(f"min_area {self.min_area} is above max_area {self.max_area}")
        return self


class CountingConfig(CountRules):
    """A camera's counting rules, with overrides per class."""

    classes: dict[str, CountRules] = Field(default_factory=dict, max_length=256,
                                           description="Per class label: the rules set here "
                                                       "replace the camera's.")
    _rules: dict[str, CountRules] = PrivateAttr(default_factory=dict)

    @field_serializer("classes")
    def _as_set(self, classes: dict[str, CountRules]) -> dict[str, dict[str, Any]]:
        """A class entry keeps only what it sets, even a default: the rest is the camera's."""
        return {label: rules.model_dump(exclude_unset=True) for label, rules in classes.items()}

    @model_validator(mode="after")
    def _merge(self) -> "CountingConfig":
        base = {name: getattr(self, name) for name in CountRules.model_fields}
        self._rules[""] = CountRules(**base)
        for label, own in self.classes.items():
            try:
                self._rules[label] = CountRules(**base | own.model_dump(exclude_unset=True))
            except ValidationError as exc:
                raise ValueError(f"classes.{label}: {exc.errors()[0]['msg']}") from exc
        return self

    def rules(self, label: str) -> CountRules:
        """The rules of ``label``: the camera's, with what its class entry sets."""
        return self._rules.get(label, self._rules[""])
