"""Camera health: every few seconds each camera's :class:`cityops.schemas.CameraStatus` and its latest frame.

Why: an operator must see a camera that went dark (stream down, reconnecting, corrupt file) before anyone
asks why it captured nothing. The detector process reports what it knows — state, frames/s, counters,
the source's last error with credentials redacted — to the ``camera-status`` topic (key = camera id), and
writes the latest frame as ``<CAMERA>/latest.jpg`` in the evidence store (replaced atomically, so a reader
never sees half a JPEG). Frames never travel through Kafka.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2

from cityops import observability
from cityops.schemas import CameraState, CameraStatus, Detection
from detectors.evidence import safe_component
from detectors.pipeline import CameraRun
from detectors.sources import redact

log = logging.getLogger("cityops.detectors.health")

LATEST_FRAME = "latest.jpg"


def camera_state(run: CameraRun) -> CameraState:
    if run.done:
        return CameraState.FAILED if run.error else CameraState.ENDED
    if getattr(run.source, "reconnecting", False):
        return CameraState.RECONNECTING
    return CameraState.OK


def write_latest_frame(root: Path, camera_id: str, image: object, quality: int = 80) -> str:
    """``<root>/<CAMERA>/latest.jpg`` via a temporary file and a rename; returns the ref ``CAMERA/latest.jpg``."""
    folder = root / safe_component(camera_id)
    folder.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])  # type: ignore[call-overload]
    if not ok:
        raise ValueError(f"{camera_id}: the latest frame could not be encoded as JPEG")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".latest.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.tobytes())
        os.replace(tmp, folder / LATEST_FRAME)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return f"{safe_component(camera_id)}/{LATEST_FRAME}"


@dataclass
class _Last:
    at: float
    frames: int


@dataclass
class HealthReporter:
    """Builds each camera's status every ``interval_s`` seconds of wall time (and once at the end)."""

    runs: Sequence[CameraRun]
    evidence_root: Path
    interval_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    _last: dict[str, _Last] = field(default_factory=dict)
    _next: float | None = None
    _seq: int = 0

    def due(self) -> bool:
        t = self.clock()
        if self._next is None:  # the first report comes one interval after the start
            self._next = t + self.interval_s
            for run in self.runs:
                self._last[run.pipeline.camera.id] = _Last(t, run.pipeline.stats.frames_processed)
            return False
        return t >= self._next

    def report(self) -> list[CameraStatus]:
        """Every camera's status now; writes each latest frame (a failed write is logged, never fatal)."""
        t = self.clock()
        self._next = t + self.interval_s
        self._seq += 1
        at = self.now()
        out = []
        for run in self.runs:
            pipe, cam_id = run.pipeline, run.pipeline.camera.id
            last = self._last.get(cam_id, _Last(t, 0))
            frames = pipe.stats.frames_processed
            fps = (frames - last.frames) / (t - last.at) if t > last.at else 0.0
            self._last[cam_id] = _Last(t, frames)
            observability.set_detector_fps(cam_id, max(fps, 0.0))
            frame = pipe.last_frame
            ref, width, height = None, None, None
            if frame is not None:
                height, width = frame.image.shape[:2]
                try:
                    ref = write_latest_frame(self.evidence_root, cam_id, frame.image)
                except (OSError, ValueError) as err:
                    log.warning("%s: latest frame not written: %s", cam_id, err)
            state = camera_state(run)
            error = run.error or (getattr(run.source, "message", "") if state is CameraState.FAILED else "")
            digest = hashlib.sha1(f"{cam_id}|{at.isoformat()}|{self._seq}".encode()).hexdigest()[:20]
            out.append(CameraStatus(
                event_id=f"cs-{digest}",
                camera_id=cam_id,
                at=at,
                state=state,
                detector=pipe.mode,
                fps=round(min(max(fps, 0.0), 10_000.0), 2),
                frames_read=run.source.stats.frames_read,
                frames_processed=frames,
                captures=pipe.stats.captures,
                reconnects=run.source.stats.reconnects,
                last_frame_at=frame.time if frame is not None else None,
                latest_frame_ref=ref,
                frame_width=width,
                frame_height=height,
                error=redact(error)[:500] if error else None,
            ))
        return out


def cameras_check(runs: Sequence[CameraRun]) -> Callable[[], tuple[bool, str]]:
    """The detector process's ``/healthz`` check: healthy while at least one camera has not failed."""
    def check() -> tuple[bool, str]:
        states = {run.pipeline.camera.id: camera_state(run).value for run in runs}
        ok = any(state != CameraState.FAILED.value for state in states.values())
        return ok, ", ".join(f"{cam} {state}" for cam, state in sorted(states.items()))

    return check


def with_health(ticks: Iterator[list[Detection]], reporter: HealthReporter | None
                ) -> Iterator[tuple[list[Detection], list[CameraStatus]]]:
    """Each tick's captures with the camera statuses due at that tick (and a last report when the runs end)."""
    for captures in ticks:
        yield captures, reporter.report() if reporter is not None and reporter.due() else []
    if reporter is not None:
        yield [], reporter.report()
