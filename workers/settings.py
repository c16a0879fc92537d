"""Settings of a detection worker.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from runtime.settings import MINUTE_TTL_S, ServiceSettings


class WorkerSettings(ServiceSettings):
    """Settings of a detection worker."""

    worker_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                                  description="Consumer name; default host-pid.")
    detector: str = Field("ssdlite-person", min_length=1, description="Detector spec.")
    device: str | None = Field(None, description="torch device (cpu, cuda, cuda:1); None = auto.")
    precision: Literal["fp32", "int8"] = Field(
        "fp32", description="Network precision. int8 runs the quantized network on the CPU "
                            "(onnxruntime; the network 1.5-2x as fast as fp32), calibrated on "
                            "the sample videos or on your footage by `python -m detector "
                            "calibrate`; it needs device cpu or auto (then the CPU).")
    publish_floor: float = Field(0.1, ge=0.0, le=1.0,
                                 description="Lowest detection score published: the tracker's "
                                             "second stage needs the weak boxes, and counts "
                                             "only those at a camera's count_min_score.")
    classes: list[str] | None = Field(None, description="Keep only these labels; None = all.")
    num_threads: int | None = Field(None, ge=1, le=256,
                                    description="CPU threads per lane (torch and onnxruntime); "
                                                "unset = the cores shared out among the lanes.")
    lanes: int | None = Field(None, ge=1, le=64,
                              description="Batches in flight at once, one thread each; unset = "
                                          "on CPU one lane per core (at most 4), on CUDA 2.")
    batch_size: int = Field(8, ge=1, le=256, description="Most frames per detect() call.")
    batch_wait_ms: int = Field(50, ge=0, le=10_000, description="Longest wait to fill a batch.")
    claim_idle_ms: int = Field(30_000, ge=100, le=3_600_000,
                               description="Reclaim frames pending this long on a dead worker.")
    max_deliveries: int = Field(3, ge=1, le=100,
                                description="A frame delivered more often than this (it keeps "
                                            "killing workers) is dead-lettered, not tried again.")
    max_frame_pixels: int = Field(40_000_000, ge=1024, le=1_000_000_000,
                                  description="Frames whose JPEG header claims more pixels are "
                                              "dead-lettered before decoding.")
    heartbeat_s: float = Field(2.0, ge=0.1, le=60, description="Heartbeat interval.")
    detections_maxlen: int = Field(1000, ge=10, le=1_000_000,
                                   description="Cap of each detections stream.")
    done_ttl_s: int = Field(3600, ge=60, le=604_800,
                            description="Lifetime of per-frame 'published' markers.")
    minute_ttl_s: int = MINUTE_TTL_S
