"""A camera's frame counters in its state hash, added so that a lost reply never counts twice.

A runner keeps its totals since it started and sends them all each time; a script adds to each
counter the difference from the totals the same runner last sent (kept in the hash's ``counted``
field as ``"<runner> <total> ..."``). Sending the same totals again, as a retry after a reply
lost in an outage does, adds nothing. A new runner (ingest restarted) starts from zero, and a
state hash deleted meanwhile gets this runner's totals again.
"""

from __future__ import annotations

import uuid

import redis

from runtime.redis_conn import LuaScript

FIELDS = ("frames_in", "frames_dropped", "frames_motion", "frames_still")

ADD_TOTALS = """
local last = {}
for word in string.gmatch(redis.call('HGET', KEYS[1], 'counted') or '', '%S+') do
  last[#last + 1] = word
end
local mark = ARGV[1]
for i = 2, #ARGV, 2 do
  local before = 0
  if last[1] == ARGV[1] then before = tonumber(last[i / 2 + 1]) or 0 end
  local more = tonumber(ARGV[i + 1]) - before
  if more > 0 then redis.call('HINCRBY', KEYS[1], ARGV[i], more) end
  mark = mark .. ' ' .. ARGV[i + 1]
end
redis.call('HSET', KEYS[1], 'counted', mark)
"""


class Totals:
    """One runner's counters (:data:`FIELDS`) since it started, written through ``client``."""

    def __init__(self, client: redis.Redis):
        self.script = LuaScript(client, ADD_TOTALS)
        self.runner = uuid.uuid4().hex[:12]
        self.counts = dict.fromkeys(FIELDS, 0)
        self.sent = dict(self.counts)  # as last confirmed by Redis
        self.queued = dict(self.counts)  # as last queued

    def add(self, field: str, n: int = 1) -> None:
        self.counts[field] += n

    @property
    def unsent(self) -> bool:
        """Whether Redis has not confirmed some of the counts yet."""
        return self.counts != self.sent

    def write(self, pipe: redis.client.Pipeline, key: str) -> None:
        """Queue the totals' write to the hash ``key``; call :meth:`confirmed` once the pipeline
        succeeded."""
        self.queued = dict(self.counts)
        args = [self.runner] + [x for field in FIELDS for x in (field, self.queued[field])]
        self.script(keys=[key], args=args, client=pipe)

    def confirmed(self) -> None:
        """Redis took the totals last queued."""
        self.sent = self.queued
