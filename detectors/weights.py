"""Pinned sha256 sums of detector weights, checked before a model is loaded.

Why: a TorchScript file is a program that ``torch.jit.load`` runs, and an ONNX file decides what the
cameras report; a swapped file on a camera host must not be loaded. The bundled model is pinned here by
file name; any other model is pinned by the operator with ``CITYOPS_MODEL_SHA256`` (its ``sha256sum``).
Retraining the bundled model (``python -m detectors.train``) changes its sum: update the pin below.
"""

from __future__ import annotations

from pathlib import Path

from cityops.integrity import verify
from cityops.settings import env_text

PINNED_WEIGHTS = {
    "cityops_tiny.pt": "1ff54cbfd2ccc4fd9402c2b8178098ee87f7e6c1db77b28f98361d8b0af91bca",
}


def expected_sha256(weights: Path) -> str:
    """``CITYOPS_MODEL_SHA256`` when set, else the pin of a bundled model's file name ('' when none)."""
    return env_text("CITYOPS_MODEL_SHA256", PINNED_WEIGHTS.get(weights.name, ""))


def check_weights(weights: str | Path) -> Path:
    """``weights`` if its sha256 is the pinned one; :class:`cityops.integrity.IntegrityError` otherwise."""
    path = Path(weights)
    verify(path, expected_sha256(path), "model weights",
           "set CITYOPS_MODEL_SHA256 to its sha256 (or update PINNED_WEIGHTS in detectors/weights.py)")
    return path
