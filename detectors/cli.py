"""``python -m cityops detect``: one camera, one source → captures.jsonl + evidence, or Kafka.

With ``--out DIR`` no broker is needed: each capture is a line of ``DIR/captures.jsonl`` (a
:class:`cityops.schemas.Detection` encoded with :func:`cityops.schemas.encode`) and the JPEGs go to
``DIR/evidence``. Without it, captures are published to the detections topic keyed by camera id
(so one camera's captures stay in order) and evidence goes to ``settings.evidence_dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cityops.schemas import Detection, encode
from cityops.settings import Settings, get_settings

if TYPE_CHECKING:  # imported when a run starts: OpenCV and the detectors are slow to import (--help is not)
    from detectors.pipeline import Runner

log = logging.getLogger("cityops.detectors")


def write_jsonl(ticks: Iterator[list[Detection]], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("ab") as fh:
        for captures in ticks:
            for det in captures:
                fh.write(encode(det) + b"\n")
                n += 1
            if captures:
                fh.flush()
    return n


async def publish(ticks: Iterator[list[Detection]], settings: Settings) -> int:
    """Detection runs in a worker thread; the event loop only sends, so Kafka I/O never stalls frames."""
    from cityops.bus import Publisher

    n = 0
    async with Publisher(settings) as pub:
        while True:
            captures = await asyncio.to_thread(next, ticks, None)
            if captures is None:
                break
            for det in captures:
                await pub.send(settings.topics.detections, det.camera_id, encode(det))
                n += 1
            if captures:
                await pub.flush()
        await pub.flush()
    return n


def run(runner: Runner, out: Path | None, settings: Settings) -> int:
    """Drive the runner to its end; print the summary; non-zero if no camera yielded a frame."""
    try:
        if out is not None:
            write_jsonl(runner.ticks(), out / "captures.jsonl")
        else:
            asyncio.run(publish(runner.ticks(), settings))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    summary = runner.summary()
    print(json.dumps(summary, ensure_ascii=False))
    errors = [r.error for r in runner.cameras if r.error]
    for err in errors:
        print(f"error: {err}", file=sys.stderr)
    return 1 if errors and summary["frames_processed"] == 0 else 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, help="video file, rtsp/http URL or image folder")
    p.add_argument("--camera", required=True, help="camera id from the city data (cameras.json)")
    p.add_argument("--out", default=None, help="write captures as JSON lines + evidence here, no broker")
    p.add_argument("--detector", default=None, help="classical | torch | both")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--loop", action="store_true", help="replay a file forever (demo cameras)")


def run_from_args(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from cityops.city_data import get_city_data
    from detectors.factory import build_run, load_shared, start_time
    from detectors.pipeline import Runner

    settings = get_settings()
    mode = args.detector or "classical"
    try:
        camera = get_city_data().camera(args.camera)
        shared = load_shared(mode)
        out = Path(args.out) if args.out else None
        camera_run = build_run(
            camera,
            args.source,
            settings,
            mode=mode,
            out=out,
            max_frames=args.max_frames,
            loop=args.loop,
            start=start_time(getattr(args, "start", None)),
            shared=shared,
        )
    except (KeyError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return run(Runner([camera_run], shared=shared), out, settings)
