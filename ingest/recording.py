"""A camera's recording: which of its sources are recorded and how (:meth:`Recorder.attach`),
and recording by stream copy: every demuxed packet of a live H.264/H.265 source (or a file
played in real time, which keeps its own clock) written as it came (no decode, no encode) into
fragmented MP4 segments that each start at a keyframe.

Sources whose packets cannot be copied and files read at detection pace are recorded from the
frames ingest publishes (:mod:`ingest.frame_recording`).
Both write, index and expire segments alike (:mod:`ingest.segments`).
"""

from __future__ import annotations

import logging
import threading
import time

import av
import numpy as np
import redis

from common.cameras import CameraConfig, EventsConfig
from common.keys import Keys
from common.record_config import RecordConfig

from .frame_recording import FrameRecorder
from .segments import CameraSegments, discard_container, open_container
from .settings import IngestSettings
from .sources import AvSource, Source

log = logging.getLogger("cctv.ingest.recording")

REANCHOR_S = 2.0
"""A live camera whose clock drifted this far from ours gets its segments dated by ours again."""


def events_may_clip(events: EventsConfig) -> bool:
    """Whether any event of the camera can get a clip (its own or a class's ``clips`` is not
    false): its clips are cut from the recording."""
    return events.clips is not False or any(rules.clips for rules in events.classes.values())


class SegmentWriter:
    """One open segment: packets of ``template``'s stream, timestamps shifted to start at 0."""

    def __init__(self, path, template: av.VideoStream, first_dts: int):
        self.path, self.first_dts = path, first_dts
        self.container = open_container(path)
        try:
            self.stream = self.container.add_stream_from_template(template)
        except BaseException:
            self.discard()
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
        discard_container(self.container, self.path)


class StreamCopier:
    """Copies the packets of the source last :meth:`start`-ed: they reach :meth:`write` from
    whichever thread demuxes; :meth:`finish` when it ends."""

    def __init__(self, segments: CameraSegments, segment_s: float):
        self.segments, self.segment_s = segments, segment_s
        self.lock = threading.Lock()
        self.template: av.VideoStream | None = None
        self.live = False
        self.anchor: tuple[float, float] | None = None  # (wall s, stream s) of a first packet
        self.writer: SegmentWriter | None = None
        self.start_t = 0.0  # stream seconds of the open segment's first packet

    def start(self, source: AvSource) -> None:
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
            if packet.is_keyframe and (self.writer is None or t - self.start_t >= self.segment_s):
                self._close_segment()
                self._open_segment(packet, t)
            if self.writer is None:
                return
            try:
                self.writer.write(packet)
            except (OSError, av.FFmpegError) as exc:
                self.segments.fail(exc, self.writer)
                self.writer = None

    def finish(self) -> None:
        """Close the open segment (the source ended or is closing)."""
        with self.lock:
            self._close_segment()
            self.template = None

    def _open_segment(self, packet: av.Packet, t: float) -> None:
        now = time.time()
        if self.anchor is None or (self.live and abs(self.anchor[0] + t - self.anchor[1] - now)
                                   > REANCHOR_S):
            self.anchor = (max(now, self.segments.recorded_until), t)  # segments never overlap
        self.start_t = t
        self.segments.prepare()
        path = self.segments.part_path(round((self.anchor[0] + t - self.anchor[1]) * 1000))
        try:
            self.writer = SegmentWriter(path, self.template, packet.dts)
        except (OSError, av.FFmpegError) as exc:
            path.unlink(missing_ok=True)
            self.segments.fail(exc)

    def _close_segment(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            self.segments.close(writer)


class Recorder:
    """Records one camera as its ``record`` and ``events`` settings ask: :meth:`attach` each
    source as it opens, :meth:`add_frame` each frame published, :meth:`finish` when the source
    ends. A source is recorded continuously when ``record`` wants it, and for its events only
    (:class:`~runtime.recordings.EventRetention`) when ``record`` does not but an event of the
    camera can have a clip; either way by stream copy when its packets can be copied and it is
    paced by its own clock (live, or a file played in real time), else from its published
    frames (:meth:`RecordConfig.how`)."""

    def __init__(self, client: redis.Redis, keys: Keys, camera: CameraConfig,
                 settings: IngestSettings, source_name: str = "live"):
        self.cam, self.replay = camera, source_name != "live"
        self.segments = CameraSegments(client, keys, camera, settings)
        self.copier = StreamCopier(self.segments, camera.record.segment_s)
        self.encoder = FrameRecorder(self.segments, camera.record.segment_s)
        self.encoding = False  # the open source's published frames are recorded
        self.said = ""  # how the camera is recorded, logged when it changes

    def attach(self, source: Source) -> None:
        """Choose how ``source`` is recorded, if at all."""
        codec = source.stream.codec_context.name if isinstance(source, AvSource) else None
        self.encoding = False
        live = source.live and not self.replay
        continuous = self.cam.record.records(live)
        events_only = not continuous and events_may_clip(self.cam.events)
        self.segments.events_only = events_only
        if not (continuous or events_only):
            return
        only = ", kept only where its events need them" if events_only else ""
        if RecordConfig.how(live or (self.cam.realtime and not self.replay), codec) == "copy":
            self.copier.start(source)
            self._say("by stream copy" + only)
        else:
            self.encoding = True
            self._say("from its published frames (libx264)" + only)

    def add_frame(self, image: np.ndarray, ts: float) -> None:
        """A frame published at ``ts`` (the frame message's): recorded when the source's frames
        are."""
        if self.encoding:
            self.encoder.add(image, ts)

    def finish(self) -> None:
        """Close the open segment (the source ended or is closing)."""
        self.copier.finish()
        self.encoder.finish()
        self.encoding = False

    def _say(self, how: str) -> None:
        if how != self.said:
            self.said = how
            log.info("camera %s: recorded %s", self.cam.name, how)
