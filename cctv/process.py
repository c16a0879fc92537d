"""What a subcommand's process needs from its settings: a Redis client, a stop event set by
SIGINT or SIGTERM, and the Prometheus endpoint."""

from __future__ import annotations

import signal
import threading

import redis

from runtime.settings import CommonSettings, ServiceSettings


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (the service then stops cleanly)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def client_for(settings: CommonSettings) -> redis.Redis:
    from runtime.redis_conn import connect

    return connect(settings)


def start_metrics(settings: ServiceSettings, client: redis.Redis) -> None:
    """Serve Prometheus metrics when ``metrics_port`` is set."""
    if settings.metrics_port:
        from runtime.metrics import serve_metrics

        serve_metrics(settings.metrics_host, settings.metrics_port, client, settings.keys)
