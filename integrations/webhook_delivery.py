"""Sending webhooks: the signed POST, its retry policy, and one :class:`Lane` per receiver URL.

A lane is a thread with its own :class:`LaneQueue`: deliveries to one receiver go out one at a
time, and a receiver that hangs or fails holds up only its own lane (each try is bounded by
``webhook_timeout_s``). The queue keeps fresh deliveries apart from the restart backlog, each
bounded by ``webhook_queue`` (beyond, new ones to it are dropped and counted), and serves fresh
ones first: a backlog larger than the queue can only drop its own entries, never a fresh event.
Each kind goes out in order.
A 2xx is delivered; a 5xx, a 429 or 408, a timeout or a connection error is tried again after
a backoff (``webhook_backoff_s`` doubling up to ``webhook_backoff_max_s``; longer when the
receiver's ``Retry-After`` asks, within that bound) at most ``webhook_retries`` times; anything
else (another 4xx, a redirect, a host outside ``webhook_allow``) fails at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Callable
from urllib.parse import urlsplit

import requests

from common.urls import mask_text

from .settings import WebhookSettings
from .webhook_hooks import AllowList, Hook

log = logging.getLogger("cctv.webhooks")

SIGNATURE_HEADER = "X-CCTV-Signature"
USER_AGENT = "cctv-webhooks/1"
RETRIED_4XX = (408, 429)
"""Request Timeout and Too Many Requests: the receiver asks to be tried again later."""


def retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` header's wait in seconds (delay-seconds or an HTTP date), else None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-CCTV-Signature`` value: ``sha256=`` and the HMAC-SHA256 of the body, hex."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """One event change for one hook: ``entry_id`` is its ``cctv:event-updates`` entry;
    ``backlog`` when it was there before the service started (or pending in its group)."""

    entry_id: str
    kind: str
    hook: Hook
    body: bytes
    backlog: bool = False


@dataclass(frozen=True)
class Outcome:
    """How a delivery finished: ``delivered``, ``failed`` or ``dropped``, after ``tries``."""

    delivery: Delivery
    result: str
    tries: int
    error: str = ""


class Sender:
    """One try of a delivery, and the policy of what comes next."""

    def __init__(self, settings: WebhookSettings):
        self.timeout = settings.webhook_timeout_s
        self.secret = settings.webhook_secret.get_secret_value().encode() \
            if settings.webhook_secret else None
        self.allow = AllowList(settings.webhook_allow)
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies or .netrc from the environment: direct

    def headers(self, delivery: Delivery) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   "X-CCTV-Event": delivery.kind,
                   "X-CCTV-Delivery": f"{delivery.entry_id}.{delivery.hook.id}"}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.secret, delivery.body)
        return headers

    def attempt(self, delivery: Delivery) -> tuple[str, str, float | None]:
        """``("delivered", "", None)``, ``("retry", why, Retry-After s or None)`` or
        ``("failed", why, None)``."""
        url = delivery.hook.url
        parts = urlsplit(url)
        try:
            refused = self.allow.check(parts.hostname or "",
                                       parts.port or (443 if parts.scheme == "https" else 80))
        except OSError as exc:
            return "retry", f"cannot resolve {parts.hostname}: {exc}", None
        if refused:
            return "failed", refused, None
        try:
            with self.session.post(url, data=delivery.body, headers=self.headers(delivery),
                                   timeout=(self.timeout, self.timeout), allow_redirects=False,
                                   stream=True) as answer:
                status, after = answer.status_code, answer.headers.get("Retry-After")
        except requests.Timeout:
            return "retry", f"no answer in {self.timeout:g}s", None
        except requests.ConnectionError as exc:
            return "retry", f"connection failed: {type(exc).__name__}", None
        except requests.RequestException as exc:
            return "failed", f"{type(exc).__name__}: {exc}", None
        if 200 <= status < 300:
            return "delivered", "", None
        if status >= 500 or status in RETRIED_4XX:
            return "retry", f"HTTP {status}", retry_after_s(after)
        return "failed", f"HTTP {status}", None

    def close(self) -> None:
        self.session.close()


class LaneQueue:
    """A lane's waiting deliveries: two bounded FIFOs, fresh and backlog, fresh served first."""

    def __init__(self, size: int):
        self.size = size
        self.fresh: deque[Delivery] = deque()
        self.backlog: deque[Delivery] = deque()
        self._changed = threading.Condition()

    def put(self, delivery: Delivery) -> bool:
        """Queue a delivery in its FIFO; False (not queued) when that one is full."""
        waiting = self.backlog if delivery.backlog else self.fresh
        with self._changed:
            if len(waiting) >= self.size:
                return False
            waiting.append(delivery)
            self._changed.notify()
            return True

    def take(self, timeout: float) -> Delivery | None:
        """The oldest fresh delivery, else the oldest of the backlog; None when both stay empty
        for ``timeout`` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self.fresh or self.backlog, timeout)
            if self.fresh:
                return self.fresh.popleft()
            return self.backlog.popleft() if self.backlog else None


class Lane(threading.Thread):
    """The deliveries to one receiver URL, in order, with retries; ``done`` gets each
    :class:`Outcome` (from this thread)."""

    def __init__(self, url_shown: str, settings: WebhookSettings,
                 done: Callable[[Outcome], None], stop: threading.Event):
        super().__init__(name=f"webhook {url_shown}", daemon=True)
        self.shown, self.settings, self.done, self.stop = url_shown, settings, done, stop
        self.waiting = LaneQueue(settings.webhook_queue)
        self.sender = Sender(settings)

    def offer(self, delivery: Delivery) -> bool:
        """Queue a delivery; False (dropped) when its queue (fresh or backlog) is full."""
        return self.waiting.put(delivery)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                delivery = self.waiting.take(timeout=0.2)
                if delivery is None:
                    continue
                try:
                    outcome = self.deliver(delivery)
                except Exception as exc:  # a bug must not strand the lane's queue
                    log.exception("webhook %s: delivery failed unexpectedly", self.shown)
                    outcome = Outcome(delivery, "failed", 1, mask_text(f"{type(exc).__name__}: "
                                                                       f"{exc}"))
                if outcome is not None:
                    self.done(outcome)
        finally:
            self.sender.close()

    def deliver(self, delivery: Delivery) -> Outcome | None:
        """Try until delivered, failed or out of retries; None when stopped meanwhile (the
        delivery then stays pending and is sent after a restart)."""
        wait = self.settings.webhook_backoff_s
        tries = 0
        while True:
            tries += 1
            result, why, asked = self.sender.attempt(delivery)
            if result == "delivered":
                return Outcome(delivery, "delivered", tries)
            why = mask_text(why)
            if result == "failed" or tries > self.settings.webhook_retries:
                log.warning("webhook %s: %s %s not delivered after %d tr%s: %s",
                            delivery.hook.shown, delivery.kind, delivery.entry_id, tries,
                            "y" if tries == 1 else "ies", why)
                return Outcome(delivery, "failed", tries, why)
            pause = min(max(wait, asked or 0.0), self.settings.webhook_backoff_max_s)
            log.info("webhook %s: %s; retrying in %.1fs", delivery.hook.shown, why, pause)
            if self.stop.wait(pause):
                return None
            wait = min(wait * 2, self.settings.webhook_backoff_max_s)
