"""Settings of the dashboard (``cctv dashboard``) and its HTTP API.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from runtime.settings import CommonSettings


class DashboardSettings(CommonSettings):
    """Settings of ``cctv dashboard``."""

    dashboard_host: str = Field("127.0.0.1", min_length=1, max_length=255,
                                description="Address the dashboard binds; anything but loopback "
                                            "requires dashboard_password.")
    dashboard_port: int = Field(8501, ge=1, le=65535, description="Port of the dashboard.")
    dashboard_password: SecretStr | None = Field(None, min_length=8, max_length=256,
                                                 description="Password the page asks for; "
                                                             "required when not on loopback.")
    dashboard_refresh_s: float = Field(1.0, ge=0.1, le=60,
                                       description="Refresh period of the Live view's counts and "
                                                   "camera lines (the video streams by itself).")
    dashboard_stale_s: float = Field(5.0, ge=1, le=3600,
                                     description="An online camera without a frame this long "
                                                 "shows as stalled.")
    dashboard_media_dir: Path = Field(Path(".cctv/media"),
                                      description="Folder of replayable files; uploads land here "
                                                  "(the RQ worker must see the same path).")
    replay_dir: Path = Field(Path(".cctv/replays"),
                             description="Folder where replays started from the dashboard write "
                                         "their recordings (annotated video, CSV, JSON report), "
                                         "listed by its Replay view (the RQ worker writes it: "
                                         "it must see the same path).")
