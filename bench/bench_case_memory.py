"""Redis memory per case: the read model's bytes divided by the cases it holds (target ≤ 2 KB a case).

Fills a scratch redis-server (the binary the stack uses) with ``--days`` simulated days at Xiamen
scale (≈ 3,500 cases a day, every lifecycle step) through the case projection and the exactly-once
script the stream processors use (``tests/support/console_seed.py``), then prints JSON: ``used_memory`` before
and after, bytes per case, and the share of each key family (sampled with ``MEMORY USAGE``).

Two figures. ``fresh``: every byte now divided by the cases seeded, with every key alive (the hourly
counters, kept 14 days, and the dedupe keys of applied events, kept 10 days, weigh most in the first
days). ``steady_state``: each key family's bytes per case weighted by how long the key layout keeps it
against the 400 days cases are kept (``cityops/keys.py``), which is what a bureau's Redis holds per
case once it has run for a year. The repeated-problem queue is drained first, as the worker does.

    .venv/bin/python bench/bench_case_memory.py [--days 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis  # noqa: E402

from cityops import keys  # noqa: E402
from cityops.services.readiness import wait_for_redis  # noqa: E402
from cityops.services.redis_server import start_redis  # noqa: E402
from cityops.settings import Settings, get_settings  # noqa: E402
from tests.support.console_seed import seed_cases  # noqa: E402
from tests.support.workers import free_port  # noqa: E402

# How long cityops/keys.py keeps each family (days); everything else is kept 400 days or less.
RETENTION_DAYS = {"co:seen": 10, "co:repeat:geo": 7, "co:repeat:t": 7}
# Families that hold what is open now: they do not grow with the days kept, like the days seeded here.
LIVE = ("co:sla", "co:cases:open", "co:cases:open:scores", "co:cases:laststep", "co:overdue")
RETENTION_DAYS |= {f"co:kpi:h:{scope}": 14 for scope in keys.SCOPES}


def family(key: str) -> str:
    """``co:kpi:h:…:grid:…`` → ``co:kpi:h:grid``; ``co:timeline:X`` → ``co:timeline`` (``keys.parse``)."""
    parsed = keys.parse(key)
    if parsed is None:
        return "other"
    name, args = parsed
    label = keys.families()[name][0].rstrip(":")
    return f"{label}:{args['scope']}" if name in ("kpi_daily", "kpi_hourly") else label


def main() -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--cases-per-day", type=int, default=3500)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    port = free_port()
    proc = start_redis("127.0.0.1", port, tmp / "redis", tmp / "redis.log")
    try:
        wait_for_redis(Settings(redis_url=f"redis://127.0.0.1:{port}/0"), 30)
        r = Redis(port=port, decode_responses=True)
        before = int(r.info("memory")["used_memory"])
        now = datetime.now(get_settings().tz)
        started = time.monotonic()
        cases = seed_cases(r, (now - timedelta(days=args.days - 1)).date(), now, cases_per_day=args.cases_per_day)
        seconds = time.monotonic() - started
        r.delete(keys.repeat_queue())  # checked and emptied every second by the worker's repeat finder
        after = int(r.info("memory")["used_memory"])
        names = list(r.scan_iter(count=10_000))
        pipe = r.pipeline(transaction=False)
        for key in names:
            pipe.memory_usage(key, samples=0)
        by_family: Counter[str] = Counter()
        for key, size in zip(names, pipe.execute(), strict=True):
            by_family[family(key)] += int(size or 0)
        n = max(cases["cases"], 1)
        per_case = (after - before) / n
        kept = RETENTION_DAYS | dict.fromkeys(LIVE, args.days)
        steady = sum(size / n * min(kept.get(f, 400), 400) / 400 for f, size in by_family.items())
        return {"benchmark": "redis_memory_per_case", "machine": f"{platform.machine()} {os.cpu_count()} cores",
                "days": args.days, "cases": cases["cases"], "case_steps_applied": cases["applied"],
                "seed_seconds": round(seconds, 1), "keys": len(names), "used_memory_before": before,
                "used_memory_after": after, "fresh_bytes_per_case": round(per_case),
                "steady_state_bytes_per_case": round(steady),
                "fresh_bytes_per_case_by_key_family": {k: round(v / n) for k, v in by_family.most_common(14)},
                "target_bytes_per_case": 2048}
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    print(json.dumps(main(), ensure_ascii=False))
