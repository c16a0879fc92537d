"""ByteTrack (Zhang et al., ECCV 2022), per class, with a JSON-able state.

The association follows the reference implementation (and supervision's port of it) step by
step, so the two give the same ids on the same detections (``bench/tracker_agreement.py``):

1. Confirmed and lost tracks are moved one frame ahead by their Kalman filter and matched to
   the high-score detections (``score > track_threshold``) by Hungarian assignment on
   ``1 - IoU * score`` (kept when at most ``match_threshold``).
2. Tracks still unmatched are matched to the low-score detections (``0.1 < score <
   track_threshold``) on ``1 - IoU`` (at most 0.5); tracks left over become lost.
3. Unconfirmed tracks (seen in one frame) are matched to the remaining high-score detections
   (at most 0.7); those unmatched are dropped.
4. Remaining high-score detections with ``score >= track_threshold + 0.1`` start tracks.
   A lost track is dropped after ``lost_frames`` frames without a match.

Differences, on purpose: a detection only ever matches a track of its own label; a track gets its
id when it is confirmed (so ids count confirmed objects, 1, 2, 3...); the whole state is
:meth:`ByteTrack.to_dict` (plain JSON) and :meth:`ByteTrack.from_dict` continues it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from common.messages import DetectedObject
from common.tracks import TrackedObject

from . import kalman

TRACKED, LOST, REMOVED = "tracked", "lost", "removed"
LOW_SCORE = 0.1
SECOND_MATCH_COST = 0.5
UNCONFIRMED_MATCH_COST = 0.7
DUPLICATE_COST = 0.05  # supervision 0.29 (the original ByteTrack code: 0.15)
NEW_TRACK_MARGIN = 0.1


@dataclass(eq=False)
class Track:
    """One tracked object: its Kalman state, class and bookkeeping (frames are tracker frames)."""

    label: str
    class_id: int
    score: float
    mean: np.ndarray
    covariance: np.ndarray
    start_frame: int
    last_frame: int
    track_id: int | None = None
    state: str = TRACKED
    confirmed: bool = False
    hits: int = 0
    detection: DetectedObject | None = field(default=None, repr=False)  # this frame's match

    def box(self) -> np.ndarray:
        return kalman.xyah_to_box(self.mean)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.track_id, "label": self.label, "class_id": self.class_id,
                "score": self.score, "mean": self.mean.tolist(),
                "covariance": self.covariance.tolist(), "start": self.start_frame,
                "last": self.last_frame, "state": self.state, "confirmed": self.confirmed,
                "hits": self.hits}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Track":
        return cls(data["label"], data["class_id"], data["score"],
                   np.array(data["mean"], dtype=np.float64),
                   np.array(data["covariance"], dtype=np.float64), data["start"], data["last"],
                   data["id"], data["state"], data["confirmed"], data["hits"])


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of every pair; boxes (N, 4) and (M, 4) as (x1, y1, x2, y2) -> (N, M)."""
    if not len(boxes_a) or not len(boxes_b):
        return np.zeros((len(boxes_a), len(boxes_b)))
    top_left = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(boxes_a[:, 2:] - boxes_a[:, :2], axis=1)
    area_b = np.prod(boxes_b[:, 2:] - boxes_b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def label_iou(boxes_a: np.ndarray, labels_a: Sequence[str], boxes_b: np.ndarray,
              labels_b: Sequence[str]) -> np.ndarray:
    """IoU of every pair, 0 between different labels; boxes (N, 4), (M, 4) -> (N, M)."""
    same = np.array([[a == b for b in labels_b] for a in labels_a], dtype=bool)
    return iou_matrix(boxes_a, boxes_b) * same.reshape(len(labels_a), len(labels_b))


def track_boxes(tracks: Sequence[Track]) -> np.ndarray:
    """The Kalman boxes of ``tracks``, (N, 4)."""
    return np.array([t.box() for t in tracks], dtype=np.float64).reshape(-1, 4)


def match_cost(tracks: Sequence[Track], detections: Sequence[DetectedObject],
               fuse_score: bool) -> np.ndarray:
    """``1 - IoU`` (IoU times the detection's score with ``fuse_score``), tracks x detections."""
    iou = label_iou(track_boxes(tracks), [t.label for t in tracks],
                    np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 4),
                    [d.label for d in detections])
    if fuse_score:
        iou = iou * np.array([d.score for d in detections])[None, :]
    return 1.0 - iou


def assign(cost: np.ndarray, threshold: float) -> tuple[list[tuple[int, int]], list[int],
                                                         list[int]]:
    """Hungarian assignment keeping pairs of cost <= threshold: (pairs, free rows, free cols)."""
    if cost.size == 0:
        return [], list(range(cost.shape[0])), list(range(cost.shape[1]))
    capped = np.where(cost > threshold, threshold + 1e-4, cost)
    rows, cols = linear_sum_assignment(capped)
    pairs = [(r, c) for r, c in zip(rows.tolist(), cols.tolist()) if capped[r, c] <= threshold]
    matched_rows, matched_cols = {r for r, _ in pairs}, {c for _, c in pairs}
    return (pairs, [r for r in range(cost.shape[0]) if r not in matched_rows],
            [c for c in range(cost.shape[1]) if c not in matched_cols])


class ByteTrack:
    """Tracks one camera's objects; :meth:`update` once per frame, in capture order."""

    def __init__(self, track_threshold: float = 0.25, match_threshold: float = 0.8,
                 lost_frames: int = 30, min_hits: int = 1):
        self.track_threshold, self.match_threshold = track_threshold, match_threshold
        self.lost_frames, self.min_hits = lost_frames, min_hits
        self.frame = 0
        self.next_id = 1
        self.tracked: list[Track] = []
        self.lost: list[Track] = []

    def live_ids(self) -> set[int]:
        """Ids of the tracks still kept (tracked or lost)."""
        return {t.track_id for t in self.tracked + self.lost if t.track_id is not None}

    def update(self, detections: Sequence[DetectedObject]) -> list[TrackedObject]:
        """Track one frame's detections; returns the confirmed tracks seen in it, each with the
        detection it matched (ids are new when >= ``next_id`` before the call)."""
        self.frame += 1
        high = [d for d in detections if d.score > self.track_threshold]
        low = [d for d in detections if LOW_SCORE < d.score < self.track_threshold]
        unconfirmed = [t for t in self.tracked if not t.confirmed]
        pool = [t for t in self.tracked if t.confirmed] + self.lost
        for track in pool:
            if track.state != TRACKED:
                track.mean[7] = 0.0
            track.mean, track.covariance = kalman.predict(track.mean, track.covariance)

        pairs, free_tracks, free_high = assign(match_cost(pool, high, True), self.match_threshold)
        for t, d in pairs:
            self._match(pool[t], high[d])
        still_tracked = [pool[t] for t in free_tracks if pool[t].state == TRACKED]
        pairs, free_tracks, _ = assign(match_cost(still_tracked, low, False), SECOND_MATCH_COST)
        for t, d in pairs:
            self._match(still_tracked[t], low[d])
        for t in free_tracks:
            still_tracked[t].state = LOST

        high = [high[d] for d in free_high]
        pairs, free_unconfirmed, free_high = assign(match_cost(unconfirmed, high, True),
                                                    UNCONFIRMED_MATCH_COST)
        for t, d in pairs:
            self._match(unconfirmed[t], high[d])
        for t in free_unconfirmed:
            unconfirmed[t].state = REMOVED
        started = [self._start(high[d]) for d in free_high
                   if high[d].score >= self.track_threshold + NEW_TRACK_MARGIN]

        for track in self.lost:
            if track.state == LOST and self.frame - track.last_frame > self.lost_frames:
                track.state = REMOVED
        newly_lost = [t for t in self.tracked if t.state == LOST]
        found_again = [t for t in self.lost if t.state == TRACKED]
        self.tracked = [t for t in self.tracked if t.state == TRACKED] + started + found_again
        self.lost = [t for t in self.lost + newly_lost if t.state == LOST]
        self._drop_duplicates()
        return [TrackedObject(t.track_id, t.label, t.class_id, t.detection.score,
                              t.detection.box) for t in self.tracked if t.confirmed]

    def _match(self, track: Track, detection: DetectedObject) -> None:
        track.mean, track.covariance = kalman.update(track.mean, track.covariance,
                                                     kalman.box_to_xyah(detection.box))
        if track.state == LOST:  # found again: keeps its id
            track.hits = 0
        else:
            track.hits += 1
            if not track.confirmed and track.hits >= self.min_hits:
                self._confirm(track)
        track.state, track.score, track.last_frame = TRACKED, detection.score, self.frame
        track.detection = detection

    def _start(self, detection: DetectedObject) -> Track:
        mean, covariance = kalman.initiate(kalman.box_to_xyah(detection.box))
        track = Track(detection.label, detection.class_id, detection.score, mean, covariance,
                      self.frame, self.frame, detection=detection)
        if self.frame == 1 and self.min_hits == 1:
            self._confirm(track)
        return track

    def _confirm(self, track: Track) -> None:
        track.confirmed, track.track_id = True, self.next_id
        self.next_id += 1

    def _drop_duplicates(self) -> None:
        """A tracked and a lost track on the same spot: keep the one tracked longer."""
        iou = label_iou(track_boxes(self.tracked), [t.label for t in self.tracked],
                        track_boxes(self.lost), [t.label for t in self.lost])
        drop: set[int] = set()
        for t, l in zip(*np.nonzero(1.0 - iou < DUPLICATE_COST)):
            tracked, lost = self.tracked[t], self.lost[l]
            tracked_longer = (tracked.last_frame - tracked.start_frame
                              > lost.last_frame - lost.start_frame)
            drop.add(id(lost) if tracked_longer else id(tracked))
        self.tracked = [t for t in self.tracked if id(t) not in drop]
        self.lost = [t for t in self.lost if id(t) not in drop]

    def to_dict(self) -> dict[str, Any]:
        """The whole state as plain JSON values (floats exact through ``json``)."""
        return {"frame": self.frame, "next_id": self.next_id,
                "tracked": [t.to_dict() for t in self.tracked],
                "lost": [t.to_dict() for t in self.lost]}

    def load(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`to_dict` state (the thresholds stay this tracker's)."""
        self.frame, self.next_id = state["frame"], state["next_id"]
        self.tracked = [Track.from_dict(t) for t in state["tracked"]]
        self.lost = [Track.from_dict(t) for t in state["lost"]]
