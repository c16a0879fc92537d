"""Live annotated video: each camera's frames drawn once and shared by every viewer.

A :class:`Feed` is one camera seen through one :class:`View` (minimum score, classes). Its thread
follows the camera's newest messages in capture order (the tracker's when it is current, else
the workers' detections, else raw frames when neither is within :data:`LIVE_LAG_S` of the
camera's newest frame, drawn with the newest objects known), draws each frame with the
objects found on that very frame, paces the frames as they were captured and hands each JPEG to
all subscribers. A slow viewer skips frames; it never holds back the others. A camera without a
new frame for ``stale_s`` is shown darkened, with how long ago its last frame came. The
:class:`LiveHub` starts a feed for its first viewer and lets it go ``linger_s`` after its last.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import redis

from common.cameras import CameraConfig
from common.counts import LineCounts
from common.keys import Keys
from common.fields import text
from common.messages import DetectionMessage, FrameMessage
from common.stream_ids import StreamId
from common.tracks import TrackMessage
from media.draw import annotate_jpeg
from runtime.camera_list import stored_camera
from runtime.outage import Outage
from runtime.redis_conn import read_streams
from runtime.status import tracking_counts

from .scene import (
    Scene,
    newest,
    newest_messages,
    newest_scene,
    overlays,
    parse,
    scene_of,
    tracker_current,
    visible,
)

log = logging.getLogger("cctv.api.live")

READ_COUNT = 50
"""Entries read at once. A feed that is behind sends the frames it missed without holding them
(pacing holds only a frame whose capture time plus the lag is still to come)."""
MAX_DELAY_S = 0.5
"""Pacing never holds a frame longer than this after its capture."""
LIVE_LAG_S = 1.0
"""A tracked or detected stream this far behind the camera's newest frame is too late for live
video: the raw frames are followed instead (every frame the camera publishes, within about a
second of capture)."""
PACE_QUANTILE = 0.75
"""Frames are held to this quantile of the pipeline's lag: later ones are shown at once."""


@dataclass(frozen=True)
class View:
    """What a feed draws: objects at or above ``min_score`` of ``labels`` (None = all)."""

    min_score: float = 0.5
    labels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Part:
    """One JPEG of a feed: the ``camera``, ``frame_id`` and capture time ``ts`` of the frame it
    shows."""

    camera: str
    jpeg: bytes
    frame_id: str
    ts: float
    stale: bool = False


def render(scene: Scene, view: View, config: CameraConfig | None,
           line_totals: dict[str, LineCounts], banner: str | None = None) -> bytes:
    """The scene's JPEG with the view's objects, the camera's lines and zones (and a banner);
    a raw scene with nothing to draw is passed through as it is."""
    lines, zones = overlays(config, line_totals, scene.zones)
    objects = visible(scene.objects, view.labels, view.min_score)
    if not (objects or lines or zones or banner):
        return scene.jpeg
    return annotate_jpeg(scene.jpeg, objects, (scene.width, scene.height), lines, zones,
                         banner=banner)


def overlay_state(client: redis.Redis, keys: Keys,
                  camera: str) -> tuple[CameraConfig | None, dict[str, LineCounts]]:
    """The camera's stored config (its lines and zones) and its line totals, for :func:`render`."""
    config = stored_camera(client, keys, camera)
    if config is None or not config.lines:
        return config, {}
    return config, tracking_counts(client, keys, camera, config).lines


class Follower:
    """Reads one camera's messages in capture order from the best stream there is."""

    SOURCES = {"tracked": (Keys.tracks, TrackMessage),
               "detected": (Keys.detections, DetectionMessage),
               "raw": (Keys.frames, FrameMessage)}

    def __init__(self, client: redis.Redis, keys: Keys, camera: str, recheck_s: float = 2.0):
        self.client, self.keys, self.camera, self.recheck_s = client, keys, camera, recheck_s
        self.kind: str | None = None
        self.last_id = "0-0"
        self.checked = 0.0

    def best_kind(self) -> str:
        detections = newest(self.client, self.keys.detections(self.camera), DetectionMessage)
        tracks = newest(self.client, self.keys.tracks(self.camera), TrackMessage)
        raw = newest(self.client, self.keys.frames(self.camera), FrameMessage)

        def live(message: TrackMessage | DetectionMessage | None) -> bool:
            return message is not None and (raw is None or raw.ts - message.ts <= LIVE_LAG_S)
        if tracker_current(tracks, detections) and live(tracks):
            return "tracked"
        return "detected" if live(detections) else "raw"

    def read(self, block_ms: int) -> list[Scene]:
        """The scenes that came since the last call (waits up to ``block_ms`` for one)."""
        if self.kind is None or time.monotonic() - self.checked >= self.recheck_s:
            kind = self.best_kind()
            self.checked = time.monotonic()
            if kind != self.kind:
                self.kind = kind
                newest_entry = self.client.xrevrange(self.stream, count=1)
                self.last_id = newest_entry[0][0] if newest_entry else "0-0"
        reply = read_streams(self.client, {self.stream: self.last_id}, READ_COUNT, block_ms)
        entries = reply[0][1] if reply else []
        if entries:
            self.last_id = entries[-1][0]
        known = self._newest_objects() if entries and self.kind == "raw" else []
        return [scene for scene in (self._scene(entry, known) for entry in entries)
                if scene is not None]

    def _newest_objects(self) -> list:
        """The objects of the camera's newest tracked or detected frame (none yet: [])."""
        messages = newest_messages(self.client, self.keys, self.camera)
        if not messages:
            return []
        message = messages[0]
        return list(message.tracks if isinstance(message, TrackMessage) else message.objects)

    @property
    def stream(self) -> str:
        return self.SOURCES[self.kind][0](self.keys, self.camera)

    def _scene(self, entry, known: list) -> Scene | None:
        """The entry's scene; a raw frame with the ``known`` objects (the newest found)."""
        entry_id = text(entry[0])
        message = parse(self.SOURCES[self.kind][1], entry[1])
        if message is None:
            return None
        if isinstance(message, FrameMessage):
            scene = Scene(self.camera, entry_id, message.jpeg, message.width, message.height,
                          message.ts, objects=known)
        else:
            scene = scene_of(self.client, self.keys, message)
        if scene is not None:
            scene.written = StreamId.parse(entry_id).ms / 1000
        return scene


class Pacer:
    """Holds each frame until its capture time plus the pipeline's recent lag (capture to the
    message in Redis, :data:`PACE_QUANTILE`), so frames that come in a batch play at the pace they
    were captured. The lag is read from the messages, never from this feed's own pace."""

    def __init__(self, window: int = 50):
        self.lags: deque[float] = deque(maxlen=window)

    def wait(self, scene: Scene, stop: threading.Event) -> None:
        if scene.written:
            self.lags.append(min(max(scene.written - scene.ts, 0.0), MAX_DELAY_S))
        if not self.lags:
            return
        delay = sorted(self.lags)[int(PACE_QUANTILE * (len(self.lags) - 1))]
        hold = scene.ts + delay - time.time()
        if hold > 0:
            stop.wait(hold)


class Subscription:
    """A viewer's queue of parts (one queue may take several feeds: a page's cameras on one
    connection); the newest win when the viewer falls behind."""

    def __init__(self, feed: "Feed", loop: asyncio.AbstractEventLoop,
                 queue: asyncio.Queue | None = None):
        self.feed, self.loop = feed, loop
        self.queue: asyncio.Queue[Part] = queue if queue is not None else asyncio.Queue(2)

    def offer(self, part: Part) -> None:
        """Called from the feed's thread."""
        try:
            self.loop.call_soon_threadsafe(self._put, part)
        except RuntimeError:  # the viewer's loop is closed
            pass

    def _put(self, part: Part) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(part)

    async def get(self) -> Part:
        return await self.queue.get()


class Feed:
    """One camera in one view, drawn once per frame for all its subscribers."""

    def __init__(self, hub: "LiveHub", camera: str, view: View):
        self.hub, self.camera, self.view = hub, camera, view
        self.subscribers: set[Subscription] = set()
        self.latest: Part | None = None
        self.idle_since: float | None = None
        self.thread = threading.Thread(target=self.run, name=f"live-{camera}", daemon=True)

    def broadcast(self, part: Part) -> None:
        self.latest = part
        for subscriber in list(self.subscribers):
            subscriber.offer(part)

    def run(self) -> None:
        client, keys = self.hub.client, self.hub.keys
        follower, pacer = Follower(client, keys, self.camera), Pacer()
        config, totals, refreshed = None, {}, 0.0
        last: Scene | None = None
        last_new = last_banner = 0.0
        while not self.hub.stopping.is_set() and self.hub.keep(self):
            try:
                with self.hub.outage.attempt(self.hub.stopping):
                    if time.monotonic() - refreshed >= 1.0:
                        config, totals = overlay_state(client, keys, self.camera)
                        refreshed = time.monotonic()
                    if last is None:
                        last = newest_scene(client, keys, self.camera)
                        if last is not None:
                            jpeg = render(last, self.view, config, totals)
                            self.broadcast(Part(self.camera, jpeg, last.frame_id, last.ts))
                            last_new = time.monotonic()
                    scenes = follower.read(block_ms=250)
                    for scene in scenes:
                        jpeg = render(scene, self.view, config, totals)
                        pacer.wait(scene, self.hub.stopping)
                        self.broadcast(Part(self.camera, jpeg, scene.frame_id, scene.ts))
                        last, last_new = scene, time.monotonic()
                    idle = time.monotonic() - last_new
                    if last is not None and idle >= self.hub.stale_s and \
                            time.monotonic() - last_banner >= 1.0:
                        age = time.time() - last.ts
                        self.broadcast(Part(self.camera,
                                            render(last, self.view, config, totals,
                                                   banner=f"no new frame for {age:.0f} s"),
                                            last.frame_id, last.ts, stale=True))
                        last_banner = time.monotonic()
            except Exception as exc:  # one bad entry never stops the feed
                log.warning("live %s: %s", self.camera, exc)
                self.hub.stopping.wait(0.5)


class LiveHub:
    """The feeds of one server process, started on demand and shared by viewers."""

    def __init__(self, client: redis.Redis, keys: Keys, stale_s: float = 5.0,
                 linger_s: float = 10.0):
        self.client, self.keys, self.stale_s, self.linger_s = client, keys, stale_s, linger_s
        self.feeds: dict[tuple[str, View], Feed] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.outage = Outage(client, keys, "dashboard", log)

    def subscribe(self, camera: str, view: View,
                  queue: asyncio.Queue | None = None) -> Subscription:
        """A new viewer of ``camera`` in ``view`` (on the running event loop), into its own
        queue or ``queue``; the feed's latest part, when there is one, is queued at once."""
        with self.lock:
            feed = self.feeds.get((camera, view))
            if feed is None:
                feed = self.feeds[(camera, view)] = Feed(self, camera, view)
                feed.thread.start()
            subscription = Subscription(feed, asyncio.get_running_loop(), queue)
            feed.subscribers.add(subscription)
            feed.idle_since = None
        if feed.latest is not None:
            subscription._put(feed.latest)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self.lock:
            feed = subscription.feed
            feed.subscribers.discard(subscription)
            if not feed.subscribers:
                feed.idle_since = time.monotonic()

    def keep(self, feed: Feed) -> bool:
        """False (and the feed is dropped) once it has had no viewer for ``linger_s``."""
        with self.lock:
            if feed.subscribers or feed.idle_since is None or \
                    time.monotonic() - feed.idle_since < self.linger_s:
                return True
            del self.feeds[(feed.camera, feed.view)]
            return False

    def stop(self) -> None:
        self.stopping.set()
        for feed in list(self.feeds.values()):
            feed.thread.join(5)
