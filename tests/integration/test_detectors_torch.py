"""The bundled TorchScript model loads, runs on a batch from several cameras, and decodes to boxes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cityops.settings import REPO_ROOT
from detectors.base import Box, iou
from detectors.factory import DEFAULT_MODEL, load_shared
from detectors.sources import VideoFileSource
from detectors.torch_detector import (
    ModelSpec,
    TorchDetector,
    decode_grid,
    decode_yolo,
    preprocess,
    preprocess_on_device,
)

VIDEOS = REPO_ROOT.parent / "shared" / "datasets" / "street-video"


def test_bundled_model_has_a_sidecar_and_is_small():
    spec = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert spec["classes"] == ["person", "vehicle"] and spec["format"] == "cityops-grid-v1"
    assert DEFAULT_MODEL.stat().st_size < 5_000_000


def test_model_runs_on_a_mixed_batch_on_the_available_device():
    det = load_shared("torch")
    assert isinstance(det, TorchDetector)
    assert det.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    rng = np.random.default_rng(0)
    frames = [
        rng.integers(0, 255, (360, 480, 3), np.uint8),
        rng.integers(0, 255, (720, 1280, 3), np.uint8),
    ] * 4
    out = det.detect(frames)
    assert len(out) == 8
    for boxes, f in zip(out, frames, strict=True):
        for b in boxes:
            assert b.label in ("person", "vehicle") and 0.0 <= b.confidence <= 1.0
            assert 0 <= b.x1 < b.x2 <= f.shape[1] and 0 <= b.y1 < b.y2 <= f.shape[0]
    assert det.label_map["vehicle"] == ["illegal_parking"]


@pytest.mark.skipif(not VIDEOS.is_dir(), reason="videos absent")
def test_model_finds_people_in_vtest_frames():
    frames = [f.image for f in VideoFileSource(VIDEOS / "vtest.avi", sample_fps=0.5)][2:10]
    det = load_shared("torch")
    found = [b for boxes in det.detect(frames) for b in boxes if b.label == "person"]
    assert len(found) >= len(frames)  # every sampled frame of this clip shows several walkers


@pytest.mark.skipif(not VIDEOS.is_dir(), reason="videos absent")
def test_resizing_on_the_device_finds_what_opencv_resizing_finds():
    """The GPU path resizes frames with torch; run on the CPU here, it must agree with OpenCV's path."""
    frames = [f.image for f in VideoFileSource(VIDEOS / "vtest.avi", sample_fps=0.5)][2:8]
    frames += [f.image for f in VideoFileSource(VIDEOS / "pedestrians_720p_lamminhthien.avi", sample_fps=1)][:6]
    frames.append(frames[0][:, :, 0].copy())  # a grey frame in the same batch
    host = preprocess([frames[0], frames[-2]], (192, 320))
    on_device = preprocess_on_device([frames[0], frames[-2]], (192, 320), torch.device("cpu")).numpy()
    assert float(np.abs(host - on_device).mean()) < 0.01
    by_opencv = TorchDetector(DEFAULT_MODEL, device="cpu").detect(frames)
    by_torch = TorchDetector(DEFAULT_MODEL, device="cpu", device_preprocess=True).detect(frames)
    total = sum(map(len, by_opencv))
    assert total > len(frames)
    matched = 0
    for a, b in zip(by_opencv, by_torch, strict=True):
        assert abs(len(a) - len(b)) <= max(1, len(a) // 10)  # boxes near the threshold may differ
        matched += sum(max((iou(x, y) for y in b if y.label == x.label), default=0.0) >= 0.5 for x in a)
    print(f"{matched} of {total} boxes found again after resizing on the device")
    assert matched >= 0.85 * total


def test_grid_decoding_places_a_peak_at_its_cell():
    spec = ModelSpec(classes=["person", "vehicle"], score_threshold=0.5)
    out = torch.full((1, 4, 24, 40), -10.0)
    out[0, 1, 12, 20] = 5.0  # a vehicle centred in cell (20, 12)
    out[0, 2, 12, 20], out[0, 3, 12, 20] = 0.1, 0.2
    (boxes,) = decode_grid(out, spec, [(640, 480)])
    assert len(boxes) == 1 and boxes[0].label == "vehicle"
    b = boxes[0]
    assert (b.x1 + b.x2) / 2 == pytest.approx(20.5 / 40 * 640) and b.width == pytest.approx(64.0)
    assert (b.y1 + b.y2) / 2 == pytest.approx(12.5 / 24 * 480) and b.height == pytest.approx(96.0)


def test_yolo_decoding_scales_and_suppresses_duplicates():
    spec = ModelSpec(classes=["car", "person"], format="yolo", input_size=(320, 320), score_threshold=0.5)
    pred = np.zeros((1, 6, 3), np.float32)
    pred[0, :, 0] = [160, 160, 40, 20, 0.9, 0.1]  # car
    pred[0, :, 1] = [161, 160, 40, 20, 0.8, 0.1]  # the same car again
    pred[0, :, 2] = [50, 50, 10, 30, 0.1, 0.3]  # below threshold
    (boxes,) = decode_yolo(pred, spec, [(640, 640)])
    assert boxes == [Box(280.0, 300.0, 360.0, 340.0, "car", pytest.approx(0.9))]
