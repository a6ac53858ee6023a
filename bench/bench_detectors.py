"""Detector throughput: the classical pipeline per 720p stream, in full and per stage (COCO: bench_coco_fps.py).

Prints one JSON object. Not a test: figures depend on the machine; docs/detectors.md records them with
the machine they came from. The 720p clip (``pedestrians_720p_lamminhthien.avi``, 341 frames) is decoded
once into memory so decoding does not count, then replayed ``--passes`` times through fresh detectors.

    python bench/bench_detectors.py [--passes 3] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cityops.settings import REPO_ROOT, get_settings  # noqa: E402
from detectors.classical import (  # noqa: E402
    HogConfig,
    HogPeopleDetector,
    MovingObjectDetector,
    StationaryObjectDetector,
)
from detectors.factory import build_run  # noqa: E402
from detectors.sources import Frame, VideoFileSource  # noqa: E402
from fixtures.xiamen import camera_by_id  # noqa: E402

VIDEO = REPO_ROOT.parent / "shared" / "datasets" / "street-video" / "pedestrians_720p_lamminhthien.avi"


def _fps(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else 0.0


def bench_stages(frames: list[np.ndarray], passes: int) -> dict[str, float]:
    out: dict[str, float] = {}
    t = time.perf_counter()
    for _ in range(passes):
        for f in frames:
            cv2.resize(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), (320, 180), interpolation=cv2.INTER_AREA)
    out["downscale_only"] = _fps(passes * len(frames), time.perf_counter() - t)
    for name, make in (("stationary", StationaryObjectDetector), ("motion", MovingObjectDetector)):
        t = time.perf_counter()
        for _ in range(passes):
            det = make()
            for f in frames:
                det.step(f)
        out[name] = _fps(passes * len(frames), time.perf_counter() - t)
    hog = HogPeopleDetector(HogConfig(person_height_px=128.0, max_width=640))
    sub = frames[:: max(1, len(frames) // 40)]
    t = time.perf_counter()
    for f in sub:
        hog.step(f)
    out["hog_people_640w"] = _fps(len(sub), time.perf_counter() - t)
    return out


def bench_pipeline(frames: list[np.ndarray], passes: int) -> dict[str, float]:
    """Detect + track + rules (+ evidence JPEGs when a capture fires), as the CLI runs it."""
    cam = camera_by_id("CAM-DEMO-HALL")
    start = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    n, seconds = 0, 0.0
    for _ in range(passes):
        run = build_run(cam, str(VIDEO), get_settings(), mode="classical", start=start, sample_fps=50.0)
        run.pipeline.evidence = None
        t = time.perf_counter()
        for i, f in enumerate(frames):
            run.pipeline.process(Frame(i, start + timedelta(seconds=i / 50.0), f))
        seconds += time.perf_counter() - t
        n += len(frames)
    return {"classical_full_pipeline": _fps(n, seconds)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="OpenCV threads (default: all cores)")
    args = p.parse_args()
    if args.threads:
        cv2.setNumThreads(args.threads)
    frames = [f.image for f in VideoFileSource(VIDEO)]
    h, w = frames[0].shape[:2]
    result = {
        "machine": {
            "cpu_cores": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "opencv": cv2.__version__,
        },
        "video": {"name": VIDEO.name, "frames": len(frames), "size": f"{w}x{h}"},
        "classical_fps_per_stream": {
            **bench_stages(frames, args.passes),
            **bench_pipeline(frames, args.passes),
        }
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
