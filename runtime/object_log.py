"""The tracker's objects of every frame, kept beside the recordings so that a playback draws them.

One append-only file per camera and minute (UTC),
``<recordings dir>/<camera>/objects/<YYYY-MM-DD>/<HHMM>.jsonl``, one
:class:`~common.frame_objects.FrameObjects` line per tracked frame. Readers skip a line cut short by
a crash and a frame written twice (a takeover re-tracking frames). Files are kept as long as the
camera's recordings: those that end before its oldest segment go, or, while it has none, those
older than ``keep_s``; this runs each time a camera's next minute begins.
"""

from __future__ import annotations

import calendar
import logging
import time
from pathlib import Path
from typing import IO, Iterable

import redis

from common.frame_objects import FrameObjects, ObjectLineError
from common.keys import Keys

from .paths import OutsideFolder, confined
from .recordings import oldest_segment

log = logging.getLogger("cctv.object_log")

OBJECTS_FOLDER = "objects"
SUFFIX = ".jsonl"
MINUTE_S = 60


def minute_name(camera: str, ts: float) -> str:
    """The file of ``camera``'s objects captured at ``ts``, relative to the recordings folder."""
    return f"{camera}/{OBJECTS_FOLDER}/{time.strftime('%Y-%m-%d/%H%M', time.gmtime(ts))}{SUFFIX}"


def minute_start(path: Path) -> float | None:
    """Unix seconds at which ``.../<YYYY-MM-DD>/<HHMM>.jsonl`` begins (None: not such a name)."""
    try:
        return float(calendar.timegm(time.strptime(f"{path.parent.name} {path.stem}",
                                                   "%Y-%m-%d %H%M")))
    except ValueError:
        return None


class ObjectLog:
    """Appends tracked frames' objects to their cameras' minute files (one open file per camera)."""

    def __init__(self, client: redis.Redis, keys: Keys, recordings_dir: Path, keep_s: float):
        self.client, self.keys, self.keep_s = client, keys, keep_s
        self.root = recordings_dir.resolve()
        self.open: dict[str, tuple[str, IO[str]]] = {}
        self.failing: set[str] = set()

    def append(self, camera: str, frames: Iterable[FrameObjects]) -> None:
        """Write the frames' lines; a disk that refuses is logged once per camera, never raised
        (tracking goes on without its objects kept)."""
        try:
            for frame in frames:
                self._file(camera, frame.ts).write(frame.to_line() + "\n")
            if camera in self.open:
                self.open[camera][1].flush()
            self.failing.discard(camera)
        except (OSError, OutsideFolder) as exc:
            if camera not in self.failing:
                log.warning("camera %s: its objects are not kept: %s", camera, exc)
                self.failing.add(camera)
            self.close(camera)

    def close(self, camera: str) -> None:
        """Close the camera's open file (a successor may append to it)."""
        _, handle = self.open.pop(camera, ("", None))
        if handle is not None:
            try:
                handle.close()
            except OSError:
                pass

    def close_all(self) -> None:
        for camera in list(self.open):
            self.close(camera)

    def _file(self, camera: str, ts: float) -> IO[str]:
        name = minute_name(camera, ts)
        current = self.open.get(camera)
        if current is not None and current[0] == name:
            return current[1]
        self.close(camera)
        try:
            self.prune(camera)  # before the new file is made: it is never the one pruned
        except redis.RedisError as exc:  # the next minute tries again
            log.debug("camera %s: objects not pruned: %s", camera, exc)
        path = confined(self.root, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.open[camera] = (name, path.open("a", encoding="utf-8"))
        return self.open[camera][1]

    def prune(self, camera: str, now: float | None = None) -> int:
        """Delete the camera's files older than its recordings; returns files deleted."""
        oldest = oldest_segment(self.client, self.keys, camera)
        cutoff = oldest.start_ts if oldest else (time.time() if now is None else now) - self.keep_s
        return prune_objects(self.root, camera, cutoff)


def prune_objects(root: Path, camera: str, before: float) -> int:
    """Delete ``camera``'s minute files that end at or before ``before`` (and emptied day
    folders); returns files deleted."""
    folder = confined(root, f"{camera}/{OBJECTS_FOLDER}")
    deleted = 0
    for day in sorted(folder.glob("*")):
        for path in sorted(day.glob(f"*{SUFFIX}")):
            start = minute_start(path)
            if start is None or start + MINUTE_S > before:
                break
            path.unlink(missing_ok=True)
            deleted += 1
        try:
            day.rmdir()
        except OSError:  # not empty
            break
    return deleted


def read_objects(root: Path, camera: str, start: float, end: float) -> list[FrameObjects]:
    """The camera's frames captured from ``start`` to before ``end``, oldest first, each once."""
    found: dict[str, FrameObjects] = {}
    for path in minute_files(root, camera, start, end):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                frame = FrameObjects.from_line(line)
            except ObjectLineError:
                continue
            if start <= frame.ts < end:
                found[frame.frame_id] = frame
    return sorted(found.values(), key=lambda f: f.ts)


def minute_files(root: Path, camera: str, start: float, end: float) -> list[Path]:
    """The camera's files of the minutes that overlap ``start``..``end``, oldest first."""
    try:
        folder = confined(root, f"{camera}/{OBJECTS_FOLDER}")
    except OutsideFolder:
        return []
    first, last = _day(start), _day(end)
    return [path for day in sorted(folder.glob("*")) if first <= day.name <= last
            for path in sorted(day.glob(f"*{SUFFIX}"))
            if (begins := minute_start(path)) is not None and start < begins + MINUTE_S
            and begins < end]


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(max(0.0, min(ts, 253_402_300_799))))
