"""The long-lived ``python -m cityops briefing --schedule`` process (Procfile line ``briefing``).

Writes the due briefing on start if it is missing (and yesterday's too with ``--yesterday-on-start``), then
yesterday's at ``CITYOPS_BRIEFING_TIME`` every day (times from :mod:`dashboard.briefing.schedule`). A failure
(Redis down, disk full) is logged and retried after ``RETRY_S``; the process does not exit, because honcho stops
every other process of ``make demo`` when one exits.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from cityops.settings import Settings
from dashboard.briefing import files, schedule

log = logging.getLogger("cityops.briefing")
RETRY_S = 300.0


def run_forever(settings: Settings, out_dir: Path, langs: list[str], stop: threading.Event | None = None,
                clock: Callable[[], datetime] | None = None, yesterday_on_start: bool = False) -> None:
    """Write each due briefing until ``stop`` is set (on SIGTERM or SIGINT when none is given); with
    ``yesterday_on_start``, yesterday's on start too, before its run time (``make demo``, whose history is read
    by then; the run time rewrites it)."""
    stop = stop or stop_on_signals()
    tz = settings.tz
    at = schedule.parse_time(settings.briefing_time)
    now = clock or (lambda: datetime.now(tz))

    def ensure(day: date, force: bool) -> bool:
        """Write ``day``'s briefings (only the missing ones unless ``force``); False if any failed."""
        ok = True
        for lang in langs:
            if not force and files.files_for(day, lang, out_dir).complete():
                continue
            try:
                written = files.generate(day, lang, out_dir, settings)
                log.info("wrote %s", written.png)
            except Exception:  # noqa: BLE001 - keep the process alive; retry later
                log.exception("briefing %s (%s) failed; retrying in %.0f s", day, lang, RETRY_S)
                ok = False
        return ok

    # On start only a missing briefing is written; the daily run rewrites the day, replacing one made
    # on demand earlier from a day that was not over yet.
    pending = schedule.days_on_start(now(), at, tz, yesterday_on_start)
    force = False
    log.info("briefing scheduler: daily at %s %s, output %s, languages %s", settings.briefing_time,
             settings.timezone, out_dir, ",".join(langs))
    while not stop.is_set():
        if pending:
            pending = [day for day in pending if not ensure(day, force)]
            if pending:
                stop.wait(RETRY_S)
                continue
        run_at = schedule.next_run(now(), at, tz)
        while not stop.is_set() and now() < run_at:
            stop.wait(schedule.sleep_seconds(now(), run_at))
        if not stop.is_set():
            pending, force = [schedule.briefing_day(run_at, tz)], True


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
