"""A finished replay's frame stream expires (``replay_keep_s``) instead of staying in Redis
forever, a later replay of the same camera is not cut short by that expiry, and status shows
what each camera's streams take in Redis."""

from __future__ import annotations

from common.keys import KEYS
from replay.job import replay_file
from runtime.status import collect_status


def test_a_finished_replay_expires_and_the_next_one_does_not(redis_client, redis_url,
                                                              small_video, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CCTV_REPLAY_KEEP_S", "120")
    stream = KEYS.frames("rp")
    redis_client.xadd(stream, {"old": "1"})
    redis_client.expire(stream, 1)  # as an earlier replay left it: due within this one
    result = replay_file(str(small_video), "rp", realtime=True)  # 2 s of video
    assert result["frames"] == 40 and redis_client.xlen(stream) == 41
    assert 100 < redis_client.ttl(stream) <= 120
    camera = collect_status(redis_client, KEYS).cameras["rp"]
    assert camera.redis_bytes > 40 * 1000  # 40 JPEGs
    assert camera.to_dict()["redis_bytes"] == camera.redis_bytes
