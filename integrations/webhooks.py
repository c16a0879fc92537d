"""``cctv webhooks``: POSTs event changes (``cctv:event-updates``) to the configured webhooks.

The stream is read in the consumer group ``webhooks`` (created at the stream's end on the first
start: older events are not sent). Each entry is matched against the hooks
(:mod:`integrations.webhook_hooks`) and handed to the lane of each receiver URL
(:mod:`integrations.webhook_delivery`). As each delivery finishes, its outcome is written to
``cctv:webhook-sent:<entry>`` and the totals to ``cctv:webhook-stats``; once all of an entry's
deliveries are finished the entry is acknowledged and its record deleted. A restart (or a Redis
that comes back) reads the entries still pending and sends only their unfinished deliveries, so
nothing is lost and nothing finished is sent again (a crash between a receiver's 2xx and the
record of it is the one case that sends twice; ``X-CCTV-Delivery`` lets a receiver notice).
Those pending entries, and the entries written before the service started, are the backlog:
the lanes queue and send them apart from, and after, fresh ones (a long backlog is never a
reason to drop a fresh event).

Only this thread talks to Redis; lanes only talk HTTP, so they keep delivering through a Redis
outage (ridden out with :class:`common.outage.Outage`), and outcomes are written once it is back.
The hooks are re-read every ``webhook_poll_s``: the camera list in Redis, and the cameras file
when it changed.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

import redis

from common.cameras import WebhookConfig, load_cameras_document
from common.event_changes import EventChange
from common.fields import MessageError, text
from common.keys import WEBHOOKS_GROUP
from common.schema import SettingsError
from common.stream_ids import StreamId
from runtime import metrics
from runtime.camera_list import valid_camera_json
from runtime.outage import REDIS_FAILED, Outage

from .settings import WebhookSettings
from .webhook_delivery import Delivery, Lane, Outcome
from .webhook_hooks import AllowList, Hook, build_hooks

log = logging.getLogger("cctv.webhooks")

READ_COUNT = 100
BLOCK_MS = 200
SENT_TTL_S = 7 * 86_400
"""A record of finished deliveries outlives an entry that is never acknowledged (safety)."""


def payload(change: EventChange, public_url: str | None) -> bytes:
    """The POST body: ``{"v", "type", "event", "snapshot_url", "clip_url"}`` (compact JSON; the
    signature is over these exact bytes)."""
    event = change.event
    base = f"{public_url}/api/events/{quote(change.event_id, safe='')}" if public_url else None
    body = {"v": 1, "type": change.kind.value, "event": event,
            "snapshot_url": f"{base}/snapshot.jpg" if base and event.get("has_snapshot") else None,
            "clip_url": f"{base}/clip.mp4" if base and event.get("has_clip") else None}
    return json.dumps(body, separators=(",", ":")).encode()


def queue_name(delivery: Delivery) -> str:
    """Which of its lane's queues a delivery waits in, as logs and errors name it."""
    return "backlog queue" if delivery.backlog else "queue"


class WebhookService:
    """Reads event changes and hands them to the lanes until :meth:`run`'s stop."""

    def __init__(self, client: redis.Redis, settings: WebhookSettings,
                 environ: Mapping[str, str] | None = None):
        self.client, self.settings, self.keys = client, settings, settings.keys
        self.environ = os.environ if environ is None else environ
        self.allow = AllowList(settings.webhook_allow)
        self.outage = Outage(client, self.keys, "webhooks", log)
        self.hooks: list[Hook] = []
        self.file_hooks: list[WebhookConfig] = []
        self._file_seen: tuple[int, int] | None = None
        self._errors: set[str] = set()
        self._next_poll = 0.0
        self.lanes: dict[str, Lane] = {}
        self.lane_stop = threading.Event()
        self.outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self.unsaved: list[Outcome] = []
        self.remaining: dict[str, int] = {}
        """Entry id -> deliveries not finished (recorded) yet."""
        self.ready = False
        self.backlog_until: StreamId | None = None
        """The stream's newest entry when the service first joined its group: up to it, the
        backlog."""
        if settings.cameras_file:
            self.file_hooks = load_cameras_document(settings.cameras_file).webhooks
            self._file_seen = self._file_stamp()

    # -- the loop ----------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop``; lanes then finish their try in progress (bounded by the
        timeout) and what is left stays pending for the next start."""
        log.info("webhooks: following %s", self.keys.event_updates)
        try:
            while not stop.is_set():
                try:
                    self.step()
                    self.outage.back()
                except REDIS_FAILED as exc:
                    self.ready = False  # the group may be gone (a flushed Redis): made again
                    if not self.outage.failed(exc, stop):
                        break
        finally:
            self.lane_stop.set()
            for lane in self.lanes.values():
                lane.join(self.settings.webhook_timeout_s + 5)
            self._drain()
            try:
                self._save()
            except REDIS_FAILED:
                pass  # unrecorded outcomes: those deliveries are sent again after a restart

    def step(self) -> None:
        """One pass: the hooks when due, the group (and what was pending in it), outcomes, then
        new entries."""
        if time.monotonic() >= self._next_poll:  # first of all: pending entries need the hooks
            self.reload()
            self._next_poll = time.monotonic() + self.settings.webhook_poll_s
        if not self.ready:
            self._join_group()
            if self.backlog_until is None:
                newest = self.client.xrevrange(self.keys.event_updates, count=1)
                self.backlog_until = StreamId.parse(newest[0][0]) if newest else StreamId(0)
            self._read_pending()
            self.ready = True
        self._drain()
        self._save()
        reply = self.client.xreadgroup(WEBHOOKS_GROUP, WEBHOOKS_GROUP,
                                       {self.keys.event_updates: ">"}, count=READ_COUNT,
                                       block=BLOCK_MS)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                backlog = StreamId.parse(entry_id) <= self.backlog_until
                self.dispatch(text(entry_id), fields, sent=(), backlog=backlog)

    def _join_group(self) -> None:
        try:
            self.client.xgroup_create(self.keys.event_updates, WEBHOOKS_GROUP, id="$",
                                      mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read_pending(self) -> None:
        """Entries read before a restart or an outage and not acknowledged: their unfinished
        deliveries (those this process still holds are left to their lanes)."""
        last = "0"
        while True:
            reply = self.client.xreadgroup(WEBHOOKS_GROUP, WEBHOOKS_GROUP,
                                           {self.keys.event_updates: last}, count=READ_COUNT)
            entries = reply[0][1] if reply else []
            if not entries:
                return
            for entry_id, fields in entries:
                last = text(entry_id)
                if last in self.remaining:
                    continue
                if not fields:  # trimmed from the stream meanwhile: nothing left to send
                    self._ack(last)
                    continue
                sent = {text(h) for h in self.client.hkeys(self.keys.webhook_sent(last))}
                self.dispatch(last, fields, sent, backlog=True)

    # -- hooks -------------------------------------------------------------------------------
    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = Path(self.settings.cameras_file).stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def reload(self) -> None:
        """Re-read the hooks: each camera's from Redis, the file's top-level list when it
        changed (an invalid file is logged and the previous list kept)."""
        errors = []
        if self.settings.cameras_file and self._file_stamp() != self._file_seen:
            self._file_seen = self._file_stamp()
            try:
                self.file_hooks = load_cameras_document(self.settings.cameras_file).webhooks
                log.info("webhooks: cameras file re-read")
            except SettingsError as exc:
                log.error("webhooks: cameras file not re-read (keeping its previous webhooks): "
                          "%s", str(exc).replace("\n", "; "))
        cameras = {}
        for name, raw in self.client.hgetall(self.keys.cameras).items():
            config = valid_camera_json(raw, text(name))
            if config is None:
                errors.append(f"camera {text(name)}: invalid stored config: its webhooks are "
                              "left out")
            else:
                cameras[text(name)] = config
        hooks, bad = build_hooks(cameras, self.file_hooks, self.allow, self.environ)
        for error in sorted(set(errors + bad) - self._errors):
            log.error("webhooks: %s", error)
        self._errors = set(errors + bad)
        if [h.id for h in hooks] != [h.id for h in self.hooks]:
            log.info("webhooks: %d configured%s", len(hooks),
                     "".join(f"; {h.camera or 'every camera'} -> {h.shown}" for h in hooks))
        self.hooks = hooks

    # -- deliveries --------------------------------------------------------------------------
    def dispatch(self, entry_id: str, fields: dict, sent: set[str] | tuple = (),
                 backlog: bool = False) -> None:
        """Hand an entry to the lanes of the hooks that want it and have not had it yet
        (``backlog``: to their backlog queues)."""
        try:
            change = EventChange.from_fields(fields)
        except MessageError as exc:
            log.warning("webhooks: entry %s skipped: not an event change (%s)", entry_id, exc)
            self._ack(entry_id)
            return
        hooks = [h for h in self.hooks if h.id not in sent and h.wants(change)]
        if not hooks:
            self._ack(entry_id)
            return
        body = payload(change, self.settings.public_url)
        self.remaining[entry_id] = len(hooks)
        for hook in hooks:
            delivery = Delivery(entry_id, change.kind, hook, body, backlog)
            metrics.WEBHOOK_QUEUED.inc()
            if not self._lane(hook).offer(delivery):
                self.outcomes.put(Outcome(delivery, "dropped", 0,
                                          f"{queue_name(delivery)} full"))

    def _lane(self, hook: Hook) -> Lane:
        lane = self.lanes.get(hook.url)
        if lane is None:
            lane = self.lanes[hook.url] = Lane(hook.shown, self.settings, self.outcomes.put,
                                               self.lane_stop)
            lane.start()
        return lane

    def _drain(self) -> None:
        while True:
            try:
                outcome = self.outcomes.get_nowait()
            except queue.Empty:
                return
            metrics.WEBHOOK_QUEUED.dec()
            metrics.WEBHOOK_DELIVERIES.labels(outcome.result).inc()
            if outcome.tries > 1:
                metrics.WEBHOOK_RETRIES.inc(outcome.tries - 1)
            if outcome.result == "dropped":
                log.warning("webhooks: %s %s dropped: the %s of %s is full (%d)",
                            outcome.delivery.kind, outcome.delivery.entry_id,
                            queue_name(outcome.delivery), outcome.delivery.hook.shown,
                            self.settings.webhook_queue)
            self.unsaved.append(outcome)

    def _save(self) -> None:
        """Record the finished deliveries and totals; acknowledge the entries now complete."""
        if not self.unsaved:
            return
        done: dict[str, int] = {}
        pipe = self.client.pipeline(transaction=False)
        for outcome in self.unsaved:
            entry = outcome.delivery.entry_id
            pipe.hset(self.keys.webhook_sent(entry), outcome.delivery.hook.id, outcome.result)
            pipe.expire(self.keys.webhook_sent(entry), SENT_TTL_S)
            pipe.hincrby(self.keys.webhook_stats, outcome.result, 1)
            if outcome.tries > 1:
                pipe.hincrby(self.keys.webhook_stats, "retries", outcome.tries - 1)
            if outcome.error:
                pipe.hset(self.keys.webhook_stats, mapping={
                    "last_error": f"{outcome.delivery.hook.shown}: {outcome.error}",
                    "last_error_ts": f"{time.time():.3f}"})
            done[entry] = done.get(entry, 0) + 1
        complete = [e for e, n in done.items() if self.remaining.get(e, 0) <= n]
        for entry in complete:
            pipe.xack(self.keys.event_updates, WEBHOOKS_GROUP, entry)
            pipe.delete(self.keys.webhook_sent(entry))
        pipe.execute()
        self.unsaved = []
        for entry, n in done.items():
            self.remaining[entry] = self.remaining.get(entry, 0) - n
            if self.remaining[entry] <= 0:
                del self.remaining[entry]

    def _ack(self, entry_id: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(self.keys.event_updates, WEBHOOKS_GROUP, entry_id)
        pipe.delete(self.keys.webhook_sent(entry_id))
        pipe.execute()
