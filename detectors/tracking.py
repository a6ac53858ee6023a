"""IoU multi-object tracking with inertia, ByteTrack-style two-stage association.

Why tracking at all: rules judge *objects over time* (a car that stays two minutes), and a capture is
per object, not per frame. Inertia makes a track trustworthy: it is confirmed only after ``min_hits``
matched frames (a flicker of noise never becomes a capture) and survives ``max_misses`` frames without
a match (a parked car hidden by a passing bus stays the same track, so it is captured once).

Labels: a moving blob's shape label flips between ``person``, ``vehicle`` and ``moving_object`` as
people walk in pairs or a car turns, so labels of one *group* (:data:`LABEL_GROUPS`) may match each other
and a track's label is the majority vote of its detections. Other labels must match exactly (a parked
car's ``stationary_object`` track must not be taken over by a car driving past it).

Association (ByteTrack): detections at or above ``high_confidence`` are matched to tracks first;
tracks left over then try the weaker detections (``min_confidence`` .. ``high_confidence``), which keep
existing tracks alive but never start new ones. Matching is greedy by descending IoU and class-aware.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from detectors.base import Box, iou_matrix

LABEL_GROUPS: dict[str, str] = {"person": "motion", "vehicle": "motion", "moving_object": "motion"}


def label_group(label: str) -> str:
    return LABEL_GROUPS.get(label, label)


@dataclass
class Track:
    id: int
    box: Box
    first_seen: datetime
    last_seen: datetime
    hits: int = 1
    misses: int = 0
    confirmed: bool = False
    confidence_sum: float = 0.0
    best_confidence: float = 0.0
    zone_since: dict[str, datetime] = field(default_factory=dict)  # zone id → continuous presence start
    zone_seen: dict[str, datetime] = field(default_factory=dict)  # zone id → last time seen inside
    zone_anchor: dict[str, tuple[float, float]] = field(default_factory=dict)  # where the dwell started
    captured: bool = False
    votes: Counter[str] = field(default_factory=Counter)

    @property
    def label(self) -> str:
        """The majority label over matched detections (ties: the most recent)."""
        if not self.votes:
            return self.box.label
        best = max(self.votes.values())
        return self.box.label if self.votes[self.box.label] == best else self.votes.most_common(1)[0][0]

    @property
    def group(self) -> str:
        return label_group(self.box.label)

    @property
    def confidence(self) -> float:
        """Mean confidence over matched frames: one lucky frame does not make a weak track strong."""
        return self.confidence_sum / self.hits if self.hits else 0.0

    def dwell_s(self, zone_id: str) -> float:
        since = self.zone_since.get(zone_id)
        seen = self.zone_seen.get(zone_id)
        return (seen - since).total_seconds() if since and seen else 0.0


@dataclass
class TrackerConfig:
    iou_threshold: float = 0.3
    min_hits: int = 3
    max_misses: int = 10
    min_confidence: float = 0.1  # detections below this are dropped entirely
    high_confidence: float = 0.5  # detections at or above this may start tracks


class Tracker:
    """Tracks for one camera. ``update`` once per processed frame, in time order."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self.next_id = 1
        self.total_confirmed = 0

    def _match(
        self, tracks: list[Track], boxes: list[Box]
    ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """Greedy class-aware IoU matching → (pairs, unmatched track idx, unmatched box idx)."""
        if not tracks or not boxes:
            return [], list(range(len(tracks))), list(range(len(boxes)))
        m = iou_matrix([t.box for t in tracks], boxes)
        labels_t = np.array([t.group for t in tracks], dtype=object)
        labels_b = np.array([label_group(b.label) for b in boxes], dtype=object)
        m[labels_t[:, None] != labels_b[None, :]] = 0.0
        pairs: list[tuple[int, int]] = []
        used_t: set[int] = set()
        used_b: set[int] = set()
        order = np.dstack(np.unravel_index(np.argsort(-m, axis=None), m.shape))[0]
        for ti, bi in order:
            if m[ti, bi] < self.config.iou_threshold:
                break
            if ti in used_t or bi in used_b:
                continue
            pairs.append((int(ti), int(bi)))
            used_t.add(int(ti))
            used_b.add(int(bi))
        return (
            pairs,
            [i for i in range(len(tracks)) if i not in used_t],
            [j for j in range(len(boxes)) if j not in used_b],
        )

    def _hit(self, track: Track, box: Box, t: datetime) -> None:
        track.box = box
        track.votes[box.label] += 1
        track.last_seen = t
        track.hits += 1
        track.misses = 0
        track.confidence_sum += box.confidence
        track.best_confidence = max(track.best_confidence, box.confidence)
        if not track.confirmed and track.hits >= self.config.min_hits:
            track.confirmed = True
            self.total_confirmed += 1

    def update(self, boxes: list[Box], t: datetime) -> list[Track]:
        """Associate this frame's boxes; returns the confirmed tracks matched in this frame."""
        cfg = self.config
        high = [b for b in boxes if b.confidence >= cfg.high_confidence]
        low = [b for b in boxes if cfg.min_confidence <= b.confidence < cfg.high_confidence]
        pairs, left_t, left_b = self._match(self.tracks, high)
        matched: list[Track] = []
        for ti, bi in pairs:
            self._hit(self.tracks[ti], high[bi], t)
            matched.append(self.tracks[ti])
        remaining = [self.tracks[i] for i in left_t]
        pairs2, left_t2, _ = self._match(remaining, low)
        for ti, bi in pairs2:
            self._hit(remaining[ti], low[bi], t)
            matched.append(remaining[ti])
        for i in left_t2:
            remaining[i].misses += 1
        for bi in left_b:
            box = high[bi]
            track = Track(
                self.next_id,
                box,
                t,
                t,
                confidence_sum=box.confidence,
                best_confidence=box.confidence,
                votes=Counter({box.label: 1}),
            )
            self.next_id += 1
            if cfg.min_hits <= 1:
                track.confirmed = True
                self.total_confirmed += 1
            self.tracks.append(track)
            matched.append(track)
        self.tracks = [tr for tr in self.tracks if tr.misses <= cfg.max_misses]
        return [tr for tr in matched if tr.confirmed]

    @property
    def active(self) -> list[Track]:
        return [t for t in self.tracks if t.confirmed]
