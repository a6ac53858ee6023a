"""``python -m cityops briefing [--date D] [--lang zh|en|all] [--out DIR] [--schedule]``: write the daily briefing
once, or run the scheduler process.

Why its own module: it is the one place that uses both :mod:`dashboard.briefing.files` (writing a day) and
:mod:`dashboard.briefing.scheduler` (which writes through ``files``), so neither of those imports the other's
caller; and its imports of the renderers wait until a run starts, so ``--help`` stays quick.
"""

from __future__ import annotations

import argparse
import logging
from datetime import date
from pathlib import Path

from cityops.settings import Settings, get_settings
from dashboard.briefing.i18n import LANGS, check_lang

log = logging.getLogger("cityops.briefing")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", default=None, help="local day YYYY-MM-DD (default yesterday)")
    p.add_argument("--lang", default=None, choices=["zh", "en", "all"],
                   help="language (default CITYOPS_BRIEFING_LANGS, zh)")
    p.add_argument("--out", default=None, help="output folder (default var/briefings)")
    p.add_argument("--schedule", action="store_true",
                   help="run until stopped: yesterday's briefing daily at CITYOPS_BRIEFING_TIME, and on start "
                        "if missing")
    p.add_argument("--yesterday-on-start", action="store_true",
                   help="with --schedule: on start also write yesterday's briefing if missing, before "
                        "CITYOPS_BRIEFING_TIME (make demo, once its history is read); the daily run rewrites it")


def langs_setting(settings: Settings) -> list[str]:
    """The languages of ``CITYOPS_BRIEFING_LANGS`` (comma-separated), checked; ``zh`` when none."""
    langs = [x.strip() for x in settings.briefing_langs.split(",") if x.strip()]
    return [check_lang(x) for x in langs] or ["zh"]


def run_from_args(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)  # our progress lines, not fontTools' subsetting chatter
    settings = get_settings()
    out = Path(args.out).resolve() if args.out else settings.briefings_dir
    if args.lang == "all":
        langs = list(LANGS)
    elif args.lang:
        langs = [check_lang(args.lang)]
    else:
        langs = langs_setting(settings)
    if args.schedule:
        from cityops import observability
        from dashboard.briefing.scheduler import run_forever

        health = observability.Health("briefing")
        health.add("redis", observability.redis_check(settings.redis_url))
        observability.serve("briefing", health)  # on CITYOPS_METRICS_PORT_BRIEFING (0: off)
        run_forever(settings, out, langs, yesterday_on_start=args.yesterday_on_start)
        return 0
    from dashboard.briefing.compose import yesterday
    from dashboard.briefing.files import generate

    day = date.fromisoformat(args.date) if args.date else yesterday(settings)
    for lang in langs:
        files = generate(day, lang, out, settings)
        print(f"briefing {day.isoformat()} ({lang}): {files.png}, {files.pdf}, {files.md}")
    return 0
