"""A camera's ``record:`` settings in the cameras file: continuous recording of its own stream
(stream copy into MP4 segments, written by ingest)."""

from __future__ import annotations

from pydantic import Field

from .schema import Strict

RECORDED_CODECS = ("h264", "hevc")
"""Codecs recorded by stream copy (their packets are written as they come, never re-encoded)."""


class RecordConfig(Strict):
    """Continuous recording of the camera's own stream in MP4 segments starting at keyframes."""

    enabled: bool | None = Field(None, description="Record; None = live H.264/H.265 cameras "
                                                    "only (files and replays when set true).")
    retain_days: float = Field(7.0, gt=0, le=3650, description="Segments older than this are "
                                                               "deleted.")
    max_gb: float | None = Field(None, gt=0, le=1_000_000,
                                 description="Cap of this camera's recordings in GB (10^9 bytes); "
                                             "None = only the global CCTV_RECORDINGS_MAX_GB.")
    segment_s: float = Field(10.0, ge=1, le=3600, description="A new segment begins at the "
                                                              "first keyframe this long after "
                                                              "the current one began.")

    def wanted(self, live: bool, codec: str) -> bool:
        """Whether a source (``live`` or not) whose packets are ``codec`` is recorded by stream
        copy: as set, else live H.264/H.265 only; never a codec that cannot be copied."""
        if codec not in RECORDED_CODECS:
            return False
        return live if self.enabled is None else self.enabled
