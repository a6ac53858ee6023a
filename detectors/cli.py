"""``python -m cityops detect``: one camera of a cameras file (YAML), one source → captures + evidence, or Kafka.

With ``--out DIR`` no broker is needed: each capture is a line of ``DIR/captures.jsonl`` (a
:class:`cityops.schemas.Detection` encoded with :func:`cityops.schemas.encode`) and the JPEGs go to
``DIR/evidence``. Without it, captures are published to the detections topic keyed by camera id
(so one camera's captures stay in order) and evidence goes to ``settings.evidence_dir``. Camera health
(:mod:`detectors.health`) goes to ``DIR/status.jsonl`` or the camera-status topic every few seconds.
A bad cameras file exits with code 2 and one line per fault (camera, field, what is wrong).
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

from cityops.schemas import CameraStatus, Detection, encode
from cityops.settings import Settings, env_number, get_settings

if TYPE_CHECKING:  # imported when a run starts: OpenCV and the detectors are slow to import (--help is not)
    from detectors.pipeline import Runner

log = logging.getLogger("cityops.detectors")


def write_jsonl(ticks: Iterator[tuple[list[Detection], list[CameraStatus]]], out: Path) -> int:
    """Captures to ``out/captures.jsonl``, camera statuses to ``out/status.jsonl`` (one message a line)."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    with (out / "captures.jsonl").open("ab") as fh, (out / "status.jsonl").open("ab") as status:
        for captures, statuses in ticks:
            for det in captures:
                fh.write(encode(det) + b"\n")
                n += 1
            for st in statuses:
                status.write(encode(st) + b"\n")
            if captures:
                fh.flush()
            if statuses:
                status.flush()
    return n


async def publish(ticks: Iterator[tuple[list[Detection], list[CameraStatus]]], settings: Settings) -> int:
    """Detection runs in a worker thread; the event loop only sends, so Kafka I/O never stalls frames."""
    from cityops.bus import Publisher

    n = 0
    async with Publisher(settings) as pub:
        while True:
            tick = await asyncio.to_thread(next, ticks, None)
            if tick is None:
                break
            captures, statuses = tick
            for det in captures:
                await pub.send(settings.topics.detections, det.camera_id, encode(det))
                n += 1
            for st in statuses:
                await pub.send(settings.topics.camera_status, st.camera_id, encode(st))
            if captures or statuses:
                await pub.flush()
        await pub.flush()
    return n


def run(runner: Runner, out: Path | None, settings: Settings) -> int:
    """Drive the runner to its end, with camera health; print the summary; non-zero if no camera yielded a frame."""
    from cityops import observability
    from detectors.health import HealthReporter, cameras_check, with_health

    health = observability.Health("detect")
    health.add("cameras", cameras_check(runner.cameras))
    metrics_server = observability.serve("detect", health)  # CITYOPS_METRICS_PORT_DETECT; None when off
    root = out / "evidence" if out is not None else settings.evidence_dir
    interval = env_number("CITYOPS_STATUS_INTERVAL_S", 5.0)
    reporter = HealthReporter(runner.cameras, root, interval_s=interval) if interval > 0 else None
    ticks = with_health(runner.ticks(), reporter)
    try:
        if out is not None:
            write_jsonl(ticks, out)
        else:
            asyncio.run(publish(ticks, settings))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        if metrics_server is not None:
            metrics_server.close()
    summary = runner.summary()
    print(json.dumps(summary, ensure_ascii=False))
    errors = [r.error for r in runner.cameras if r.error]
    for err in errors:
        print(f"error: {err}", file=sys.stderr)
    return 1 if errors and summary["frames_processed"] == 0 else 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--camera", required=True, help="camera id in the cameras file")
    p.add_argument("--config", default=None,
                   help="cameras file (YAML); default: CITYOPS_CAMERAS_FILE or the city's cameras.yml")
    p.add_argument("--source", default=None, help="video file, rtsp/http URL or image folder; default: the camera's")
    p.add_argument("--out", default=None, help="write captures + camera status (JSON lines) + evidence here, no broker")
    p.add_argument("--detector", default=None, help="coco | classical | coco+classical (default: the camera's, "
                                                    "coco+classical unless its file says)")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--loop", action="store_true", help="replay a file forever (demo cameras)")


def run_from_args(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from cityops.camera_config import CameraConfigError
    from cityops.city_data import CityDataError
    from detectors.factory import build_run, cameras_from, load_shared, start_time
    from detectors.pipeline import Runner

    settings = get_settings()
    try:
        cameras = cameras_from(Path(args.config) if args.config else None)
        if args.camera not in cameras:
            raise KeyError(f"no camera {args.camera!r} in {args.config or 'the city cameras file'}")
        camera = cameras[args.camera]
        source = args.source or camera.source
        if not source:
            raise ValueError(f"camera {camera.id}: source: none configured; give --source")
        mode = args.detector or camera.detector
        shared = load_shared([mode])
        out = Path(args.out) if args.out else None
        camera_run = build_run(
            camera,
            source,
            settings,
            mode=mode,
            out=out,
            max_frames=args.max_frames,
            loop=args.loop,
            start=start_time(getattr(args, "start", None)),
        )
    except (CameraConfigError, CityDataError) as err:
        for line in err.errors if isinstance(err, CameraConfigError) else str(err).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyError as err:
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return run(Runner([camera_run], shared=shared), out, settings)
