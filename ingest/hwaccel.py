"""Hardware decoding: open a container on a decoding device, or in software when there is none.

``hwaccel`` is a camera setting: ``none``, a device type (``cuda`` for NVDEC, ``vaapi``, ``qsv``)
or ``auto``, which tries each of those in turn. A device that fails to open a stream that software
opens is not tried again for that stream (URL) in this process: one log line, then software. It
is remembered per stream, not per device: NVDEC that cannot take an MJPEG camera still decodes the
H.264 ones.
"""

from __future__ import annotations

import logging
import threading

import av
from av.codec.hwaccel import HWAccel

log = logging.getLogger("cctv.ingest")

DEVICE_TYPES = ("cuda", "vaapi", "qsv")
CHOICES = ("auto", "none", *DEVICE_TYPES)

_lock = threading.Lock()
_unusable: dict[str, set[str]] = {}  # URL -> device types that failed on it (logged once)


def candidates(url: str, hwaccel: str) -> list[str]:
    """Device types to try for ``url`` under ``hwaccel``, minus those that already failed."""
    kinds = DEVICE_TYPES if hwaccel == "auto" else () if hwaccel == "none" else (hwaccel,)
    with _lock:
        failed = _unusable.get(url, set())
        return [k for k in kinds if k not in failed]


def _note_failures(url: str, hwaccel: str, codec: str,
                   failed: list[tuple[str, Exception]]) -> None:
    with _lock:
        _unusable.setdefault(url, set()).update(kind for kind, _ in failed)
    if hwaccel == "auto":
        log.info("hwaccel auto: no hardware decoder (%s) opens this stream (%s), decoding in "
                 "software", ", ".join(kind for kind, _ in failed), codec)
    else:
        log.warning("hwaccel %s unusable for this stream (%s: %s), decoding in software",
                    hwaccel, codec, failed[0][1])


def open_container(url: str, hwaccel: str = "none", **kwargs) -> av.container.InputContainer:
    """``av.open(url, **kwargs)`` decoding on the first usable device of ``hwaccel``; software
    when none is. Errors are software's (the stream's own problem), never a device's."""
    failed: list[tuple[str, Exception]] = []
    for kind in candidates(url, hwaccel):
        try:
            return av.open(url, hwaccel=HWAccel(kind, allow_software_fallback=False), **kwargs)
        except (av.FFmpegError, RuntimeError) as exc:
            failed.append((kind, exc))
    container = av.open(url, **kwargs)
    if failed:
        video = container.streams.video
        _note_failures(url, hwaccel, video[0].codec_context.name if video else "no video",
                       failed)
    return container
