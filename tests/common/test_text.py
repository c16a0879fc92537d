"""common.fields.text: keys, ids and names as str, whatever the client returned."""

from __future__ import annotations

import pytest

from common.fields import text


@pytest.mark.parametrize("value", [b"cam-1", "cam-1"])
def test_bytes_and_str_give_the_same_text(value):
    assert text(value) == "cam-1"


def test_bytes_that_are_not_utf8_never_raise():
    """A junk key name must not stop a service loop: U+FFFD stands in, and no name pattern
    admits it (common.cameras.is_camera_name refuses it where names are checked)."""
    assert text(b"\xffcam") == "\ufffdcam"
