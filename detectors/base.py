"""The one interface every detector implements, and the box it returns.

Why a Protocol and a plain dataclass: the tracker, the zone rules and the evidence writer only need
pixel boxes with a label and a confidence, so classical OpenCV detectors and neural networks are
interchangeable behind ``detect(frames) -> boxes per frame``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixel coordinates of the frame it was found in."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    confidence: float

    @property
    def width(self) -> float:
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def bottom_centre(self) -> tuple[float, float]:
        """Where the object touches the ground: the point judged against zones (as Frigate does)."""
        return ((self.x1 + self.x2) / 2.0, self.y2)

    def scaled(self, sx: float, sy: float) -> Box:
        return Box(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy, self.label, self.confidence)

    def clipped(self, width: int, height: int) -> Box:
        return Box(
            min(max(self.x1, 0.0), width),
            min(max(self.y1, 0.0), height),
            min(max(self.x2, 0.0), width),
            min(max(self.y2, 0.0), height),
            self.label,
            self.confidence,
        )


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    ix = min(a.x2, b.x2) - max(a.x1, b.x1)
    iy = min(a.y2, b.y2) - max(a.y1, b.y1)
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def iou_matrix(a: list[Box], b: list[Box]) -> np.ndarray:
    """Pairwise IoU, vectorised: trackers call this every frame."""
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    pa = np.array([[x.x1, x.y1, x.x2, x.y2] for x in a], dtype=np.float64)
    pb = np.array([[x.x1, x.y1, x.x2, x.y2] for x in b], dtype=np.float64)
    ix = np.clip(
        np.minimum(pa[:, None, 2], pb[None, :, 2]) - np.maximum(pa[:, None, 0], pb[None, :, 0]), 0, None
    )
    iy = np.clip(
        np.minimum(pa[:, None, 3], pb[None, :, 3]) - np.maximum(pa[:, None, 1], pb[None, :, 1]), 0, None
    )
    inter = ix * iy
    area_a = (pa[:, 2] - pa[:, 0]) * (pa[:, 3] - pa[:, 1])
    area_b = (pb[:, 2] - pb[:, 0]) * (pb[:, 3] - pb[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


@runtime_checkable
class Detector(Protocol):
    """Boxes for each frame. Stateless detectors (networks) may get frames of several cameras in one
    batch; stateful ones (background models) get consecutive frames of one camera."""

    name: str

    def detect(self, frames: list[np.ndarray]) -> list[list[Box]]: ...
