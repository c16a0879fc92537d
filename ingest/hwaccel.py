"""Hardware decoding: open a container on a decoding device, or in software when there is none.

``hwaccel`` is a camera setting: ``none``, a device type (``cuda`` for NVDEC, ``vaapi``, ``qsv``)
or ``auto``, the first of those this machine has. Whether a device works is probed once per
process, on a small H.264 clip made in memory (never on a camera: some allow one connection), and
said in one log line when none does. A stream whose codec the device cannot take (MJPEG on NVDEC)
is decoded in software by FFmpeg itself.
"""

from __future__ import annotations

import io
import logging
import threading
from functools import cache

import av
import numpy as np
from av.codec.hwaccel import HWAccel

log = logging.getLogger("cctv.ingest")

DEVICE_TYPES = ("cuda", "vaapi", "qsv")

_lock = threading.Lock()
_usable: dict[str, bool] = {}  # device type -> works here (probed once)
_said: set[str] = set()  # hwaccel settings whose software fallback was logged


@cache
def _sample_h264() -> bytes:
    """Two 128x128 H.264 frames in an MP4, to probe decoders with."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 128
        stream.pix_fmt = "yuv420p"
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(np.full((128, 128, 3), 60 * i, np.uint8), "rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def probe(kind: str) -> bool:
    """Whether device type ``kind`` decodes H.264 here."""
    try:
        with av.open(io.BytesIO(_sample_h264()),
                     hwaccel=HWAccel(kind, allow_software_fallback=False)) as container:
            next(container.decode(video=0))
        return True
    except (av.FFmpegError, RuntimeError, StopIteration) as exc:
        log.debug("hwaccel %s unusable: %s", kind, exc)
        return False


def choose(hwaccel: str) -> str | None:
    """The device type to decode on for the setting ``hwaccel`` (None: software)."""
    kinds = DEVICE_TYPES if hwaccel == "auto" else () if hwaccel == "none" else (hwaccel,)
    with _lock:
        for kind in kinds:
            if kind not in _usable:
                _usable[kind] = probe(kind)
            if _usable[kind]:
                return kind
        if kinds and hwaccel not in _said:
            _said.add(hwaccel)
            if hwaccel == "auto":
                log.info("hwaccel auto: no hardware decoder (%s) usable here, decoding in "
                         "software", ", ".join(DEVICE_TYPES))
            else:
                log.warning("hwaccel %s unusable here, decoding in software", hwaccel)
    return None


def open_container(url: str, hwaccel: str = "none", **kwargs) -> av.container.InputContainer:
    """``av.open(url, **kwargs)`` decoding on the device ``hwaccel`` chooses, else in software."""
    kind = choose(hwaccel)
    if kind is None:
        return av.open(url, **kwargs)
    return av.open(url, hwaccel=HWAccel(kind, allow_software_fallback=True), **kwargs)
