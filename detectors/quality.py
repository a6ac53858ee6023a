"""Scoring detectors against hand labels: boxes at IoU ≥ 0.5 per class, and captures against expected captures.

Why a module of its own: the bench (bench/bench_detector_quality.py) and its unit tests must score the
same way, and the rules (greedy one-to-one matching, ignore boxes, unlabelled regions, capture time and
place windows) are easy to get subtly wrong, so they live in plain functions with tests.

Conventions (as in PASCAL VOC / COCO evaluation):
- detections are matched greedily in descending confidence; each takes the still-free label box of its
  class with the highest IoU ≥ the threshold, preferring boxes not marked ``ignore``;
- a detection matched to an ``ignore`` box counts neither way; an unmatched one whose bottom-centre lies
  outside the frame's labelled ``region`` counts neither way (nobody labelled there);
- ``ignore`` label boxes are never misses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

CLASSES: tuple[str, ...] = ("person", "vehicle")
ANY = "any"  # class-agnostic scoring: every detection and label is just "an object"

# Detector label → scored class. Road vehicles of every COCO kind count as "vehicle" (the labels do not
# tell a car from a pickup); a motorbike or bicycle is a vehicle and its rider a person, as COCO labels
# them. Labels not listed (moving_object, stationary_object, handbag …) map to no class.
CLASS_OF_LABEL: dict[str, str] = {
    "person": "person",
    "vehicle": "vehicle",
    "car": "vehicle",
    "truck": "vehicle",
    "bus": "vehicle",
    "motorcycle": "vehicle",
    "bicycle": "vehicle",
}


@dataclass(frozen=True, slots=True)
class LabelBox:
    """One hand-labelled object: pixel box, class, and whether it is too small/occluded to judge."""

    cls: str
    x1: float
    y1: float
    x2: float
    y2: float
    ignore: bool = False


@dataclass(frozen=True, slots=True)
class Scored:
    """A detection reduced to what scoring needs."""

    cls: str
    x1: float
    y1: float
    x2: float
    y2: float
    confidence: float


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float | None:
        """None when nothing was detected (precision is undefined, not 0 or 1)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        """None when there was nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)


def class_of(label: str, mapping: Mapping[str, str] = CLASS_OF_LABEL) -> str | None:
    return mapping.get(label)


def iou_xyxy(a: Sequence[float], b: Sequence[float]) -> float:
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _inside(x: float, y: float, region: Sequence[float] | None) -> bool:
    return region is None or (region[0] <= x <= region[2] and region[1] <= y <= region[3])


def match_frame(
    labels: Sequence[LabelBox],
    detections: Sequence[Scored],
    cls: str,
    *,
    iou_threshold: float = 0.5,
    region: Sequence[float] | None = None,
) -> Counts:
    """TP/FP/FN of one frame for one class (``ANY``: class-agnostic; detections of other classes are
    not looked at)."""
    gts = [g for g in labels if cls == ANY or g.cls == cls]
    dets = sorted((d for d in detections if cls == ANY or d.cls == cls), key=lambda d: -d.confidence)
    taken = [False] * len(gts)
    out = Counts()
    for d in dets:
        box = (d.x1, d.y1, d.x2, d.y2)
        best, best_key = -1, (False, 0.0)
        for i, g in enumerate(gts):
            if taken[i]:
                continue
            v = iou_xyxy(box, (g.x1, g.y1, g.x2, g.y2))
            key = (not g.ignore, v)  # a real box beats an ignore box, then higher IoU wins
            if v >= iou_threshold and key > best_key:
                best, best_key = i, key
        if best >= 0:
            taken[best] = True
            if not gts[best].ignore:
                out.tp += 1
        elif _inside((d.x1 + d.x2) / 2.0, d.y2, region):
            out.fp += 1
    out.fn = sum(1 for i, g in enumerate(gts) if not taken[i] and not g.ignore)
    return out


def score_frames(
    frames: Iterable[tuple[Sequence[LabelBox], Sequence[Scored], Sequence[float] | None]],
    classes: Sequence[str] = (*CLASSES, ANY),
    iou_threshold: float = 0.5,
) -> dict[str, Counts]:
    """Counts per class summed over ``(labels, detections, region)`` frames."""
    total = {c: Counts() for c in classes}
    for labels, dets, region in frames:
        for c in classes:
            total[c] = total[c] + match_frame(labels, dets, c, iou_threshold=iou_threshold, region=region)
    return total


# ----- capture level -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpectedCapture:
    """An object that should (or, when ``borderline``, may) become a capture: when it dwells and where
    (the area its bottom-centre stays in, pixels)."""

    who: str
    t_start_s: float
    t_end_s: float
    area: tuple[float, float, float, float]
    borderline: bool = False


@dataclass(frozen=True, slots=True)
class ObservedCapture:
    """A capture the pipeline produced: its time span (seconds from the clip start) and box."""

    first_s: float
    last_s: float
    box: tuple[float, float, float, float]


def observed(first_seen: datetime, last_seen: datetime, box: Sequence[float], start: datetime) -> ObservedCapture:
    return ObservedCapture(
        (first_seen - start).total_seconds(), (last_seen - start).total_seconds(), tuple(box)  # type: ignore[arg-type]
    )


def capture_matches(exp: ExpectedCapture, obs: ObservedCapture, tolerance_s: float = 1.0) -> bool:
    """Same object: the spans overlap (within ``tolerance_s``) and the capture's bottom-centre lies in the area."""
    if obs.last_s < exp.t_start_s - tolerance_s or obs.first_s > exp.t_end_s + tolerance_s:
        return False
    x, y = (obs.box[0] + obs.box[2]) / 2.0, obs.box[3]
    return _inside(x, y, exp.area)


def match_captures(
    expected: Sequence[ExpectedCapture], captures: Sequence[ObservedCapture], tolerance_s: float = 1.0
) -> Counts:
    """One-to-one, in capture order: a capture takes the first free expected capture it matches. One on a
    borderline object counts neither way; borderline objects are never misses."""
    free = [True] * len(expected)
    out = Counts()
    for obs in captures:
        fits = [i for i, e in enumerate(expected) if free[i] and capture_matches(e, obs, tolerance_s)]
        hit = next((i for i in fits if not expected[i].borderline), fits[0] if fits else None)
        if hit is None:
            out.fp += 1
            continue
        free[hit] = False
        if not expected[hit].borderline:
            out.tp += 1
    out.fn = sum(1 for i, e in enumerate(expected) if free[i] and not e.borderline)
    return out


def fmt(value: float | None) -> str:
    """A ratio for a table: two decimals, or ``n/a`` when undefined."""
    return "n/a" if value is None else f"{value:.2f}"
