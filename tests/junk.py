"""Hypothesis strategies of junk a Redis client could hand a reader (nested JSON, huge or NaN
numbers, wrong types, random bytes); imported by tests as ``junk`` (pytest puts this folder on
sys.path for tests/conftest.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

numbers = st.one_of(st.integers(), st.integers(min_value=-10**400, max_value=10**400),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([1e300, -1e12, -5, 2**53, 2**63, 0, 1.0]))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=30)


def dumps(value: Any) -> str:
    """JSON text of ``value`` as any writer might produce it (NaN and Infinity included)."""
    try:
        return json.dumps(value)
    except ValueError:  # an integer of over 4300 digits
        return "1" * 5000


depths = st.one_of(st.integers(0, 40), st.sampled_from([999, 1001, 5000, 100_000]))
nested = depths.flatmap(lambda n: st.sampled_from(
    ["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n, "[" * n, '["' + "[" * n]))
json_text = st.one_of(json_values.map(dumps), nested, st.text(max_size=50))
junk = st.one_of(json_text, json_text.map(str.encode), st.binary(max_size=50), numbers,
                 st.sampled_from(["nan", "inf", "-1e12", "1e300", "", "-5", "1_0"]))


def fuzz_fields(valid: dict[str, Any]) -> st.SearchStrategy[dict[Any, Any]]:
    """A valid entry with some fields replaced by junk, dropped, or added, keys as str or
    bytes (as redis-py returns them)."""
    names = st.sampled_from(sorted(valid) + ["extra"])
    changes = st.dictionaries(names, st.one_of(junk, nested, st.none()), max_size=2)
    as_bytes = st.booleans()

    def build(change: dict[str, Any], encode: bool) -> dict[Any, Any]:
        fields = {k: v for k, v in (valid | change).items() if v is not None}
        return {k.encode(): v for k, v in fields.items()} if encode else fields
    return st.builds(build, changes, as_bytes)


def fuzz_json_fields(valid: dict[str, Any], names: list[str]) -> st.SearchStrategy[dict]:
    """A valid entry with one of its JSON fields ``names`` replaced by junk JSON text."""
    return st.builds(lambda name, text: valid | {name: text}, st.sampled_from(names),
                     st.one_of(nested, json_text))
