"""``python -m detectors.demo``: the demo cameras of ``cameras_demo.json`` as live cameras.

Replays each demo camera's video in a loop (timestamps keep increasing from now) and publishes every
capture to the detections topic, keyed by camera id, exactly as a real deployment would. One process
steps all cameras in lock-step so a shared network sees one batch per tick. ``--out DIR`` writes
JSON lines instead (no broker); ``--once`` plays each video once; ``--realtime`` paces frames to their
timestamps (default), so the console sees captures at the rate real cameras would produce them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from cityops.city_data import get_city_data
from cityops.settings import get_settings
from detectors.cli import run
from detectors.factory import _demo_items, build_run, load_shared
from detectors.pipeline import Runner


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m detectors.demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="write captures.jsonl + evidence here instead of publishing")
    p.add_argument("--detector", default="classical", choices=["classical", "torch", "both"])
    p.add_argument("--once", action="store_true", help="play each video once, then stop")
    p.add_argument("--max-frames", type=int, default=None, help="per camera")
    p.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    shared = load_shared(args.detector)
    out = Path(args.out) if args.out else None
    start = datetime.now(UTC)
    runs = []
    for cam_id, item in _demo_items().items():
        cam = get_city_data().camera(cam_id)
        runs.append(
            build_run(
                cam,
                item["source"],
                settings,
                mode=args.detector,
                out=out,
                loop=not args.once,
                max_frames=args.max_frames,
                start=start,
                shared=shared,
            )
        )
    if not runs:
        print("error: no demo cameras in fixtures/data/cameras_demo.json", file=sys.stderr)
        return 2
    return run(Runner(runs, shared=shared, realtime=args.realtime), out, settings)


if __name__ == "__main__":
    raise SystemExit(main())
