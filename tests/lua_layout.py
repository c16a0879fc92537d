"""A Lua script's named KEYS and ARGV (its ``local name = KEYS[i]`` header), to check them
against the arguments object its caller builds."""

from __future__ import annotations

import dataclasses
import re

SLOT = re.compile(r"^local (\w+) = (KEYS|ARGV)\[(\d+)\]$", re.M)
REST = re.compile(r"^local (\w+) = \{unpack\(ARGV, (\d+)\)\}$", re.M)


def script_layout(lua: str) -> tuple[list[str], list[str]]:
    """The names of KEYS and of ARGV in slot order; the variadic rest of ARGV is its last name."""
    slots: dict[str, dict[int, str]] = {"KEYS": {}, "ARGV": {}}
    for name, kind, index in SLOT.findall(lua):
        assert int(index) not in slots[kind], f"{kind}[{index}] named twice"
        slots[kind][int(index)] = name
    for name, start in REST.findall(lua):
        slots["ARGV"][int(start)] = name
    keys, argv = (sorted(slots[kind].items()) for kind in ("KEYS", "ARGV"))
    assert [i for i, _ in keys] == list(range(1, len(keys) + 1)), keys
    assert [i for i, _ in argv] == list(range(1, len(argv) + 1)), argv
    return [name for _, name in keys], [name for _, name in argv]


def caller_layout(args_class) -> tuple[list[str], list[str]]:
    """What ``args_class(...).keys_and_argv()`` puts in each slot, by field name (``fields``, a
    list, fills the rest of ARGV)."""
    named = args_class(**{f.name: [f.name] if f.name == "fields" else f.name
                          for f in dataclasses.fields(args_class)})
    keys, argv = named.keys_and_argv()
    return list(keys), list(argv)
