"""``cctv mqtt``: the pipeline's events, counts and snapshots on an MQTT broker.

Topics under ``mqtt_topic_prefix`` (default ``cctv``; the contract is docs/protocol.md#mqtt):
``available`` (online/offline, retained, the last will says offline), ``events`` (one JSON
message per event change, ``{"type", "before", "after"}`` as Frigate's ``frigate/events``),
``<camera>/<label>`` (objects in view now), ``<camera>/<label>/snapshot`` (the latest event's
JPEG), ``<camera>/<line>/<label>/in|out`` (crossings in total), ``<camera>/<zone>/<label>``
(occupancy) -- all retained, published when they change -- and ``stats`` (the ``cctv status
--json`` document every ``mqtt_stats_interval_s``). Home Assistant discovery configs come from
:mod:`integrations.homeassistant`.

Several bridges may share a broker and prefix: each re-asserts ``available`` ``online`` with its
stats, and one that stops cleanly says ``offline`` only when no other is listed online in Redis
(:func:`other_bridge_online`). An unclean loss leaves it to the broker's last will.

Events are read from ``cctv:event-updates`` after the last id this bridge published (kept in
``cctv:mqtt-cursor:{client id}``), so a restart neither replays old events nor skips those that
came meanwhile; while the broker is away they wait there (the stream keeps the newest 10,000).
Counts and objects in view are read from the tracker's hashes every
``mqtt_poll_s``. Redis outages are ridden out (``common/outage.py``); the broker's by paho.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections import OrderedDict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import urlsplit

import redis

from common.cameras import is_camera_name
from common.event_changes import ChangeKind, EventChange
from common.fields import MessageError, text
from common.keys import Keys
from common.mqtt import BridgeState, Topics
from runtime.bridge_state import read_bridge_states, write_bridge_state
from runtime.camera_list import published_camera_names, valid_camera_json
from runtime.event_store import Query, load_event, query_events
from runtime.outage import REDIS_FAILED, Outage
from runtime.paths import OutsideFolder, confined
from runtime.status import collect_status, tracking_counts

from .broker import Outbox, broker_from_url
from .homeassistant import Discovery
from .settings import MqttSettings

log = logging.getLogger("cctv.mqtt")

READ_COUNT = 500
"""Most event changes read from the stream at once."""
STATE_EVERY_S = 5.0
"""How often the bridge's state is written to Redis (it expires after 30 s)."""
MAX_TRACKED = 10_000
"""Most events whose last state is kept (for ``before``); the oldest are forgotten."""
MAX_SNAPSHOT_BYTES = 10 << 20


def default_client_id() -> str:
    """``cctv-<host>``, cut to the settings' pattern."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "-", f"cctv-{socket.gethostname()}")[:64]


class Bridge:
    """Reads Redis and publishes through an :class:`~integrations.broker.Outbox`."""

    def __init__(self, client: redis.Redis, settings: MqttSettings, outbox: Outbox,
                 discovery: Discovery | None):
        self.client, self.settings, self.outbox = client, settings, outbox
        self.keys: Keys = settings.keys
        self.topics = outbox.topics
        self.discovery = discovery
        self.media_dir = Path(settings.media_dir)
        self.client_id = outbox.client_id
        self.outage = Outage(client, self.keys, f"mqtt {self.client_id}", log)
        self.cursor: str | None = None
        self.last: OrderedDict[str, dict] = OrderedDict()  # event id -> its last "after"
        self.labels: dict[str, set[str]] = {}  # camera -> classes seen
        self.latest: dict[tuple[str, str], tuple[float, str]] = {}  # (camera, label) -> event
        self.snapshot_names: dict[str, str | None] = {}  # event id -> snapshot file name
        self.snapshot_seen: dict[tuple[str, str], tuple[str, int, int]] = {}
        self.announced: set[str] = set()  # discovery config topics published
        self.unreadable: set[str] = set()  # cameras whose counts raised (logged once)
        self.started = False

    # -- the loop --------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set."""
        next_stats = time.monotonic() + min(5.0, self.settings.mqtt_stats_interval_s)
        next_state = 0.0
        while not stop.is_set():
            try:
                if not self.started:
                    self.resume()
                self.step(stop)
                now = time.monotonic()
                if now >= next_state:
                    write_bridge_state(self.client, self.keys, self.outbox.snapshot())
                    next_state = now + STATE_EVERY_S
                if now >= next_stats:
                    status = collect_status(self.client, self.keys)
                    self.outbox.now(self.topics.stats, json.dumps(status.to_dict()))
                    self.outbox.reassert_online()
                    next_stats = now + self.settings.mqtt_stats_interval_s
                self.outage.back()
            except REDIS_FAILED as exc:
                if not self.outage.failed(exc, stop):
                    break

    def resume(self) -> None:
        """Where to go on from: the stored cursor (else the stream's newest entry), and each
        camera's latest snapshot per class (so the retained snapshots exist at once)."""
        stored = self.client.get(self.keys.mqtt_cursor(self.client_id))
        if stored:
            self.cursor = text(stored)
        else:
            newest = self.client.xrevrange(self.keys.event_updates, count=1)
            self.cursor = text(newest[0][0]) if newest else "0-0"
        for camera in self.cameras():
            events, _ = query_events(self.client, self.keys, Query(camera=camera, limit=100))
            for event in events:
                self.labels.setdefault(camera, set()).add(event.label)
                if event.snapshot and (camera, event.label) not in self.latest:
                    self.latest[(camera, event.label)] = (event.start_ts, event.id)
                    self.snapshot_names[event.id] = event.snapshot
        self.started = True

    def step(self, stop: threading.Event) -> None:
        """Read new event changes (waiting up to ``mqtt_poll_s``), then publish what changed.
        While the broker is away event changes stay in Redis, behind the cursor: they are
        published once it is back, even by a bridge restarted meanwhile."""
        block_ms = max(1, int(self.settings.mqtt_poll_s * 1000))
        read = []
        if self.outbox.connected:
            read = self.client.xread({self.keys.event_updates: self.cursor}, count=READ_COUNT,
                                     block=block_ms)
        else:
            stop.wait(self.settings.mqtt_poll_s)
        for _, entries in read:
            for entry_id, fields in entries:
                self.publish_change(text(entry_id), fields)
                self.cursor = text(entry_id)
            self.client.set(self.keys.mqtt_cursor(self.client_id), self.cursor)
        for camera in self.cameras():
            try:
                self.publish_counts(camera)
            except redis.ResponseError as exc:  # one camera's key of another type: skip it
                if camera not in self.unreadable:
                    self.unreadable.add(camera)
                    log.warning("camera %s: counts unreadable, skipped (%s)", camera, exc)
        self.publish_snapshots()

    def cameras(self) -> list[str]:
        names = {text(n) for n in self.client.hkeys(self.keys.cameras)}
        return sorted({n for n in names if is_camera_name(n)}
                      | set(published_camera_names(self.client, self.keys)))

    # -- events -----------------------------------------------------------------------------
    def publish_change(self, entry_id: str, fields: dict) -> None:
        """One ``cctv:event-updates`` entry as ``<prefix>/events``; a bad one is one log line."""
        try:
            change = EventChange.from_fields(fields)
        except MessageError as exc:
            log.warning("event change %s skipped: not an event change (%s)", entry_id,
                        str(exc)[:200])
            return
        ident, camera, label, after = change.event_id, change.camera, change.label, change.event
        before = self.last.pop(ident, after)
        if change.kind != ChangeKind.END:
            self.last[ident] = after
            while len(self.last) > MAX_TRACKED:
                self.last.popitem(last=False)
        self.outbox.event(self.topics.events, json.dumps(
            {"type": change.kind.value, "before": before, "after": after}))
        self.labels.setdefault(camera, set()).add(label)
        latest = self.latest.get((camera, label))
        if after.get("has_snapshot") and (latest is None or latest[0] <= change.start_ts):
            self.latest[(camera, label)] = (change.start_ts, ident)

    def publish_snapshots(self) -> None:
        """The latest event's snapshot of each camera and class, when its file changed (the
        tracker writes it a moment after the event, and again when it finds a better one)."""
        for (camera, label), (_, ident) in list(self.latest.items()):
            if ident not in self.snapshot_names:
                event = load_event(self.client, self.keys, ident)
                self.snapshot_names[ident] = event.snapshot if event else None
            name = self.snapshot_names[ident]
            if not name:
                continue
            try:
                path = confined(self.media_dir, name)
                stat = path.stat()
                seen = (ident, stat.st_mtime_ns, stat.st_size)
                if self.snapshot_seen.get((camera, label)) == seen:
                    continue
                if stat.st_size > MAX_SNAPSHOT_BYTES:
                    continue
                data = path.read_bytes()
            except (OSError, OutsideFolder):
                continue  # not written yet, pruned, or a name outside the media folder
            if not data.startswith(b"\xff\xd8"):
                continue  # being written: read again next time
            self.snapshot_seen[(camera, label)] = seen
            self.outbox.retain(self.topics.snapshot(camera, label), data)
            self.announce(*(self.discovery.snapshot(camera, label) if self.discovery else ()))
        if len(self.snapshot_names) > MAX_TRACKED:
            current = {ident for _, ident in self.latest.values()}
            self.snapshot_names = {k: v for k, v in self.snapshot_names.items() if k in current}

    # -- counts -----------------------------------------------------------------------------
    def publish_counts(self, camera: str) -> None:
        """Objects in view, line totals and zone occupancy of one camera, for every class it
        has seen (0 included)."""
        config = valid_camera_json(self.client.hget(self.keys.cameras, camera), camera)
        counts = tracking_counts(self.client, self.keys, camera, config)
        labels = self.labels.setdefault(camera, set())
        labels.update(counts.unique, counts.in_view)
        for zone_labels in counts.zones.values():
            labels.update(zone_labels)
        d = self.discovery
        for label in sorted(labels):
            self.outbox.retain(self.topics.in_view(camera, label),
                               str(counts.in_view.get(label, 0)))
            self.announce(*(d.in_view(camera, label) if d else ()))
            for line, totals in counts.lines.items():
                for direction, by_label in (("in", totals.into), ("out", totals.out)):
                    self.outbox.retain(self.topics.line(camera, line, label, direction),
                                       str(by_label.get(label, 0)))
                    self.announce(*(d.line(camera, line, label, direction) if d else ()))
            for zone, by_label in counts.zones.items():
                self.outbox.retain(self.topics.zone(camera, zone, label),
                                   str(by_label.get(label, 0)))
                self.announce(*(d.zone(camera, zone, label) if d else ()))

    def announce(self, topic: str | None = None, config: dict | None = None) -> None:
        """A discovery config, once (retained, so it is republished on reconnect)."""
        if topic is None or topic in self.announced:
            return
        self.announced.add(topic)
        self.outbox.retain(topic, json.dumps(config))


def package_version() -> str:
    try:
        return version("cctv-analytics")
    except PackageNotFoundError:
        return ""


def bridge_health(client: redis.Redis, settings: MqttSettings) -> tuple[bool, str]:
    """(connected?, one line) for the bridge of ``mqtt_client_id`` (default: this host's)."""
    client_id = settings.mqtt_client_id or default_client_id()
    state = read_bridge_states(client, settings.keys).get(client_id)
    if state is None:
        return False, f"mqtt {client_id}: not running"
    return state.state == "online", f"mqtt {client_id}: {state.state} {state.broker}" + \
        (f" ({state.error})" if state.error else "")


def _broker_address(state: BridgeState) -> tuple[str | None, int | None]:
    """Host and port of a state's (masked) broker URL: bridges with other credentials or
    another spelling of the URL still name the same broker."""
    parts = urlsplit(state.broker)
    return parts.hostname, parts.port


def other_bridge_online(client: redis.Redis, keys: Keys, mine: BridgeState) -> bool:
    """Whether Redis lists another bridge online on ``mine``'s broker and prefix (False when
    Redis cannot say: a wrong ``offline`` is corrected by the others' re-assertion)."""
    try:
        states = read_bridge_states(client, keys)
    except REDIS_FAILED:
        return False
    return any(state.client_id != mine.client_id and state.state == "online"
               and state.prefix == mine.prefix and _broker_address(state) == _broker_address(mine)
               for state in states.values())


def run_bridge(client: redis.Redis, settings: MqttSettings, stop: threading.Event) -> None:
    """``cctv mqtt``: connect to the broker and publish until ``stop`` is set."""
    broker = broker_from_url(settings.mqtt_url or "")
    topics = Topics(settings.mqtt_topic_prefix)
    outbox = Outbox(broker, settings, topics, settings.mqtt_client_id or default_client_id())
    discovery = Discovery(topics, settings.mqtt_discovery_prefix, package_version()) \
        if settings.mqtt_discovery else None
    log.info("MQTT bridge %s: publishing to %s under %s/ (discovery %s)", outbox.client_id,
             broker.masked, topics.prefix,
             f"under {settings.mqtt_discovery_prefix}/" if discovery else "off")
    outbox.start()
    try:
        Bridge(client, settings, outbox, discovery).run(stop)
    finally:
        try:  # not running any more: removed before asking about the others, so that two
            # bridges stopping together do not each leave ``online`` to the other
            client.delete(settings.keys.mqtt_bridge(outbox.client_id))
        except REDIS_FAILED:
            pass
        outbox.stop(offline=not other_bridge_online(client, settings.keys, outbox.snapshot()))
