"""Faces are blurred in evidence by default (``CITYOPS_BLUR_FACES=0`` turns it off), and where no face detector
loads the evidence says so instead of pretending (detectors/evidence.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from detectors import evidence
from detectors.base import Box
from detectors.evidence import EvidenceStore, FaceBlurrer
from tests.support.videos import vtest_frame

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def _frame_with_a_face() -> np.ndarray:
    return cv2.resize(vtest_frame(), None, fx=2, fy=2)  # the walkers' faces are small at 768×576


def test_faces_are_blurred_by_default_and_the_setting_turns_it_off(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CITYOPS_BLUR_FACES", raising=False)
    assert EvidenceStore(tmp_path, TZ).blur_faces
    monkeypatch.setenv("CITYOPS_BLUR_FACES", "0")
    assert not EvidenceStore(tmp_path, TZ).blur_faces


def test_the_default_store_writes_evidence_with_the_face_blurred(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CITYOPS_BLUR_FACES", raising=False)
    big = _frame_with_a_face()
    faces = FaceBlurrer().faces(big)
    assert faces, "a face is visible in frame 260 of vtest.avi (checked by eye)"
    x1, y1, x2, y2 = faces[0]

    def detail(image: np.ndarray) -> float:  # variance of the Laplacian: the fine detail blurring removes
        return float(cv2.Laplacian(cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    box = Box(0, 0, 40, 40, "x", 0.9)  # far from the face: no box line crosses it
    ref, _ = EvidenceStore(tmp_path, TZ).write(big, box, camera_id="CAM-T", event_id="e1", when=T0)
    plain, _ = EvidenceStore(tmp_path, TZ, blur_faces=False).write(big, box, camera_id="CAM-T", event_id="e2",
                                                                   when=T0)
    blurred, unblurred = cv2.imread(str(tmp_path / ref)), cv2.imread(str(tmp_path / plain))
    assert detail(blurred) < detail(unblurred) * 0.3


def test_without_a_face_detector_the_evidence_says_faces_are_not_blurred(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(FaceBlurrer, "_default_path", staticmethod(lambda: None))  # as on a wheel without cascades
    store = EvidenceStore(tmp_path, TZ, blur_faces=True)
    image = np.full((360, 640, 3), 200, np.uint8)
    box = Box(100, 100, 200, 180, "x", 0.9)
    ref, crop_ref = store.write(image, box, camera_id="CAM-T", event_id="e1", when=T0)
    off_ref, off_crop = EvidenceStore(tmp_path, TZ, blur_faces=False).write(image, box, camera_id="CAM-T",
                                                                            event_id="e2", when=T0)
    for noted, plain in ((ref, off_ref), (crop_ref, off_crop)):
        a, b = cv2.imread(str(tmp_path / noted)), cv2.imread(str(tmp_path / plain))
        bottom = slice(a.shape[0] - 16, a.shape[0])
        assert np.abs(a[bottom].astype(int) - b[bottom].astype(int)).max() > 60, f"{noted}: no note drawn"
    assert evidence.UNBLURRED_NOTE.startswith("faces NOT blurred")
