"""The publish and dead-letter scripts read their KEYS and ARGV by the names their callers fill
them by, in the same slots."""

import pytest

from lua_layout import caller_layout, script_layout
from workers.publish import DEAD_LETTER_LUA, PUBLISH_LUA, AddOnceArgs, PublishArgs


@pytest.mark.parametrize("lua, args_class", [(PUBLISH_LUA, PublishArgs),
                                             (DEAD_LETTER_LUA, AddOnceArgs)])
def test_script_and_caller_name_the_same_slots(lua, args_class):
    assert script_layout(lua) == caller_layout(args_class)
