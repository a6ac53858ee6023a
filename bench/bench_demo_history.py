"""How soon the demo's history is read: the simulator publishes ``--days`` past days and the day so far at full
speed (what ``make demo`` does on its first start), a real worker reads them, and ``cityops wait --history``
returns once the last step published is in the read model.

Target (issue 17): within 3 minutes of ``make demo`` yesterday's figures and briefing are there, for the
demo's 60 days at 300 cases a day. The baseline in the same run is the simulator's own publishing time:
nothing can be read sooner than it is sent.

Stack: a scratch tansu broker and redis-server (the stack's launchers, so Redis has the compact encodings of
``cityops/services/redis_server.py``), one ``python -m cityops worker``; no console or other process.

    .venv/bin/python bench/bench_demo_history.py [--days 60] [--cases-per-day 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis  # noqa: E402

from bench.scratch_stack import scratch_stack  # noqa: E402
from tests.support.workers import REPO_ROOT, subprocess_env, worker  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--cases-per-day", type=int, default=300)
    parser.add_argument("--timeout", type=int, default=1200, help="give up waiting after this many seconds")
    args = parser.parse_args()

    with scratch_stack("bench-demo-history-") as (tmp, s):
        env = subprocess_env()
        with worker(tmp / "worker.log", env):
            started = time.monotonic()
            simulate = subprocess.run(
                [sys.executable, "-m", "cityops", "simulate", "--history-days", str(args.days),
                 "--cases-per-day", str(args.cases_per_day), "--duration", "1s"],
                cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
            published_s = time.monotonic() - started
            if simulate.returncode != 0:
                print(simulate.stdout + simulate.stderr, file=sys.stderr)
                return 1
            waited = subprocess.run(
                [sys.executable, "-m", "cityops", "wait", "--no-broker", "--history", str(args.timeout)],
                cwd=REPO_ROOT, env=env, capture_output=True, text=True)
            read_s = time.monotonic() - started
            if waited.returncode != 0:
                print(waited.stdout + waited.stderr, file=sys.stderr)
                return 1
        done = simulate.stdout.strip().splitlines()[-1]  # "simulate: done · cases N · case events M · …"
        events = int(re.search(r"case events (\d+)", done).group(1))
        cases = int(re.search(r"cases (\d+)", done).group(1))
        r = Redis.from_url(s.redis_url, decode_responses=True)
        result = {
            "machine": {"cpu_cores": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                        "python": platform.python_version(), "load_avg_1m": round(os.getloadavg()[0], 2)},
            "history": {"days": args.days, "cases_per_day": args.cases_per_day, "cases": cases,
                        "case_events": events},
            "baseline_published_s": round(published_s, 1),
            "read_s": round(read_s, 1),
            "read_events_per_s": round(events / read_s),
            "redis_used_memory_mb": round(int(r.info("memory")["used_memory"]) / 2**20, 1),
            "target_s": 180,
        }
        print(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
