"""``python -m detectors.demo``: the demo cameras of ``fixtures/data/cameras_demo.yml`` as live cameras.

Replays each demo camera's video in a loop (timestamps keep increasing from now) and publishes every
capture to the detections topic and every camera's health to the camera-status topic, keyed by camera
id, exactly as a real deployment would. One process steps all cameras in lock-step so the shared COCO
network sees one batch per tick. ``--config FILE`` runs every camera of another cameras file that has a
source. ``--out DIR`` writes JSON lines instead (no broker); ``--once`` plays each video once;
``--realtime`` paces frames to their timestamps (default), so the console sees captures at the rate real
cameras would produce them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from cityops.camera_config import CameraConfigError
from cityops.city_data import CityDataError
from cityops.settings import get_settings
from detectors.camera_config import load_camera_file
from detectors.cli import run
from detectors.factory import MODES, build_run, demo_cameras, load_shared
from detectors.pipeline import Runner


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m detectors.demo", description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None, help="a cameras file (YAML); default: the demo cameras")
    p.add_argument("--out", default=None, help="write captures.jsonl, status.jsonl + evidence here, no broker")
    p.add_argument("--detector", default=None, choices=list(MODES), help="default: each camera's (coco+classical)")
    p.add_argument("--once", action="store_true", help="play each video once, then stop")
    p.add_argument("--max-frames", type=int, default=None, help="per camera")
    p.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    try:
        cameras = (load_camera_file(Path(args.config)).to_devices() if args.config else demo_cameras())
    except (CameraConfigError, CityDataError, KeyError) as err:
        lines = err.errors if isinstance(err, CameraConfigError) else [str(err.args[0] if err.args else err)]
        for line in lines:
            print(f"error: {line}", file=sys.stderr)
        return 2
    cameras = [c for c in cameras if c.source]
    if not cameras:
        print(f"error: no camera with a source in {args.config or 'fixtures/data/cameras_demo.yml'}", file=sys.stderr)
        return 2
    modes = [args.detector or c.detector for c in cameras]
    shared = load_shared(modes)
    out = Path(args.out) if args.out else None
    start = datetime.now(UTC)
    runs = [
        build_run(cam, cam.source or "", settings, mode=mode, out=out, loop=not args.once,
                  max_frames=args.max_frames, start=start)
        for cam, mode in zip(cameras, modes, strict=True)
    ]
    return run(Runner(runs, shared=shared, realtime=args.realtime), out, settings)


if __name__ == "__main__":
    raise SystemExit(main())
