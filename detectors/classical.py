"""Classical OpenCV detectors: stationary objects, moving objects (vehicles/people), HOG people.

All three are *stateful per camera* (they learn the background), so each camera gets its own
instances and ``detect`` takes consecutive frames of that one camera. Work happens on a downscaled
grey copy (``work_width`` pixels wide) and boxes are scaled back to the input frame, which is what
keeps a 720p stream real-time on a few CPU cores.

Stationary objects (parked cars, a stall, a dumped pile) come from two backgrounds that forget at
different speeds: the short-term one absorbs anything that stops within seconds, the long-term one
keeps the empty scene for minutes. A pixel that differs from the long-term background but matches the
short-term one holds something that arrived and stopped; moving traffic differs from both and is
ignored. The long-term background starts from the per-pixel median of the first frames (so cars that
drive through the opening seconds do not linger), and a blob whose outline has no edges in the current
frame but has them in the long-term background is a "ghost" (something that left) and is healed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detectors.base import Box


def _work_size(width: int, height: int, work_width: int) -> tuple[int, int, float]:
    scale = min(1.0, work_width / float(width))
    return max(1, int(round(width * scale))), max(1, int(round(height * scale))), scale


def _grey_small(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    if (grey.shape[1], grey.shape[0]) != size:
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(grey, (5, 5), 0)


def _blobs(mask: np.ndarray, min_area: float) -> list[tuple[int, int, int, int, float]]:
    """Bounding boxes ``(x, y, w, h, fill)`` of the connected regions of a binary mask."""
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area >= min_area:
            out.append((int(x), int(y), int(w), int(h), float(area) / float(w * h)))
    return out


@dataclass
class StationaryConfig:
    work_width: int = 320
    short_tau_s: float = 2.0  # short-term background time constant
    long_tau_s: float = 120.0  # long-term background time constant
    warmup_frames: int = 15  # frames whose median starts the long-term background
    threshold: int = 25  # grey-level difference that counts as "different"
    min_stationary_s: float = 3.0  # a pixel must be stationary this long
    min_area_frac: float = 0.0015  # of the frame area
    max_area_frac: float = 0.25
    fps: float = 5.0  # processed frames per second (sets the learning rates)


class StationaryObjectDetector:
    """Objects that arrived and stopped → ``stationary_object`` boxes (see the module docstring)."""

    name = "stationary"

    def __init__(self, config: StationaryConfig | None = None) -> None:
        self.config = config or StationaryConfig()
        self._short: np.ndarray | None = None
        self._long: np.ndarray | None = None
        self._persist: np.ndarray | None = None
        self._warm: list[np.ndarray] = []
        self._size: tuple[int, int, float] | None = None
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def _alpha(self, tau_s: float) -> float:
        return float(min(1.0, 1.0 / max(1.0, tau_s * self.config.fps)))

    def _ghost(self, grey: np.ndarray, x: int, y: int, w: int, h: int) -> bool:
        """True when the blob's outline has edges in the long-term background but not in the frame."""
        assert self._long is not None
        pad = 2
        ys, xs = slice(max(0, y - pad), y + h + pad), slice(max(0, x - pad), x + w + pad)
        cur = cv2.Canny(grey[ys, xs], 50, 150)
        bg = cv2.Canny(self._long[ys, xs].astype(np.uint8), 50, 150)
        return int(cur.sum()) < 0.6 * int(bg.sum())

    def step(self, frame: np.ndarray) -> list[Box]:
        cfg = self.config
        h0, w0 = frame.shape[:2]
        if self._size is None:
            self._size = _work_size(w0, h0, cfg.work_width)
        ww, wh, scale = self._size
        grey = _grey_small(frame, (ww, wh))
        g = grey.astype(np.float32)
        if self._long is None:
            self._warm.append(grey)
            if self._short is None:
                self._short = g.copy()
            cv2.accumulateWeighted(g, self._short, self._alpha(cfg.short_tau_s))
            if len(self._warm) >= cfg.warmup_frames:
                self._long = np.median(np.stack(self._warm), axis=0).astype(np.float32)
                self._persist = np.zeros(grey.shape, dtype=np.float32)
                self._warm = []
            return []
        assert self._short is not None and self._persist is not None
        diff_long = cv2.absdiff(g, self._long) > cfg.threshold
        diff_short = cv2.absdiff(g, self._short) > cfg.threshold
        still = diff_long & ~diff_short
        self._persist = np.where(still, self._persist + 1.0, 0.0).astype(np.float32)
        cv2.accumulateWeighted(g, self._short, self._alpha(cfg.short_tau_s))
        # The long-term model keeps learning slowly, except under what is currently foreground.
        cv2.accumulateWeighted(g, self._long, self._alpha(cfg.long_tau_s), mask=(~diff_long).astype(np.uint8))
        need = cfg.min_stationary_s * cfg.fps
        mask = (self._persist >= need).astype(np.uint8) * 255
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        area = float(ww * wh)
        boxes: list[Box] = []
        for x, y, w, h, fill in _blobs(mask, cfg.min_area_frac * area):
            if w * h > cfg.max_area_frac * area:
                continue
            if self._ghost(grey, x, y, w, h):
                region = (slice(y, y + h), slice(x, x + w))
                self._long[region] = g[region]  # heal: what is there now is the background
                self._persist[region] = 0.0
                continue
            age = float(self._persist[y : y + h, x : x + w].max()) / max(need, 1.0)
            conf = float(np.clip(0.4 + 0.3 * fill + 0.1 * min(age, 3.0), 0.0, 0.99))
            boxes.append(
                Box(x / scale, y / scale, (x + w) / scale, (y + h) / scale, "stationary_object", conf)
            )
        return boxes

    def detect(self, frames: list[np.ndarray]) -> list[list[Box]]:
        return [self.step(f) for f in frames]


@dataclass
class MotionConfig:
    work_width: int = 320
    history: int = 300
    var_threshold: float = 16.0
    min_area_frac: float = 0.0008
    max_area_frac: float = 0.3
    person_min_aspect: float = 1.3  # height / width of an upright person seen from the side
    vehicle_min_area_frac: float = 0.004
    learning_rate: float = -1.0  # OpenCV's automatic rate (1 / history)


class MovingObjectDetector:
    """MOG2 foreground + contours → ``vehicle`` (wide, large) or ``person`` (tall, small) boxes.

    Shape is the only cue, so this is a counter of moving things, not a classifier; labels that the
    shape cannot decide are ``moving_object`` (tracked, mapped to no violation).
    """

    name = "motion"

    def __init__(
        self, config: MotionConfig | None = None, *, labels: tuple[str, ...] = ("vehicle", "person")
    ) -> None:
        self.config = config or MotionConfig()
        self.labels = labels
        self._mog = cv2.createBackgroundSubtractorMOG2(
            history=self.config.history, varThreshold=self.config.var_threshold, detectShadows=False
        )
        self._size: tuple[int, int, float] | None = None
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        self.last_mask: np.ndarray | None = None

    def _label(self, w: int, h: int, area_frac: float) -> tuple[str, float]:
        aspect = h / max(1.0, float(w))
        if "person" in self.labels and aspect >= self.config.person_min_aspect:
            return "person", float(np.clip(0.45 + 0.1 * (aspect - self.config.person_min_aspect), 0.45, 0.8))
        if "vehicle" in self.labels and area_frac >= self.config.vehicle_min_area_frac and aspect <= 1.3:
            return "vehicle", float(np.clip(0.5 + 20.0 * area_frac, 0.5, 0.9))
        return "moving_object", 0.5

    def step(self, frame: np.ndarray) -> list[Box]:
        cfg = self.config
        h0, w0 = frame.shape[:2]
        if self._size is None:
            self._size = _work_size(w0, h0, cfg.work_width)
        ww, wh, scale = self._size
        grey = _grey_small(frame, (ww, wh))
        fg = self._mog.apply(grey, learningRate=cfg.learning_rate)
        mask = np.where(fg == 255, 255, 0).astype(np.uint8)  # 127 = shadow
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        self.last_mask = mask
        area = float(ww * wh)
        boxes: list[Box] = []
        for x, y, w, h, _fill in _blobs(mask, cfg.min_area_frac * area):
            frac = (w * h) / area
            if frac > cfg.max_area_frac:
                continue
            label, conf = self._label(w, h, frac)
            boxes.append(Box(x / scale, y / scale, (x + w) / scale, (y + h) / scale, label, conf))
        return boxes

    def detect(self, frames: list[np.ndarray]) -> list[list[Box]]:
        return [self.step(f) for f in frames]


@dataclass
class HogConfig:
    person_height_px: float = 128.0  # expected person height in the input frame; sets the scale
    max_width: int = 640  # never run HOG on a larger image than this
    hit_threshold: float = 0.0
    win_stride: int = 8
    scale_step: float = 1.1


class HogPeopleDetector:
    """OpenCV's built-in HOG + linear SVM people detector (Dalal–Triggs), resized so a person of the
    expected height fills the 64×128 window, and capped at ``max_width`` for speed."""

    name = "hog"

    def __init__(self, config: HogConfig | None = None) -> None:
        self.config = config or HogConfig()
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def step(self, frame: np.ndarray) -> list[Box]:
        cfg = self.config
        h0, w0 = frame.shape[:2]
        scale = min(128.0 / max(cfg.person_height_px, 1.0), cfg.max_width / float(w0))
        img = cv2.resize(frame, (int(w0 * scale), int(h0 * scale))) if scale != 1.0 else frame
        rects, weights = self._hog.detectMultiScale(
            img,
            hitThreshold=cfg.hit_threshold,
            winStride=(cfg.win_stride, cfg.win_stride),
            scale=cfg.scale_step,
        )
        boxes = []
        for (x, y, w, h), wt in zip(rects, np.ravel(weights) if len(rects) else [], strict=False):
            conf = float(1.0 / (1.0 + np.exp(-float(wt))))  # SVM margin → 0..1
            boxes.append(Box(x / scale, y / scale, (x + w) / scale, (y + h) / scale, "person", conf))
        return _nms(boxes, 0.4)

    def detect(self, frames: list[np.ndarray]) -> list[list[Box]]:
        return [self.step(f) for f in frames]


def _nms(boxes: list[Box], threshold: float) -> list[Box]:
    if not boxes:
        return []
    rects = [[int(b.x1), int(b.y1), int(b.width), int(b.height)] for b in boxes]
    keep = cv2.dnn.NMSBoxes(rects, [b.confidence for b in boxes], 0.0, threshold)
    return [boxes[int(i)] for i in np.ravel(keep)]


class ClassicalDetector:
    """The classical stack of one camera: stationary + moving (+ HOG people when asked for)."""

    name = "classical"

    def __init__(
        self,
        fps: float,
        *,
        hog: bool = False,
        hog_config: HogConfig | None = None,
        stationary: StationaryConfig | None = None,
        motion: MotionConfig | None = None,
    ) -> None:
        st = stationary or StationaryConfig()
        st.fps = fps
        self.stationary = StationaryObjectDetector(st)
        self.motion = MovingObjectDetector(motion)
        self.hog = HogPeopleDetector(hog_config) if hog else None

    def step(self, frame: np.ndarray) -> list[Box]:
        boxes = self.stationary.step(frame) + self.motion.step(frame)
        if self.hog is not None:
            boxes += self.hog.step(frame)
        return boxes

    def detect(self, frames: list[np.ndarray]) -> list[list[Box]]:
        return [self.step(f) for f in frames]
