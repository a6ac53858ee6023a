"""Train the project's own tiny detector and export it as TorchScript: ``python -m detectors.train``.

Why a model of our own: no pretrained weights can be downloaded here, and the pipeline must show the
neural path end to end (batching, CUDA/CPU, sidecar, label map). The model is a centre-point grid
detector (CenterNet-style, ~60 k parameters) for ``person`` and ``vehicle``, trained on frames of the
three street videos with *pseudo-labels*: boxes of confirmed tracks from the classical moving-object
detector (MOG2 + tracker), i.e. it distils the classical pipeline into a stateless network that can
also see objects that stand still. It is a demonstrator, not a production model; docs/detectors.md
says how to plug in a real one. Training takes about two minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cityops.settings import REPO_ROOT
from detectors.base import Box
from detectors.classical import MovingObjectDetector
from detectors.sources import VideoFileSource
from detectors.torch_detector import preprocess
from detectors.tracking import Tracker, TrackerConfig

CLASSES = ["person", "vehicle"]
INPUT_SIZE = (192, 320)
STRIDE = 8
VIDEOS = REPO_ROOT.parent / "shared" / "datasets" / "street-video"
# video, sampling rate for pseudo-labels, keep every n-th sampled frame for training
TRAIN_VIDEOS = [
    ("vtest.avi", 10.0, 2),
    ("car_traffic_small.mp4", 10.0, 1),
    ("pedestrians_720p_lamminhthien.avi", 25.0, 1),
]


class TinyGridNet(nn.Module):
    """Four strided conv blocks to a stride-8 grid; heads: class heatmaps (logits) + box size."""

    def __init__(self, n_classes: int = len(CLASSES)) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
            )

        self.body = nn.Sequential(
            block(3, 16, 2),
            block(16, 24, 2),
            block(24, 32, 1),
            block(32, 48, 2),
            block(48, 48, 1),
            block(48, 64, 1),
        )
        self.heat = nn.Conv2d(64, n_classes, 1)
        self.size = nn.Conv2d(64, 2, 1)
        nn.init.constant_(self.heat.bias, -2.2)  # start near the background prior

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(x)
        return torch.cat([self.heat(f), torch.sigmoid(self.size(f))], dim=1)


def pseudo_labels(max_frames_per_video: int | None = None) -> tuple[list[np.ndarray], list[list[Box]]]:
    """Frames and the boxes of confirmed motion tracks in them (person/vehicle only)."""
    frames: list[np.ndarray] = []
    labels: list[list[Box]] = []
    for name, fps, every in TRAIN_VIDEOS:
        det = MovingObjectDetector()
        tracker = Tracker(TrackerConfig(min_hits=3, max_misses=5, iou_threshold=0.25))
        src = VideoFileSource(VIDEOS / name, sample_fps=fps, max_frames=max_frames_per_video)
        for i, frame in enumerate(src):
            tracks = tracker.update(det.step(frame.image), frame.time)
            if i < 20 or i % every:  # the background model needs a few frames to settle
                continue
            h, w = frame.image.shape[:2]
            frames.append(preprocess([frame.image], INPUT_SIZE)[0])
            labels.append(
                [
                    Box(t.box.x1 / w, t.box.y1 / h, t.box.x2 / w, t.box.y2 / h, t.label, 1.0)
                    for t in tracks
                    if t.misses == 0 and t.label in CLASSES
                ]
            )
    return frames, labels


def targets(boxes: list[Box], grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian centre heatmaps, size targets and the mask of centre cells for one frame."""
    gh, gw = grid
    heat = np.zeros((len(CLASSES), gh, gw), np.float32)
    size = np.zeros((2, gh, gw), np.float32)
    mask = np.zeros((gh, gw), np.float32)
    ys, xs = np.mgrid[0:gh, 0:gw]
    for b in boxes:
        c = CLASSES.index(b.label)
        cx, cy = (b.x1 + b.x2) / 2 * gw, (b.y1 + b.y2) / 2 * gh
        sigma = max(0.6, 0.15 * min((b.x2 - b.x1) * gw, (b.y2 - b.y1) * gh))
        g = np.exp(-((xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2) / (2 * sigma**2))
        heat[c] = np.maximum(heat[c], g)
        ix, iy = min(gw - 1, int(cx)), min(gh - 1, int(cy))
        heat[c, iy, ix] = 1.0
        size[:, iy, ix] = (b.x2 - b.x1, b.y2 - b.y1)
        mask[iy, ix] = 1.0
    return heat, size, mask


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss on the heatmaps."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1.0).float()
    pos_loss = -torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = -torch.log(1 - p) * p**2 * (1 - target) ** 4 * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1.0)


def train(out: Path, epochs: int = 10, batch: int = 16, seed: int = 7, max_frames: int | None = None) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.perf_counter()
    frames, labels = pseudo_labels(max_frames)
    grid = (INPUT_SIZE[0] // STRIDE, INPUT_SIZE[1] // STRIDE)
    x = torch.from_numpy(np.stack(frames))
    tg = [targets(b, grid) for b in labels]
    heat = torch.from_numpy(np.stack([t[0] for t in tg]))
    size = torch.from_numpy(np.stack([t[1] for t in tg]))
    mask = torch.from_numpy(np.stack([t[2] for t in tg]))
    n = len(frames)
    order = rng.permutation(n)
    val_idx, train_idx = order[: n // 10], order[n // 10 :]
    model = TinyGridNet()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=3e-3, total_steps=epochs * ((len(train_idx) + batch - 1) // batch)
    )
    history = []
    for epoch in range(epochs):
        model.train()
        rng.shuffle(train_idx)
        total = 0.0
        for i in range(0, len(train_idx), batch):
            idx = torch.from_numpy(train_idx[i : i + batch])
            xb = x[idx]
            if rng.random() < 0.5:  # horizontal flip: the scenes are not left-right specific
                xb, hb, sb, mb = xb.flip(3), heat[idx].flip(3), size[idx].flip(3), mask[idx].flip(2)
            else:
                hb, sb, mb = heat[idx], size[idx], mask[idx]
            pred = model(xb)
            loss_h = focal_loss(pred[:, : len(CLASSES)], hb)
            loss_s = (torch.abs(pred[:, len(CLASSES) :] - sb) * mb[:, None]).sum() / mb.sum().clamp(min=1.0)
            loss = loss_h + 5.0 * loss_s
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
        model.eval()
        with torch.no_grad():
            vo = model(x[val_idx])
            vl = float(focal_loss(vo[:, : len(CLASSES)], heat[val_idx]))
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": round(total / len(train_idx), 4),
                "val_heat_loss": round(vl, 4),
            }
        )
        print(json.dumps(history[-1]), flush=True)
    model.eval()
    scripted = torch.jit.script(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    scripted.save(str(out))
    sidecar = {
        "format": "cityops-grid-v1",
        "classes": CLASSES,
        "input_size": list(INPUT_SIZE),
        "stride": STRIDE,
        "score_threshold": 0.35,
        "nms_iou": 0.45,
        "label_map": {
            "person": ["street_vending", "mobile_vendor", "shop_overflow"],
            "vehicle": ["illegal_parking"],
        },
        "trained_on": [v for v, _, _ in TRAIN_VIDEOS],
        "training": {
            "frames": n,
            "epochs": epochs,
            "seed": seed,
            "seconds": round(time.perf_counter() - t0, 1),
            "pseudo_labels": "confirmed MOG2 motion tracks (classical pipeline)",
            "history": history,
        },
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=2), encoding="utf-8")
    return sidecar


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m detectors.train", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(REPO_ROOT / "fixtures" / "models" / "cityops_tiny.pt"))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max-frames", type=int, default=None, help="per video, for a quick run")
    args = p.parse_args(argv)
    info = train(Path(args.out), epochs=args.epochs, max_frames=args.max_frames)
    print(
        f"saved {args.out} ({info['parameters']} parameters, {info['training']['frames']} frames, "
        f"{info['training']['seconds']} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
