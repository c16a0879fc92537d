"""common.stream_ids: entry ids compare as (ms, seq), never as text."""

from __future__ import annotations

import pytest

from common.stream_ids import MAX_PART, StreamId


@pytest.mark.parametrize("raw, expected", [
    ("1700000000000-3", StreamId(1700000000000, 3)),
    (b"5-0", StreamId(5, 0)),
    ("7", StreamId(7, 0)),
])
def test_parse(raw, expected):
    assert StreamId.parse(raw) == expected


def test_text_round_trip_and_numeric_order():
    assert str(StreamId.parse("10-2")) == "10-2"
    assert StreamId.parse("9-0") < StreamId.parse("10-0")  # "9-0" > "10-0" as text


@pytest.mark.parametrize("entry_id, after, before", [
    (StreamId(5, 3), StreamId(5, 4), StreamId(5, 2)),
    (StreamId(5, 0), StreamId(5, 1), StreamId(4, MAX_PART)),
    (StreamId(0, 0), StreamId(0, 1), StreamId(0, 0)),
    (StreamId(5, MAX_PART), StreamId(6, 0), StreamId(5, MAX_PART - 1)),
])
def test_next_and_previous_are_the_neighbours(entry_id, after, before):
    assert entry_id.next() == after and entry_id.previous() == before


def test_a_malformed_id_is_a_value_error():
    with pytest.raises(ValueError):
        StreamId.parse("abc-1")
