"""``cctv webhooks`` against local HTTP receivers (http.server on loopback), with event changes
written to ``cctv:event-updates`` by the tracker's own ``write_changes`` (or by the tracker itself
over the synthetic scene): signatures, retries, 4xx, filters, the queue bound, restarts, the
allow-list, masking, and a hanging receiver that stalls neither tracking nor other hooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest
import redis
import yaml

from common.cameras import CameraConfig, load_cameras_document, parse_camera
from common.counting_rules import ZoneConfig
from common.events import Event, event_id
from common.keys import KEYS, WEBHOOKS_GROUP
from common.schema import SettingsError
from integrations.settings import WebhookSettings
from integrations.webhook_delivery import retry_after_s
from integrations.webhook_hooks import AllowList
from integrations.webhooks import WebhookService
from runtime.camera_list import store_camera
from runtime.settings import from_env
from runtime.status import collect_status
from tracking.events import Change, Changes, write_changes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracking"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))
from cluster import cluster_client, redis_cluster  # noqa: E402,F401 (fixtures)
from running import run_until  # noqa: E402
from test_redis_outage import RedisProcess  # noqa: E402
from test_tracker_events import publish_scene  # noqa: E402
from tracking_scene import tracked_frame_id, tracker_settings  # noqa: E402

SECRET = "hook-secret-for-tests"
BENCH = ZoneConfig(name="bench", points=[(0.5, 0.5), (1.0, 0.5), (1.0, 1.0)])


class Receiver:
    """A webhook receiver on loopback: records each POST (headers, body) and answers with the
    next of ``answers`` (then 200); ``hang`` keeps every request open without an answer."""

    def __init__(self, answers: tuple[int, ...] = (), hang: bool = False,
                 gate: threading.Event | None = None):
        self.answers, self.hang, self.gate = list(answers), hang, gate
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        """The answer to each request (hanging ones too)."""
        self.lock, self.release = threading.Lock(), threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body))
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.statuses.append(status)
                if receiver.hang:
                    receiver.release.wait(120)
                    return
                if receiver.gate is not None:
                    receiver.gate.wait(120)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def bodies(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for _, body in self.requests]

    def seen(self) -> list[tuple[str, str]]:
        """(type, event id) of every request, in arrival order."""
        return [(b["type"], b["event"]["id"]) for b in self.bodies()]

    def deliveries(self) -> list[tuple[str, str]]:
        """:meth:`seen` without repeats of one delivery (``X-CCTV-Delivery``)."""
        with self.lock:
            ids = [headers["X-CCTV-Delivery"] for headers, _ in self.requests]
        firsts = [i for i, ident in enumerate(ids) if ident not in ids[:i]]
        seen = self.seen()
        return [seen[i] for i in firsts]

    def accepted(self) -> list[tuple[str, str]]:
        """:meth:`seen` of the requests answered with a 2xx."""
        with self.lock:
            statuses = list(self.statuses)
        return [c for c, status in zip(self.seen(), statuses) if 200 <= status < 300]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(*answers: int, hang: bool = False, gate: threading.Event | None = None
             ) -> Receiver:
        made.append(Receiver(answers, hang, gate))
        return made[-1]
    yield make
    for receiver in made:
        receiver.close()


def wait_until(predicate, timeout: float = 90, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached in {timeout}s"
        time.sleep(0.02)


def settings_for(redis_url: str, tmp_path: Path, hooks: list[dict] = (), **env: str
                 ) -> WebhookSettings:
    """Webhook settings with ``hooks`` as the cameras file's top-level list; short backoff."""
    path = tmp_path / "cameras.yaml"
    path.write_text(yaml.safe_dump({"cameras": [], "webhooks": list(hooks)}))
    values = {"REDIS_URL": redis_url, "CCTV_CAMERAS_FILE": str(path),
              "CCTV_WEBHOOK_BACKOFF_S": "0.05", "CCTV_WEBHOOK_POLL_S": "0.1"}
    return from_env(WebhookSettings, values | env)


def group_ready(client) -> bool:
    try:
        return any(g["name"] == WEBHOOKS_GROUP.encode()
                   for g in client.xinfo_groups(KEYS.event_updates))
    except Exception:
        return False


def settled(client) -> bool:
    """Every entry read by the service and every delivery finished (acknowledged)."""
    group = next(g for g in client.xinfo_groups(KEYS.event_updates)
                 if g["name"] == WEBHOOKS_GROUP.encode())
    last = client.xinfo_stream(KEYS.event_updates)["last-generated-id"]
    return group["pending"] == 0 and group["last-delivered-id"] == last


def stats(client) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in client.hgetall(KEYS.webhook_stats).items()}


@contextmanager
def serving(client, service: WebhookService) -> Iterator[WebhookService]:
    """The service in a thread, its consumer group made, until the block ends."""
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: group_ready(client) and service.ready, what="consumer group")
        yield service
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "the webhooks service did not stop"


def make_event(label: str = "person", track: int = 1, camera: str = "cam",
               zones: tuple[str, ...] = ()) -> Event:
    start = 1_700_000_000.0 + track
    return Event(event_id(camera, track, start), camera, label, start, top_score=0.9,
                 zones=list(zones), snapshot="cam/x.jpg", track_id=track, last_ts=start)


def emit(client, *changes: tuple[str, Event]) -> None:
    """Write changes as the tracker does (one pipeline, as for one frame)."""
    for kind, event in changes:
        if kind == "end":
            event.end_ts = event.last_ts
    by_camera: dict[str, Changes] = {}
    for kind, event in changes:
        by_camera.setdefault(event.camera, Changes()).events.append(Change(kind, event))
    for camera, batch in by_camera.items():
        write_changes(client, KEYS, camera, batch)


def test_signed_body_with_snapshot_url_verifies(redis_client, redis_url, tmp_path, receivers):
    hook = receivers()
    settings = settings_for(redis_url, tmp_path, [{"url": hook.url}],
                            CCTV_WEBHOOK_SECRET=SECRET, CCTV_PUBLIC_URL="https://nvr.example/")
    event = make_event()
    with serving(redis_client, WebhookService(redis_client, settings)):
        emit(redis_client, ("new", event))
        wait_until(lambda: settled(redis_client) and hook.requests)
    (headers, body), = hook.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-CCTV-Signature"], expected)
    assert headers["Content-Type"] == "application/json" and headers["X-CCTV-Event"] == "new"
    data = json.loads(body)
    assert data["type"] == "new" and data["event"] == event.to_dict()
    assert data["snapshot_url"] == f"https://nvr.example/api/events/{event.id}/snapshot.jpg"
    assert data["clip_url"] is None
    assert stats(redis_client)["delivered"] == "1"
    assert not redis_client.keys(KEYS.webhook_sent("*"))
    assert collect_status(redis_client, KEYS).to_dict()["webhooks"]["delivered"] == 1


def test_5xx_then_200_is_one_delivery(redis_client, redis_url, tmp_path, receivers):
    hook = receivers(500, 503)
    settings = settings_for(redis_url, tmp_path, [{"url": hook.url}])
    with serving(redis_client, WebhookService(redis_client, settings)):
        emit(redis_client, ("new", make_event()))
        wait_until(lambda: settled(redis_client))
    assert len(hook.requests) == 3 and len({b for _, b in hook.requests}) == 1
    assert len({h["X-CCTV-Delivery"] for h, _ in hook.requests}) == 1
    counts = stats(redis_client)
    assert counts["delivered"] == "1" and counts["retries"] == "2" and "failed" not in counts


def test_4xx_is_not_retried(redis_client, redis_url, tmp_path, receivers):
    hook = receivers(404, 404, 404)
    settings = settings_for(redis_url, tmp_path, [{"url": hook.url}])
    with serving(redis_client, WebhookService(redis_client, settings)):
        emit(redis_client, ("new", make_event()))
        wait_until(lambda: settled(redis_client))
    assert len(hook.requests) == 1
    counts = stats(redis_client)
    assert counts["failed"] == "1" and "delivered" not in counts and "retries" not in counts
    assert counts["last_error"].endswith(": HTTP 404")


def test_429_and_408_are_retried(redis_client, redis_url, tmp_path, receivers):
    hook = receivers(429, 408)
    settings = settings_for(redis_url, tmp_path, [{"url": hook.url}])
    with serving(redis_client, WebhookService(redis_client, settings)):
        emit(redis_client, ("new", make_event()))
        wait_until(lambda: settled(redis_client))
    assert hook.statuses == [429, 408, 200]
    counts = stats(redis_client)
    assert counts["delivered"] == "1" and counts["retries"] == "2" and "failed" not in counts


def test_retry_after_header():
    assert [retry_after_s(v) for v in ("7", "0", None, "soon")] == [7.0, 0.0, None, None]
    assert retry_after_s(formatdate(time.time() + 30, usegmt=True)) == pytest.approx(30, abs=2)
    assert retry_after_s(formatdate(time.time() - 30, usegmt=True)) == 0.0


def test_filters_by_events_labels_and_zones(redis_client, redis_url, tmp_path, receivers):
    ends, cars, bench, every = receivers(), receivers(), receivers(), receivers()
    settings = settings_for(redis_url, tmp_path, [
        {"url": ends.url, "events": ["end"]},
        {"url": cars.url, "events": ["new", "update", "end"], "labels": ["car"]},
        {"url": every.url}])
    store_camera(redis_client, KEYS, CameraConfig(
        name="cam", url="x.mp4", zones=[BENCH],
        webhooks=[{"url": bench.url, "events": ["update", "end"], "zones": ["bench"]}]))
    walker, car, sitter = make_event(track=1), make_event("car", 2), make_event(track=3)
    other = make_event(track=4, camera="other")
    with serving(redis_client, WebhookService(redis_client, settings)):
        emit(redis_client, ("new", walker), ("new", car), ("new", other))
        sitter.zones.append("bench")
        emit(redis_client, ("new", sitter), ("update", car))
        emit(redis_client, ("end", walker), ("end", car), ("end", sitter), ("end", other))
        wait_until(lambda: settled(redis_client))
    assert sorted(ends.seen()) == sorted(("end", e.id) for e in (walker, car, sitter, other))
    assert cars.seen() == [("new", car.id), ("update", car.id), ("end", car.id)]
    assert bench.seen() == [("end", sitter.id)]  # its new is filtered by events, other's by camera
    assert sorted(every.seen()) == sorted((k, e.id) for e in (walker, car, sitter, other)
                                          for k in ("new", "end"))
    assert stats(redis_client)["delivered"] == str(4 + 3 + 1 + 8)


def test_hanging_receiver_stalls_neither_tracking_nor_other_hooks(redis_client, redis_url,
                                                                   tmp_path, receivers):
    hanging, good = receivers(hang=True), receivers()
    settings = settings_for(redis_url, tmp_path, [{"url": hanging.url}, {"url": good.url}],
                            CCTV_WEBHOOK_TIMEOUT_S="2", CCTV_WEBHOOK_RETRIES="3")
    last = publish_scene(redis_client)
    with serving(redis_client, WebhookService(redis_client, settings)):
        tracker_settings_ = tracker_settings(redis_url, media_dir=tmp_path / "media",
                                             event_end_after_s=0.5, event_pre_s=0.0,
                                             event_post_s=0.2)
        from tracking.service import Tracker

        tracker = Tracker(redis_client, tracker_settings_)
        run_until(tracker, lambda: tracked_frame_id(redis_client) == last, timeout=120)
        tracker.media.stop()
        changes = [(f[b"type"].decode(), f[b"id"].decode())
                   for _, f in redis_client.xrange(KEYS.event_updates)]
        wanted = [c for c in changes if c[0] in ("new", "end")]
        assert len(wanted) == 10  # 5 objects, new and end each
        wait_until(lambda: len(good.deliveries()) >= len(wanted),
                   what="good receiver's deliveries")
        assert hanging.requests, "the hanging receiver was tried"
    # in order, each once (a try that timed out on a loaded machine is the same delivery),
    # unaffected by the hanging receiver's lane
    assert good.deliveries() == wanted


def test_full_queue_drops_and_counts(redis_client, redis_url, tmp_path, receivers):
    hanging = receivers(hang=True)
    settings = settings_for(redis_url, tmp_path, [{"url": hanging.url}],
                            CCTV_WEBHOOK_TIMEOUT_S="1", CCTV_WEBHOOK_RETRIES="0",
                            CCTV_WEBHOOK_QUEUE="1")
    with serving(redis_client, WebhookService(redis_client, settings)):
        emit(redis_client, *[("new", make_event(track=i)) for i in range(5)])
        wait_until(lambda: settled(redis_client))
    counts = stats(redis_client)
    assert int(counts["dropped"]) >= 3
    assert int(counts["dropped"]) + int(counts["failed"]) == 5
    status = collect_status(redis_client, KEYS).to_dict()["webhooks"]
    assert status["dropped"] == int(counts["dropped"]) and status["pending"] == 0


def test_restart_neither_loses_nor_resends(redis_client, redis_url, tmp_path, receivers):
    good, flaky = receivers(), receivers(*[500] * 1000)
    settings = settings_for(redis_url, tmp_path, [{"url": good.url}, {"url": flaky.url}],
                            CCTV_WEBHOOK_RETRIES="20", CCTV_WEBHOOK_BACKOFF_MAX_S="0.2")
    first, second = make_event(track=1), make_event(track=2)
    with serving(redis_client, WebhookService(redis_client, settings)):
        emit(redis_client, ("new", first))
        wait_until(lambda: good.requests and len(flaky.requests) >= 2
                   and redis_client.hlen(KEYS.webhook_sent(
                       redis_client.xrange(KEYS.event_updates)[0][0].decode())) == 1)
    emit(redis_client, ("new", second))  # while the service is down
    flaky.answers.clear()
    with serving(redis_client, WebhookService(redis_client, settings)):
        wait_until(lambda: settled(redis_client))
    assert good.seen() == [("new", first.id), ("new", second.id)]
    assert flaky.accepted() == [("new", first.id), ("new", second.id)]
    assert not redis_client.keys(KEYS.webhook_sent("*"))


def test_cctv_webhooks_command_delivers_serves_metrics_and_stops(redis_client, redis_url,
                                                                 tmp_path, receivers):
    from running import free_port

    hook = receivers()
    port = free_port()
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(yaml.safe_dump({"cameras": [], "webhooks": [{"url": hook.url}]}))
    env = dict(os.environ, REDIS_URL=redis_url, CCTV_METRICS_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "cctv", "webhooks", "--cameras-file",
                             str(cameras)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: group_ready(redis_client) or proc.poll() is not None,
                   what="cctv webhooks started")
        assert proc.poll() is None
        emit(redis_client, ("new", make_event()))
        wait_until(lambda: settled(redis_client) and hook.requests)
        metrics_text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                              timeout=30).read().decode()
        assert 'cctv_webhook_deliveries_total{outcome="delivered"} 1.0' in metrics_text
        status = subprocess.run([sys.executable, "-m", "cctv", "status"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert "webhooks: 1 delivered, 0 failed, 0 dropped, 0 retries, 0 pending" in \
            status.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert hook.seen() == [("new", make_event().id)]


def test_cctv_up_starts_the_webhooks_service():
    from cctv.up import child_commands

    assert [cmd[3:] for cmd in child_commands("cams.yaml", 1, False)
            if cmd[3] == "webhooks"] == [["webhooks", "--cameras-file", "cams.yaml"]]


def test_redis_outage_is_ridden_out(tmp_path, receivers, caplog):
    """A delivery that finishes while Redis is down is recorded once it is back, and the
    service goes on with new changes; nothing is sent twice."""
    caplog.set_level(logging.INFO, logger="cctv.webhooks")
    server = RedisProcess(tmp_path)
    server.start()
    client = redis.Redis.from_url(server.url, socket_timeout=5, socket_connect_timeout=2)
    gate = threading.Event()
    hook = receivers(gate=gate)
    settings = settings_for(server.url, tmp_path, [{"url": hook.url}])
    service = WebhookService(client, settings)
    try:
        with serving(client, service):
            emit(client, ("new", make_event(track=1)))
            wait_until(lambda: hook.requests, what="the first delivery under way")
            server.stop()
            gate.set()  # the receiver answers while Redis is away
            wait_until(lambda: service.outcomes.qsize() or service.unsaved,
                       what="the delivery's outcome")
            server.start()
            wait_until(lambda: settled(client), what="the outcome recorded after the outage")
            emit(client, ("new", make_event(track=2)))
            wait_until(lambda: settled(client) and len(hook.requests) == 2)
        assert hook.seen() == [("new", make_event(track=1).id), ("new", make_event(track=2).id)]
        assert stats(client)["delivered"] == "2"
        assert "webhooks: Redis unreachable" in caplog.text and "Redis is back" in caplog.text
    finally:
        client.close()
        server.stop()


def test_delivers_on_a_redis_cluster(cluster_client, redis_cluster, tmp_path, receivers):
    hook = receivers(500)
    settings = settings_for(redis_cluster.url, tmp_path, [{"url": hook.url}])
    assert settings.keys.hash_tags
    service = WebhookService(cluster_client, settings)
    with serving(cluster_client, service):
        write_changes(cluster_client, settings.keys, "cam",
                      Changes(events=[Change("new", make_event())]))
        wait_until(lambda: settled(cluster_client))
    assert hook.seen() == [("new", make_event().id)] * 2
    assert collect_status(cluster_client, settings.keys).webhooks.delivered == 1


def test_webhook_added_while_running_is_picked_up(redis_client, redis_url, tmp_path,
                                                  receivers):
    late = receivers()
    settings = settings_for(redis_url, tmp_path)
    service = WebhookService(redis_client, settings)
    with serving(redis_client, service):
        store_camera(redis_client, KEYS, CameraConfig(name="cam", url="x.mp4",
                                                      webhooks=[{"url": late.url}]))
        wait_until(lambda: service.hooks)
        emit(redis_client, ("new", make_event()))
        wait_until(lambda: settled(redis_client) and late.requests)
    assert late.seen() == [("new", make_event().id)]


def test_allow_list(redis_client, redis_url, tmp_path, receivers, caplog):
    hook = receivers()
    caplog.set_level(logging.INFO, logger="cctv.webhooks")
    refused = settings_for(redis_url, tmp_path, [{"url": hook.url}],
                           CCTV_WEBHOOK_ALLOW="10.0.0.0/8,hooks.example.com")
    service = WebhookService(redis_client, refused)
    with serving(redis_client, service):
        emit(redis_client, ("new", make_event()))
        wait_until(lambda: settled(redis_client))
    assert not hook.requests and service.hooks == []
    assert "host 127.0.0.1 is not in webhook_allow" in caplog.text
    allowed = settings_for(redis_url, tmp_path, [{"url": hook.url.replace("127.0.0.1",
                                                                          "localhost")}],
                           CCTV_WEBHOOK_ALLOW="127.0.0.0/8,::1")
    with serving(redis_client, WebhookService(redis_client, allowed)):
        emit(redis_client, ("new", make_event(track=2)))
        wait_until(lambda: settled(redis_client))
    assert hook.seen() == [("new", make_event(track=2).id)]
    rules = AllowList(["*.example.com", "cam.lan", "192.168.0.0/16"])
    assert rules.static("a.example.com") and rules.static("CAM.lan")
    assert rules.static("192.168.1.9") and rules.static("10.0.0.1") is False
    assert rules.static("evil.com") is None  # a name: decided by its addresses
    assert AllowList(["cam.lan"]).static("evil.com") is False


def test_credentials_in_urls_are_expanded_and_never_logged(redis_client, redis_url, tmp_path,
                                                           receivers, caplog, monkeypatch):
    hook = receivers(401)
    caplog.set_level(logging.DEBUG, logger="cctv.webhooks")
    monkeypatch.setenv("HOOK_PW", "pw-s3cret")
    monkeypatch.setenv("HOOK_TOKEN", "tok-s3cret")
    url = hook.url.replace("http://", "http://bot:${HOOK_PW}@") + "?token=${HOOK_TOKEN}"
    whole = receivers()
    monkeypatch.setenv("WHOLE_URL", whole.url + "?token=tok-s3cret")
    settings = settings_for(redis_url, tmp_path, [{"url": url}])
    store_camera(redis_client, KEYS, CameraConfig(name="cam", url="x.mp4",
                                                  webhooks=[{"url": "${WHOLE_URL}"}]))
    with serving(redis_client, WebhookService(redis_client, settings)):
        emit(redis_client, ("new", make_event()))
        wait_until(lambda: settled(redis_client))
    assert whole.seen() == [("new", make_event().id)]
    (headers, _), = hook.requests
    assert headers["Authorization"].startswith("Basic ")  # the password reached the receiver
    assert "HTTP 401" in caplog.text
    text = caplog.text + json.dumps(stats(redis_client))
    assert "pw-s3cret" not in text and "tok-s3cret" not in text


def test_bad_webhook_config_is_a_clear_error(tmp_path, redis_url):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: []\nwebhooks:\n  - url: ftp://files.example/x\n")
    with pytest.raises(SettingsError) as err:
        load_cameras_document(bad)
    assert str(err.value) == f"{bad}: webhooks.0.url: must start with http:// or https://"
    with pytest.raises(SettingsError, match=r"webhooks.0.zones names unknown zones: gate"):
        parse_camera({"name": "cam", "url": "x.mp4",
                      "webhooks": [{"url": "https://h.example/x", "zones": ["gate"]}]})
    with pytest.raises(SettingsError, match=r"webhooks.0.events.0: Input should be"):
        parse_camera({"name": "cam", "url": "x.mp4",
                      "webhooks": [{"url": "https://h.example/x", "events": ["start"]}]})
    with pytest.raises(SettingsError, match=r"webhooks.0.url holds a credential "
                                            r"\(https://h.example/x\?token=\*\*\*\): write it as"):
        parse_camera({"name": "cam", "url": "x.mp4",
                      "webhooks": [{"url": "https://h.example/x?token=abc"}]})
    run = subprocess.run([sys.executable, "-m", "cctv", "webhooks", "--cameras-file", str(bad)],
                         env={"REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"cctv: webhooks: {bad}: webhooks.0.url: must start with http:// or https://"]
