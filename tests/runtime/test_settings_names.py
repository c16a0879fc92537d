"""Settings names: each environment variable means one thing; a renamed one's former name is still
read for one release, with one warning naming the new variable; a setting two services read is
defined once."""

from __future__ import annotations

import logging

import pytest

from ingest.settings import IngestSettings
from runtime.settings import FORMER_ENV_NAMES, env_name, from_env
from tracking.settings import TrackerSettings
from workers.settings import WorkerSettings


def test_the_two_poll_periods_have_their_own_variables():
    environ = {"CCTV_CAMERA_POLL_S": "0.2", "CCTV_TRACKER_POLL_S": "3"}
    assert from_env(IngestSettings, environ).camera_poll_s == 0.2
    assert from_env(TrackerSettings, environ).tracker_poll_s == 3.0


@pytest.mark.parametrize("model, field", [(IngestSettings, "camera_poll_s"),
                                          (TrackerSettings, "tracker_poll_s")])
def test_the_former_cctv_poll_s_is_still_read_with_a_warning(model, field, caplog):
    with caplog.at_level(logging.WARNING, logger="cctv.settings"):
        settings = from_env(model, {"CCTV_POLL_S": "0.5"})
    assert getattr(settings, field) == 0.5
    assert [r.getMessage() for r in caplog.records] == [
        f"CCTV_POLL_S is deprecated: set {env_name(field)} instead"]


def test_the_new_name_wins_over_the_former_one_without_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="cctv.settings"):
        settings = from_env(IngestSettings, {"CCTV_POLL_S": "5", "CCTV_CAMERA_POLL_S": "0.2"})
    assert settings.camera_poll_s == 0.2 and not caplog.records


def test_every_former_name_belongs_to_a_setting_that_exists():
    names = {env_name(field) for model in (IngestSettings, TrackerSettings, WorkerSettings)
             for field in model.model_fields}
    assert set(FORMER_ENV_NAMES) <= names
    assert not set(FORMER_ENV_NAMES.values()) & names


def test_minute_ttl_s_is_one_setting_read_by_workers_and_tracker():
    worker, tracker = (model.model_fields["minute_ttl_s"]
                       for model in (WorkerSettings, TrackerSettings))
    assert (worker.default, worker.metadata, worker.description) == \
        (tracker.default, tracker.metadata, tracker.description)
    environ = {"CCTV_MINUTE_TTL_S": "7200"}
    assert from_env(WorkerSettings, environ).minute_ttl_s == 7200
    assert from_env(TrackerSettings, environ).minute_ttl_s == 7200
