"""Live sources never build latency: a reader thread decodes ahead and the newest kept frame
wins; kept frames replaced before ingest took them are counted as dropped."""

from __future__ import annotations

import threading
from typing import Callable, Iterator

from .sources import Frame


class LatestFrames:
    """Iterates the newest of ``frames`` that ``keep`` accepts, counting the kept frames that a
    newer one replaced first (:meth:`take_dropped`). Call :meth:`close` before closing the
    source."""

    def __init__(self, frames: Iterator[Frame], keep: Callable[[Frame], bool],
                 on_read: Callable[[Frame], None]):
        self.frames, self.keep, self.on_read = frames, keep, on_read
        self._dropped = 0
        self._slot: Frame | None = None
        self._ended = False
        self._closing = threading.Event()
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="cctv-decode", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for frame in self.frames:
                if self._closing.is_set():
                    break
                self.on_read(frame)
                if not self.keep(frame):
                    continue
                with self._ready:
                    if self._slot is not None:
                        self._dropped += 1
                    self._slot = frame
                    self._ready.notify()
        finally:
            with self._ready:
                self._ended = True
                self._ready.notify()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            with self._ready:
                while self._slot is None and not self._ended:
                    self._ready.wait()
                frame, self._slot = self._slot, None
            if frame is None:
                return
            yield frame

    def take_dropped(self) -> int:
        """Kept frames replaced since the last call."""
        with self._ready:
            dropped, self._dropped = self._dropped, 0
        return dropped

    def close(self, timeout_s: float) -> None:
        """Stop reading (within the source's read timeout) and wait for the reader."""
        self._closing.set()
        self._thread.join(timeout_s)
