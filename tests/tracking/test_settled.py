"""``settled_below``: with no frame pending, frames not yet handed to a worker are not settled
(two workers may take the next two frames and finish the later one first)."""

from common.keys import GROUP, KEYS
from tracking.reorder import order_key
from tracking.store import TrackStore


def test_frames_not_handed_out_yet_are_not_settled(redis_client):
    store = TrackStore(redis_client, KEYS, "t1", 5000, 100, 3600)
    stream = KEYS.frames("cam")
    redis_client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    first, second, third = (redis_client.xadd(stream, {"n": str(i)}).decode() for i in range(3))
    assert store.settled_below(["cam"]) == {"cam": (0, 1)}  # nothing handed out: nothing settled
    redis_client.xreadgroup(GROUP, "w1", {stream: ">"}, count=1)
    redis_client.xack(stream, GROUP, first)
    bound = store.settled_below(["cam"])["cam"]
    assert order_key(first) < bound <= order_key(second)  # second and third may still come
    redis_client.xreadgroup(GROUP, "w1", {stream: ">"}, count=1)
    redis_client.xreadgroup(GROUP, "w2", {stream: ">"}, count=1)
    redis_client.xack(stream, GROUP, third)  # w2 finished first: the second is pending
    assert store.settled_below(["cam"]) == {"cam": order_key(second)}
    assert store.settled_below(["gone"]) == {"gone": None}
