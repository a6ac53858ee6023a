"""The per-camera loop: frame → boxes → tracks → zone rules → capture (Detection + evidence JPEGs).

``CameraPipeline`` owns one camera's stateful parts (classical background models, tracker, rules).
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
from detectors.tracking import Tracker, TrackerConfig

log = logging.getLogger("cityops.detectors.pipeline")


@dataclass
class PipelineStats:
    frames_processed: int = 0
    detections: int = 0  # boxes from the detectors, before tracking
    captures: int = 0
    seconds: float = 0.0  # wall time spent processing (detect + track + rules + evidence)


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
        self.tracker = Tracker(tracker)
        self.rules = RuleEngine(
            camera, tz, label_map=label_map, zone_label_maps=zone_label_maps, min_confidence=min_confidence
        )
        self.evidence = evidence
        self.stats = PipelineStats()

    def own_boxes(self, image: np.ndarray) -> list[Box]:
        boxes: list[Box] = []
        for det in self.detectors:
            boxes.extend(det.detect([image])[0])
        return boxes

    def process(self, frame: Frame, shared_boxes: Sequence[Box] = ()) -> list[Detection]:
        """Run this camera's detectors on ``frame`` (plus boxes from a shared network) → captures."""
        t0 = time.perf_counter()
        h, w = frame.image.shape[:2]
        boxes = self.own_boxes(frame.image) + list(shared_boxes)
        self.stats.detections += len(boxes)
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
            time.sleep(max(0.0, min(due.values()) - time.monotonic()))
            now = time.monotonic()
            ready = [i for i in sorted(pending) if due[i] <= now + 1e-3]
        else:
            ready = sorted(pending)
        return [(self.cameras[i], pending.pop(i)) for i in ready]

    def ticks(self) -> Iterator[list[Detection]]:
        self.started = time.perf_counter()
        self._anchor: tuple[float, datetime] | None = None
        pending: dict[int, Frame] = {}
        while True:
            batch = self._batch(pending)
            if not batch:
                return
            shared: list[list[Box]] = [[] for _ in batch]
            if self.shared is not None:
                for i in range(0, len(batch), self.max_batch):
                    part = batch[i : i + self.max_batch]
                    shared[i : i + len(part)] = self.shared.detect([f.image for _, f in part])
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
