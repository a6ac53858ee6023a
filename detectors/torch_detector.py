"""Neural detectors behind the same ``Detector`` interface: TorchScript (or ONNX) weights from a path.

Why stateless and batched: unlike background models, a network needs no history, so one instance
serves every camera and ``detect`` takes frames from many cameras at once; on a GPU the batch is what
makes 100+ streams per card possible. The model runs on CUDA when available, else on the CPU.

Two output formats are understood, named in the JSON sidecar next to the weights
(``model.pt`` → ``model.json``):

- ``cityops-grid-v1`` (the bundled ``cityops_tiny.pt`` trained by :mod:`detectors.train`): a
  centre-point grid, ``(B, C + 2, H/s, W/s)`` = per-class centre heatmaps (logits) + box width/height as
  fractions of the input;
- ``yolo`` (Ultralytics YOLOv8/v11 exported to TorchScript or ONNX): ``(B, 4 + C, anchors)`` with
  ``cx, cy, w, h`` in input pixels and per-class scores.

The sidecar also carries ``classes`` and may carry ``label_map`` (class → violation types), which the
rules use instead of the defaults; see ``docs/detectors.md``. Weights are checked against their pinned
sha256 before loading (:mod:`detectors.weights`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from detectors.base import Box
from detectors.weights import check_weights

log = logging.getLogger("cityops.detectors.torch")


@dataclass
class ModelSpec:
    """What the sidecar JSON says about the weights."""

    classes: list[str]
    format: str = "cityops-grid-v1"
    input_size: tuple[int, int] = (192, 320)  # (height, width) the network expects
    stride: int = 8
    score_threshold: float = 0.35
    nms_iou: float = 0.45
    label_map: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ModelSpec:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {"classes", "format", "input_size", "stride", "score_threshold", "nms_iou", "label_map"}
        return cls(
            classes=list(data["classes"]),
            format=data.get("format", "cityops-grid-v1"),
            input_size=tuple(data.get("input_size", (192, 320))),
            stride=int(data.get("stride", 8)),
            score_threshold=float(data.get("score_threshold", 0.35)),
            nms_iou=float(data.get("nms_iou", 0.45)),
            label_map=dict(data.get("label_map", {})),
            extra={k: v for k, v in data.items() if k not in known},
        )


def sidecar_of(weights: Path) -> Path:
    return weights.with_suffix(".json")


def preprocess(frames: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """BGR frames of any sizes → float32 RGB NCHW in 0..1 at ``size`` (stretched, not letterboxed)."""
    h, w = size
    batch = np.empty((len(frames), 3, h, w), dtype=np.float32)
    for i, f in enumerate(frames):
        img = cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        batch[i] = img[:, :, ::-1].transpose(2, 0, 1) / np.float32(255.0)
    return batch


def preprocess_on_device(frames: list[np.ndarray], size: tuple[int, int], device: torch.device) -> torch.Tensor:
    """The same as :func:`preprocess`, done by the device: raw uint8 frames go over the bus, the device
    converts and resizes them (area-averaging, like ``cv2.INTER_AREA`` when shrinking).

    Why: on a GPU the network takes microseconds per frame, and one CPU thread resizing 720p frames
    one by one becomes the limit of the whole batch. Frames of one size are resized together.
    """
    h, w = size
    batch = torch.empty((len(frames), 3, h, w), dtype=torch.float32, device=device)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, f in enumerate(frames):
        by_shape.setdefault(f.shape, []).append(i)
    for shape, idx in by_shape.items():
        raw = torch.empty((len(idx), *shape), dtype=torch.uint8, device=device)
        for j, i in enumerate(idx):  # frame by frame: stacking first cost a 100+ MB host copy per batch
            raw[j].copy_(torch.from_numpy(np.ascontiguousarray(frames[i])))
        if len(shape) == 2:  # grey → three equal channels
            raw = raw.unsqueeze(-1).expand(-1, -1, -1, 3)
        x = raw.flip(-1).permute(0, 3, 1, 2).float().div_(255.0)  # BGR NHWC → RGB NCHW in 0..1
        shrinking = shape[0] >= h and shape[1] >= w
        x = F.interpolate(x, size=(h, w), mode="area") if shrinking else \
            F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        batch[torch.tensor(idx, device=device)] = x
    return batch


def decode_grid(out: torch.Tensor, spec: ModelSpec, sizes: list[tuple[int, int]]) -> list[list[Box]]:
    """Centre-point decoding: local maxima of each class heatmap above the threshold → boxes.

    The peaks, their scores and sizes are picked on the model's device and copied to the host in one
    transfer: reading them one by one (``float(t[b, c, y, x])``) costs a device synchronisation per value,
    which on a GPU took longer than the network itself.
    """
    n_cls = len(spec.classes)
    heat = torch.sigmoid(out[:, :n_cls])
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    gh, gw = heat.shape[2:]
    idx = torch.nonzero(peaks >= spec.score_threshold)  # (N, 4): batch, class, y, x
    b_i, c_i, y_i, x_i = idx.unbind(1)
    wh = out[b_i, n_cls : n_cls + 2, y_i, x_i].clamp(0.0, 1.0) if len(idx) else out.new_zeros((0, 2))
    rows = torch.cat([idx.to(wh.dtype), peaks[b_i, c_i, y_i, x_i].unsqueeze(1), wh], dim=1).cpu().tolist()
    per_frame: list[list[Box]] = [[] for _ in sizes]
    for b, c, y, x, score, w, h in rows:
        fw, fh = sizes[int(b)]
        cx, cy = (x + 0.5) / gw * fw, (y + 0.5) / gh * fh
        bw, bh = w * fw, h * fh
        if bw < 2 or bh < 2:
            continue
        per_frame[int(b)].append(
            Box(
                max(0.0, cx - bw / 2),
                max(0.0, cy - bh / 2),
                min(fw, cx + bw / 2),
                min(fh, cy + bh / 2),
                spec.classes[int(c)],
                score,
            )
        )
    return [_nms(boxes, spec.nms_iou) for boxes in per_frame]


def decode_yolo(
    out: torch.Tensor | np.ndarray, spec: ModelSpec, sizes: list[tuple[int, int]]
) -> list[list[Box]]:
    """YOLOv8-style ``(B, 4 + C, A)`` output → boxes, scaled from the input size to each frame."""
    arr = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
    ih, iw = spec.input_size
    results: list[list[Box]] = []
    for b, (fw, fh) in enumerate(sizes):
        pred = arr[b].T  # (A, 4 + C)
        scores = pred[:, 4:]
        cls = scores.argmax(axis=1)
        conf = scores[np.arange(len(cls)), cls]
        keep = conf >= spec.score_threshold
        sx, sy = fw / iw, fh / ih
        boxes = [
            Box(
                float((cx - w / 2) * sx),
                float((cy - h / 2) * sy),
                float((cx + w / 2) * sx),
                float((cy + h / 2) * sy),
                spec.classes[int(c)],
                float(s),
            )
            for (cx, cy, w, h), c, s in zip(pred[keep, :4], cls[keep], conf[keep], strict=True)
        ]
        results.append(_nms([bx.clipped(fw, fh) for bx in boxes], spec.nms_iou))
    return results


def _nms(boxes: list[Box], threshold: float) -> list[Box]:
    if len(boxes) < 2:
        return boxes
    rects = [[int(b.x1), int(b.y1), max(1, int(b.width)), max(1, int(b.height))] for b in boxes]
    keep = cv2.dnn.NMSBoxes(rects, [b.confidence for b in boxes], 0.0, threshold)
    return [boxes[int(i)] for i in np.ravel(keep)]


class TorchDetector:
    """A TorchScript model on CUDA when available, else CPU; frames of many cameras in one batch.

    ``device_preprocess`` (default: on for CUDA, off for the CPU) resizes frames on the device instead of
    with OpenCV on the host; see :func:`preprocess_on_device` and ``bench/bench_torch_batching.py``.
    """

    def __init__(self, weights: str | Path, spec: ModelSpec | None = None, device: str | None = None,
                 device_preprocess: bool | None = None) -> None:
        self.weights = check_weights(weights)  # before torch.jit.load runs anything in it
        self.spec = spec or ModelSpec.load(sidecar_of(self.weights))
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.device_preprocess = self.device.type == "cuda" if device_preprocess is None else device_preprocess
        self.model = torch.jit.load(str(self.weights), map_location=self.device).eval()
        self.name = f"torch:{self.weights.stem}"
        self.label_map = self.spec.label_map

    @torch.inference_mode()
    def detect(self, frames: list[np.ndarray]) -> list[list[Box]]:
        if not frames:
            return []
        sizes = [(f.shape[1], f.shape[0]) for f in frames]
        if self.device_preprocess:
            x = preprocess_on_device(frames, self.spec.input_size, self.device)
        else:
            x = torch.from_numpy(preprocess(frames, self.spec.input_size)).to(self.device)
        out = self.model(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if self.spec.format == "yolo":
            return decode_yolo(out, self.spec, sizes)
        return decode_grid(out.float(), self.spec, sizes)


class OnnxDetector:
    """The same for ONNX weights, only when ``onnxruntime`` is installed (it is optional)."""

    def __init__(self, weights: str | Path, spec: ModelSpec | None = None) -> None:
        try:
            import onnxruntime as ort  # type: ignore[import-not-found]
        except ImportError as exc:
            raise RuntimeError(
                "ONNX weights need onnxruntime (pip install onnxruntime or onnxruntime-gpu)"
            ) from exc
        self.weights = check_weights(weights)
        self.spec = spec or ModelSpec.load(sidecar_of(self.weights))
        providers = [
            p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()
        ]
        self.session = ort.InferenceSession(str(self.weights), providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.name = f"onnx:{self.weights.stem}"
        self.label_map = self.spec.label_map

    def detect(self, frames: list[np.ndarray]) -> list[list[Box]]:
        if not frames:
            return []
        sizes = [(f.shape[1], f.shape[0]) for f in frames]
        out = self.session.run(None, {self.input_name: preprocess(frames, self.spec.input_size)})[0]
        if self.spec.format == "yolo":
            return decode_yolo(out, self.spec, sizes)
        return decode_grid(torch.from_numpy(out).float(), self.spec, sizes)


def load_detector(weights: str | Path) -> TorchDetector | OnnxDetector:
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"model weights {path} not found (train one with python -m detectors.train)")
    if not sidecar_of(path).is_file():
        raise FileNotFoundError(f"model sidecar {sidecar_of(path)} not found (it names the classes)")
    return OnnxDetector(path) if path.suffix == ".onnx" else TorchDetector(path)
