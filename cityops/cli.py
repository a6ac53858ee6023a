"""``python -m cityops <command>``: one entry point for every process and tool.

Each command lives in the module that does the work; this file only parses arguments and imports
lazily, so ``python -m cityops broker`` does not pay for Faust, OpenCV or Streamlit imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import RedisError

# command name → (module, function, help). The function takes the parsed argparse namespace.
# Arguments are declared in ``_add_arguments`` below.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "broker": ("cityops.services.broker", "run_from_args", "run the embedded Kafka-compatible broker (tansu)"),
    "redis": ("cityops.services.redis_server", "run_from_args", "run the embedded redis-server with AOF under var/"),
    "topics": ("cityops.bus", "ensure_topics_from_args", "create the platform's Kafka topics if missing"),
    "worker": ("streams.app", "run_from_args", "run the Faust stream processors"),
    "console": ("dashboard.launch", "run_from_args", "run the Streamlit operations console"),
    "users": ("cityops.users_cli", "run_from_args", "add, change the password of, remove or list console accounts"),
    "simulate": ("fixtures.simulator.run", "run_from_args", "publish a simulated city day through Kafka"),
    "replay": ("fixtures.replay.cli", "run_from_args", "replay real data files (la311, air, noise) through Kafka"),
    "city": ("fixtures.xiamen", "run_from_args", "describe or export the Xiamen city fixture"),
    "detect": ("detectors.cli", "run_from_args", "run violation detection on a video, stream or image folder"),
    "snapshot": ("cityops.snapshot", "run_from_args", "print KPIs per district, department and category"),
    "wait": ("cityops.services.readiness", "run_from_args", "wait until the broker and Redis answer"),
    "migrate-keys": ("cityops.migrate_keys", "run_from_args",
                     "rename read-model keys of the old layout to today's (workers stopped); --dry-run counts only"),
    "briefing": ("dashboard.briefing.files", "run_from_args",
                 "write the daily briefing (每日简报) as PNG, PDF and Markdown; --schedule runs daily"),
}


def _add_arguments(name: str, p: argparse.ArgumentParser) -> None:
    if name in ("broker", "redis"):
        p.add_argument("--host", default=None, help="bind address (default from settings)")
        p.add_argument("--port", type=int, default=None, help="port (default from settings)")
        p.add_argument("--dir", default=None, help="data directory (redis only; default var/redis)")
    elif name == "worker":
        p.add_argument("--loglevel", default="warn", choices=["crit", "error", "warn", "info", "debug"])
    elif name == "console":
        p.add_argument("--port", type=int, default=None)
        p.add_argument("--headless", action="store_true", default=True)
    elif name == "users":
        from cityops.users_cli import add_arguments

        add_arguments(p)
    elif name == "migrate-keys":
        p.add_argument("--dry-run", action="store_true", help="count what would be migrated, change nothing")
        p.add_argument("--force", action="store_true", help="run even though a worker beat in the last 30 s")
    elif name == "simulate":
        p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
        p.add_argument("--seed", type=int, default=7)
        p.add_argument("--start", default="today", help="'today' (local midnight), 'now' or ISO time")
        p.add_argument("--duration", default=None, help="stop after this simulated span, e.g. 24h, 90m")
        p.add_argument("--cases-per-day", type=int, default=3500)
        p.add_argument("--sensors", type=int, default=None, help="number of sensors (default: all fixture sensors)")
        p.add_argument("--realtime-cap", action=argparse.BooleanOptionalAction, default=True,
                       help="never let the simulated clock pass the wall clock (default on)")
    elif name == "replay":
        p.add_argument("kind", choices=["la311", "air", "noise"])
        p.add_argument("paths", nargs="+")
        speed = p.add_mutually_exclusive_group()
        speed.add_argument("--speed", type=float, default=None, help="replay at X times real time, shifted to now")
        speed.add_argument("--fast", action="store_true", help="as fast as possible, original times kept")
        p.add_argument("--limit", type=int, default=None, help="stop after N rows per file")
    elif name == "city":
        p.add_argument("action", choices=["info", "export"], nargs="?", default="info")
        p.add_argument("--out", default=None, help="export: GeoJSON path")
    elif name == "detect":
        p.add_argument("--source", required=True, help="video file, rtsp/http URL or image folder")
        p.add_argument("--camera", required=True, help="camera id from the fixtures")
        p.add_argument("--out", default=None, help="write captures as JSON lines + evidence here, no broker")
        p.add_argument("--detector", default=None, help="classical | torch | both")
        p.add_argument("--max-frames", type=int, default=None)
        p.add_argument("--loop", action="store_true", help="replay a file forever (demo cameras)")
    elif name == "snapshot":
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument("--date", default=None, help="local day YYYY-MM-DD (default today)")
        p.add_argument("--district", default=None, help="district adcode, e.g. 350203")
    elif name == "wait":
        p.add_argument("--timeout", type=float, default=60.0)
        p.add_argument("--no-redis", action="store_true")
        p.add_argument("--no-broker", action="store_true")
    elif name == "briefing":
        p.add_argument("--date", default=None, help="local day YYYY-MM-DD (default yesterday)")
        p.add_argument("--lang", default=None, choices=["zh", "en", "all"],
                       help="language (default CITYOPS_BRIEFING_LANGS, zh)")
        p.add_argument("--out", default=None, help="output folder (default var/briefings)")
        p.add_argument("--schedule", action="store_true",
                       help="run until stopped: yesterday's briefing daily at CITYOPS_BRIEFING_TIME, and on start "
                            "if missing")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cityops", description="CityOps operations platform")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_module, _func, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _add_arguments(name, p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module_name, func_name, _ = COMMANDS[args.command]
    func: Callable[[argparse.Namespace], int | None] = getattr(importlib.import_module(module_name), func_name)
    try:
        result = func(args)
    except RedisError as err:  # a wrong password or an unreachable server: one clear line, not a traceback
        from cityops.settings import get_settings

        print(f"cityops {args.command}: Redis at {_without_password(get_settings().redis_url)}: "
              f"{type(err).__name__}: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
