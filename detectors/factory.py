"""Building camera runs from the fixtures: which detectors, which label map, where evidence goes.

Kept apart from the CLI so the CLI, the demo process, the tests and the benchmark all assemble the
pipeline the same way.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from cityops.devices import Camera
from cityops.settings import REPO_ROOT, Settings, env_text
from detectors.base import Detector
from detectors.classical import ClassicalDetector, HogConfig
from detectors.evidence import EvidenceStore
from detectors.pipeline import CameraPipeline, CameraRun
from detectors.rules import DEFAULT_LABEL_MAP, LabelMap
from detectors.sources import open_source
from detectors.tracking import TrackerConfig

DEMO_CAMERAS = REPO_ROOT / "fixtures" / "data" / "cameras_demo.json"
DEFAULT_MODEL = REPO_ROOT / "fixtures" / "models" / "cityops_tiny.pt"
MODES = ("classical", "torch", "both")


@lru_cache(maxsize=1)
def _demo_items() -> dict[str, dict]:
    if not DEMO_CAMERAS.exists():
        return {}
    return {item["id"]: item for item in json.loads(DEMO_CAMERAS.read_text(encoding="utf-8"))}


def label_map_for(camera_id: str, extra: LabelMap | None = None) -> dict[str, tuple[str, ...]]:
    """Default map, overridden by a model's sidecar map, overridden by the camera's own ``label_map``."""
    out = dict(DEFAULT_LABEL_MAP)
    for source in (extra or {}, _demo_items().get(camera_id, {}).get("label_map", {})):
        out.update({str(k): tuple(v) for k, v in source.items()})
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


def build_run(
    camera: Camera,
    source: str,
    settings: Settings,
    *,
    mode: str = "classical",
    out: Path | None = None,
    max_frames: int | None = None,
    loop: bool = False,
    start: datetime | None = None,
    hog: bool = False,
    shared: Detector | None = None,
    sample_fps: float | None = None,
) -> CameraRun:
    if mode not in MODES:
        raise ValueError(f"--detector must be one of {', '.join(MODES)}, not {mode!r}")
    fps = sample_fps or camera.sample_fps
    detectors: list[Detector] = []
    if mode in ("classical", "both"):
        detectors.append(ClassicalDetector(fps, hog=hog, hog_config=HogConfig()))
    extra_map = getattr(shared, "label_map", None) if mode != "classical" else None
    root = out / "evidence" if out is not None else settings.evidence_dir
    pipeline = CameraPipeline(
        camera,
        tz=settings.tz,
        evidence=EvidenceStore(root, settings.tz),
        detectors=detectors,
        mode=mode,
        tracker=tracker_config(fps),
        label_map=label_map_for(camera.id, extra_map),
    )
    src = open_source(resolve_source(source), sample_fps=fps, start=start, loop=loop, max_frames=max_frames)
    return CameraRun(pipeline, src)


def load_shared(mode: str, model_path: str | None = None) -> Detector | None:
    """The batched network for ``torch``/``both`` (``CITYOPS_MODEL`` or the bundled tiny model)."""
    if mode == "classical":
        return None
    from detectors.torch_detector import load_detector

    return load_detector(model_path or env_text("CITYOPS_MODEL", str(DEFAULT_MODEL)))
