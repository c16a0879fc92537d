"""The recordings routes of the REST API (contract: docs/protocol.md#recordings):

- ``GET /api/recordings?camera=NAME&after=&before=``: the camera's segments overlapping the range;
- ``GET /api/recordings/{camera}/video.mp4?start=&end=``: that range as one MP4 by stream copy,
  from the keyframe at or before ``start``; ``X-Start-Ts`` gives the Unix time of its 0 s;
- ``GET /api/recordings/{camera}/objects?start=&end=``: the tracker's objects of each frame.

Times are Unix seconds or ISO 8601; a range is at most :data:`~api.params.MAX_RANGE_S`. Errors are
``{"error": "..."}``: 400 for a bad range, 404 for an unknown camera or a range with no recording,
401 without the dashboard's password, 503 while Redis is away.
"""

from __future__ import annotations

import bisect
import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

import av
import redis
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from common.cameras import CAMERA_NAME_PATTERN
from common.frame_objects import FrameObjects
from common.keys import Keys
from media.draw import Overlay, draw_scene
from media.remux import Cut, NothingToCopy, Source, remux_range
from media.video import VideoWriter
from runtime.event_store import camera_known
from runtime.object_log import read_objects
from runtime.recordings import Segment, list_segments, segment_files

from .guard import ApiError, guarded
from .params import RangeQuery, RecordingsQuery, parse_query
from .rest import Resource

log = logging.getLogger("cctv.api.recordings")

OBJECTS_STALE_S = 0.5
"""Objects older than this at a picture's time are not drawn on it (the tracker fell behind)."""


def segment_dict(segment: Segment) -> dict[str, object]:
    """A segment as ``GET /api/recordings`` lists it (its path stays private)."""
    return {"camera": segment.camera, "start_ts": segment.start_ts, "end_ts": segment.end_ts,
            "bytes": segment.bytes, "codec": segment.codec, "width": segment.width,
            "height": segment.height}


def cut_range(root: Path, segments: list[Segment], start: float, end: float, out: Path) -> Cut:
    """``start``..``end`` of the indexed ``segments`` (files under ``root``) as one MP4 at
    ``out`` by stream copy (:func:`media.remux.remux_range`); a segment whose indexed path leaves
    ``root`` is skipped."""
    sources = [Source(path, zero_ts) for path, zero_ts in segment_files(root, segments)]
    return remux_range(sources, start, end, out)


def annotate(video: Path, cut: Cut, frames: list[FrameObjects], out: Path,
             lines: Iterable[Overlay] = (), zones: Iterable[Overlay] = ()) -> int:
    """Render ``video`` (a cut whose 0 s is ``cut.start_ts``) once more as H.264 at ``out`` with
    the boxes of ``frames`` drawn: each picture gets the newest frame's objects captured at or
    before it (none when that is over :data:`OBJECTS_STALE_S` older). Returns pictures written."""
    times = [f.ts for f in frames]
    written = 0
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        with VideoWriter(out, float(stream.average_rate or 25)) as writer:
            for picture in container.decode(stream):
                ts = cut.start_ts + float(picture.time or 0.0)
                at = bisect.bisect_right(times, ts + 1e-3) - 1
                boxes = frames[at].boxes if at >= 0 and ts - times[at] <= OBJECTS_STALE_S else []
                writer.write(draw_scene(picture.to_ndarray(format="bgr24"), boxes, (1, 1),
                                        lines, zones))
                written += 1
    return written


def recording_routes(client: redis.Redis, keys: Keys, recordings_dir: Path,
                     password: str | None) -> list[Route]:
    """The ``/api/recordings`` routes, reading the index through ``client`` and the files under
    ``recordings_dir``; mounted before :func:`api.rest.rest_routes` (whose last route answers
    404 for any other ``/api`` path)."""
    root = recordings_dir.resolve()

    def known_camera(name: str) -> str:
        if not re.fullmatch(CAMERA_NAME_PATTERN.strip("^$"), name) or not (
                camera_known(client, keys, name) or client.exists(keys.recordings(name))):
            raise ApiError(404, f"unknown camera: {name[:64]}")
        return name

    def segments_of(camera: str, start: float, end: float) -> list[Segment]:
        segments = list_segments(client, keys, camera, start, end)
        if not segments:
            raise ApiError(404, f"camera {camera} has no recording from {start:.3f} to {end:.3f}")
        return segments

    def recordings(request: Request) -> Response:
        query = parse_query(RecordingsQuery, request)
        camera = known_camera(query.camera)
        segments = list_segments(client, keys, camera, query.after, query.before)
        return JSONResponse({"recordings": [segment_dict(s) for s in segments]})

    def video(request: Request) -> Response:
        camera = known_camera(request.path_params["camera"])
        query = parse_query(RangeQuery, request)
        segments = segments_of(camera, query.start, query.end)
        folder = Path(tempfile.mkdtemp(prefix="cctv-range-"))
        try:
            cut = cut_range(root, segments, query.start, query.end, folder / f"{camera}.mp4")
        except NothingToCopy as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise ApiError(404, f"camera {camera}: {exc}") from None
        except (av.FFmpegError, OSError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            log.warning("camera %s: recording range not readable: %s", camera, exc)
            raise ApiError(404, f"camera {camera}: its recording of that range cannot be "
                                f"read") from None
        return FileResponse(folder / f"{camera}.mp4", media_type="video/mp4",
                            headers={"X-Start-Ts": repr(cut.start_ts),
                                     "Cache-Control": "no-cache"},
                            background=BackgroundTask(shutil.rmtree, folder, True))

    def objects(request: Request) -> Response:
        camera = known_camera(request.path_params["camera"])
        query = parse_query(RangeQuery, request)
        found = read_objects(root, camera, query.start, query.end)
        if not found:
            segments_of(camera, query.start, query.end)
        return JSONResponse({"objects": [f.to_dict() for f in found]})

    return [Route("/api/recordings", Resource(get=guarded(password, recordings))),
            Route("/api/recordings/{camera}/video.mp4", Resource(get=guarded(password, video))),
            Route("/api/recordings/{camera}/objects", Resource(get=guarded(password, objects)))]
