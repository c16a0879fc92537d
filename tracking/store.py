"""The tracker's Redis side: camera locks, snapshots, and one fenced Lua script per frame.

The frame script writes nothing unless the camera's lock still holds this owner and the frame is
newer than the last tracked one; then it adds the track message, bumps the unique, crossing and
per-minute counters, replaces the zone occupancy, and records the frame (with the
snapshot on the last frame of a batch) in ``cctv:tracker-state:{cam}``. A batch of frames goes in
one MULTI/EXEC, so counts and snapshot always agree: a successor continues from exactly what was
counted. All keys of one camera share its hash tag (``hash_tags``), so this is cluster-safe: on
Redis Cluster the batch's MULTI/EXEC runs on the camera's node.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

import redis

from common.counts import FRAMES, FRAMES_TRACKED, CountField, FrameCounts, occupancy_field
from common.fields import MessageError, load_json
from common.keys import GROUP, Keys
from runtime.redis_conn import LuaScript, flat_fields

from .camera import SNAPSHOT_MAX_BYTES, SnapshotError, TrackedFrame
from .reorder import OrderKey, order_key

FRAME_LUA = """
local lock_key = KEYS[1]
local state_key = KEYS[2]
local tracks_key = KEYS[3]
local stats_key = KEYS[4]
local minute_key = KEYS[5]
local seen_key = KEYS[6]
local zones_key = KEYS[7]
local in_view_key = KEYS[8]
local owner = ARGV[1]
local frame_id = ARGV[2]
local tracks_maxlen = ARGV[3]
local minute_ttl_s = ARGV[4]
local counts = ARGV[5]
local snapshot = ARGV[6]
local fields = {unpack(ARGV, 7)}
if redis.call('GET', lock_key) ~= owner then return 0 end
local function order(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local last = redis.call('HGET', state_key, 'frame_id')
if last then
  local last_ms, last_seq = order(last)
  local ms, seq = order(frame_id)
  if ms < last_ms or (ms == last_ms and seq <= last_seq) then return -1 end
end
redis.call('XADD', tracks_key, 'MAXLEN', '~', tracks_maxlen, '*', unpack(fields))
local c = cjson.decode(counts)
local function most(key, name, n)
  if n > tonumber(redis.call('HGET', key, name) or '0') then redis.call('HSET', key, name, n) end
end
for name, n in pairs(c.totals) do redis.call('HINCRBY', stats_key, name, n) end
for name, n in pairs(c.minute) do redis.call('HINCRBY', minute_key, name, n) end
for name, n in pairs(c.totals_max) do most(stats_key, name, n) end
for name, n in pairs(c.minute_max) do most(minute_key, name, n) end
for _, pair in ipairs(c.seen) do
  if redis.call('SADD', seen_key, pair[1]) == 1 then
    redis.call('HINCRBY', minute_key, pair[2], 1)
  end
end
redis.call('DEL', zones_key, in_view_key)
for name, n in pairs(c.occupancy) do redis.call('HSET', zones_key, name, n) end
for name, n in pairs(c.in_view) do redis.call('HSET', in_view_key, name, n) end
redis.call('EXPIRE', minute_key, minute_ttl_s)
redis.call('EXPIRE', seen_key, minute_ttl_s)
redis.call('HSET', state_key, 'frame_id', frame_id, 'owner', owner)
if snapshot ~= '' then redis.call('HSET', state_key, 'snapshot', snapshot) end
return 1
"""


@dataclass(frozen=True, slots=True)
class FrameArgs:
    """The frame script's KEYS and ARGV by name."""

    lock_key: str
    state_key: str
    tracks_key: str
    stats_key: str
    minute_key: str
    seen_key: str
    zones_key: str
    in_view_key: str
    owner: str
    frame_id: str
    tracks_maxlen: int
    minute_ttl_s: int
    counts: str
    """:class:`FrameCounts` as JSON."""
    snapshot: str
    """The tracker snapshot as JSON, or "" to leave the stored one."""
    fields: list[str]
    """The track message's fields, flattened (name, value, ...): the rest of ARGV."""

    def keys_and_argv(self) -> tuple[list, list]:
        """KEYS and ARGV in the order the script names them."""
        return ([self.lock_key, self.state_key, self.tracks_key, self.stats_key,
                 self.minute_key, self.seen_key, self.zones_key, self.in_view_key],
                [self.owner, self.frame_id, self.tracks_maxlen, self.minute_ttl_s, self.counts,
                 self.snapshot, *self.fields])


ACQUIRE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""

RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def frame_counts(frame: TrackedFrame, skipped: dict[str, int]) -> FrameCounts:
    """What the frame script adds: totals (detections that count, new objects, crossings,
    stays in zones, ``frames_tracked``, skipped entries), the minute's (the same, with the
    objects seen in it and each zone's peak) and the occupancy now."""
    msg, counted = frame.message, frame.counted
    counts = FrameCounts(totals={FRAMES_TRACKED: 1, **{k: n for k, n in skipped.items() if n}},
                         minute={FRAMES: 1})
    for label, n in msg.counts.items():
        counts.add(CountField("det", label), n)
    for obj in counted.new:
        counts.add(CountField("unique", obj.label), minute=False)  # the minute's: ``seen``
    for obj in msg.tracks:
        counts.seen_object(obj.track_id, obj.label)
        counts.in_view[obj.label] = counts.in_view.get(obj.label, 0) + 1
    for c in msg.crossings:
        counts.add(CountField(c.direction, c.label, c.line))  # type: ignore[arg-type]
    for zone, labels in msg.zones.items():
        for label, n in labels.items():
            counts.occupancy[occupancy_field(zone, label)] = n
            counts.most(CountField("peak", label, zone), n, totals=False)
    for stay in msg.stays:
        ms = round(stay.seconds * 1000)
        counts.add(CountField("dwell_n", stay.label, stay.zone))
        counts.add(CountField("dwell_ms", stay.label, stay.zone), ms)
        counts.most(CountField("dwell_max_ms", stay.label, stay.zone), ms)
    return counts


class TrackStore:
    """Locks and writes of one tracker process (``owner``); the Redis client is passed in."""

    def __init__(self, client: redis.Redis, keys: Keys, owner: str, lock_ttl_ms: int,
                 tracks_maxlen: int, minute_ttl_s: int):
        self.client, self.keys, self.owner = client, keys, owner
        self.lock_ttl_ms, self.tracks_maxlen = lock_ttl_ms, tracks_maxlen
        self.minute_ttl_s = minute_ttl_s
        self._frame = LuaScript(client, FRAME_LUA)
        self._acquire = LuaScript(client, ACQUIRE_LUA)
        self._renew = LuaScript(client, RENEW_LUA)
        self._release = LuaScript(client, RELEASE_LUA)

    def acquire(self, camera: str) -> bool:
        """Take a free camera (SET NX PX), or one whose lock is still ours (after an outage)."""
        return bool(self._acquire(keys=[self.keys.tracker_lock(camera)],
                                  args=[self.owner, self.lock_ttl_ms]))

    def renew(self, cameras: Sequence[str]) -> list[str]:
        """Extend the locks of ``cameras``; returns those no longer ours."""
        pipe = self.client.pipeline(transaction=False)
        for camera in cameras:
            self._renew(keys=[self.keys.tracker_lock(camera)],
                        args=[self.owner, self.lock_ttl_ms], client=pipe)
        return [c for c, ok in zip(cameras, pipe.execute()) if not ok]

    def release(self, camera: str) -> None:
        """Free a camera now (only if still ours), so a successor need not wait for the TTL."""
        self._release(keys=[self.keys.tracker_lock(camera)], args=[self.owner])

    def settled_below(self, cameras: Sequence[str]) -> dict[str, OrderKey | None]:
        """Per camera, the oldest frame still pending on a worker (every earlier one is
        acknowledged or gone), or with none pending the one after the last frame handed to a
        worker (a later one may still be handed out and finish before an earlier one, even
        when none was handed out yet); None when the group cannot be read."""
        pipe = self.client.pipeline(transaction=False)
        for camera in cameras:  # last delivered first: frames handed out after it are pending
            pipe.xinfo_groups(self.keys.frames(camera))
            pipe.xpending(self.keys.frames(camera), GROUP)
        replies = pipe.execute(raise_on_error=False)
        out: dict[str, OrderKey | None] = {}
        for camera, groups, reply in zip(cameras, replies[::2], replies[1::2]):
            if isinstance(reply, Exception) or isinstance(groups, Exception):
                out[camera] = None
            elif reply["pending"]:
                out[camera] = order_key(reply["min"].decode())
            else:
                delivered = next((order_key(g["last-delivered-id"].decode()) for g in groups
                                  if g["name"] in (GROUP, GROUP.encode())), (0, 0))
                out[camera] = (delivered[0], delivered[1] + 1)
        return out

    def load(self, camera: str) -> dict | None:
        """The camera's snapshot, or None when it was never tracked."""
        raw = self.client.hget(self.keys.tracker_state(camera), "snapshot")
        if raw is None:
            return None
        try:
            snapshot = load_json(raw, what="tracker snapshot", max_bytes=SNAPSHOT_MAX_BYTES)
        except MessageError as exc:
            raise SnapshotError(str(exc)) from exc
        if not isinstance(snapshot, dict):
            raise SnapshotError("tracker snapshot is not a JSON object")
        return snapshot

    def write(self, camera: str, frames: Sequence[TrackedFrame], snapshot: dict,
              skipped: dict[str, int]) -> bool:
        """Write tracked frames in one transaction, the snapshot and ``skipped`` counts with
        the last; False when fenced off (nothing was written: the camera is not ours)."""
        k = self.keys
        pipe = self.client.pipeline(transaction=True)
        for i, frame in enumerate(frames):
            msg, last = frame.message, i == len(frames) - 1
            minute = int(msg.ts // 60)
            counts = frame_counts(frame, skipped if last else {})
            keys, argv = FrameArgs(
                lock_key=k.tracker_lock(camera), state_key=k.tracker_state(camera),
                tracks_key=k.tracks(camera), stats_key=k.track_stats(camera),
                minute_key=k.track_minute(camera, minute), seen_key=k.track_seen(camera, minute),
                zones_key=k.zones(camera), in_view_key=k.in_view(camera), owner=self.owner,
                frame_id=msg.frame_id, tracks_maxlen=self.tracks_maxlen,
                minute_ttl_s=self.minute_ttl_s, counts=json.dumps(counts.to_dict()),
                snapshot=json.dumps(snapshot, separators=(",", ":")) if last else "",
                fields=flat_fields(msg.to_fields())).keys_and_argv()
            self._frame(keys=keys, args=argv, client=pipe)
        return all(reply == 1 for reply in pipe.execute())

