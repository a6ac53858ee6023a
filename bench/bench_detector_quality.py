"""Detector quality on hand labels: box precision/recall at IoU 0.5 and capture precision/recall per detector.

Not a test: it decodes three real clips and runs three detectors over them. On two loaded cores the box
level takes about two minutes, the capture level about 2.5 minutes with OpenCV COCO and several times that
with torch COCO on a CPU (``--capture-detectors`` chooses). The labels are
fixtures/labels/street_video_boxes.json (60 frames) and fixtures/labels/street_video_captures.json (how
they were made: fixtures/labels/README.md).

Detectors: ``classical`` (MOG2 moving objects, detectors/classical.py; the baseline of this run),
``coco/opencv`` and ``coco/torch`` (SSD-MobileNet-v2 COCO, detectors/coco.py). Box level: the classical
detector is stateful, so each clip is fed to it frame by frame from the start and only labelled frames
are scored; the COCO detectors see the labelled frames only. Capture level: the camera pipeline of each
demo camera (CameraPipeline, evidence=None) runs over the whole clip at the camera's sample rate, with the
classical stack (stationary + moving objects, as ``classical`` cameras run) or the COCO detector as the
shared network whose boxes the runner passes to ``process`` (mode ``coco``).

    python bench/bench_detector_quality.py [--detectors classical,coco/opencv,coco/torch] [--no-captures]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cityops.settings import REPO_ROOT, get_settings  # noqa: E402
from detectors.base import Box, Detector  # noqa: E402
from detectors.classical import ClassicalDetector, MovingObjectDetector  # noqa: E402
from detectors.pipeline import CameraPipeline  # noqa: E402
from detectors.quality import (  # noqa: E402
    ANY,
    CLASSES,
    Counts,
    ExpectedCapture,
    LabelBox,
    ObservedCapture,
    Scored,
    class_of,
    fmt,
    match_captures,
    observed,
    score_frames,
)
from detectors.sources import VideoFileSource  # noqa: E402
from fixtures.xiamen import camera_by_id  # noqa: E402

VIDEOS = REPO_ROOT.parent / "shared" / "datasets" / "street-video"
BOXES = REPO_ROOT / "fixtures" / "labels" / "street_video_boxes.json"
CAPTURES = REPO_ROOT / "fixtures" / "labels" / "street_video_captures.json"
START = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)  # 10:00 in Xiamen: outside the hall's 18:00-23:00 window
DETECTORS = ("classical", "coco/opencv", "coco/torch")
SCORED = (*CLASSES, ANY)


def scored(boxes: Sequence[Box]) -> list[Scored]:
    """Detector boxes as scoring sees them: person/vehicle, or a class-less ``object`` (a moving blob whose
    shape decided nothing) that only the class-agnostic ``any`` row counts; other labels are dropped."""
    out = []
    for b in boxes:
        cls = class_of(b.label) or ("object" if b.label == "moving_object" else None)
        if cls is not None:
            out.append(Scored(cls, b.x1, b.y1, b.x2, b.y2, b.confidence))
    return out


def label_boxes(frame: dict) -> list[LabelBox]:
    return [LabelBox(b["cls"], *b["box"], ignore=bool(b["ignore"])) for b in frame["boxes"]]


@dataclass
class ClipFrames:
    """The labelled frames of one clip, decoded, with the classical detector's boxes on them."""

    clip: str
    labels: dict[int, dict]
    images: dict[int, np.ndarray] = field(default_factory=dict)
    classical: dict[int, list[Box]] = field(default_factory=dict)
    decoded: int = 0
    classical_s: float = 0.0


def decode_with_classical(clip: str, labels: dict[int, dict]) -> ClipFrames:
    """Feed every frame to a fresh moving-object detector; keep the labelled frames and their boxes."""
    out = ClipFrames(clip, labels)
    cap = cv2.VideoCapture(str(VIDEOS / clip))
    if not cap.isOpened():
        raise SystemExit(f"{VIDEOS / clip}: cannot open")
    motion = MovingObjectDetector()
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        t = time.perf_counter()
        boxes = motion.step(frame)
        out.classical_s += time.perf_counter() - t
        if i in labels:
            out.images[i] = frame
            out.classical[i] = boxes
        i += 1
    cap.release()
    out.decoded = i
    missing = sorted(set(labels) - set(out.images))
    if missing:
        raise SystemExit(f"{clip}: labelled frames {missing} are beyond the {i} decoded frames")
    return out


def load_network(name: str) -> tuple[Detector | None, str]:
    """The COCO detector for ``coco/opencv`` or ``coco/torch``, or None and why it is not available."""
    backend = name.split("/", 1)[1]
    try:
        from detectors.coco import load_coco

        kw = {"device": "cpu"} if backend == "torch" and not _cuda() else {}
        return load_coco(backend=backend, score_threshold=0.3, **kw), ""
    except Exception as exc:  # noqa: BLE001 - any failure means "not available", reported with its reason
        return None, f"{type(exc).__name__}: {exc}"


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001
        return False


def print_box_table(results: dict[str, dict[str, dict[str, Counts]]], timing: dict[str, str]) -> None:
    print("\n== Box level: precision / recall / F1 at IoU >= 0.5 (ignore boxes excluded) ==")
    head = f"{'detector':<12} {'clip':<34} {'class':<8} {'TP':>5} {'FP':>5} {'FN':>5} {'P':>5} {'R':>5} {'F1':>5}"
    print(head)
    print("-" * len(head))
    for det, per_clip in results.items():
        for clip, counts in per_clip.items():
            for cls in SCORED:
                c = counts[cls]
                if c.tp + c.fp + c.fn == 0:
                    continue
                print(f"{det:<12} {clip:<34} {cls:<8} {c.tp:>5} {c.fp:>5} {c.fn:>5} "
                      f"{fmt(c.precision):>5} {fmt(c.recall):>5} {fmt(c.f1):>5}")
        print(f"{'':<12} {'speed: ' + timing.get(det, ''):<34}")


def overall(per_clip: dict[str, dict[str, Counts]]) -> dict[str, Counts]:
    total = {c: Counts() for c in SCORED}
    for counts in per_clip.values():
        for c in SCORED:
            total[c] = total[c] + counts[c]
    return total


def run_boxes(names: Sequence[str], clips: list[ClipFrames], networks: dict[str, Detector | None]) -> tuple[
        dict[str, dict[str, dict[str, Counts]]], dict[str, str]]:
    results: dict[str, dict[str, dict[str, Counts]]] = {}
    timing: dict[str, str] = {}
    for name in names:
        per_clip: dict[str, dict[str, Counts]] = {}
        if name == "classical":
            n = sum(c.decoded for c in clips)
            s = sum(c.classical_s for c in clips)
            timing[name] = f"{1000 * s / max(n, 1):.1f} ms/frame over {n} frames"
            for c in clips:
                per_clip[c.clip] = score_frames(
                    (label_boxes(c.labels[i]), scored(c.classical[i]), c.labels[i].get("region"))
                    for i in sorted(c.labels))
        else:
            net = networks.get(name)
            if net is None:
                continue
            net.detect([clips[0].images[min(clips[0].labels)]])  # warm-up: first call allocates, not timed
            n, s = 0, 0.0
            for c in clips:
                frames = []
                for i in sorted(c.labels):
                    t = time.perf_counter()
                    boxes = net.detect([c.images[i]])[0]
                    s += time.perf_counter() - t
                    n += 1
                    frames.append((label_boxes(c.labels[i]), scored(boxes), c.labels[i].get("region")))
                per_clip[c.clip] = score_frames(frames)
            timing[name] = f"{1000 * s / max(n, 1):.1f} ms/frame over {n} frames (batch 1)"
        per_clip["ALL"] = overall(per_clip)
        results[name] = per_clip
    return results, timing


# ----- capture level -----------------------------------------------------------------------------------


def _demo_label_map(camera: object) -> dict[str, tuple[str, ...]]:
    """The label map the camera runs with: the factory's helper (its signature has changed before), else
    the rules' default map overridden by the camera's own ``label_map``."""
    from detectors import factory, rules

    helper = getattr(factory, "label_map_for", None)
    for arg in (camera, getattr(camera, "id", None)):
        try:
            return dict(helper(arg))  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - try the other form, then the fallback
            continue
    base = rules.default_label_map() if hasattr(rules, "default_label_map") else rules.DEFAULT_LABEL_MAP
    out = dict(base)
    out.update({k: tuple(v) for k, v in getattr(camera, "label_map", ())})
    return out


def _tracker(fps: float) -> object | None:
    try:
        from detectors.factory import tracker_config

        return tracker_config(fps)
    except Exception:  # noqa: BLE001
        return None


def make_pipeline(camera: object, detectors: list[Detector], mode: str) -> CameraPipeline:
    """CameraPipeline with only the keyword arguments its current signature accepts."""
    fps = float(getattr(camera, "sample_fps", 5.0))
    kwargs: dict[str, object] = {
        "tz": get_settings().tz,
        "evidence": None,
        "detectors": detectors,
        "mode": mode,
        "tracker": _tracker(fps),
        "label_map": _demo_label_map(camera),
    }
    accepted = inspect.signature(CameraPipeline.__init__).parameters
    if kwargs["tracker"] is None:
        del kwargs["tracker"]
    return CameraPipeline(camera, **{k: v for k, v in kwargs.items() if k in accepted})  # type: ignore[arg-type]


def run_captures(names: Sequence[str], networks: dict[str, Detector | None]) -> dict[str, dict[str, tuple[
        Counts, list[ObservedCapture], float]]]:
    spec = json.loads(CAPTURES.read_text(encoding="utf-8"))
    tol = float(spec.get("tolerance_s", 1.0))
    out: dict[str, dict[str, tuple[Counts, list[ObservedCapture], float]]] = {}
    for name in names:
        if name != "classical" and networks.get(name) is None:
            continue
        out[name] = {}
        for clip in spec["clips"]:
            camera = camera_by_id(clip["camera"])
            fps = float(camera.sample_fps)
            # The classical stack runs inside the pipeline (stateful, per camera); a COCO network is the
            # shared detector whose boxes the runner hands to process(), as detectors/pipeline.Runner does.
            net = None if name == "classical" else networks[name]
            pipe = make_pipeline(camera, [ClassicalDetector(fps)] if net is None else [],
                                 "classical" if net is None else "coco")
            src = VideoFileSource(VIDEOS / clip["clip"], sample_fps=fps, start=START)
            caps: list[ObservedCapture] = []
            t = time.perf_counter()
            for frame in src:
                shared = net.detect([frame.image])[0] if net is not None else []
                for d in pipe.process(frame, shared):
                    caps.append(observed(d.first_seen, d.last_seen, d.box, START))
            seconds = time.perf_counter() - t
            expected = [ExpectedCapture(e["who"], e["t_start_s"], e["t_end_s"], tuple(e["area"]))
                        for e in clip["expected"]]
            expected += [ExpectedCapture(e["who"], e["t_start_s"], e["t_end_s"], tuple(e["area"]), borderline=True)
                         for e in clip.get("borderline", [])]
            out[name][clip["camera"]] = (match_captures(expected, caps, tol), caps, seconds)
    return out


def print_capture_table(results: dict[str, dict[str, tuple[Counts, list[ObservedCapture], float]]]) -> None:
    print("\n== Capture level: captures matched to fixtures/labels/street_video_captures.json ==")
    head = f"{'detector':<12} {'camera':<18} {'captures':>8} {'TP':>4} {'FP':>4} {'FN':>4} {'P':>5} {'R':>5}  seconds"
    print(head)
    print("-" * len(head))
    for det, per_cam in results.items():
        total = Counts()
        for cam, (c, caps, seconds) in per_cam.items():
            total = total + c
            print(f"{det:<12} {cam:<18} {len(caps):>8} {c.tp:>4} {c.fp:>4} {c.fn:>4} "
                  f"{fmt(c.precision):>5} {fmt(c.recall):>5}  {seconds:.1f}")
            for o in caps:
                print(f"{'':<31}  capture t={o.first_s:.1f}-{o.last_s:.1f}s box={[round(v) for v in o.box]}")
        print(f"{det:<12} {'ALL':<18} {'':>8} {total.tp:>4} {total.fp:>4} {total.fn:>4} "
              f"{fmt(total.precision):>5} {fmt(total.recall):>5}")


def readme_table(boxes: dict[str, dict[str, dict[str, Counts]]],
                 captures: dict[str, dict[str, tuple[Counts, list[ObservedCapture], float]]],
                 unavailable: dict[str, str], timing: dict[str, str]) -> str:
    lines = ["| detector | person P / R | vehicle P / R | any object P / R | captures P / R (TP/FP/FN) | speed |",
             "|---|---|---|---|---|---|"]
    for name in DETECTORS:
        if name in unavailable:
            lines.append(f"| {name} | not available ({unavailable[name][:60]}) | | | | |")
            continue
        if name not in boxes:
            continue
        a = boxes[name]["ALL"]
        cells = [f"{fmt(a[c].precision)} / {fmt(a[c].recall)}" for c in SCORED]
        cap = "not run (--capture-detectors)"
        if name in captures:
            t = Counts()
            for c, _caps, _s in captures[name].values():
                t = t + c
            cap = f"{fmt(t.precision)} / {fmt(t.recall)} ({t.tp}/{t.fp}/{t.fn})"
        lines.append(f"| {name} | {' | '.join(cells)} | {cap} | {timing.get(name, '')} |")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detectors", default=",".join(DETECTORS),
                    help="comma-separated subset of " + ", ".join(DETECTORS))
    ap.add_argument("--no-captures", action="store_true", help="box level only")
    ap.add_argument("--capture-detectors", default=None,
                    help="run the (slower, whole-clip) capture level only for these (default: --detectors)")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.detectors.split(",") if n.strip()]
    bad = [n for n in names if n not in DETECTORS]
    if bad:
        ap.error(f"--detectors: unknown {bad}; choose from {DETECTORS}")

    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, opencv {cv2.__version__}")
    doc = json.loads(BOXES.read_text(encoding="utf-8"))
    by_clip: dict[str, dict[int, dict]] = {}
    for f in doc["frames"]:
        by_clip.setdefault(f["clip"], {})[int(f["frame"])] = f
    clips = [decode_with_classical(clip, labels) for clip, labels in by_clip.items()]
    for c in clips:
        n_boxes = sum(1 for f in c.labels.values() for b in f["boxes"] if not b["ignore"])
        print(f"{c.clip}: {c.decoded} frames decoded, {len(c.labels)} labelled, {n_boxes} boxes (+ ignore boxes)")

    networks: dict[str, Detector | None] = {}
    unavailable: dict[str, str] = {}
    for name in names:
        if name != "classical":
            networks[name], why = load_network(name)
            if networks[name] is None:
                unavailable[name] = why
                print(f"{name}: not available: {why}")

    boxes, timing = run_boxes(names, clips, networks)
    print_box_table(boxes, timing)
    cap_names = names if args.capture_detectors is None else [
        n.strip() for n in args.capture_detectors.split(",") if n.strip() in names]
    captures = {} if args.no_captures else run_captures(cap_names, networks)
    if captures:
        print_capture_table(captures)
    print("\n== README table (overall, all three clips) ==")
    print(readme_table(boxes, captures, unavailable, timing))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
