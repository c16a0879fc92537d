"""One time range of recorded segments as one MP4, by stream copy (no decode, no encode).

Each source is a segment file and the time of its timestamp 0 on a common clock (Unix seconds):
packets are copied from the last keyframe at or before ``start`` up to ``end``, their timestamps
rebased onto that clock so the output's 0 is that keyframe and a gap between segments stays a gap;
the ``moov`` atom is written first (faststart) so browsers play it before it is all loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import av


class NothingToCopy(ValueError):
    """No packet of the sources falls in the range."""


@dataclass(frozen=True)
class Source:
    """A segment file and the time (common clock, seconds) of its timestamp 0."""

    path: Path
    zero_ts: float


@dataclass(frozen=True)
class Cut:
    """What :func:`remux_range` wrote: the time of the output's 0 and its last packet's end."""

    start_ts: float
    end_ts: float


def remux_range(sources: Sequence[Source], start: float, end: float, out: Path) -> Cut:
    """Copy the video packets of ``sources`` (oldest first) from the keyframe at or before
    ``start`` to ``end`` into ``out`` (MP4, faststart). :class:`NothingToCopy` when none fall in
    the range; ``av.FFmpegError`` or :class:`OSError` for a file that cannot be read or written."""
    output = av.open(str(out), mode="w", format="mp4", options={"movflags": "+faststart"})
    cut: Cut | None = None
    try:
        stream = None
        last_dts = -1
        for source in sources:
            with av.open(str(source.path)) as container:
                template = container.streams.video[0]
                packets = _packets_in_range(container, template, source.zero_ts, start, end,
                                            first=cut is None)
                for packet, ts in packets:
                    if stream is None:
                        stream = output.add_stream_from_template(template)
                        stream.time_base = template.time_base
                    if cut is None:
                        cut = Cut(ts, ts)
                    base = template.time_base
                    dts_ts = source.zero_ts + float((packet.dts if packet.dts is not None
                                                     else packet.pts) * base)
                    dts = max(last_dts + 1, round((dts_ts - cut.start_ts) / base))
                    packet.pts = max(dts, round((ts - cut.start_ts) / base))
                    packet.dts, last_dts = dts, dts
                    packet.time_base = base
                    packet.stream = stream
                    output.mux(packet)
                    cut = Cut(cut.start_ts, max(cut.end_ts, ts + float((packet.duration or 0)
                                                                        * base)))
    finally:
        output.close()
    if cut is None:
        out.unlink(missing_ok=True)
        raise NothingToCopy(f"no recorded frame from {start} to {end}")
    return cut


def _packets_in_range(container: av.container.InputContainer, stream: av.VideoStream,
                      zero_ts: float, start: float, end: float,
                      first: bool) -> Iterator[tuple[av.Packet, float]]:
    """The packets of ``stream`` (with their presentation times on the common clock) before
    ``end``: for the ``first`` source from the last keyframe at or before ``start`` (held back
    until a packet after ``start`` shows it is the last), else all."""
    held: list[tuple[av.Packet, float]] = []
    for packet in container.demux(stream):
        if packet.size == 0 or packet.pts is None:
            continue
        ts = zero_ts + float(packet.pts * stream.time_base)
        if ts >= end:
            break
        if first:
            if packet.is_keyframe and ts <= start:
                held = []  # a later keyframe still at or before start: begin there
            if held or packet.is_keyframe:
                held.append((packet, ts))
            if ts > start and held:
                yield from held
                held, first = [], False
            continue
        yield packet, ts
    yield from held
