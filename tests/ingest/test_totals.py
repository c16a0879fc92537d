"""Frame counters that a repeated write (a retry after a lost reply) never counts twice."""

from ingest.totals import Totals

KEY = "cctv:state:cam"


def send(client, totals: Totals) -> None:
    pipe = client.pipeline(transaction=False)
    totals.write(pipe, KEY)
    pipe.execute()
    totals.confirmed()


def counters(client) -> dict[str, int]:
    fields = client.hgetall(KEY)
    return {k.decode(): int(v) for k, v in fields.items() if k != b"counted"}


def test_a_repeated_write_adds_nothing_and_a_later_one_adds_the_difference(redis_client):
    redis_client.hset(KEY, mapping={"frames_in": 100, "frames_dropped": 3})  # an earlier run's
    totals = Totals(redis_client)
    totals.add("frames_in", 5)
    totals.add("frames_still", 2)
    pipe = redis_client.pipeline(transaction=False)
    totals.write(pipe, KEY)
    pipe.execute()  # Redis took it, but say the reply was lost: not confirmed
    assert totals.unsent
    send(redis_client, totals)  # the retry
    totals.add("frames_in", 1)
    send(redis_client, totals)
    assert not totals.unsent
    assert counters(redis_client) == {"frames_in": 106, "frames_dropped": 3, "frames_still": 2}


def test_a_new_runner_counts_from_zero_and_a_deleted_hash_gets_the_totals_again(redis_client):
    first, second = Totals(redis_client), Totals(redis_client)
    first.add("frames_in", 4)
    send(redis_client, first)
    second.add("frames_in", 4)
    send(redis_client, second)
    assert counters(redis_client)["frames_in"] == 8
    redis_client.delete(KEY)
    send(redis_client, second)
    assert counters(redis_client)["frames_in"] == 4
