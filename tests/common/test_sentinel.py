"""Redis Sentinel (``redis+sentinel://``): a real primary, replica and three sentinels
(tests/sentinel.py); ingest publishes through ``connect``, the primary is SIGKILLed, the sentinels
promote the replica and ingest carries on by itself on the new primary."""

from __future__ import annotations

import threading
import time

import pytest
from sentinel import LocalSentinel

from common.keys import KEYS
from common.schema import SettingsError
from ingest.settings import IngestSettings
from runtime.redis_url import sentinel_parts
from runtime.settings import CommonSettings, from_env

WAIT_S = 120.0


def direct_value(sentinel, port: int) -> str | None:
    with sentinel.client(port) as direct:
        return direct.get("cctv:probe")


def wait_until(predicate, timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:  # the primary is down or moving: ask again
            pass
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("url, parsed", [
    ("redis+sentinel://s1:26379,s2:26380/cctv", ([("s1", 26379), ("s2", 26380)], "cctv", 0)),
    ("redis+sentinel://:pw@s1/main/3", ([("s1", 26379)], "main", 3)),
    ("rediss+sentinel://u:pw@10.0.0.1:5000/main", ([("10.0.0.1", 5000)], "main", 0)),
])
def test_sentinel_urls_parse(url, parsed):
    assert sentinel_parts(url) == parsed
    assert from_env(CommonSettings, {"REDIS_URL": url}).redis_url == url


@pytest.mark.parametrize("url, message", [
    ("redis+sentinel://s1:26379", "needs the service name"),
    ("redis+sentinel://s1:26379/cctv/x", "must be a number"),
    ("redis+sentinel://s1:99999/cctv", "port from 1 to 65535"),
    ("redis+sentinel://:secret@/cctv", "at least one sentinel"),
])
def test_a_bad_sentinel_url_is_one_clear_error_without_the_password(url, message):
    with pytest.raises(SettingsError, match=message) as caught:
        from_env(CommonSettings, {"REDIS_URL": url})
    assert "secret" not in str(caught.value)


@pytest.mark.slow
def test_ingest_carries_on_through_a_sentinel_failover(tmp_path, small_video):
    from common.cameras import CameraConfig
    from ingest.service import IngestService
    from runtime.redis_conn import connect, connect_queue, redis_address

    def frames_in() -> int:
        return int(client.hget(KEYS.state("loop"), "frames_in") or 0)

    with LocalSentinel(tmp_path, down_after_ms=2000) as sentinel:
        settings = IngestSettings(redis_url=sentinel.url, camera_poll_s=0.1, stream_maxlen=50)
        assert redis_address(settings) == sentinel.url.replace("/cctv", "/cctv/0")
        client = connect(settings)
        camera = CameraConfig(name="loop", url=str(small_video), loop=True, realtime=True)
        service = IngestService(connect(settings), settings, [camera])
        stop = threading.Event()
        thread = threading.Thread(target=service.run, args=(stop,))
        thread.start()
        try:
            assert wait_until(lambda: frames_in() >= 5), "no frames through the primary"
            old = sentinel.kill_primary()
            new = sentinel.wait_promoted(WAIT_S)
            assert new != old
            assert wait_until(lambda: frames_in() > 0), "the new primary is not reachable"
            after = frames_in()
            assert wait_until(lambda: frames_in() >= after + 20), "ingest did not carry on"
            queue = connect_queue(CommonSettings(queue_url=sentinel.url))  # RQ's Redis, too
            assert queue.set("cctv:probe", "1") and direct_value(sentinel, new) == "1"
            queue.close()
            with sentinel.client(new) as direct:  # written to the promoted replica itself
                assert direct.xlen(KEYS.frames("loop")) > 0
                assert direct.info("replication")["role"] == "master"
            assert thread.is_alive()
        finally:
            stop.set()
            thread.join(30)
        client.close()
    assert not thread.is_alive()
