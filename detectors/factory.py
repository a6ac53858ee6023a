"""Building camera runs from a camera's configuration: which detectors, which label map, where evidence goes.

Kept apart from the CLI so the CLI, the demo process, the tests and the benchmark all assemble the
pipeline the same way. The default is ``coco+classical``: the shared COCO network finds people,
vehicles and stall items; the classical stationary-object detector adds what COCO has no class for
(piles, dumped waste, goods on a pavement).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from cityops.devices import Camera
from cityops.settings import REPO_ROOT, Settings, env_text
from detectors.base import Box, Detector
from detectors.camera_config import DETECTOR_MODES, load_camera_file
from detectors.classical import ClassicalDetector, HogConfig, StationaryConfig, StationaryObjectDetector
from detectors.evidence import EvidenceStore
from detectors.pipeline import CameraPipeline, CameraRun
from detectors.rules import default_label_map
from detectors.sources import open_source
from detectors.tracking import TrackerConfig

DEMO_CAMERAS = REPO_ROOT / "fixtures" / "data" / "cameras_demo.yml"
MODES = DETECTOR_MODES  # coco | classical | coco+classical
DEFAULT_MODE = "coco+classical"


class StationaryOnly:
    """The classical stationary-object detector alone: next to COCO, the motion detector adds nothing."""

    name = "classical/stationary"

    def __init__(self, fps: float) -> None:
        config = StationaryConfig()
        config.fps = fps
        self.detector = StationaryObjectDetector(config)

    def detect(self, frames: list[np.ndarray]) -> list[list[Box]]:
        return [self.detector.step(f) for f in frames]


def label_map_for(camera: Camera) -> dict[str, tuple[str, ...]]:
    """``detectors/data/label_map.yml``, overridden label by label by the camera's own ``label_map``."""
    out = dict(default_label_map())
    out.update({k: tuple(v) for k, v in camera.label_map})
    return out


def resolve_source(spec: str) -> str:
    """Relative file paths in the fixtures are relative to the repository root, not the cwd."""
    if "://" in spec or Path(spec).is_absolute() or Path(spec).exists():
        return spec
    return str((REPO_ROOT / spec).resolve())


def start_time(text: str | None) -> datetime:
    """Anchor of file timestamps: ISO text (``--start`` or ``CITYOPS_DETECT_START``) or now."""
    text = text or env_text("CITYOPS_DETECT_START", "")
    if not text:
        return datetime.now(UTC)
    t = datetime.fromisoformat(text)
    if t.tzinfo is None:
        raise ValueError(f"start time {text!r} needs a UTC offset")
    return t


def tracker_config(fps: float) -> TrackerConfig:
    """Inertia in seconds, converted to frames at this camera's processing rate."""
    return TrackerConfig(
        iou_threshold=0.25,
        min_hits=max(2, round(0.3 * fps)),
        max_misses=max(3, round(1.5 * fps)),
        min_confidence=0.2,
        high_confidence=0.45,
    )


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"--detector must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def build_run(
    camera: Camera,
    source: str,
    settings: Settings,
    *,
    mode: str | None = None,
    out: Path | None = None,
    max_frames: int | None = None,
    loop: bool = False,
    start: datetime | None = None,
    hog: bool = False,
    sample_fps: float | None = None,
) -> CameraRun:
    """One camera's run; ``mode`` (default: the camera's ``detector``) picks the detectors."""
    mode = check_mode(mode or camera.detector)
    fps = sample_fps or camera.sample_fps
    detectors: list[Detector] = []
    if mode == "classical":
        detectors.append(ClassicalDetector(fps, hog=hog, hog_config=HogConfig()))
    elif mode == "coco+classical":
        detectors.append(StationaryOnly(fps))
    root = out / "evidence" if out is not None else settings.evidence_dir
    pipeline = CameraPipeline(
        camera,
        tz=settings.tz,
        evidence=EvidenceStore(root, settings.tz),
        detectors=detectors,
        mode=mode,
        tracker=tracker_config(fps),
        label_map=label_map_for(camera),
    )
    src = open_source(resolve_source(source), sample_fps=fps, start=start, loop=loop, max_frames=max_frames)
    return CameraRun(pipeline, src)


def load_shared(modes: Iterable[str], backend: str | None = None) -> Detector | None:
    """The batched COCO network, shared by all cameras, when one of ``modes`` uses it
    (``CITYOPS_COCO_BACKEND``: auto | opencv | torch)."""
    if not any("coco" in check_mode(m) for m in modes):
        return None
    from detectors.coco import load_coco

    return load_coco(backend=backend or env_text("CITYOPS_COCO_BACKEND", "auto"))


def cameras_from(config: Path | None) -> dict[str, Camera]:
    """The cameras of a cameras file (``--config``), else of the configured city (``cameras.yml``)."""
    if config is not None:
        return {c.id: c for c in load_camera_file(config).to_devices()}
    from cityops.city_data import get_city_data

    return {c.id: c for c in get_city_data().cameras}


def demo_cameras(path: Path = DEMO_CAMERAS) -> Sequence[Camera]:
    """The demo cameras on the real clips (``fixtures/data/cameras_demo.yml``), as the city places them."""
    from cityops.city_data import get_city_data

    ids = list(load_camera_file(path).cameras)
    city = get_city_data()
    return [city.camera(i) for i in ids]
