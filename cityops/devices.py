"""Field devices of the city: sensors (noise, dust, smoke) and cameras with their zones
(cameras are configured in ``cameras.yml``, read by ``detectors/camera_config.py``).

These are contract types: the simulator and replayers publish readings for these sensors, the sensor
agent judges them by their ``zone_class`` and ``interval_s``, and the detectors apply each camera's
zones. Cameras and zones follow Frigate's model: a zone is a polygon in the camera image (here in
normalised 0..1 coordinates, so it survives a change of resolution) with the violation types it
watches for and the time windows in which those types are *allowed* (e.g. a night market 18:00–23:00).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import time


@dataclass(frozen=True)
class Sensor:
    id: str
    kind: str  # a kind of cityops/sensor_kinds/*.toml: noise | dust | smoke | gas_pressure | water_level
    metric: str  # one of the kind's metrics: laeq | pm10 | pm25 | alarm | pressure | fill
    unit: str
    site_id: str
    site_kind: str  # construction | road | residential | market | building
    zone_class: str  # GB 3096-2008 acoustic zone class: 0, 1, 2, 3, 4a, 4b
    lon: float
    lat: float
    grid_code: str
    gateway_id: str
    interval_s: int = 60
    name_zh: str = ""


@dataclass(frozen=True)
class Gateway:
    """An IoT gateway that batches the readings of up to a few hundred sensors into one envelope."""

    id: str
    district_code: str
    name_zh: str = ""


@dataclass(frozen=True)
class TimeWindow:
    """A daily local-time window; ``end < start`` wraps past midnight (22:00–06:00)."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        try:
            a, b = text.split("-")
            return cls(time.fromisoformat(a.strip()), time.fromisoformat(b.strip()))
        except ValueError as exc:
            raise ValueError(f"time window {text!r} is not 'HH:MM-HH:MM'") from exc

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Zone:
    id: str
    name_zh: str
    polygon: tuple[tuple[float, float], ...]  # normalised image coordinates, 0..1
    ai_types: tuple[str, ...]  # violation types watched in this zone
    allowed: tuple[TimeWindow, ...] = ()  # windows in which those types are permitted
    min_dwell_s: float = 60.0
    # Smallest box that counts in this zone (both apply): a fraction of the frame height, and pixels of height.
    min_height_frac: float = 0.0
    min_height_px: float = 0.0

    def allowed_at(self, t: time) -> bool:
        return any(w.contains(t) for w in self.allowed)

    def min_height(self, frame_height: int) -> float:
        """The smallest box height, in pixels, that counts in this zone for a frame this tall."""
        return max(self.min_height_frac * frame_height, self.min_height_px)


@dataclass(frozen=True)
class Camera:
    id: str
    name_zh: str
    lon: float
    lat: float
    grid_code: str
    zones: tuple[Zone, ...] = field(default_factory=tuple)
    sample_fps: float = 5.0
    source: str | None = None  # a video path or stream URL (credentials as ${ENV} placeholders, expanded on open)
    detector: str = "coco+classical"  # coco | classical | coco+classical (detectors/camera_config.py)
    masks: tuple[tuple[tuple[float, float], ...], ...] = ()  # normalised polygons where detections are ignored
    min_height_frac: float = 0.0  # boxes smaller than this (fraction of frame height) are ignored …
    min_height_px: float = 0.0  # … or than this many pixels tall
    label_map: tuple[tuple[str, tuple[str, ...]], ...] = ()  # the camera's own label → ai_types overrides


def zones_from_json(items: Sequence[dict]) -> tuple[Zone, ...]:
    """Zones from their JSON form: ``{"id", "name_zh", "polygon", "ai_types", "allowed": ["18:00-23:00"]}``."""
    zones = []
    for z in items:
        polygon = tuple((float(x), float(y)) for x, y in z["polygon"])
        if len(polygon) < 3 or not all(0.0 <= v <= 1.0 for p in polygon for v in p):
            raise ValueError(f"zone {z.get('id')!r}: polygon needs ≥ 3 points in 0..1 image coordinates")
        zones.append(
            Zone(
                id=str(z["id"]),
                name_zh=str(z.get("name_zh", z["id"])),
                polygon=polygon,
                ai_types=tuple(z["ai_types"]),
                allowed=tuple(TimeWindow.parse(w) for w in z.get("allowed", ())),
                min_dwell_s=float(z.get("min_dwell_s", 60.0)),
            )
        )
    return tuple(zones)
