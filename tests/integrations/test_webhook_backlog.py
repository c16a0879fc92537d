"""``cctv webhooks`` restarting with a backlog larger than its queue: fresh events are queued
apart, sent first and never dropped; only backlog entries are dropped, and counted."""

from __future__ import annotations

import threading

import test_webhooks
from test_webhooks import (
    emit,
    make_event,
    serving,
    settings_for,
    settled,
    stats,
    wait_until,
)

from common.keys import KEYS, WEBHOOKS_GROUP
from integrations.webhook_delivery import Delivery, LaneQueue
from integrations.webhook_hooks import Hook
from integrations.webhooks import WebhookService

QUEUE = 10
PENDING, UNREAD, FRESH = 40, 5, 8
receivers = test_webhooks.receivers  # the fixture


def test_lane_queue_serves_fresh_first_and_bounds_each_kind():
    hook = Hook(id="h", url="http://127.0.0.1/hook", shown="http://127.0.0.1/hook", camera=None,
                events=frozenset({"new"}), labels=frozenset(), zones=frozenset())
    waiting = LaneQueue(2)
    old = [Delivery(f"{i}-0", "new", hook, b"{}", backlog=True) for i in range(3)]
    new = [Delivery(f"{i}-1", "new", hook, b"{}") for i in range(3)]
    assert [waiting.put(d) for d in old] == [True, True, False]
    assert [waiting.put(d) for d in new] == [True, True, False]
    assert [waiting.take(0) for _ in range(5)] == [new[0], new[1], old[0], old[1], None]


def test_restart_backlog_never_pushes_out_fresh_events(redis_client, redis_url, tmp_path,
                                                        receivers):
    gate = threading.Event()
    hook = receivers(gate=gate)
    settings = settings_for(redis_url, tmp_path, [{"url": hook.url}],
                            CCTV_WEBHOOK_QUEUE=str(QUEUE), CCTV_WEBHOOK_TIMEOUT_S="60")
    # The backlog: entries a stopped service had read and not acknowledged, and entries
    # written after it stopped.
    redis_client.xgroup_create(KEYS.event_updates, WEBHOOKS_GROUP, id="$", mkstream=True)
    emit(redis_client, *[("new", make_event(track=i)) for i in range(PENDING)])
    redis_client.xreadgroup(WEBHOOKS_GROUP, WEBHOOKS_GROUP, {KEYS.event_updates: ">"})
    emit(redis_client, *[("new", make_event(track=i)) for i in range(PENDING, PENDING + UNREAD)])
    backlog = PENDING + UNREAD
    fresh = [make_event(track=1000 + i) for i in range(FRESH)]

    with serving(redis_client, WebhookService(redis_client, settings)) as service:
        # One backlog delivery in flight (held by the receiver), the backlog queue full.
        wait_until(lambda: len(hook.requests) == 1 and int(stats(redis_client).get("dropped", 0))
                   >= backlog - QUEUE - 1, what="the backlog queued and dropped")
        emit(redis_client, *[("new", event) for event in fresh])
        lane = service.lanes[hook.url]
        wait_until(lambda: len(lane.waiting.fresh) == FRESH, what="fresh events queued")
        gate.set()
        wait_until(lambda: settled(redis_client), what="every entry finished")

    sent = [ident for _, ident in hook.seen()]
    assert sent[1:1 + FRESH] == [event.id for event in fresh]  # after the one in flight
    assert len(sent) == len(set(sent)) == 1 + FRESH + QUEUE
    counts = stats(redis_client)
    assert int(counts["delivered"]) == len(sent)
    assert int(counts["dropped"]) == backlog - 1 - QUEUE
