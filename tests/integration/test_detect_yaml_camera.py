"""A camera configured only through a YAML file: a car that stands still in its no-parking zone is captured once.

The clip is made from real frames of ``car_traffic_small.mp4`` (640×360, 30 fps): every third frame of its
first 12 s, written at 10 fps. From frame 120 (4 s in) on, the box around the nearest car of frame 120
(pixels 373..586 × 189..347) is pasted from frame 120 into every later frame, so that car stands still
for 8 s while the rest of the traffic keeps moving. The camera's zone covers the ground under that car
only; with ``min_dwell_s: 4`` it must be captured exactly once, by the default ``coco+classical``
detector, with its evidence JPEGs on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from cityops.settings import REPO_ROOT

CLIP = REPO_ROOT.parent / "shared" / "datasets" / "street-video" / "car_traffic_small.mp4"
HELD = (373, 189, 586, 347)  # x1, y1, x2, y2 of the car held still (its COCO box in frame 120, plus 10 px)

CAMERAS = """\
cameras:
  CAM-YAML-1:
    name: 测试路段摄像头
    lon: 118.133
    lat: 24.505
    sample_fps: 5
    min_object_size: 0.05
    masks:
      - [[0.0, 0.0], [1.0, 0.0], [1.0, 0.2], [0.0, 0.2]]
    zones:
      - id: no-parking
        name: 禁停区
        polygon: [[0.62, 0.82], [0.88, 0.82], [0.88, 1.0], [0.62, 1.0]]
        ai_types: [illegal_parking]
        min_dwell_s: 4
"""

pytestmark = pytest.mark.skipif(not CLIP.exists(), reason=f"{CLIP} is not there (see /work/shared/datasets)")


def make_clip(path: Path, hold: bool = True) -> Path:
    cap = cv2.VideoCapture(str(CLIP))
    frames = []
    while len(frames) < 360:
        ok, frame = cap.read()
        assert ok, "car_traffic_small.mp4 ended early"
        frames.append(frame)
    cap.release()
    x1, y1, x2, y2 = HELD
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 360))
    for i in range(0, 360, 3):
        frame = frames[i].copy()
        if hold and i >= 120:
            frame[y1:y2, x1:x2] = frames[120][y1:y2, x1:x2]
        writer.write(frame)
    writer.release()
    return path


def detect(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CITYOPS_DETECT_START": "2026-03-02T10:00:00+08:00", "CITYOPS_VAR": str(tmp_path / "var"),
           "CITYOPS_STATUS_INTERVAL_S": "2", "CITYOPS_COCO_BACKEND": "opencv"}
    return subprocess.run([sys.executable, "-m", "cityops", "detect", *args], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=180)


def test_parked_car_in_a_yaml_camera_is_captured_once_with_evidence(tmp_path: Path) -> None:
    config = tmp_path / "my-cameras.yml"
    config.write_text(CAMERAS, encoding="utf-8")
    clip = make_clip(tmp_path / "held.avi")
    out = tmp_path / "out"
    done = detect("--config", str(config), "--camera", "CAM-YAML-1", "--source", str(clip), "--out", str(out),
                  tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    captures = [json.loads(line) for line in (out / "captures.jsonl").read_text().splitlines()]
    assert len(captures) == 1, captures
    cap = captures[0]
    assert cap["camera_id"] == "CAM-YAML-1" and cap["ai_type"] == "illegal_parking" and cap["zone_id"] == "no-parking"
    assert cap["detector"] == "coco+classical/car" and cap["dwell_s"] >= 4.0
    x1, y1, x2, y2 = cap["box"]
    assert abs((x1 + x2) / 2 - 479.5) < 30 and abs(y2 - 337) < 20  # the held car, not another
    for ref in (cap["evidence_ref"], cap["crop_ref"]):
        image = cv2.imread(str(out / "evidence" / ref))
        assert image is not None and image.size > 0, ref
    statuses = [json.loads(line) for line in (out / "status.jsonl").read_text().splitlines()]
    assert statuses and statuses[-1]["state"] == "ended" and statuses[-1]["captures"] == 1
    assert statuses[-1]["frames_processed"] == 60 and statuses[-1]["latest_frame_ref"] == "CAM-YAML-1/latest.jpg"
    assert cv2.imread(str(out / "evidence" / "CAM-YAML-1" / "latest.jpg")).shape == (360, 640, 3)


def test_a_broken_camera_file_exits_2_naming_camera_and_field(tmp_path: Path) -> None:
    config = tmp_path / "cameras.yml"
    config.write_text(CAMERAS.replace("[0.88, 1.0], [0.62, 1.0]", "[1.3, 1.0], [0.62, 1.0]")
                      .replace("sample_fps: 5", "sample_fps: fast"), encoding="utf-8")
    done = detect("--config", str(config), "--camera", "CAM-YAML-1", "--source", "x.avi", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "error: cameras.yml: camera CAM-YAML-1: sample_fps: must be frames per second in (0, 120], not 'fast'",
        "error: cameras.yml: camera CAM-YAML-1: zones[0].polygon: point 3 (1.3, 1) is outside 0..1",
    ]
    unknown = detect("--config", str(tmp_path / "my-cameras.yml"), "--camera", "CAM-X", tmp_path=tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.strip().endswith("my-cameras.yml: file is missing")
