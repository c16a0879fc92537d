"""Idempotent publishing: one Lua script per frame publishes, counts and acknowledges atomically.

The script first sets the frame's ``done`` marker with SET NX; only when that succeeds does it add
the detection message to the camera's detections stream, count the frame (total and minute, and
as skipped when it was stale; the tracker counts objects) and PUBLISH. It always
XACKs. So a frame processed twice (a slow worker whose entry was reclaimed) is published and
counted once, and a worker killed before the script leaves the entry pending for reclaim.
All keys of one camera share its hash tag when ``hash_tags`` is on, so the script is cluster-safe;
dead letters then go to the camera's own stream, listed in a global index written before the
script (so an index entry may name a stream that is still empty, never the reverse).
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

import redis

from common.counts import DEAD_LETTERS, FRAMES, FRAMES_PROCESSED, FRAMES_SKIPPED
from common.keys import GROUP, Keys
from common.messages import DetectionMessage
from common.records import DeadLetter
from runtime.redis_conn import LuaScript, flat_fields

ADD_ONCE_LUA = Template("""
local done_key = KEYS[1]
local stream_key = KEYS[2]
local stats_key = KEYS[3]
local frames_key = KEYS[4]
local done_ttl_s = ARGV[1]
local maxlen = ARGV[2]
local group = ARGV[3]
local entry_id = ARGV[4]
local stats_field = ARGV[5]
$more_args
local fresh = redis.call('SET', done_key, '1', 'NX', 'EX', done_ttl_s)
if fresh then
  redis.call('XADD', stream_key, 'MAXLEN', '~', maxlen, '*', unpack(fields))
  redis.call('HINCRBY', stats_key, stats_field, 1)
$more_once
end
redis.call('XACK', frames_key, group, entry_id)
if fresh then return 1 end
return 0
""")
"""What the publish and dead-letter scripts share: add ``fields`` to ``stream_key`` and count
``stats_field`` once per ``done_key`` (SET NX EX); always acknowledge ``entry_id``."""

DEAD_LETTER_LUA = ADD_ONCE_LUA.substitute(more_args="local fields = {unpack(ARGV, 6)}",
                                          more_once="")

PUBLISH_LUA = ADD_ONCE_LUA.substitute(more_args="""local minute_key = KEYS[5]
local minute_field = ARGV[6]
local minute_ttl_s = ARGV[7]
local channel = ARGV[8]
local message = ARGV[9]
local skipped_field = ARGV[10]
local fields = {unpack(ARGV, 11)}""", more_once="""  redis.call('HINCRBY', minute_key, minute_field, 1)
  if skipped_field ~= '' then
    redis.call('HINCRBY', stats_key, skipped_field, 1)
    redis.call('HINCRBY', minute_key, skipped_field, 1)
  end
  redis.call('EXPIRE', minute_key, minute_ttl_s)
  redis.call('PUBLISH', channel, message)""")


@dataclass(frozen=True, slots=True)
class AddOnceArgs:
    """The dead-letter script's KEYS and ARGV by name (the first ones of the publish script)."""

    done_key: str
    stream_key: str
    stats_key: str
    frames_key: str
    done_ttl_s: int
    maxlen: int
    group: str
    entry_id: str
    stats_field: str
    fields: list[str | bytes]
    """The entry's fields, flattened (name, value, ...): the rest of ARGV."""

    def keys_and_argv(self) -> tuple[list, list]:
        """KEYS and ARGV in the order the script names them."""
        return self._layout([], [])

    def _layout(self, more_keys: list, more_args: list) -> tuple[list, list]:
        return ([self.done_key, self.stream_key, self.stats_key, self.frames_key, *more_keys],
                [self.done_ttl_s, self.maxlen, self.group, self.entry_id, self.stats_field,
                 *more_args, *self.fields])


@dataclass(frozen=True, slots=True)
class PublishArgs(AddOnceArgs):
    """The publish script's KEYS and ARGV by name: the dead-letter script's, then the minute
    counter, the live channel and the counter of a frame skipped for lag ("" when detected)."""

    minute_key: str
    minute_field: str
    minute_ttl_s: int
    channel: str
    message: str
    skipped_field: str

    def keys_and_argv(self) -> tuple[list, list]:
        return self._layout([self.minute_key], [self.minute_field, self.minute_ttl_s,
                                                self.channel, self.message, self.skipped_field])


class Publisher:
    """Registers the scripts once; queue calls on a pipeline, one round trip per batch."""

    def __init__(self, client: redis.Redis, keys: Keys, detections_maxlen: int, done_ttl_s: int,
                 minute_ttl_s: int, dead_letter_maxlen: int = 10_000):
        self.client, self.keys = client, keys
        self.detections_maxlen, self.done_ttl_s = detections_maxlen, done_ttl_s
        self.minute_ttl_s, self.dead_letter_maxlen = minute_ttl_s, dead_letter_maxlen
        self._publish = LuaScript(client, PUBLISH_LUA)
        self._dead = LuaScript(client, DEAD_LETTER_LUA)

    def detections(self, pipe, msg: DetectionMessage, skipped: bool = False) -> None:
        """Queue the idempotent publish + count + ack of one frame's detections (``skipped``:
        a live frame carried because it was stale, also counted in :data:`FRAMES_SKIPPED`)."""
        k = self.keys
        keys, argv = PublishArgs(
            done_key=k.done(msg.camera, msg.frame_id), stream_key=k.detections(msg.camera),
            stats_key=k.stats(msg.camera), frames_key=k.frames(msg.camera),
            done_ttl_s=self.done_ttl_s, maxlen=self.detections_maxlen, group=GROUP,
            entry_id=msg.frame_id, stats_field=FRAMES_PROCESSED,
            fields=flat_fields(msg.to_fields()),
            minute_key=k.minute(msg.camera, int(msg.ts // 60)), minute_field=FRAMES,
            minute_ttl_s=self.minute_ttl_s, channel=k.live(msg.camera),
            message=msg.to_json(),
            skipped_field=FRAMES_SKIPPED if skipped else "").keys_and_argv()
        self._publish(keys=keys, args=argv, client=pipe)

    def dead_letter(self, pipe, letter: DeadLetter) -> None:
        """Queue moving a malformed entry to the dead-letter stream (once) and acking it; with
        hash tags the camera's stream, indexed at once in ``dead_letter_cameras``."""
        k = self.keys
        if k.hash_tags:
            self.client.sadd(k.dead_letter_cameras, letter.camera)
        keys, argv = AddOnceArgs(
            done_key=k.done(letter.camera, letter.entry_id),
            stream_key=k.dead_letters(letter.camera), stats_key=k.stats(letter.camera),
            frames_key=k.frames(letter.camera), done_ttl_s=self.done_ttl_s,
            maxlen=self.dead_letter_maxlen, group=GROUP, entry_id=letter.entry_id,
            stats_field=DEAD_LETTERS, fields=flat_fields(letter.to_fields())).keys_and_argv()
        self._dead(keys=keys, args=argv, client=pipe)
