"""The COCO detector on the real clips: OpenCV finds the persons and cars that are there, the PyTorch port
reports OpenCV's boxes, and model files that are not the pinned ones are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from cityops.integrity import IntegrityError
from cityops.settings import REPO_ROOT
from detectors.base import Box, iou
from detectors.coco import COCO_LABELS, CocoOpenCV, check_files, load_coco, model_files

CLIPS = REPO_ROOT.parent / "shared" / "datasets" / "street-video"
needs_clips = pytest.mark.skipif(not CLIPS.is_dir(), reason=f"{CLIPS} absent")
THRESHOLD = 0.3
MARGIN = 0.02


def read_frames(name: str, indices: tuple[int, ...]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(CLIPS / name))
    frames, i = [], 0
    try:
        while len(frames) < len(indices):
            ok, frame = cap.read()
            assert ok, f"{name} ended before frame {indices[len(frames)]}"
            if i in indices:
                frames.append(frame)
            i += 1
    finally:
        cap.release()
    return frames


@pytest.fixture(scope="module")
def clips() -> dict[str, list[np.ndarray]]:
    return {
        "vtest": read_frames("vtest.avi", (0, 200)),
        "traffic": read_frames("car_traffic_small.mp4", (0, 300)),
        "hall": read_frames("pedestrians_720p_lamminhthien.avi", (0, 60)),
    }


@pytest.fixture(scope="module")
def opencv() -> CocoOpenCV:
    return CocoOpenCV(score_threshold=THRESHOLD)


def count(boxes: list[Box], label: str) -> int:
    return sum(1 for b in boxes if b.label == label)


@needs_clips
def test_opencv_finds_people_and_cars(opencv: CocoOpenCV, clips: dict[str, list[np.ndarray]]) -> None:
    vtest = opencv.detect(clips["vtest"])
    assert all(count(b, "person") >= 3 for b in vtest)
    hall = opencv.detect(clips["hall"])  # overhead crowd, 1280×720
    assert all(count(b, "person") >= 15 for b in hall)
    traffic = opencv.detect(clips["traffic"])
    assert all(count(b, "car") >= 2 for b in traffic)
    for frame, boxes in zip(clips["traffic"], traffic, strict=True):
        h, w = frame.shape[:2]
        assert all(0 <= b.x1 < b.x2 <= w and 0 <= b.y1 < b.y2 <= h for b in boxes)  # frame pixels
        assert all(b.confidence >= THRESHOLD and b.label in COCO_LABELS.values() for b in boxes)


@needs_clips
def test_one_batch_across_cameras_equals_one_frame_at_a_time(opencv: CocoOpenCV, clips) -> None:
    frames = [clips["vtest"][0], clips["traffic"][0], clips["hall"][0]]  # three sizes in one blob
    batched = opencv.detect(frames)
    for frame, boxes in zip(frames, batched, strict=True):
        alone = opencv.detect([frame])[0]
        assert_same_boxes(alone, boxes, tolerance_iou=0.999, tolerance_score=1e-4)


def assert_same_boxes(expected: list[Box], got: list[Box], tolerance_iou: float = 0.9,
                      tolerance_score: float = MARGIN) -> None:
    """Greedy matching, best expected box first: same label, IoU and score within tolerance; a box left
    unmatched on either side may only be one that sits at the threshold (one backend just above it)."""
    free = list(got)
    unmatched = []
    for e in sorted(expected, key=lambda b: -b.confidence):
        cands = [g for g in free if g.label == e.label]
        best = max(cands, key=lambda g: iou(e, g), default=None)
        close = best is not None and abs(best.confidence - e.confidence) <= tolerance_score
        if close and iou(e, best) >= tolerance_iou:
            free.remove(best)
        else:
            unmatched.append(e)
    loud = [b for b in unmatched + free if b.confidence >= THRESHOLD + MARGIN]
    assert not loud, f"unmatched boxes: {loud}"


@needs_clips
def test_torch_port_gives_opencvs_boxes(opencv: CocoOpenCV, clips) -> None:
    torch_det = load_coco("torch", score_threshold=THRESHOLD, device="cpu")
    assert torch_det.name == "coco/torch"
    frames = [f for name in ("vtest", "traffic", "hall") for f in clips[name]]
    expected = opencv.detect(frames)
    got = torch_det.detect(frames)  # one batch of six frames of three sizes
    assert sum(len(b) for b in expected) > 60
    for e, g in zip(expected, got, strict=True):
        assert_same_boxes(e, g)


@needs_clips
def test_label_filter_and_bad_input(clips) -> None:
    cars_only = load_coco("opencv", labels=["car", "truck"])
    assert cars_only.name == "coco/opencv"
    boxes = cars_only.detect(clips["vtest"] + clips["traffic"])
    assert any(boxes) and {b.label for frame in boxes for b in frame} <= {"car", "truck"}
    grey = cv2.cvtColor(clips["traffic"][0], cv2.COLOR_BGR2GRAY)
    assert count(cars_only.detect([grey])[0], "car") >= 1
    with pytest.raises(ValueError, match=r"frames\[1\]"):
        cars_only.detect([clips["traffic"][0], np.zeros((10, 10, 3), dtype=np.float32)])
    assert cars_only.detect([]) == []


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="labels"):
        load_coco("opencv", labels=["persn"])
    with pytest.raises(ValueError, match="backend"):
        load_coco("tensorflow")
    with pytest.raises(ValueError, match="score_threshold"):
        load_coco("opencv", score_threshold=1.5)


def test_wrong_sha256_is_refused(tmp_path: Path) -> None:
    files = model_files()
    pins = {files.graph.name: "0" * 64, files.pbtxt.name: "0" * 64}
    with pytest.raises(IntegrityError, match="frozen_inference_graph.pb"):
        model_files(pins)
    tampered = tmp_path / files.pbtxt.name
    shutil.copyfile(files.pbtxt, tampered)
    with tampered.open("a", encoding="utf-8") as f:
        f.write("\n")
    with pytest.raises(IntegrityError, match=r"ssd_mobilenet_v2_coco_2018_03_29\.pbtxt.*refusing"):
        check_files(files.graph, tampered)
    with pytest.raises(FileNotFoundError, match="pip install"):
        check_files(tmp_path / "missing.pb", files.pbtxt)
