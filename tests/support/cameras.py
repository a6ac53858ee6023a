"""Cameras for the 摄像头 page's tests: a scratch copy of the city's cameras file (with a mask), a camera's latest
frame in the evidence store, and its status written by the camera-status agent's own projection."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from redis import Redis

from cityops.schemas import CameraState, CameraStatus
from streams.agents.camera_status import status_effects
from tests.support.console_seed import Applier
from tests.support.workers import REPO_ROOT, SHARED

CAMERA = "CAM-0001"
MASK_LINE = "    masks:\n      - [[0.0, 0.0], [1.0, 0.0], [1.0, 0.1], [0.0, 0.1]]\n"  # the clock overlay at the top


def camera_file_copy(dest: Path) -> Path:
    """``cities/xiamen/cameras.yml`` copied to ``dest``, :data:`CAMERA` given a mask (point
    ``CITYOPS_CAMERAS_FILE`` at it: zone edits then change the copy)."""
    text = (REPO_ROOT / "cities" / "xiamen" / "cameras.yml").read_text(encoding="utf-8")
    head, rest = text.split(f"  {CAMERA}:\n", 1)
    block, tail = rest.split("    zones:\n", 1)
    dest.write_text(f"{head}  {CAMERA}:\n{block}{MASK_LINE}    zones:\n{tail}", encoding="utf-8")
    return dest


def write_latest_frame(evidence_dir: Path, camera_id: str = CAMERA, size: tuple[int, int] = (1280, 720)) -> str:
    """The camera's latest frame, as a detector leaves it (``<camera>/latest.jpg``): a real street frame when
    the shared video is there, else a drawn street; returns its reference."""
    import cv2
    import numpy as np

    frame = None
    videos = sorted((SHARED / "street-video").glob("*.mp4"))
    if videos:
        cap = cv2.VideoCapture(str(videos[0]))
        cap.set(cv2.CAP_PROP_POS_FRAMES, 60)
        ok, img = cap.read()
        cap.release()
        frame = cv2.resize(img, size) if ok else None
    if frame is None:
        frame = np.full((size[1], size[0], 3), 90, np.uint8)
        cv2.rectangle(frame, (0, size[1] // 2), size, (50, 50, 50), -1)
    ref = f"{camera_id}/latest.jpg"
    path = evidence_dir / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), frame)
    return ref


def seed_status(r: Redis, camera_id: str, at: datetime, event_id: str, **fields: object) -> CameraStatus:
    """A status as the agent stores it (its own effects, through the apply-once script)."""
    values: dict[str, object] = {"state": CameraState.OK, "detector": "coco/opencv", "fps": 4.8, "frames_read": 1200,
                                 "frames_processed": 1180, "captures": 3, "reconnects": 2, "last_frame_at": at,
                                 "latest_frame_ref": f"{camera_id}/latest.jpg", "frame_width": 1280,
                                 "frame_height": 720} | fields
    status = CameraStatus(event_id=event_id, camera_id=camera_id, at=at, **values)
    applier = Applier(r)
    applier.add(status_effects(status))
    applier.flush()
    return status
