"""Batched PyTorch inference: frames/s by batch size on the GPU (when there is one) against the CPU.

The detector batches frames from many cameras into one call (``TorchDetector.detect``); this measures that
call end to end — resize, copy to the device, the network, decoding to boxes — with the bundled model on real
720p frames, for growing batches, with two ways of resizing on a GPU: OpenCV on one host thread (``host``)
and on the device (``device``, the default on CUDA). Then the stages apart at one batch size, and whether the GPU finds
the boxes the CPU finds. The CPU of the same machine is the baseline in the same run.

Only ``detectors.torch_detector`` is imported (torch, OpenCV, NumPy), so it runs on a GPU machine that
has none of the project's other dependencies. Prints one JSON object.

    python bench/bench_torch_batching.py [--video PATH] [--seconds 1.5] [--frames 256]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detectors.base import Box, iou  # noqa: E402
from detectors.torch_detector import (  # noqa: E402
    TorchDetector,
    decode_grid,
    preprocess,
    preprocess_on_device,
)

MODEL = ROOT / "fixtures" / "models" / "cityops_tiny.pt"
VIDEO = ROOT.parent / "shared" / "datasets" / "street-video" / "pedestrians_720p_lamminhthien.avi"
CAMERA_SAMPLE_FPS = 5.0  # the cameras' default sampling rate in the city fixtures


def read_frames(path: Path, limit: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    while len(frames) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise SystemExit(f"no frames in {path}")
    return frames


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def rate(work: Callable[[], object], frames_per_call: int, device: torch.device, seconds: float) -> float:
    """Frames/s of ``work`` after five warm-up calls, repeated for at least ``seconds`` (and 3 calls)."""
    for _ in range(5):  # TorchScript's profiling executor specialises over the first calls
        work()
    sync(device)
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        work()
        calls += 1
    sync(device)
    return round(calls * frames_per_call / (time.perf_counter() - start), 1)


def batch_of(frames: list[np.ndarray], n: int) -> list[np.ndarray]:
    return [frames[i % len(frames)] for i in range(n)]


def detect_rate(det: TorchDetector, frames: list[np.ndarray], bs: int, seconds: float) -> float:
    """End-to-end ``detect`` frames/s with batches of ``bs`` frames."""
    batch = batch_of(frames, bs)
    return rate(lambda: det.detect(batch), bs, det.device, seconds)


def agreement(reference: list[list[Box]], other: list[list[Box]]) -> dict[str, float | int]:
    """How many of the reference's boxes the other run found again (same label, IoU ≥ 0.5)."""
    total = sum(map(len, reference))
    found = sum(max((iou(a, b) for b in o if b.label == a.label), default=0.0) >= 0.5
                for r, o in zip(reference, other, strict=True) for a in r)
    return {"reference_boxes": total, "other_boxes": sum(map(len, other)), "found_again": int(found),
            "share": round(found / total, 4) if total else 1.0}


def accelerator_figures(frames: list[np.ndarray], on_cpu: TorchDetector, gpu: torch.device,
                        seconds: float) -> dict[str, object]:
    """Batch sizes × resize on host or device; the stages apart at batch 64; agreement with the CPU."""
    h, w = frames[0].shape[:2]
    cpu = torch.device("cpu")
    host_resize = TorchDetector(MODEL, device=str(gpu), device_preprocess=False)
    device_resize = TorchDetector(MODEL, device=str(gpu), device_preprocess=True)
    out: dict[str, object] = {"gpu_fps_by_batch": {
        resize: {str(bs): detect_rate(det, frames, bs, seconds) for bs in (1, 8, 32, 64, 128, 256)}
        for resize, det in (("host", host_resize), ("device", device_resize))}}

    bs = 64
    batch = batch_of(frames, bs)
    spec, model = device_resize.spec, device_resize.model
    with torch.inference_mode():
        x = preprocess_on_device(batch, spec.input_size, gpu)
        raw = model(x).float()
        out["gpu_stages_fps_at_batch_64"] = {
            "resize_on_host_one_thread": rate(lambda: preprocess(batch, spec.input_size), bs, cpu, seconds),
            "resize_on_device_with_upload": rate(lambda: preprocess_on_device(batch, spec.input_size, gpu), bs,
                                                 gpu, seconds),
            "network_only": rate(lambda: model(x), bs, gpu, seconds),
            "decode_only": rate(lambda: decode_grid(raw, spec, [(w, h)] * bs), bs, gpu, seconds),
        }

    check = frames[:: max(1, len(frames) // 32)][:32]
    reference = on_cpu.detect(check)
    out["gpu_agrees_with_cpu"] = {"host_resize": agreement(reference, host_resize.detect(check)),
                                  "device_resize": agreement(reference, device_resize.detect(check))}
    best = max(v for per in out["gpu_fps_by_batch"].values() for v in per.values())
    out["cameras_per_gpu_at_5_fps_sampling"] = int(best // CAMERA_SAMPLE_FPS)
    if gpu.type == "cuda":
        out["gpu_memory_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", type=Path, default=VIDEO)
    p.add_argument("--frames", type=int, default=256, help="frames decoded into memory and cycled")
    p.add_argument("--seconds", type=float, default=1.5, help="measuring time per configuration")
    args = p.parse_args()

    frames = read_frames(args.video, args.frames)
    h, w = frames[0].shape[:2]
    cuda = torch.cuda.is_available()
    result: dict[str, object] = {
        "machine": {"cpu_cores": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "torch": torch.__version__, "opencv": cv2.__version__,
                    "cuda": cuda, "gpu": torch.cuda.get_device_name(0) if cuda else None,
                    "torch_cpu_threads": torch.get_num_threads()},
        "video": {"name": args.video.name, "frames_in_memory": len(frames), "size": f"{w}x{h}"},
        "model": MODEL.name,
    }

    on_cpu = TorchDetector(MODEL, device="cpu")
    result["cpu_fps_by_batch"] = {
        str(bs): detect_rate(on_cpu, frames, bs, args.seconds) for bs in (1, 8, 32)}

    if cuda:
        result.update(accelerator_figures(frames, on_cpu, torch.device("cuda"), args.seconds))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
