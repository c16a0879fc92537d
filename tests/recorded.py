"""A recorded camera for tests: the sample video cut into indexed segments laid out as ingest
writes them, and the tracker's objects of each frame (one box moving right, ``track_id`` 7)."""

from __future__ import annotations

from pathlib import Path

import av

from common.frame_objects import FrameObjects, ObjectBox
from common.keys import KEYS
from runtime.object_log import ObjectLog
from runtime.recordings import Segment, add_segment, probe_segment, segment_path

T0 = 1_780_000_000.0
"""When the recording begins (2026-05-28 20:26:40 UTC)."""
FPS = 25
SEGMENT_S = 3


def encode_h264(sample: Path, out: Path) -> Path:
    """The sample (640x272, 25 fps, 10 s) as H.264 with a keyframe at least every second and no
    B-frames (decode order is display order: frame k is at k / FPS)."""
    with av.open(str(sample)) as source, av.open(str(out), "w") as output:
        stream = output.add_stream("libx264", rate=FPS, options={"g": str(FPS), "bf": "0",
                                                                 "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = 640, 272, "yuv420p"
        for frame in source.decode(video=0):
            output.mux(stream.encode(frame.reformat(format="yuv420p")))
        output.mux(stream.encode())
    return out


def record(client, video: Path, root: Path, camera: str = "gate",
           t0: float = T0) -> list[Segment]:
    """Cut ``video`` at the first keyframe every :data:`SEGMENT_S` into fragmented MP4 segments
    starting at 0, ``<camera>/<day>/<hour>/<start_ms>.mp4`` under ``root``, and index them."""
    segments: list[Path] = []
    output = stream = path = None
    first_dts, start = 0, 0.0
    with av.open(str(video)) as source:
        template = source.streams.video[0]
        for packet in source.demux(template):
            if packet.size == 0:
                continue
            t = float(packet.dts * template.time_base)
            if packet.is_keyframe and (output is None or t - start >= SEGMENT_S):
                if output is not None and path is not None:
                    output.close()
                    segments.append(path)
                start, first_dts = t, packet.dts
                path = root / segment_path(camera, round((t0 + t) * 1000))
                path.parent.mkdir(parents=True, exist_ok=True)
                output = av.open(str(path), "w", format="mp4",
                                 options={"movflags": "frag_keyframe+empty_moov"})
                stream = output.add_stream_from_template(template)
            packet.dts -= first_dts
            packet.pts -= first_dts
            packet.stream = stream
            output.mux(packet)
        output.close()
        segments.append(path)
    indexed = [probe_segment(root.resolve(), camera, p.resolve()) for p in segments]
    for segment in indexed:
        add_segment(client, KEYS, segment)
    return indexed


def keyframe_times(video: Path, t0: float = T0) -> list[float]:
    """When the keyframes of ``video`` recorded from ``t0`` were captured."""
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        return [t0 + float(p.pts * stream.time_base) for p in container.demux(stream)
                if p.is_keyframe and p.pts is not None]


def box_at(k: int) -> tuple[float, float, float, float]:
    """The box of frame ``k``: moves right by a 250th of the width a frame."""
    x = round(0.05 + 0.004 * k, 4)
    return (x, 0.2, round(x + 0.2, 4), 0.8)


def log_objects(client, root: Path, camera: str = "gate", t0: float = T0,
                seconds: int = 10) -> list[FrameObjects]:
    """The objects of each frame of a ``seconds`` long recording from ``t0``, as the tracker
    appends them."""
    frames = [FrameObjects(round(t0 + k / FPS, 3), f"{int(t0 * 1000) + k * 40}-0",
                           [ObjectBox(7, "person", 0.9, box_at(k))])
              for k in range(seconds * FPS)]
    log = ObjectLog(client, KEYS, root, keep_s=3650 * 86_400)
    log.append(camera, frames)
    log.close_all()
    return frames
