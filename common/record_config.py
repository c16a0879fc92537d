"""A camera's ``record:`` settings in the cameras file: continuous recording into MP4 segments,
written by ingest (by stream copy of the camera's own packets, or by encoding the frames it
publishes)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool

from .schema import Number, Strict

RECORDED_CODECS = ("h264", "hevc")
"""Codecs recorded by stream copy (their packets are written as they come, never re-encoded)."""


class RecordConfig(Strict):
    """Continuous recording in MP4 segments: live H.264/H.265 copied, other sources encoded."""

    enabled: StrictBool | None = Field(None, description="Record continuously; None = live "
                                                          "cameras only (files and replays "
                                                          "when set true); a camera not "
                                                          "recorded continuously is still "
                                                          "recorded where its events' clips "
                                                          "need it.")
    retain_days: Number = Field(7.0, gt=0, le=3650,
                                description="Segments older than this are deleted.")
    max_gb: Number | None = Field(None, gt=0, le=1_000_000,
                                  description="Cap of this camera's recordings in GB (10^9 "
                                              "bytes); None = only the global "
                                              "CCTV_RECORDINGS_MAX_GB.")
    segment_s: Number = Field(10.0, ge=1, le=3600,
                              description="A new segment begins at the first keyframe "
                                          "(encoded: frame) this long after the current "
                                          "one began.")

    def records(self, live: bool) -> bool:
        """Whether a source, ``live`` or not, is recorded continuously: as ``enabled`` says,
        else when it is live."""
        return live if self.enabled is None else self.enabled

    @staticmethod
    def how(paced: bool, codec: str | None) -> Literal["copy", "encode"]:
        """How a source whose packets are ``codec`` (None: it has none, an image folder) is
        recorded: H.264/H.265 of a source ``paced`` by its own clock (a live camera, or a file
        played in real time) by stream copy; any other by encoding the frames ingest publishes.
        A file read at detection pace is encoded: its published times do not follow the file's
        own clock, and a segment's times must be those of the frames published (the events'
        times)."""
        return "copy" if paced and codec in RECORDED_CODECS else "encode"
