"""Redis stream entry ids (``"<ms>-<seq>"``) as comparable values.

Entries of one stream are ordered by (milliseconds, sequence number); frame ids, cursors and a
group's last-delivered id are compared that way, never as strings (``"10-0"`` < ``"9-0"`` as
text).
"""

from __future__ import annotations

from typing import NamedTuple

from .fields import text

MAX_PART = 2**64 - 1
"""Both parts of an id are unsigned 64-bit integers."""


class StreamId(NamedTuple):
    """One entry id: ``StreamId.parse(b"1700000000000-3") == StreamId(1700000000000, 3)``."""

    ms: int
    seq: int = 0

    @classmethod
    def parse(cls, entry_id: bytes | str) -> StreamId:
        """``"ms-seq"`` or ``"ms"`` (sequence 0), as text or as redis-py's bytes; ValueError
        when a part is not an integer."""
        ms, _, seq = text(entry_id).partition("-")
        return cls(int(ms), int(seq or 0))

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"

    def next(self) -> StreamId:
        """The smallest id greater than this one."""
        return StreamId(self.ms, self.seq + 1) if self.seq < MAX_PART else StreamId(self.ms + 1, 0)

    def previous(self) -> StreamId:
        """The greatest id smaller than this one (0-0 has none and stays 0-0): reading from it
        includes this entry in an exclusive read."""
        if self.seq > 0:
            return StreamId(self.ms, self.seq - 1)
        return StreamId(self.ms - 1, MAX_PART) if self.ms > 0 else self

