"""The frame script reads its KEYS and ARGV by the names :class:`FrameArgs` fills them by."""

from lua_layout import caller_layout, script_layout
from tracking.store import FRAME_LUA, FrameArgs


def test_script_and_caller_name_the_same_slots():
    keys, argv = script_layout(FRAME_LUA)
    assert (keys, argv) == caller_layout(FrameArgs)
    assert "lock_key" in keys and argv[-1] == "fields"
