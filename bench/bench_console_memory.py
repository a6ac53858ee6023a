"""Memory of the console server over a long run of the big screen's periodic refreshes.

Why: Streamlit has had memory leaks with periodic reruns (``st.fragment(run_every=…)``, widget
state, cached media); a wall screen runs for weeks. This starts a scratch Redis with a seeded read
model, the real console (``python -m cityops console``), and a real browser (Debian chromium through
Playwright) signed in on the big screen, then samples the server's RSS every ``--every`` seconds for
``--minutes`` while the data keeps changing (so every tick sends new values). Prints JSON: samples,
the growth from the first sample after warm-up to the last, and the growth rate per hour.

    .venv/bin/python bench/bench_console_memory.py [--minutes 10] [--every 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
from redis import Redis  # noqa: E402

from cityops import keys  # noqa: E402
from cityops.services.redis_server import start_redis  # noqa: E402
from cityops.settings import get_settings  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.console_seed import seed_console  # noqa: E402
from tests.support.workers import REPO_ROOT, free_port, stop_process, wait_until  # noqa: E402


def rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the baseline sample")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-console-mem-"))
    redis_port, console_port = free_port(), free_port()
    redis_proc = start_redis("127.0.0.1", redis_port, tmp / "redis", tmp / "redis.log")
    env = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", CITYOPS_VAR=str(tmp / "var"),
               KAFKA_BROKER="kafka://127.0.0.1:1", PYTHONPATH=str(REPO_ROOT))
    os.environ.update({k: env[k] for k in ("REDIS_URL", "CITYOPS_VAR")})
    get_settings.cache_clear()
    console = None
    try:
        r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
        wait_until(lambda: _ping(r), 20, "redis did not start")
        now = datetime.now(get_settings().tz)
        seed_console(r, (now - timedelta(days=1)).date(), now, cases_per_day=1500, sensors=2000, captures=20,
                     evidence_dir=get_settings().evidence_dir)
        log = (tmp / "console.log").open("wb")
        console = subprocess.Popen([sys.executable, "-m", "cityops", "console", "--port", str(console_port)],
                                   cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: "You can now view" in (tmp / "console.log").read_text(errors="replace"), 60,
                   "console did not start", console)
        from playwright.sync_api import sync_playwright

        samples: list[tuple[float, float]] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"http://127.0.0.1:{console_port}/")
            page.get_by_label("用户名").fill("leader")
            page.get_by_label("密码").fill("leader-demo")
            page.get_by_role("button", name="登录").click()
            page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
            start = time.monotonic()
            city_key = keys.kpi_daily(keys.day_bucket(datetime.now(get_settings().tz)), "city", "350200")
            while time.monotonic() - start < args.minutes * 60:
                r.hincrby(city_key, "received", 1)  # every tick has new figures to send
                samples.append((round(time.monotonic() - start, 1), round(rss_mb(console.pid), 1)))
                time.sleep(args.every)
            ticks = page.evaluate("document.querySelectorAll('[data-testid=\"stMetric\"]').length")
            browser.close()
        base = next((s for s in samples if s[0] >= args.warmup), samples[0])
        last = samples[-1]
        hours = max((last[0] - base[0]) / 3600, 1e-9)
        print(json.dumps({"what": "console server RSS (MB, with children) while the big screen refreshes every 5 s",
                          "minutes": args.minutes, "metrics_on_page_at_end": ticks,
                          "baseline_after_warmup_mb": base[1], "last_mb": last[1],
                          "growth_mb": round(last[1] - base[1], 1),
                          "growth_mb_per_hour": round((last[1] - base[1]) / hours, 1),
                          "samples": samples}, indent=1))
    finally:
        if console is not None:
            stop_process(console)
        stop_process(redis_proc)
    return 0


def _ping(r: Redis) -> bool:
    try:
        return bool(r.ping())
    except Exception:  # noqa: BLE001 - not up yet
        return False


if __name__ == "__main__":
    raise SystemExit(main())
