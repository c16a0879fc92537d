"""Settings of the ingest service.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from runtime.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    """Settings of the ingest service."""

    cameras_file: Path | None = Field(None, description="YAML file seeding the camera list.")
    stream_maxlen: int = Field(200, ge=10, le=100_000,
                               description="Cap of each frame stream (XADD MAXLEN ~).")
    camera_poll_s: float = Field(1.0, ge=0.05, le=60,
                                 description="How often camera config is re-read.")
    backoff_initial_s: float = Field(0.5, ge=0.01, le=60, description="First reconnect delay.")
    backoff_max_s: float = Field(30.0, ge=0.1, le=3600, description="Longest reconnect delay.")
    open_timeout_s: float = Field(10.0, ge=0.5, le=300,
                                  description="Timeout to open or read a network stream.")
    replay_keep_s: int = Field(3600, ge=60, le=30 * 86_400,
                               description="A finished replay's frame stream expires this long "
                                           "after its results are read (the tracker's snapshots "
                                           "and clips read it until then).")
    recordings_max_gb: float | None = Field(None, gt=0, le=1_000_000,
                                            description="Cap of all cameras' recordings together "
                                                        "in GB (10^9 bytes); the oldest segment "
                                                        "of any camera goes first. None = no "
                                                        "global cap.")
