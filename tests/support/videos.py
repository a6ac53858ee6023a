"""Frames of the shared street clips for tests; a test skips when the shared dataset folder is absent."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cityops.settings import REPO_ROOT

STREET_VIDEO = REPO_ROOT.parent / "shared" / "datasets" / "street-video"
VTEST = STREET_VIDEO / "vtest.avi"


def vtest_frame(index: int = 259) -> np.ndarray:
    """Frame ``index`` of vtest.avi (259: walkers whose faces are visible), or a skip without the clip."""
    cap = cv2.VideoCapture(str(VTEST))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    if not ok:
        pytest.skip("vtest.avi not present")
    return frame
