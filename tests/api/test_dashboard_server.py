"""The routes as the dashboard serves them: ``cctv dashboard`` (st.App) puts the page and the video
on one port behind one password."""

from __future__ import annotations

import base64
import json
import time

import cv2
import numpy as np

from common.keys import KEYS
from common.messages import FrameMessage
from running import dashboard
from test_live_routes import get


def test_one_port_and_one_password_cover_the_page_and_the_video(redis_url, redis_client,
                                                                 tmp_path):
    ok, jpeg = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))
    redis_client.xadd(KEYS.frames("gate"), FrameMessage("gate", 0, time.time(), 64, 48,
                                                        jpeg.tobytes()).to_fields())
    redis_client.sadd(KEYS.camera_names, "gate")
    with dashboard({"REDIS_URL": redis_url, "CCTV_DASHBOARD_PASSWORD": "door-s3cret",
                    "CCTV_RUN_DIR": str(tmp_path)}) as base:
        assert get(base + "/")[0] == 200  # the page (it asks for the password itself)
        assert get(f"{base}/cameras/gate/latest.jpg")[0] == 401
        auth = {"Authorization": "Basic " + base64.b64encode(b"ha:door-s3cret").decode()}
        status, headers, body = get(f"{base}/cameras/gate/latest.jpg", auth)
        assert status == 200 and body == jpeg.tobytes()  # a raw frame passes through as it is
        assert get(f"{base}/cameras/nope/latest.jpg", auth)[0] == 404
        assert get(f"{base}/api/events")[0] == 401
        status, headers, body = get(f"{base}/api/events", auth)
        assert status == 200 and json.loads(body) == {"events": [], "cursor": None}
        assert "gate" in json.loads(get(f"{base}/api/status", auth)[2])["cameras"]
