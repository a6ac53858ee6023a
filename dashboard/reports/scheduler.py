"""The long-lived ``python -m cityops report --schedule`` process (Procfile line ``reports``).

On start it writes the newest due report of each kind of ``CITYOPS_REPORT_KINDS`` if it is missing, then each
report when it falls due (:mod:`dashboard.reports.schedule`). A failure is logged and retried after ``RETRY_S``;
the process does not exit (honcho would stop the whole demo).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cityops.periods import Period
from cityops.settings import Settings
from dashboard.briefing import schedule as briefing_schedule
from dashboard.briefing.scheduler import stop_on_signals
from dashboard.reports import files, schedule

log = logging.getLogger("cityops.reports")
RETRY_S = 300.0


def run_forever(settings: Settings, out_dir: Path, langs: list[str], stop: threading.Event | None = None,
                clock: Callable[[], datetime] | None = None) -> None:
    stop = stop or stop_on_signals()
    tz = settings.tz
    at = briefing_schedule.parse_time(settings.report_time)
    kinds = schedule.parse_kinds(settings.report_kinds)
    now = clock or (lambda: datetime.now(tz))
    if not kinds:
        log.info("reports: CITYOPS_REPORT_KINDS is empty, nothing to write")
        stop.wait()
        return

    def ensure(periods: list[Period], force: bool) -> list[Period]:
        """Write the periods' reports (the missing ones unless ``force``); the periods that failed."""
        failed = []
        for period in periods:
            for lang in langs:
                if not force and files.files_for(period, lang, out_dir).complete():
                    continue
                try:
                    written = files.generate(period, lang, out_dir, settings)
                    log.info("wrote %s", written.png)
                except Exception:  # noqa: BLE001 - keep the process alive; retry later
                    log.exception("report %s (%s) failed; retrying in %.0f s", period.label, lang, RETRY_S)
                    failed.append(period)
        return list(dict.fromkeys(failed))

    log.info("reports: %s at %s %s, output %s", ",".join(k.value for k in kinds), settings.report_time,
             settings.timezone, out_dir)
    pending = [schedule.due_period(k, now(), at, tz) for k in kinds]
    force = False
    while not stop.is_set():
        if pending:
            pending = ensure(pending, force)
            if pending:
                stop.wait(RETRY_S)
                continue
        run_at, due = schedule.next_due(kinds, now(), at, tz)
        while not stop.is_set() and now() < run_at:
            stop.wait(briefing_schedule.sleep_seconds(now(), run_at))
        if not stop.is_set():
            pending, force = due, True
