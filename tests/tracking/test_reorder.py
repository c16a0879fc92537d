from common.messages import DetectionMessage
from tracking.reorder import NONE_PENDING, ReorderBuffer, before, order_key


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def message(seq: int) -> DetectionMessage:
    return DetectionMessage("cam", f"{1000 + seq}-0", seq, 1.0 + seq, 2.0, "w", 10, 10)


def released(buffer):
    return [msg.seq for msg, _ in buffer.pop_ready()]


def test_before_is_the_greatest_smaller_id():
    assert before("5-3") == "5-2"
    assert order_key(before("5-0")) < order_key("5-0") and before("5-0").startswith("4-")
    assert before("0-0") == "0-0"


def test_out_of_order_frames_come_out_in_capture_order():
    buffer = ReorderBuffer(1.0, 64, clock=Clock())
    for seq in (2, 0, 1, 4):
        buffer.push(message(seq), f"9-{seq}")
    assert released(buffer) == [0, 1, 2]  # 3 is missing: 4 waits
    buffer.push(message(3), "9-5")
    assert released(buffer) == [3, 4]


def test_missing_frame_is_given_up_after_the_wait_and_a_late_one_refused():
    clock = Clock()
    buffer = ReorderBuffer(1.0, 64, last_key=order_key("1000-0"), last_seq=0, clock=clock)
    buffer.push(message(2), "9-2")
    assert released(buffer) == []
    clock.now = 0.999
    assert released(buffer) == []
    clock.now = 1.0
    assert released(buffer) == [2]
    assert not buffer.push(message(1), "9-3")  # late: never tracked out of order
    assert not buffer.push(message(2), "9-4")  # already released


def test_too_many_held_frames_release_the_earliest():
    buffer = ReorderBuffer(60.0, 3, last_key=order_key("1000-0"), last_seq=0, clock=Clock())
    for seq in (2, 3, 4):
        buffer.push(message(seq), f"9-{seq}")
    assert released(buffer) == []
    buffer.push(message(5), "9-5")
    assert released(buffer) == [2, 3, 4, 5]


def test_oldest_stream_id_is_where_a_successor_rereads():
    buffer = ReorderBuffer(60.0, 64, last_key=order_key("1000-0"), last_seq=0, clock=Clock())
    buffer.push(message(3), "9-7")
    buffer.push(message(2), "9-8")
    assert buffer.oldest_stream_id() == "9-7"


def test_a_frame_still_pending_on_a_worker_is_waited_for_and_a_gone_one_is_not():
    """Frame 1 is pending on a (dead) worker: 2 waits past reorder_ms, up to pending_wait_s, and
    goes in order once 1 arrives (reclaimed). Frame 4 is gone (trimmed, dead-lettered): 5 goes
    at once."""
    clock = Clock()
    buffer = ReorderBuffer(1.0, 64, last_key=order_key("1000-0"), last_seq=0, clock=clock,
                           pending_wait_s=45.0)
    buffer.push(message(2), "9-2")
    clock.now = 30.0
    assert [m.seq for m, _ in buffer.pop_ready(order_key("1001-0"))] == []
    buffer.push(message(1), "9-3")
    assert [m.seq for m, _ in buffer.pop_ready(order_key("1001-0"))] == [1, 2]
    buffer.push(message(5), "9-5")
    assert [m.seq for m, _ in buffer.pop_ready(NONE_PENDING)] == [5]
    clock.now = 75.0
    buffer.push(message(7), "9-7")
    assert [m.seq for m, _ in buffer.pop_ready(order_key("1006-0"))] == []
    clock.now = 75.0 + 45.0
    assert [m.seq for m, _ in buffer.pop_ready(order_key("1006-0"))] == [7]  # waited long enough
