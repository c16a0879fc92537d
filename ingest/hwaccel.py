"""Hardware decoding: open a container on a decoding device, or in software when there is none.

``hwaccel`` is a camera setting: ``none``, a device type (``cuda`` for NVDEC, ``vaapi``, ``qsv``)
or ``auto``, which tries each of those in turn. A device that fails to open a stream that software
opens is unusable in this process: one log line, and software decoding from then on.
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
_unusable: set[str] = set()  # device types that failed here; logged once each
_said_auto = False


def candidates(hwaccel: str) -> list[str]:
    """Device types to try for ``hwaccel``, minus those already found unusable."""
    kinds = DEVICE_TYPES if hwaccel == "auto" else () if hwaccel == "none" else (hwaccel,)
    with _lock:
        return [k for k in kinds if k not in _unusable]


def _unusable_now(kind: str, hwaccel: str, error: Exception) -> None:
    global _said_auto
    with _lock:
        if kind in _unusable:
            return
        _unusable.add(kind)
        if hwaccel != "auto":
            log.warning("hwaccel %s unusable (%s): decoding in software", kind, error)
        elif not _said_auto and _unusable.issuperset(DEVICE_TYPES):
            _said_auto = True
            log.info("hwaccel auto: no hardware decoder (%s) usable here, decoding in software",
                     ", ".join(DEVICE_TYPES))


def open_container(url: str, hwaccel: str = "none", **kwargs) -> av.container.InputContainer:
    """``av.open(url, **kwargs)`` decoding on the first usable device of ``hwaccel``; software
    when none is. Errors are software's (the stream's own problem), never a device's."""
    failed: list[tuple[str, Exception]] = []
    for kind in candidates(hwaccel):
        try:
            return av.open(url, hwaccel=HWAccel(kind, allow_software_fallback=False), **kwargs)
        except (av.FFmpegError, RuntimeError) as exc:
            failed.append((kind, exc))
    container = av.open(url, **kwargs)
    for kind, exc in failed:
        _unusable_now(kind, hwaccel, exc)
    return container
