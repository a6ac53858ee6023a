"""COCO detector throughput: four cameras on the CPU (one batched blob per tick) beside the baseline of the
same OpenCV network one frame at a time, and, when CUDA is available, the PyTorch port at large batches.

Not a test: figures depend on the machine. Frames of the four streams (vtest, car traffic, the 720p hall and
vtest from a later offset as a fourth camera) are decoded into memory first; video decoding is measured on
its own and not counted in the detector figures. Each figure is the best of ``--rounds`` rounds (the
development machine is shared, so the best round is the one least disturbed), the median beside it.
``detect`` is timed end to end: pre-processing, network, box decoding, NMS, boxes in frame pixels.

    python bench/bench_coco_fps.py [--ticks 20] [--rounds 3] [--threads N] [--input-sizes 300,256]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cityops.settings import REPO_ROOT  # noqa: E402
from detectors.coco import CocoOpenCV  # noqa: E402
from detectors.coco_torch import CocoTorch  # noqa: E402

CLIPS = REPO_ROOT.parent / "shared" / "datasets" / "street-video"
STREAMS = (("vtest.avi", 0), ("car_traffic_small.mp4", 0), ("pedestrians_720p_lamminhthien.avi", 0),
           ("vtest.avi", 400))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def decode_streams(ticks: int) -> tuple[list[list[np.ndarray]], float]:
    """``ticks`` frames of each stream, and the decoding rate (frames/s, all streams together)."""
    streams, n, seconds = [], 0, 0.0
    for name, start in STREAMS:
        cap = cv2.VideoCapture(str(CLIPS / name))
        for _ in range(start):
            cap.grab()
        frames = []
        t = time.perf_counter()
        while len(frames) < ticks:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
        seconds += time.perf_counter() - t
        n += len(frames)
        cap.release()
        if not frames:
            raise SystemExit(f"{name}: no frame could be decoded")
        streams.append(frames)
    return streams, round(n / seconds, 1)


def best_fps(run: Callable[[], int], rounds: int) -> dict[str, float]:
    """``run`` returns how many frames it processed; best and median frames/s over ``rounds`` rounds after
    one warm-up round."""
    run()
    rates = []
    for _ in range(rounds):
        t = time.perf_counter()
        n = run()
        rates.append(n / (time.perf_counter() - t))
    return {"best": round(max(rates), 1), "median": round(statistics.median(rates), 1)}


def per_tick(streams: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    return [list(frames) for frames in zip(*streams, strict=False)]


def bench_cpu(streams: list[list[np.ndarray]], rounds: int, sizes: list[int]) -> dict[str, dict[str, float]]:
    ticks = per_tick(streams)
    frames = sum(len(t) for t in ticks)
    out: dict[str, dict[str, float]] = {}
    for size in sizes:
        det = CocoOpenCV(input_size=size)

        def unbatched(det: CocoOpenCV = det) -> int:
            for tick in ticks:
                for frame in tick:
                    det.detect([frame])
            return frames

        def batched(det: CocoOpenCV = det) -> int:
            for tick in ticks:
                det.detect(tick)
            return frames

        out[f"opencv_{size}_one_frame_at_a_time"] = best_fps(unbatched, rounds)
        out[f"opencv_{size}_batched_4_cameras"] = best_fps(batched, rounds)
    port = CocoTorch(device="cpu")

    def torch_batched() -> int:
        for tick in ticks:
            port.detect(tick)
        return frames

    out["torch_cpu_300_batched_4_cameras"] = best_fps(torch_batched, rounds)
    return out


def bench_cuda(streams: list[list[np.ndarray]], rounds: int) -> dict[str, object]:
    pool = [f for tick in per_tick(streams) for f in tick]
    port = CocoTorch(device="cuda")
    out: dict[str, object] = {"gpu": torch.cuda.get_device_name(0), "dtype": str(port.dtype)}
    for bs in (64, 128, 256):
        batch = [pool[i % len(pool)] for i in range(bs)]
        reps = max(3, 1024 // bs)

        def run(batch: list[np.ndarray] = batch, reps: int = reps) -> int:
            for _ in range(reps):
                port.detect(batch)  # boxes copied to the host: every call synchronises
            return reps * len(batch)

        out[f"torch_cuda_batch_{bs}"] = best_fps(run, rounds)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ticks", type=int, default=20, help="frames per camera (4 cameras)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="OpenCV and torch threads (default: all cores)")
    p.add_argument("--input-sizes", default="300", help="OpenCV input sizes to try, e.g. 300,256")
    args = p.parse_args()
    if args.threads:
        cv2.setNumThreads(args.threads)
        torch.set_num_threads(args.threads)
    streams, decode_fps = decode_streams(args.ticks)
    cuda = torch.cuda.is_available()
    result: dict[str, object] = {
        "bench": "coco_fps",
        "machine": {"cpu_cores": os.cpu_count(), "cpu": cpu_model(), "cuda": cuda, "opencv": cv2.__version__,
                    "opencv_threads": cv2.getNumThreads(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads()},
        "streams": [f"{name}@{start} {s[0].shape[1]}x{s[0].shape[0]}" for (name, start), s in zip(
            STREAMS, streams, strict=True)],
        "frames_per_camera": min(len(s) for s in streams),
        "video_decode_fps_cpu": decode_fps,
        "cpu_fps": bench_cpu(streams, args.rounds, [int(s) for s in args.input_sizes.split(",")]),
    }
    if cuda:
        result["cuda_fps"] = bench_cuda(streams, args.rounds)
    print(f"{'detector (frames/s, all 4 cameras together)':<48} {'best':>8} {'median':>8}")
    for section in ("cpu_fps", "cuda_fps"):
        for name, fig in dict(result.get(section, {})).items():
            if isinstance(fig, dict):
                print(f"{name:<48} {fig['best']:>8} {fig['median']:>8}")
    print(f"{'video decoding on the CPU (not counted above)':<48} {decode_fps:>8}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
