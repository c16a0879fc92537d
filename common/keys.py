"""Every Redis key, stream and channel name used by the pipeline, in one place.

Per-camera names embed the camera through :meth:`Keys.camera`, which wraps it in braces when
``hash_tags`` is on (``cctv:frames:{lobby}``): Redis Cluster then hashes only ``lobby``, so all keys
of one camera land in one slot and the worker's Lua publish script (which touches several of them)
stays legal. A single server needs no tags; both sides of the pipeline must agree on the setting.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "workers"
"""Consumer group that every detection worker joins on every frame stream."""

WEBHOOKS_GROUP = "webhooks"
"""Consumer group (and consumer name) of ``cctv webhooks`` on ``cctv:event-updates``."""

RQ_QUEUE = "cctv-replays"
"""RQ queue for replay jobs."""


@dataclass(frozen=True)
class Keys:
    """Key names under ``prefix``; ``hash_tags`` wraps camera names in ``{}`` for Redis Cluster."""

    prefix: str = "cctv"
    hash_tags: bool = False

    def camera(self, name: str) -> str:
        """The camera part of a per-camera key."""
        return f"{{{name}}}" if self.hash_tags else name

    # -- configuration and discovery ---------------------------------------------------------
    @property
    def cameras(self) -> str:
        """Hash: camera name -> JSON camera config (what ingest should run)."""
        return f"{self.prefix}:cameras"

    @property
    def camera_names(self) -> str:
        """Set of every camera that has (had) a frame stream; workers read all of them."""
        return f"{self.prefix}:camera-names"

    # -- per camera ----------------------------------------------------------------------------
    def frames(self, camera: str) -> str:
        """Stream of frames (capped, MAXLEN ~)."""
        return f"{self.prefix}:frames:{self.camera(camera)}"

    def detections(self, camera: str) -> str:
        """Stream of detection messages (capped)."""
        return f"{self.prefix}:detections:{self.camera(camera)}"

    def live(self, camera: str) -> str:
        """Pub/sub channel carrying each detection message as JSON."""
        return f"{self.prefix}:live:{self.camera(camera)}"

    @property
    def live_pattern(self) -> str:
        """PSUBSCRIBE pattern matching every camera's live channel."""
        return f"{self.prefix}:live:*"

    def state(self, camera: str) -> str:
        """Hash written by ingest: state, fps, last_frame_ts, frames_in, frames_dropped, error..."""
        return f"{self.prefix}:state:{self.camera(camera)}"

    def stats(self, camera: str) -> str:
        """Hash written by workers: frames_processed, dead_letters, ``det:<label>`` totals."""
        return f"{self.prefix}:stats:{self.camera(camera)}"

    def minute(self, camera: str, epoch_minute: int) -> str:
        """Hash of per-class counts in one minute (``_frames`` = frames processed); expires."""
        return f"{self.prefix}:minute:{self.camera(camera)}:{epoch_minute}"

    def done(self, camera: str, frame_id: str) -> str:
        """Marker (SET NX) that makes publishing a frame's detections idempotent."""
        return f"{self.prefix}:done:{self.camera(camera)}:{frame_id}"

    # -- tracking (per camera) -----------------------------------------------------------------
    def tracks(self, camera: str) -> str:
        """Stream of tracked frames: boxes with track ids, crossings, zone occupancy (capped)."""
        return f"{self.prefix}:tracks:{self.camera(camera)}"

    def track_stats(self, camera: str) -> str:
        """Hash of track totals: ``unique:<label>``, ``in:<line>:<label>``, ``out:<line>:<label>``."""
        return f"{self.prefix}:track-stats:{self.camera(camera)}"

    def track_minute(self, camera: str, epoch_minute: int) -> str:
        """Hash of one minute's unique objects, crossings and peak zone occupancy; expires."""
        return f"{self.prefix}:track-minute:{self.camera(camera)}:{epoch_minute}"

    def track_seen(self, camera: str, epoch_minute: int) -> str:
        """Set of ``<track id>:<label>`` seen in one minute (makes unique counts exact)."""
        return f"{self.prefix}:track-seen:{self.camera(camera)}:{epoch_minute}"

    def zones(self, camera: str) -> str:
        """Hash ``<zone>:<label>`` -> objects in the zone in the last tracked frame."""
        return f"{self.prefix}:zones:{self.camera(camera)}"

    def in_view(self, camera: str) -> str:
        """Hash ``<label>`` -> objects (tracks that count) in the last tracked frame."""
        return f"{self.prefix}:in-view:{self.camera(camera)}"

    def tracker_lock(self, camera: str) -> str:
        """Lock (value = owner, PX TTL) held by the one tracker process of a camera."""
        return f"{self.prefix}:tracker-lock:{self.camera(camera)}"

    def tracker_state(self, camera: str) -> str:
        """JSON snapshot of a camera's tracker, written with every tracked frame."""
        return f"{self.prefix}:tracker-state:{self.camera(camera)}"

    # -- recordings ---------------------------------------------------------------------------
    def recordings(self, camera: str) -> str:
        """Sorted set of a camera's closed recording segments (JSON records,
        ``runtime/recordings.py``) by start time (Unix seconds)."""
        return f"{self.prefix}:recordings:{self.camera(camera)}"

    @property
    def recording_bytes(self) -> str:
        """Hash: camera -> bytes of its indexed segments (what retention's caps are checked on)."""
        return f"{self.prefix}:recording-bytes"

    # -- events -------------------------------------------------------------------------------
    @property
    def events(self) -> str:
        """Hash: event id -> event record JSON (``common/events.py``)."""
        return f"{self.prefix}:events"

    @property
    def events_time(self) -> str:
        """Sorted set of every event id by start time (Unix seconds)."""
        return f"{self.prefix}:events-time"

    def camera_events(self, camera: str) -> str:
        """Sorted set of a camera's event ids by start time."""
        return f"{self.prefix}:events:{self.camera(camera)}"

    def open_events(self, camera: str) -> str:
        """Set of a camera's open event ids (a tracker taking the camera over continues them)."""
        return f"{self.prefix}:events-open:{self.camera(camera)}"

    @property
    def event_updates(self) -> str:
        """Stream of event lifecycle messages (``new``, ``update``, ``end``; capped)."""
        return f"{self.prefix}:event-updates"

    # -- webhooks -----------------------------------------------------------------------------
    def webhook_sent(self, entry_id: str) -> str:
        """Hash: hook id -> outcome, for a ``cctv:event-updates`` entry whose deliveries are not
        all finished (a restarted ``cctv webhooks`` sends only the rest); deleted at its XACK."""
        return f"{self.prefix}:webhook-sent:{entry_id}"

    @property
    def webhook_stats(self) -> str:
        """Hash of ``cctv webhooks`` totals: ``delivered``, ``failed``, ``dropped``, ``retries``,
        ``last_error`` (masked), ``last_error_ts``."""
        return f"{self.prefix}:webhook-stats"

    # -- MQTT bridge ----------------------------------------------------------------------------
    @property
    def mqtt_bridges(self) -> str:
        """Set of the client ids of ``cctv mqtt`` bridges that have written their state."""
        return f"{self.prefix}:mqtt-bridges"

    def mqtt_bridge(self, client_id: str) -> str:
        """Hash: one bridge's state (``common/mqtt.py``), with a TTL: gone means not running."""
        return f"{self.prefix}:mqtt-bridge:{client_id}"

    def mqtt_cursor(self, client_id: str) -> str:
        """String: the last ``cctv:event-updates`` id a bridge published (a restart goes on
        after it)."""
        return f"{self.prefix}:mqtt-cursor:{client_id}"

    # -- workers and errors --------------------------------------------------------------------
    @property
    def workers(self) -> str:
        """Set of worker ids that have sent a heartbeat."""
        return f"{self.prefix}:workers"

    def worker(self, worker_id: str) -> str:
        """Heartbeat hash of one worker, with a TTL: gone means dead."""
        return f"{self.prefix}:worker:{worker_id}"

    @property
    def dead_letter(self) -> str:
        """Stream of entries a service could not use, with the reason (capped): every camera's
        without hash tags."""
        return f"{self.prefix}:dead-letter"

    def dead_letters(self, camera: str) -> str:
        """Where ``camera``'s dead letters go: with hash tags (Redis Cluster) its own stream
        ``cctv:dead-letter:{cam}`` (in the camera's slot, so the worker's script stays in one
        slot), else the global :attr:`dead_letter`."""
        return f"{self.dead_letter}:{self.camera(camera)}" if self.hash_tags else self.dead_letter

    @property
    def dead_letter_cameras(self) -> str:
        """Set of the cameras that have a dead-letter stream of their own (the global index of
        per-camera dead letters, written after the script that adds the letter)."""
        return f"{self.prefix}:dead-letter-cameras"

    @property
    def redis_losses(self) -> str:
        """Hash: service id -> JSON of its last Redis outage (``lost``, ``back``)."""
        return f"{self.prefix}:redis-losses"

    def replay(self, job_id: str) -> str:
        """Hash with the progress of one replay job (frames, last_id)."""
        return f"{self.prefix}:replay:{job_id}"


KEYS = Keys()
"""Default key layout (prefix ``cctv``, no hash tags)."""

RQ_QUEUE_KEY = f"rq:queue:{RQ_QUEUE}"
"""RQ's own list of queued job ids for :data:`RQ_QUEUE` (RQ names it; read for queue depth)."""
