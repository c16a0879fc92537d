"""Settings of the tracker.
"""

from __future__ import annotations

from pydantic import Field

from runtime.settings import MINUTE_TTL_S, ServiceSettings


class TrackerSettings(ServiceSettings):
    """Settings of the tracker (tracks, unique counts, line crossings and zone occupancy)."""

    tracker_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                                   description="Lock owner name; default host-pid.")
    max_cameras: int | None = Field(None, ge=1, le=10_000,
                                    description="Most cameras this tracker takes; unset = all "
                                                "it can (other trackers stand by).")
    tracker_poll_s: float = Field(1.0, ge=0.05, le=60,
                                  description="How often free cameras are looked for and lines "
                                              "and zones re-read.")
    reorder_ms: int = Field(1000, ge=0, le=60_000,
                            description="Longest wait for a missing earlier frame before "
                                        "tracking goes on without it, when the frames' consumer "
                                        "group cannot be read.")
    reorder_pending_ms: int = Field(45_000, ge=0, le=3_600_000,
                                    description="Longest wait for an earlier frame still pending "
                                                "on a worker; at least the workers' "
                                                "claim_idle_ms plus a batch, so that the frames "
                                                "of a dead worker are tracked, not skipped.")
    reorder_max: int = Field(5000, ge=1, le=100_000,
                             description="Most frames held per camera while waiting (about "
                                         "reorder_pending_ms x frames/s).")
    lock_ttl_ms: int = Field(5000, ge=200, le=600_000,
                             description="A camera's tracker lock expires this long after its "
                                         "owner stops renewing it (then another takes over).")
    track_threshold: float = Field(0.25, ge=0.0, le=1.0,
                                   description="ByteTrack: detections scoring above it are "
                                               "matched first and (from +0.1) start tracks; "
                                               "0.1 up to it only extend tracks.")
    match_threshold: float = Field(0.8, gt=0.0, le=1.0,
                                   description="ByteTrack: most 1 - IoU x score for a match.")
    lost_track_frames: int = Field(30, ge=1, le=10_000,
                                   description="Longest gap (frames without a match) after "
                                               "which a lost track is still found again.")
    min_track_frames: int = Field(1, ge=1, le=100,
                                  description="Matches after its first frame before a track "
                                              "gets an id and is counted.")
    tracks_maxlen: int = Field(1000, ge=10, le=1_000_000,
                               description="Cap of each tracks stream.")
    minute_ttl_s: int = MINUTE_TTL_S
    events: bool = Field(True, description="Make an event (snapshot, clip) of every object "
                                           "that counts.")
    event_end_after_s: float = Field(5.0, ge=0.1, le=3600,
                                     description="An event ends when its object has not been "
                                                 "seen for this long (capture time).")
    event_pre_s: float = Field(2.0, ge=0, le=60, description="Clip time before an event starts.")
    event_post_s: float = Field(2.0, ge=0, le=60, description="Clip time after an event ends.")
    event_clips: bool = Field(True, description="Give every event a clip, cut from the camera's "
                                                "recording (off: snapshots only).")
    event_max_age_days: float = Field(7.0, gt=0, le=3650,
                                      description="Events (and their files) older than this "
                                                  "are removed.")
    event_max_mb: int = Field(2048, ge=1, le=10_000_000,
                              description="Most megabytes of event files per camera; the oldest "
                                          "events go first.")
