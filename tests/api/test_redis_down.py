"""Every way Redis can be away (runtime.outage.REDIS_DOWN, a cluster without a reachable node
included) is a 503 from the video routes and the REST API, never a 500."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
import uvicorn
from starlette.applications import Starlette
from test_live_routes import free_port, get

from api.live import LiveHub
from api.rest import rest_routes
from api.routes import live_routes
from common.keys import KEYS


class UnreachableCluster:
    """A client whose every command finds no cluster node."""

    def __getattr__(self, name: str):
        def command(*args, **kwargs):
            raise redis.exceptions.ClusterError("no node reachable")
        return command


@pytest.fixture
def base(tmp_path: Path):
    client = UnreachableCluster()
    hub = LiveHub(client, KEYS)
    app = Starlette(routes=live_routes(client, KEYS, hub, None)
                    + rest_routes(client, KEYS, tmp_path, None))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    hub.stop()
    thread.join(10)


@pytest.mark.parametrize("path", ["/cameras/gate/latest.jpg", "/api/events"])
def test_an_unreachable_cluster_is_a_503(base, path):
    status, _, body = get(base + path)
    assert status == 503 and b"Redis is unreachable" in body
