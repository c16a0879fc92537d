"""Reorder buffer: detections arrive in the order workers finish them; tracking needs capture order.

Frames are ordered by their frame id (the entry id of ``cctv:frames:{camera}``, which ingest
writes in capture order). The buffer releases its earliest frame as soon as it is the next one
(``seq`` one more than the last released, or 0: the first frame of a source run), or when more
than ``max_frames`` are held, or once no earlier frame can still come. Whether one can is read
from the frames' consumer group (``settled_below``: every frame before it is acknowledged or
gone): an earlier frame still pending on a worker (a slow one, or a dead one whose frames are
reclaimed after ``claim_idle_ms``) is waited for up to ``pending_wait_s``; none pending, the
frame goes at once. When the group could not be read, a frame waits ``wait_s``.
A frame older than one already released is late: it is refused, never tracked out of order.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import Callable

from common.messages import DetectionMessage
from common.stream_ids import StreamId

OrderKey = StreamId
NONE_PENDING = StreamId(2**64, 0)
"""``settled_below`` when no frame of the camera is pending at all."""


order_key = StreamId.parse
"""Stream entry id ``"ms-seq"`` -> comparable :class:`StreamId`."""


def before(entry_id: str) -> str:
    """The greatest stream entry id smaller than ``entry_id`` (for exclusive reads from it)."""
    return str(StreamId.parse(entry_id).previous())


@dataclass(order=True)
class Held:
    key: OrderKey
    arrived: float = field(compare=False)
    stream_id: str = field(compare=False)
    msg: DetectionMessage = field(compare=False)


class ReorderBuffer:
    """Holds detection messages of one camera and releases them in capture order."""

    def __init__(self, wait_s: float, max_frames: int, last_key: OrderKey | None = None,
                 last_seq: int | None = None, clock: Callable[[], float] = time.monotonic,
                 pending_wait_s: float = 45.0):
        self.wait_s, self.max_frames, self.clock = wait_s, max_frames, clock
        self.pending_wait_s = pending_wait_s
        self.last_key, self.last_seq = last_key, last_seq
        self._heap: list[Held] = []
        self._keys: set[OrderKey] = set()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, msg: DetectionMessage, stream_id: str) -> bool:
        """Hold a message; False (refused) when it is late or already held."""
        key = order_key(msg.frame_id)
        if (self.last_key is not None and key <= self.last_key) or key in self._keys:
            return False
        heapq.heappush(self._heap, Held(key, self.clock(), stream_id, msg))
        self._keys.add(key)
        return True

    def pop_ready(self, settled_below: OrderKey | None = None
                  ) -> list[tuple[DetectionMessage, str]]:
        """The messages that may be tracked now, in capture order, with their stream ids.

        ``settled_below``: every frame before this key is acknowledged or gone (the oldest frame
        still pending on a worker; :data:`NONE_PENDING` for none); None when unknown.
        """
        out = []
        while self._heap and self._ready(settled_below):
            held = heapq.heappop(self._heap)
            self._keys.discard(held.key)
            self.last_key, self.last_seq = held.key, held.msg.seq
            out.append((held.msg, held.stream_id))
        return out

    def _ready(self, settled_below: OrderKey | None) -> bool:
        head = self._heap[0]
        if (head.msg.seq == 0
                or self.last_seq is not None and head.msg.seq == self.last_seq + 1
                or len(self._heap) > self.max_frames
                or settled_below is not None and head.key < settled_below):
            return True
        waited = self.clock() - min(h.arrived for h in self._heap)
        return waited >= (self.wait_s if settled_below is None else self.pending_wait_s)

    def oldest_stream_id(self) -> str | None:
        """The smallest detections-stream id still held (a restart must read again from it)."""
        return min(self._heap, key=lambda h: order_key(h.stream_id)).stream_id \
            if self._heap else None
