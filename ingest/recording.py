"""Continuous recording of a camera's own stream: every demuxed packet is written as it came (no
decode, no encode) into fragmented MP4 segments that each start at a keyframe.

A segment is written as ``<start_ms>.mp4.part`` and renamed ``.mp4`` when closed, then indexed
(:mod:`runtime.recordings`) and retention runs. Fragmented MP4 (``frag_keyframe+empty_moov``)
keeps a segment cut short by a crash playable up to its last fragment: the next start salvages
it. A write error (a full disk) loses the segment, says so once in the log and in the camera's
state hash, and never stops the frames being published.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import av
import redis

from common.cameras import CameraConfig
from common.keys import Keys
from runtime import metrics
from runtime.outage import REDIS_DOWN
from runtime.recordings import (
    RECORDING_ERROR_FIELD,
    add_segment,
    enforce_retention,
    probe_segment,
    rebuild_index,
    segment_path,
)

from .settings import IngestSettings
from .sources import AvSource, Source

log = logging.getLogger("cctv.ingest.recording")

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof+delay_moov"
"""Self-contained fragments, one per keyframe; ``delay_moov`` writes the header with the first
fragment, so a camera that sends its parameter sets in-band (no extradata) still gets them."""
GB = 1_000_000_000
REANCHOR_S = 2.0
"""A live camera whose clock drifted this far from ours gets its segments dated by ours again."""


class SegmentWriter:
    """One open segment: packets of ``template``'s stream, timestamps shifted to start at 0."""

    def __init__(self, path: Path, template: av.VideoStream, first_dts: int):
        self.path, self.first_dts = path, first_dts
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(path), mode="w", format="mp4",
                                 options={"movflags": MOVFLAGS})
        try:
            self.stream = self.container.add_stream_from_template(template)
        except BaseException:
            self.container.close()
            raise

    def write(self, packet: av.Packet) -> None:
        """Mux one packet (it then belongs to the output stream)."""
        if packet.dts is not None:
            packet.dts -= self.first_dts
        if packet.pts is not None:
            packet.pts -= self.first_dts
        packet.stream = self.stream
        self.container.mux(packet)

    def close(self) -> None:
        self.container.close()

    def discard(self) -> None:
        """Close without keeping anything (after a write error)."""
        try:
            self.container.close()
        except (OSError, av.FFmpegError):
            pass
        self.path.unlink(missing_ok=True)


class StreamRecorder:
    """Records one camera: :meth:`attach` each source as it opens (its packets then reach
    :meth:`write`, from whichever thread demuxes), :meth:`finish` when it ends."""

    def __init__(self, client: redis.Redis, keys: Keys, camera: CameraConfig,
                 settings: IngestSettings, source_name: str = "live"):
        self.client, self.keys, self.cam = client, keys, camera
        self.root = settings.recordings_dir.resolve()
        self.total_max_bytes = (int(settings.recordings_max_gb * GB)
                                if settings.recordings_max_gb else None)
        self.replay = source_name != "live"
        self.rebuilt = False
        self.skipped_said = False  # the "not recorded" line is logged once per camera
        self.lock = threading.Lock()
        self.template: av.VideoStream | None = None
        self.live = False
        self.anchor: tuple[float, float] | None = None  # (wall s, stream s) of a first packet
        self.writer: SegmentWriter | None = None
        self.start_ms = 0
        self.start_t = 0.0  # stream seconds of the open segment's first packet
        self.recorded_until = 0.0  # Unix seconds: the end of the last segment closed
        self.failing = False  # a write error was said and not yet cleared by a closed segment

    def attach(self, source: Source) -> None:
        """Record ``source`` when its camera's ``record`` asks for it and its packets can be
        copied; otherwise say once why not."""
        record = self.cam.record
        if not isinstance(source, AvSource):
            if record.enabled:
                self._skip("it has no video packets to copy (an image folder)")
            return
        codec = source.stream.codec_context.name
        live = source.live and not self.replay
        if not record.wanted(live, codec):
            if record.enabled or (record.enabled is None and live):
                self._skip(f"its codec is {codec}, not H.264/H.265 (re-encoding is not done)")
            return
        if not self.rebuilt:
            self._rebuild()
        with self.lock:
            self._close_segment()
            self.template, self.live, self.anchor = source.stream, source.live, None
        source.on_packet = self.write

    def write(self, packet: av.Packet) -> None:
        """Add one demuxed packet: a keyframe ``segment_s`` after the open segment began starts
        a new one; packets before the first keyframe are dropped."""
        if packet.size == 0 or packet.dts is None or packet.time_base is None:
            return
        with self.lock:
            if self.template is None:
                return
            t = float(packet.dts * packet.time_base)
            if packet.is_keyframe and (self.writer is None
                                       or t - self.start_t >= self.cam.record.segment_s):
                self._close_segment()
                self._open_segment(packet, t)
            if self.writer is None:
                return
            try:
                self.writer.write(packet)
            except (OSError, av.FFmpegError) as exc:
                self._fail(exc)

    def finish(self) -> None:
        """Close the open segment (the source ended or is closing)."""
        with self.lock:
            self._close_segment()
            self.template = None

    def _skip(self, why: str) -> None:
        if not self.skipped_said:
            self.skipped_said = True
            log.warning("camera %s is not recorded: %s", self.cam.name, why)

    def _rebuild(self) -> None:
        try:
            rebuild_index(self.client, self.keys, self.root, self.cam.name)
            self.rebuilt = True
        except REDIS_DOWN as exc:
            log.warning("camera %s: recording index not rebuilt (Redis: %s)", self.cam.name, exc)

    def _open_segment(self, packet: av.Packet, t: float) -> None:
        now = time.time()
        if self.anchor is None or (self.live and abs(self.anchor[0] + t - self.anchor[1] - now)
                                   > REANCHOR_S):
            self.anchor = (max(now, self.recorded_until), t)  # segments never overlap
        self.start_ms = round((self.anchor[0] + t - self.anchor[1]) * 1000)
        self.start_t = t
        path = self.root / (segment_path(self.cam.name, self.start_ms) + ".part")
        try:
            self.writer = SegmentWriter(path, self.template, packet.dts)
        except (OSError, av.FFmpegError) as exc:
            path.unlink(missing_ok=True)
            self._fail(exc)

    def _close_segment(self) -> None:
        writer, self.writer = self.writer, None
        if writer is None:
            return
        closed = writer.path.with_name(writer.path.name.removesuffix(".part"))
        try:
            writer.close()
            writer.path.rename(closed)
            segment = probe_segment(self.root, self.cam.name, closed)
        except (OSError, ValueError, av.FFmpegError) as exc:
            writer.discard()
            closed.unlink(missing_ok=True)
            self._fail(exc)
            return
        metrics.RECORDED_BYTES.labels(self.cam.name).inc(segment.bytes)
        self.recorded_until = segment.end_ts
        record = self.cam.record
        try:
            add_segment(self.client, self.keys, segment)
            enforce_retention(self.client, self.keys, self.root, self.cam.name,
                              record.retain_days * 86_400,
                              int(record.max_gb * GB) if record.max_gb else None,
                              self.total_max_bytes, headroom=segment.bytes)
            if self.failing:
                self.failing = False
                self.client.hdel(self.keys.state(self.cam.name), RECORDING_ERROR_FIELD)
                log.info("camera %s: recording again", self.cam.name)
        except REDIS_DOWN as exc:  # the file stays; the next start indexes it
            log.warning("camera %s: segment %s not indexed (Redis: %s)", self.cam.name,
                        closed.name, exc)

    def _fail(self, exc: BaseException) -> None:
        """A segment lost to ``exc``: counted, said once, flagged in the camera's state."""
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.discard()
        metrics.RECORDING_ERRORS.labels(self.cam.name).inc()
        if self.failing:
            return
        self.failing = True
        why = f"recording failed: {exc}"[:300]
        log.error("camera %s: %s (frames are still published)", self.cam.name, why)
        try:
            self.client.hset(self.keys.state(self.cam.name), RECORDING_ERROR_FIELD, why)
        except REDIS_DOWN:
            pass
