"""The MQTT bridge's state in Redis (``cctv:mqtt-bridge:{client id}``, a hash with a TTL renewed
while it runs), written by the bridge and read by ``cctv status``.
"""

from __future__ import annotations

import redis

from common.fields import MessageError, text
from common.keys import Keys
from common.mqtt import STATE_TTL_S, BridgeState


def write_bridge_state(client: redis.Redis, keys: Keys, state: BridgeState) -> None:
    """Store a bridge's state with its TTL and list it."""
    pipe = client.pipeline(transaction=False)
    pipe.hset(keys.mqtt_bridge(state.client_id), mapping=state.to_fields())
    pipe.expire(keys.mqtt_bridge(state.client_id), STATE_TTL_S)
    pipe.sadd(keys.mqtt_bridges, state.client_id)
    pipe.execute()


def read_bridge_states(client: redis.Redis, keys: Keys) -> dict[str, BridgeState]:
    """Every running bridge's state by client id (expired ones are forgotten)."""
    states = {}
    for raw in sorted(client.smembers(keys.mqtt_bridges)):
        client_id = text(raw)
        data = client.hgetall(keys.mqtt_bridge(client_id))
        if not data:
            client.srem(keys.mqtt_bridges, client_id)
            continue
        try:
            states[client_id] = BridgeState.from_fields(data)
        except MessageError:
            continue
    return states
