"""The per-camera loop: frame → boxes → tracks → zone rules → capture (Detection + evidence JPEGs).

``CameraPipeline`` owns one camera's stateful parts (classical background models, tracker, rules); per frame:
COCO boxes (shared network) + classical stationary boxes no COCO box explains → masks and minimum size →
stall items gathered into stalls → tracker → zone rules → evidence.
``Runner`` steps several cameras in lock-step ticks so a shared, stateless network can see one frame
of every camera in a single batch (that is how a GPU earns its keep), and yields each tick's captures
so the caller decides where they go (a JSON-lines file or Kafka).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import numpy as np

from cityops.devices import Camera
from cityops.schemas import Detection
from detectors.base import Box, Detector
from detectors.evidence import EvidenceStore, evidence_refs
from detectors.rules import LabelMap, RuleEngine, to_detection
from detectors.sources import Frame, Source, SourceError
from detectors.stalls import gather_stalls
from detectors.tracking import Tracker, TrackerConfig
from detectors.zones import point_in_polygon

log = logging.getLogger("cityops.detectors.pipeline")


@dataclass
class PipelineStats:
    frames_processed: int = 0
    detections: int = 0  # boxes from the detectors, before tracking
    captures: int = 0
    seconds: float = 0.0  # wall time spent processing (detect + track + rules + evidence)


def overlaps(a: Box, b: Box, share: float = 0.2) -> bool:
    """The boxes share at least ``share`` of the smaller one's area (a parked car's blob and its COCO box)."""
    ix = min(a.x2, b.x2) - max(a.x1, b.x1)
    iy = min(a.y2, b.y2) - max(a.y1, b.y1)
    if ix <= 0 or iy <= 0:
        return False
    return ix * iy >= share * max(min(a.area, b.area), 1e-9)


@dataclass(frozen=True)
class BoxFilter:
    """What a camera keeps of its detectors' boxes before tracking: masks, minimum size, stalls gathered.

    Masks and sizes are judged like zones, by the bottom-centre (where the object meets the ground) and
    by box height (far objects are small; a minimum height drops specks and distant clutter). A box covering more
    than ``max_area_frac`` of the frame is no object: SSD boxes a whole crowd as one "person" on the overhead
    hall clip, which would dwell and be captured."""

    masks: tuple[tuple[tuple[float, float], ...], ...] = ()
    min_height_frac: float = 0.0
    min_height_px: float = 0.0
    max_area_frac: float = 0.35

    @classmethod
    def for_camera(cls, camera: Camera) -> BoxFilter:
        return cls(camera.masks, camera.min_height_frac, camera.min_height_px)

    def apply(self, boxes: Sequence[Box], width: int, height: int) -> list[Box]:
        masks = [tuple((x * width, y * height) for x, y in m) for m in self.masks]
        min_h = max(self.min_height_frac * height, self.min_height_px)
        max_area = self.max_area_frac * width * height
        kept = [b for b in boxes if min_h <= b.height and b.area <= max_area
                and not any(point_in_polygon(b.bottom_centre, m) for m in masks)]
        return gather_stalls(kept)


def merge_boxes(coco: Sequence[Box], classical: Sequence[Box]) -> list[Box]:
    """COCO boxes, plus the classical *stationary* boxes no COCO box overlaps: a parked car is one object
    (COCO's car), a pile or a stall with no COCO class is still found; COCO sees people and vehicles, so
    the classical motion boxes are not needed when it runs."""
    extra = [b for b in classical if b.label == "stationary_object" and not any(overlaps(b, c) for c in coco)]
    return [*coco, *extra]


class CameraPipeline:
    """Everything stateful about one camera except its frame source."""

    def __init__(
        self,
        camera: Camera,
        *,
        tz: tzinfo,
        evidence: EvidenceStore | None,
        detectors: Sequence[Detector] = (),
        mode: str = "classical",
        tracker: TrackerConfig | None = None,
        label_map: LabelMap | None = None,
        zone_label_maps: dict[str, LabelMap] | None = None,
        min_confidence: float = 0.3,
    ) -> None:
        self.camera = camera
        self.detectors = list(detectors)
        self.mode = mode
        self.uses_shared = "coco" in mode  # gets the shared COCO network's boxes each tick
        self.box_filter = BoxFilter.for_camera(camera)
        self.tracker = Tracker(tracker)
        self.rules = RuleEngine(
            camera, tz, label_map=label_map, zone_label_maps=zone_label_maps, min_confidence=min_confidence
        )
        self.evidence = evidence
        self.stats = PipelineStats()
        self.last_frame: Frame | None = None  # the latest processed frame (camera health, latest.jpg)

    def own_boxes(self, image: np.ndarray) -> list[Box]:
        boxes: list[Box] = []
        for det in self.detectors:
            boxes.extend(det.detect([image])[0])
        return boxes

    def process(self, frame: Frame, shared_boxes: Sequence[Box] = ()) -> list[Detection]:
        """Run this camera's detectors on ``frame`` (plus boxes from a shared network) → captures."""
        t0 = time.perf_counter()
        h, w = frame.image.shape[:2]
        own = self.own_boxes(frame.image)
        raw = merge_boxes(shared_boxes, own) if self.uses_shared else own
        boxes = self.box_filter.apply(raw, w, h)
        self.stats.detections += len(boxes)
        self.last_frame = frame
        tracks = self.tracker.update(boxes, frame.time)
        out: list[Detection] = []
        for cap in self.rules.update(tracks, frame.time, w, h):
            zone = next((z for z in self.rules.zones_for(w, h) if z.id == cap.zone.id), None)
            if self.evidence is not None:
                frame_ref, crop_ref = self.evidence.write(
                    frame.image,
                    cap.box,
                    camera_id=self.camera.id,
                    event_id=cap.event_id,
                    when=cap.last_seen,
                    zone=zone,
                    caption=f"{cap.ai_type} #{cap.track_id} {cap.dwell_s:.0f}s",
                )
            else:  # no store (dry runs): refs still name where the evidence would be
                frame_ref, crop_ref = evidence_refs(
                    self.camera.id, cap.event_id, cap.last_seen, self.rules.tz
                )
            out.append(
                to_detection(
                    cap,
                    self.camera,
                    width=w,
                    height=h,
                    evidence_ref=frame_ref,
                    crop_ref=crop_ref or None,
                    detector=f"{self.mode}/{cap.label}",
                )
            )
        self.stats.frames_processed += 1
        self.stats.captures += len(out)
        self.stats.seconds += time.perf_counter() - t0
        return out


@dataclass
class CameraRun:
    """A camera with its source and pipeline, as the runner steps it."""

    pipeline: CameraPipeline
    source: Source
    _it: Iterator[Frame] | None = None
    done: bool = False
    error: str = ""
    dropped: int = 0  # frames skipped in real time because the detector was too far behind them

    def next_frame(self) -> Frame | None:
        if self.done:
            return None
        if self._it is None:
            self._it = iter(self.source)
        try:
            return next(self._it)
        except StopIteration:
            self.done = True
        except SourceError as err:
            self.done = True
            self.error = str(err)
            log.error("%s: %s", self.pipeline.camera.id, err)
        return None


@dataclass
class Runner:
    """Steps all cameras one frame per tick; a shared detector gets one batch per tick."""

    cameras: list[CameraRun]
    shared: Detector | None = None
    max_batch: int = 32
    started: float = field(default_factory=time.perf_counter)

    realtime: bool = False  # pace frames to their timestamps (demo replays behave like live cameras)
    max_lag_s: float = 1.0  # in real time, a frame due longer ago than this is skipped, as a live camera's would be

    def _batch(self, pending: dict[int, Frame]) -> list[tuple[CameraRun, Frame]]:
        """One frame per camera; in real time only the frames that are due, after sleeping until one is."""
        for i, run in enumerate(self.cameras):
            if i not in pending:
                frame = run.next_frame()
                if frame is not None:
                    pending[i] = frame
        if not pending:
            return []
        if self.realtime:
            if self._anchor is None:
                self._anchor = (time.monotonic(), min(f.time for f in pending.values()))
            mono0, t0 = self._anchor
            due = {i: mono0 + (f.time - t0).total_seconds() for i, f in pending.items()}
            self._skip_late(pending, due, mono0, t0)
            if not pending:
                return []
            time.sleep(max(0.0, min(due.values()) - time.monotonic()))
            now = time.monotonic()
            ready = [i for i in sorted(pending) if due[i] <= now + 1e-3]
        else:
            ready = sorted(pending)
        return [(self.cameras[i], pending.pop(i)) for i in ready]

    def _skip_late(self, pending: dict[int, Frame], due: dict[int, float], mono0: float, t0: datetime) -> None:
        """Drop frames the detector is too late for, so a slow detector falls behind by at most ``max_lag_s``
        instead of without bound (a live stream offers only its newest frame too)."""
        now = time.monotonic()
        for i in list(pending):
            run = self.cameras[i]
            while due[i] < now - self.max_lag_s:
                run.dropped += 1
                frame = run.next_frame()
                if frame is None:
                    del pending[i], due[i]
                    break
                pending[i] = frame
                due[i] = mono0 + (frame.time - t0).total_seconds()

    def ticks(self) -> Iterator[list[Detection]]:
        self.started = time.perf_counter()
        self._anchor: tuple[float, datetime] | None = None
        pending: dict[int, Frame] = {}
        while True:
            batch = self._batch(pending)
            if not batch:
                return
            shared: list[list[Box]] = [[] for _ in batch]
            wants = [i for i, (run, _) in enumerate(batch) if run.pipeline.uses_shared]
            if self.shared is not None and wants:
                for k in range(0, len(wants), self.max_batch):
                    part = wants[k : k + self.max_batch]
                    for i, boxes in zip(part, self.shared.detect([batch[i][1].image for i in part]), strict=True):
                        shared[i] = boxes
            out: list[Detection] = []
            for (run, frame), boxes in zip(batch, shared, strict=True):
                out.extend(run.pipeline.process(frame, boxes))
            yield out

    def summary(self) -> dict[str, object]:
        wall = max(time.perf_counter() - self.started, 1e-9)
        per_camera = {}
        for run in self.cameras:
            st, src = run.pipeline.stats, run.source.stats
            per_camera[run.pipeline.camera.id] = {
                "frames_read": src.frames_read,
                "frames_processed": st.frames_processed,
                "frames_dropped": run.dropped,
                "processing_fps": round(st.frames_processed / st.seconds, 1) if st.seconds else 0.0,
                "tracks": run.pipeline.tracker.total_confirmed,
                "captures": st.captures,
                "reconnects": src.reconnects,
                "error": run.error or None,
            }
        processed = sum(r.pipeline.stats.frames_processed for r in self.cameras)
        return {
            "frames_read": sum(r.source.stats.frames_read for r in self.cameras),
            "frames_processed": processed,
            "fps": round(processed / wall, 1),
            "tracks": sum(r.pipeline.tracker.total_confirmed for r in self.cameras),
            "captures": sum(r.pipeline.stats.captures for r in self.cameras),
            "wall_s": round(wall, 2),
            "cameras": per_camera,
        }
