"""Evidence on disk: the full frame with box and zone drawn, and a crop, as JPEGs.

Why on disk and not in Kafka: a JPEG is 50–300 kB and the detections topic carries thousands of
small messages a minute; the message carries only ``evidence_ref``, a path relative to the evidence
store (``CAMERA/YYYYMMDD/<event_id>.jpg``), which the console resolves. Every path is built from
sanitised parts and checked to stay inside the store, so a hostile camera id cannot write elsewhere.

Privacy: faces are blurred by default (``CITYOPS_BLUR_FACES``, default ``1``; ``0`` turns it off) with
OpenCV's frontal-face Haar cascade (OpenCV's own file when the wheel ships it, else the copy in
``detectors/data``). If neither loads, nothing is faked: the evidence itself says ``faces NOT blurred`` and a
warning is logged. Any list of regions (e.g. plates found by another model) can be blurred generically.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

import cv2
import numpy as np

from cityops.settings import env_text
from detectors.base import Box
from detectors.zones import PixelZone

log = logging.getLogger("cityops.detectors.evidence")

_SAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


class EvidencePathError(ValueError):
    """A reference that would leave the evidence store."""


def safe_component(text: str) -> str:
    """One path component from free text: unsafe characters become ``_``; dot-only names are refused."""
    cleaned = _SAFE.sub("_", text)[:100]
    if not cleaned or set(cleaned) <= {"."}:
        raise EvidencePathError(f"{text!r} cannot be a path component")
    return cleaned


def evidence_refs(camera_id: str, event_id: str, when: datetime, tz: tzinfo) -> tuple[str, str]:
    """``(frame_ref, crop_ref)``: ``CAMERA/YYYYMMDD/<event_id>.jpg`` and ``..._crop.jpg`` (local date)."""
    cam = safe_component(camera_id)
    ev = safe_component(event_id)
    day = when.astimezone(tz).strftime("%Y%m%d")
    return f"{cam}/{day}/{ev}.jpg", f"{cam}/{day}/{ev}_crop.jpg"


def resolve_ref(root: Path, ref: str) -> Path:
    """The absolute path of ``ref`` inside ``root``; refuses anything that escapes it."""
    if ref.startswith(("/", "\\")) or "\\" in ref or any(p in ("", ".", "..") for p in ref.split("/")):
        raise EvidencePathError(f"evidence reference {ref!r} is not a plain relative path")
    base = root.resolve()
    path = (base / ref).resolve()
    if not path.is_relative_to(base):
        raise EvidencePathError(f"evidence reference {ref!r} leaves the evidence store")
    return path


def blur_regions(image: np.ndarray, regions: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """Blur rectangles ``(x1, y1, x2, y2)`` in place (plates, faces, windows): pixelate then smooth."""
    h, w = image.shape[:2]
    for x1, y1, x2, y2 in regions:
        x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        roi = image[y1:y2, x1:x2]
        small = cv2.resize(
            roi, (max(1, (x2 - x1) // 8), max(1, (y2 - y1) // 8)), interpolation=cv2.INTER_AREA
        )
        image[y1:y2, x1:x2] = cv2.GaussianBlur(
            cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST), (0, 0), 3
        )
    return image


# OpenCV's frontal-face Haar cascade (Intel License Agreement, kept in the file's header), copied from the
# opencv-python-headless 4.10 wheel because the 5.0 contrib wheel ships no cascade files.
BUNDLED_CASCADES = Path(__file__).resolve().parent / "data"


class FaceBlurrer:
    """Haar-cascade face blurring when OpenCV's cascade file is present (``available`` says)."""

    def __init__(self, cascade_path: str | None = None) -> None:
        path = cascade_path or self._default_path()
        self.cascade = cv2.CascadeClassifier(path) if path else None
        self.available = bool(self.cascade is not None and not self.cascade.empty())

    @staticmethod
    def _default_path() -> str | None:
        """OpenCV's own cascade file when the wheel has one, else the copy shipped in ``detectors/data``."""
        data = getattr(cv2, "data", None)
        for folder in (Path(getattr(data, "haarcascades", "") or "-"), BUNDLED_CASCADES):
            candidate = folder / "haarcascade_frontalface_default.xml"
            if candidate.is_file():
                return str(candidate)
        return None

    def faces(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        if not self.available or self.cascade is None:
            return []
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        found = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(16, 16))
        return [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h in found]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return blur_regions(image, self.faces(image))


def blur_faces_default() -> bool:
    """``CITYOPS_BLUR_FACES``: faces are blurred unless it is ``0`` (or ``false``/``no``/``off``)."""
    return env_text("CITYOPS_BLUR_FACES", "1").strip().lower() not in ("0", "false", "no", "off")


UNBLURRED_NOTE = "faces NOT blurred: no face detector here"  # on the evidence itself when blurring was asked for


@dataclass
class EvidenceStore:
    """Writes the two JPEGs of a capture under ``root``; faces blurred unless ``blur_faces`` is off."""

    root: Path
    tz: tzinfo
    quality: int = 85
    blur_faces: bool = field(default_factory=blur_faces_default)
    blur: Sequence[tuple[float, float, float, float]] = ()  # normalised regions always blurred
    _faces: FaceBlurrer | None = None

    def __post_init__(self) -> None:
        if self.blur_faces:
            self._faces = FaceBlurrer()
            if not self._faces.available:
                log.warning(
                    "face blurring requested but OpenCV has no Haar face cascade here; not blurring faces"
                )

    def write(
        self,
        image: np.ndarray,
        box: Box,
        *,
        camera_id: str,
        event_id: str,
        when: datetime,
        zone: PixelZone | None = None,
        caption: str = "",
    ) -> tuple[str, str]:
        frame_ref, crop_ref = evidence_refs(camera_id, event_id, when, self.tz)
        frame_path, crop_path = resolve_ref(self.root, frame_ref), resolve_ref(self.root, crop_ref)
        frame_path.parent.mkdir(parents=True, exist_ok=True)
        h, w = image.shape[:2]
        clean = image.copy()
        if self.blur:
            blur_regions(
                clean, [(int(a * w), int(b * h), int(c * w), int(d * h)) for a, b, c, d in self.blur]
            )
        unblurred = self._faces is not None and not self._faces.available
        if self._faces is not None:
            self._faces(clean)
        b = box.clipped(w, h)
        x1, y1, x2, y2 = int(b.x1), int(b.y1), int(np.ceil(b.x2)), int(np.ceil(b.y2))
        pad = max(4, int(0.15 * max(x2 - x1, y2 - y1)))
        crop = clean[max(0, y1 - pad) : min(h, y2 + pad), max(0, x1 - pad) : min(w, x2 + pad)].copy()
        annotated = clean
        if zone is not None:
            pts = np.array(zone.polygon, dtype=np.int32).reshape(-1, 1, 2)
            cv2.polylines(annotated, [pts], True, (0, 255, 255), 2)
        cv2.rectangle(annotated, (x1, y1), (x2, y2), (0, 0, 255), 2)
        if caption:
            cv2.putText(
                annotated,
                caption,
                (x1, max(14, y1 - 6)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (0, 0, 255),
                1,
                cv2.LINE_AA,
            )
        if unblurred:  # say so on the evidence rather than pretend it is blurred
            for img in (annotated, crop):
                if img.size:
                    cv2.putText(img, UNBLURRED_NOTE, (4, img.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX,
                                0.4, (0, 165, 255), 1, cv2.LINE_AA)
        params = [cv2.IMWRITE_JPEG_QUALITY, self.quality]
        if not cv2.imwrite(str(frame_path), annotated, params):
            raise OSError(f"could not write {frame_path}")
        if crop.size == 0 or not cv2.imwrite(str(crop_path), crop, params):
            return frame_ref, ""
        return frame_ref, crop_ref
