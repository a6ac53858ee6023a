"""The demo's history end to end: ``simulate --history-days`` publishes past days and the day so far through a
real broker at full speed, a real worker reads them, ``cityops wait --history`` returns once they are read, and
yesterday's briefing then has yesterday's cases. A second start publishes nothing old again."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

from cityops import history_mark as history
from cityops import keys, read
from cityops.bus import ensure_topics
from fixtures.xiamen import load_city
from tests.support.workers import REPO_ROOT, subprocess_env, worker


def _simulate(env: dict[str, str], days: int) -> str:
    done = subprocess.run([sys.executable, "-m", "cityops", "simulate", "--history-days", str(days),
                           "--cases-per-day", "40", "--sensors", "5", "--duration", "1s"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_history_is_published_once_read_and_the_briefing_waits_for_it(stack_env, redis_client, tmp_path):
    import asyncio

    s = stack_env
    asyncio.run(ensure_topics(s))
    env = subprocess_env()
    yesterday = datetime.now(s.tz).date() - timedelta(days=1)
    with worker(tmp_path / "worker.log", env):
        out = _simulate(env, 3)
        assert f"history from {yesterday - timedelta(days=2)}" in out, out
        assert history.load_through(history.mark_path(s.var_dir)) == yesterday
        waited = subprocess.run([sys.executable, "-m", "cityops", "wait", "--no-broker", "--history", "120"],
                                cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert waited.returncode == 0 and not waited.stderr, waited.stderr
        city = load_city().code
        noon = datetime.combine(yesterday, datetime.min.time(), s.tz) + timedelta(hours=12)
        received = read.day_counters(redis_client, noon, "city", city).of("received")
        assert received > 20, received  # yesterday's cases are all read
        again = _simulate(env, 3)  # a later start: the history is not published again
        assert f"history from {datetime.now(s.tz).date()}" in again, again
    made = subprocess.run([sys.executable, "-m", "cityops", "briefing", "--date", yesterday.isoformat(),
                           "--out", str(tmp_path / "b")], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    assert made.returncode == 0, made.stderr
    figures = json.loads((tmp_path / "b" / yesterday.isoformat() / f"briefing-{yesterday}.zh.json").read_text())
    assert dict((k, v) for k, _, v in figures["totals"])["received"] == received
    bad = [a for a in read.alerts_current(redis_client) if a.get("type") == "sla_overdue"
           and a.get("case_id") and not _overdue_in_plan(redis_client, a["case_id"])]
    assert not bad, [(a["case_id"], a["stage"], redis_client.hgetall(keys.case(a["case_id"])).get("state"))
                     for a in bad[:3]]


def _overdue_in_plan(r, case_id: str) -> bool:  # noqa: ANN001
    """Whether the simulated city itself let this case run past a limit: its hash says a step came late or
    it is still waiting past its deadline."""
    case = r.hgetall(f"co:case:{case_id}")
    return case.get("late") == "1" or case.get("state") not in ("closed", "voided")
