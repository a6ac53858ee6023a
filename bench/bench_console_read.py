"""How long the big screen's reads take per refresh, with 30 days of Xiamen-scale data in Redis.

Target: everything the big screen reads for one refresh comes from Redis in ≤ 50 ms p95.

Data: a scratch redis-server (the same binary the stack uses) filled with ``--days`` simulated days
of ≈ 3,500 cases each (every lifecycle step), 2,000 sensors (one in 25 in alarm), ``--captures`` AI
captures and the SLA timer's overdue marks. The read model is written by the stream processors' own
projections and exactly-once Lua script (``tests/support/console_seed.py``), not through Kafka and Faust:
30 days are ≈ 600,000 case steps, which a worker would take far longer to consume, and the keys and
values are the same.

Measured: ``dashboard.screen_data.read_big_screen`` (the function the page calls), ``--runs`` times
after one warm-up, plus the duty console's feed reads for comparison (with the older active alerts
it lists beyond the feed's window, and without them as the baseline). Prints JSON.

    .venv/bin/python bench/bench_console_read.py [--days 30] [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis  # noqa: E402

from cityops import keys, read  # noqa: E402
from cityops.catalogue import get_catalogue  # noqa: E402
from cityops.services.readiness import wait_for_redis  # noqa: E402
from cityops.services.redis_server import start_redis  # noqa: E402
from cityops.settings import Settings, get_settings  # noqa: E402
from dashboard.screen_data import read_big_screen  # noqa: E402
from fixtures.xiamen import load_city  # noqa: E402
from tests.support.console_seed import seed_console, snapshot_hotspots  # noqa: E402
from tests.support.workers import free_port, stop_process  # noqa: E402


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--cases-per-day", type=int, default=3500)
    parser.add_argument("--sensors", type=int, default=2000)
    parser.add_argument("--captures", type=int, default=300)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--redis-url", help="use this Redis instead of a scratch one")
    parser.add_argument("--no-seed", action="store_true", help="measure what --redis-url already holds")
    args = parser.parse_args()

    proc = None
    if args.redis_url:
        url = args.redis_url
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
        port = free_port()
        proc = start_redis("127.0.0.1", port, tmp / "redis", tmp / "redis.log")
        url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for_redis(Settings(redis_url=url), 30)
        r = Redis.from_url(url, decode_responses=True)
        tz = get_settings().tz
        now = datetime.now(tz)
        t0 = time.perf_counter()
        cases = {"cases": None, "applied": None, "open": None}
        accepted = overdue = None
        if not args.no_seed:
            cases = seed_console(r, (now - timedelta(days=args.days - 1)).date(), now,
                                 cases_per_day=args.cases_per_day, sensors=args.sensors, captures=args.captures)
            accepted, overdue = cases["captures"], cases["overdue"]
        seed_s = time.perf_counter() - t0
        info = r.info("memory")
        city, catalogue = load_city(), get_catalogue()
        read_big_screen(r, now, city, catalogue)  # warm-up (connection, script of nothing)
        on_the_spot: list[float] = []  # baseline: hotspots built on each refresh, as with no worker running
        r.delete(keys.open_cases_snapshot())
        for _ in range(max(20, args.runs // 4)):
            t = time.perf_counter()
            read_big_screen(r, datetime.now(tz), city, catalogue)
            on_the_spot.append(time.perf_counter() - t)
        snapshot_hotspots(r)  # what the workers' hotspot timer keeps fresh every 5 s
        screen: list[float] = []
        for _ in range(args.runs):
            t = time.perf_counter()
            data = read_big_screen(r, datetime.now(tz), city, catalogue)
            screen.append(time.perf_counter() - t)
        duty: list[float] = []
        window_only: list[float] = []  # baseline: the feed's window without the older active alerts
        for _ in range(max(20, args.runs // 4)):
            t = time.perf_counter()
            rows = read.alerts_current(r, 400)
            read.sla_due(r, time.time(), 7200, 30)
            duty.append(time.perf_counter() - t)
            t = time.perf_counter()
            read.alerts_current(r, 400, active_beyond=0)
            read.sla_due(r, time.time(), 7200, 30)
            window_only.append(time.perf_counter() - t)
        print(json.dumps({
            "what": "big-screen reads per refresh (dashboard.screen_data.read_big_screen)",
            "data": {"days": args.days, "cases": cases["cases"], "case_steps": cases["applied"],
                     "open_cases": cases["open"], "open_positions_read": len(data.positions),
                     "sensors": len(data.sensors), "captures": accepted, "overdue_marked": overdue,
                     "redis_keys": r.dbsize(), "redis_used_memory_mb": round(info["used_memory"] / 2**20, 1),
                     "written_by": "stream projections + exactly-once Lua script (tests/support/console_seed.py)",
                     "seed_s": round(seed_s, 1)},
            "big_screen": {"runs": args.runs, **percentiles(screen), "target_p95_ms": 50},
            "big_screen_hotspots_built_on_each_refresh": {"runs": len(on_the_spot), **percentiles(on_the_spot)},
            "duty_feed": {"runs": len(duty), "rows": len(rows), "active_alerts": r.zcard(keys.active_alerts()),
                          **percentiles(duty)},
            "duty_feed_window_only": {"runs": len(window_only), **percentiles(window_only)},
        }, ensure_ascii=False, indent=2))
    finally:
        if proc is not None:
            stop_process(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
