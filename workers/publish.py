"""Idempotent publishing: one Lua script per frame publishes, counts and acknowledges atomically.

The script first sets the frame's ``done`` marker with SET NX; only when that succeeds does it add
the detection message to the camera's detections stream, count the frame (total and minute; the
tracker counts objects) and PUBLISH. It always
XACKs. So a frame processed twice (a slow worker whose entry was reclaimed) is published and
counted once, and a worker killed before the script leaves the entry pending for reclaim.
All keys of one camera share its hash tag when ``hash_tags`` is on, so the script is cluster-safe;
dead letters then go to the camera's own stream, listed in a global index written before the
script (so an index entry may name a stream that is still empty, never the reverse).
"""

from __future__ import annotations

import redis

from common.counts import DEAD_LETTERS, FRAMES, FRAMES_PROCESSED
from common.keys import GROUP, Keys
from common.messages import DetectionMessage
from common.records import DeadLetter
from runtime.redis_conn import LuaScript

PUBLISH_LUA = """
local fresh = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
if fresh then
  local fields = {}
  for i = 10, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
  redis.call('HINCRBY', KEYS[3], ARGV[8], 1)
  redis.call('HINCRBY', KEYS[4], ARGV[9], 1)
  redis.call('EXPIRE', KEYS[4], ARGV[3])
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
redis.call('XACK', KEYS[5], ARGV[6], ARGV[7])
if fresh then return 1 end
return 0
"""

DEAD_LETTER_LUA = """
local fresh = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
if fresh then
  local fields = {}
  for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
  redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
end
redis.call('XACK', KEYS[4], ARGV[3], ARGV[4])
if fresh then return 1 end
return 0
"""


class Publisher:
    """Registers the scripts once; queue calls on a pipeline, one round trip per batch."""

    def __init__(self, client: redis.Redis, keys: Keys, detections_maxlen: int, done_ttl_s: int,
                 minute_ttl_s: int, dead_letter_maxlen: int = 10_000):
        self.client, self.keys = client, keys
        self.detections_maxlen, self.done_ttl_s = detections_maxlen, done_ttl_s
        self.minute_ttl_s, self.dead_letter_maxlen = minute_ttl_s, dead_letter_maxlen
        self._publish = LuaScript(client, PUBLISH_LUA)
        self._dead = LuaScript(client, DEAD_LETTER_LUA)

    def detections(self, pipe, msg: DetectionMessage) -> None:
        """Queue the idempotent publish + count + ack of one frame's detections."""
        k = self.keys
        fields = msg.to_fields()
        flat = [x for item in fields.items() for x in item]
        self._publish(
            keys=[k.done(msg.camera, msg.frame_id), k.detections(msg.camera), k.stats(msg.camera),
                  k.minute(msg.camera, int(msg.ts // 60)), k.frames(msg.camera)],
            args=[self.done_ttl_s, self.detections_maxlen, self.minute_ttl_s,
                  k.live(msg.camera), msg.to_json(), GROUP, msg.frame_id, FRAMES_PROCESSED,
                  FRAMES, *flat],
            client=pipe)

    def dead_letter(self, pipe, letter: DeadLetter) -> None:
        """Queue moving a malformed entry to the dead-letter stream (once) and acking it; with
        hash tags the camera's stream, indexed at once in ``dead_letter_cameras``."""
        k = self.keys
        if k.hash_tags:
            self.client.sadd(k.dead_letter_cameras, letter.camera)
        flat = [x for item in letter.to_fields().items() for x in item]
        self._dead(keys=[k.done(letter.camera, letter.entry_id), k.dead_letters(letter.camera),
                         k.stats(letter.camera), k.frames(letter.camera)],
                   args=[self.done_ttl_s, self.dead_letter_maxlen, GROUP, letter.entry_id,
                         DEAD_LETTERS, *flat],
                   client=pipe)

