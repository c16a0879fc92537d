"""The dashboard's ASGI app: the Streamlit page (``app.py``) and, on the same port and behind the
same password, the live video routes and the REST API (``/api``) of :mod:`api`. ``cctv dashboard``
serves it with ``streamlit run`` (which finds ``app`` below and runs it under uvicorn)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st

from api.live import LiveHub
from api.recordings import recording_routes
from api.rest import rest_routes
from api.routes import live_routes
from dashboard.settings import DashboardSettings
from runtime.redis_conn import connect
from runtime.settings import from_env

settings = from_env(DashboardSettings)
password = settings.dashboard_password.get_secret_value() if settings.dashboard_password else None
client = connect(settings)
hub = LiveHub(client, settings.keys, stale_s=settings.dashboard_stale_s)


@asynccontextmanager
async def lifespan(_app):
    yield
    hub.stop()


app = st.App(Path(__file__).with_name("app.py"), lifespan=lifespan,
             routes=live_routes(client, settings.keys, hub, password)
             + recording_routes(client, settings.keys, settings.recordings_dir, password)
             + rest_routes(client, settings.keys, settings.media_dir, password,
                           settings.recordings_dir))
