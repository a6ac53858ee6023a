"""Zone rules: which tracked object, dwelling where and when, is a violation → one capture per track.

A capture needs all of: a confirmed track whose mean confidence is at least ``min_confidence``; its
bottom-centre continuously inside a zone (gaps up to ``grace_s`` forgiven, as boxes jitter at edges)
for at least the zone's ``min_dwell_s`` while moving no faster than its label's ``max_speed`` (a car
crawling through a no-stopping zone in a jam is not parked; a pedestrian crossing a square is not a
vendor; see :data:`MAX_SPEED`); a label that maps to one of the ai_types the zone watches;
and a local time outside the zone's allowed windows (a night market 18:00–23:00 is not vending
"illegally" at 19:00). A track is captured at most once, whatever zones it wanders through: the duty
officer wants one case per parked car, not one per frame.

Label → ai_type: the data file ``detectors/data/label_map.yml`` gives each detector label (COCO classes,
``stall``, the classical detectors' labels) the violation types it can stand for, in order of preference;
a camera may override single labels (``label_map`` in cameras.yml). The first type the zone watches wins.
A zone's minimum object size (``min_object_size``) keeps boxes too small to be what the zone is about out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import get_args

import yaml

from cityops.devices import Camera, Zone
from cityops.schemas import AiType, Detection
from detectors.base import Box
from detectors.tracking import Track
from detectors.zones import PixelZone, pixel_zones

LabelMap = Mapping[str, Sequence[str]]

LABEL_MAP_FILE = Path(__file__).resolve().parent / "data" / "label_map.yml"


def load_label_map(path: Path = LABEL_MAP_FILE) -> dict[str, tuple[str, ...]]:
    """Label → violation types from a YAML data file; a fault names the file and the label."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path.name}: cannot be read as YAML ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: must map detector labels to lists of violation types")
    known = set(get_args(AiType))
    out: dict[str, tuple[str, ...]] = {}
    for label, types in data.items():
        if not isinstance(types, list) or not types or any(t not in known for t in types):
            raise ValueError(f"{path.name}: {label}: {types!r} must be a list of violation types (AiType)")
        out[str(label)] = tuple(types)
    return out


@lru_cache(maxsize=1)
def default_label_map() -> dict[str, tuple[str, ...]]:
    """``detectors/data/label_map.yml``, read once (callers copy before changing it)."""
    return load_label_map()


# Largest mean speed, in object sizes (the larger of box width and height) per second, measured from
# where the dwell started, at which an object still counts as dwelling. Vehicles must stand still
# (jitter of a parked car's box is well below 0.1); people may mill about as vendors do, but a walker
# (about 0.8 body heights per second) does not dwell.
MAX_SPEED: dict[str, float] = {
    "stationary_object": 0.1,
    "vehicle": 0.1,
    "car": 0.1,
    "truck": 0.1,
    "bus": 0.1,
    "bicycle": 0.1,
    "motorcycle": 0.1,
    "ebike": 0.1,
    "stall": 0.15,  # a stall's box is the union of its items' boxes, which come and go a little
    "person": 0.35,
}
DEFAULT_MAX_SPEED = 0.35
SPEED_WINDOW_S = 2.0  # judge speed only over at least this long, so box jitter does not dominate


@dataclass(frozen=True)
class Capture:
    """A violation found: one track, one zone, one ai_type, with the box of the deciding frame."""

    camera_id: str
    track_id: int
    zone: Zone
    ai_type: str
    label: str
    confidence: float
    box: Box
    first_seen: datetime
    last_seen: datetime
    dwell_s: float

    @property
    def event_id(self) -> str:
        """Stable for the same camera, track and first sighting: a re-sent capture de-duplicates."""
        digest = hashlib.sha1(
            f"{self.camera_id}|{self.track_id}|{self.first_seen.isoformat()}".encode()
        ).hexdigest()
        return f"det-{digest[:20]}"

    @property
    def track_ref(self) -> str:
        return f"{self.camera_id}:{self.first_seen:%Y%m%dT%H%M%S}:{self.track_id}"


def ai_type_for(label: str, zone: Zone, label_map: LabelMap) -> str | None:
    """The first violation type of ``label`` that ``zone`` watches, else None."""
    for ai_type in label_map.get(label, ()):
        if ai_type in zone.ai_types:
            return ai_type
    return None


class RuleEngine:
    """The rules of one camera. Call :meth:`update` with each processed frame's matched tracks."""

    def __init__(
        self,
        camera: Camera,
        tz: tzinfo,
        *,
        label_map: LabelMap | None = None,
        zone_label_maps: Mapping[str, LabelMap] | None = None,
        min_confidence: float = 0.3,
        grace_s: float = 2.0,
    ) -> None:
        self.camera = camera
        self.tz = tz
        self.label_map = dict(label_map or default_label_map())
        self.zone_label_maps = dict(zone_label_maps or {})
        self.min_confidence = min_confidence
        self.grace_s = grace_s
        self._zones: list[PixelZone] = []
        self._size: tuple[int, int] | None = None
        self.dwell: dict[tuple[int, str], tuple[str, float]] = {}  # (track, zone) → (label, longest dwell)

    def zones_for(self, width: int, height: int) -> list[PixelZone]:
        if self._size != (width, height):
            self._zones = pixel_zones(self.camera.zones, width, height)
            self._size = (width, height)
        return self._zones

    def _map_for(self, zone: Zone) -> LabelMap:
        return self.zone_label_maps.get(zone.id, self.label_map)

    def _too_fast(self, track: Track, zone_id: str, t: datetime) -> bool:
        """Mean speed since the dwell started, in object sizes per second, above the label's limit."""
        since, anchor = track.zone_since.get(zone_id), track.zone_anchor.get(zone_id)
        if since is None or anchor is None:
            return False
        elapsed = (t - since).total_seconds()
        if elapsed < SPEED_WINDOW_S:
            return False
        x, y = track.box.bottom_centre
        size = max(track.box.width, track.box.height, 1.0)
        speed = ((x - anchor[0]) ** 2 + (y - anchor[1]) ** 2) ** 0.5 / size / elapsed
        return speed > MAX_SPEED.get(track.label, DEFAULT_MAX_SPEED)

    def update(self, tracks: Sequence[Track], t: datetime, width: int, height: int) -> list[Capture]:
        captures: list[Capture] = []
        local = t.astimezone(self.tz).time()
        for track in tracks:
            for pz in self.zones_for(width, height):
                zid = pz.id
                if not pz.contains_box(track.box) or track.box.height < pz.zone.min_height(height):
                    continue
                last = track.zone_seen.get(zid)
                if last is None or (t - last).total_seconds() > self.grace_s or self._too_fast(track, zid, t):
                    track.zone_since[zid] = t
                    track.zone_anchor[zid] = track.box.bottom_centre
                track.zone_seen[zid] = t
                dwell = track.dwell_s(zid)
                if dwell > self.dwell.get((track.id, zid), ("", -1.0))[1]:
                    self.dwell[(track.id, zid)] = (track.label, dwell)
                if track.captured or track.confidence < self.min_confidence:
                    continue
                if dwell < pz.zone.min_dwell_s or pz.zone.allowed_at(local):
                    continue
                ai_type = ai_type_for(track.label, pz.zone, self._map_for(pz.zone))
                if ai_type is None:
                    continue
                track.captured = True
                captures.append(
                    Capture(
                        self.camera.id,
                        track.id,
                        pz.zone,
                        ai_type,
                        track.label,
                        round(min(1.0, max(0.0, track.confidence)), 4),
                        track.box,
                        track.first_seen,
                        t,
                        round(dwell, 3),
                    )
                )
        return captures


def to_detection(
    capture: Capture,
    camera: Camera,
    *,
    width: int,
    height: int,
    evidence_ref: str,
    crop_ref: str | None,
    detector: str,
) -> Detection:
    """The contract message for a capture (evidence stays on disk; only its relative path travels)."""
    b = capture.box.clipped(width, height)
    return Detection(
        event_id=capture.event_id,
        camera_id=camera.id,
        ai_type=capture.ai_type,  # type: ignore[arg-type]
        confidence=float(capture.confidence),
        box=[round(b.x1, 1), round(b.y1, 1), round(b.x2, 1), round(b.y2, 1)],
        frame_width=width,
        frame_height=height,
        track_id=capture.track_ref,
        first_seen=capture.first_seen,
        last_seen=capture.last_seen,
        dwell_s=float(capture.dwell_s),
        evidence_ref=evidence_ref,
        crop_ref=crop_ref,
        zone_id=capture.zone.id,
        detector=detector[:64],
        lon=camera.lon,
        lat=camera.lat,
    )
