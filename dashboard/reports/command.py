"""``python -m cityops report --period week|month|quarter [--date D] [--lang zh|en|all] [--out DIR] [--schedule]``:
write one period 通报, or run the scheduler process. Imports of the renderers wait until a run starts, so
``--help`` stays quick."""

from __future__ import annotations

import argparse
import logging
from datetime import datetime

from cityops.periods import PeriodKind, last_complete, parse_period
from cityops.settings import get_settings
from dashboard.briefing.command import langs_setting
from dashboard.briefing.i18n import LANGS, check_lang

log = logging.getLogger("cityops.reports")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--period", choices=[k.value for k in PeriodKind], default="month",
                   help="week (ISO week), month or quarter (default month)")
    p.add_argument("--date", default=None,
                   help="the period: a label (2026-W48, 2026-11, 2026-Q4) or any day in it (default: the last "
                        "period that is over)")
    p.add_argument("--lang", default=None, choices=["zh", "en", "all"],
                   help="language (default CITYOPS_BRIEFING_LANGS, zh)")
    p.add_argument("--out", default=None, help="output folder (default var/reports)")
    p.add_argument("--schedule", action="store_true",
                   help="run until stopped: each kind of CITYOPS_REPORT_KINDS when due at CITYOPS_REPORT_TIME, "
                        "and on start if missing")


def run_from_args(args: argparse.Namespace) -> int:
    from pathlib import Path

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)
    settings = get_settings()
    out = Path(args.out).resolve() if args.out else settings.reports_dir
    langs = list(LANGS) if args.lang == "all" else [check_lang(args.lang)] if args.lang else langs_setting(settings)
    if args.schedule:
        from cityops import observability
        from dashboard.reports.scheduler import run_forever

        health = observability.Health("reports")
        health.add("redis", observability.redis_check(settings.redis_url))
        observability.serve("reports", health)  # on CITYOPS_METRICS_PORT_REPORTS (0: off)
        run_forever(settings, out, langs)
        return 0
    try:
        period = (parse_period(args.period, args.date) if args.date
                  else last_complete(args.period, datetime.now(settings.tz).date()))
    except ValueError as err:
        print(f"cityops report: --date: {err}")
        return 2
    from dashboard.reports.files import generate

    for lang in langs:
        files = generate(period, lang, out, settings)
        print(f"report {period.label} ({lang}): {files.png}, {files.pdf}, {files.md}")
    return 0
