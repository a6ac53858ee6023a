"""The console in a real browser (Debian chromium driven by Playwright) against a real stack.

A broker, Redis, a Faust worker and ``python -m cityops console`` run for real. The read model is
filled through the stream processors' own projections (``tests/support/console_seed.py``); one case whose
address and description hold ``<script>`` and ``<img onerror>`` goes through Kafka and the worker,
and its SLA clock runs out, so the duty officer gets a critical alert about it.

Checked: sign-in; KPI tiles and the map on the big screen; no request leaves 127.0.0.1 (no tiles,
fonts or CDN); acknowledging the alert shows on screen, with the
officer's name in the audit trail; event text never becomes markup (no element injected, nothing
executed, the tooltip shows the text); a screenshot of every page (``CITYOPS_SCREENSHOT_DIR`` keeps
them, default the test's tmp dir). How fast pages become usable is measured by
``bench/bench_console_browser.py`` over repeated runs; this test prints its timings but judges behaviour.

Skipped only when /usr/bin/chromium is missing and ``CI`` is unset; in CI it must run.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime
from pathlib import Path

import pytest

from cityops import read
from cityops.bus import ensure_topics
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    acknowledge_chosen,
    choose_alert,
    console_process,
    keep_offline,
    publish_overdue_case,
    sign_in,
)
from tests.support.console_seed import seed_console, working_days_back
from tests.support.workers import REPO_ROOT, free_port, subprocess_env, wait_until, worker

XSS_ADDRESS = '<script>window.__xss = "address"</script>思明区<b>湖滨</b>'
XSS_DESCRIPTION = '<img src=x onerror="window.__xss = \'description\'">占道经营'

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian chromium (/usr/bin/chromium) is not installed; CI installs it")


@pytest.fixture
def console(stack_env, redis_client, tmp_path):
    """Seeded read model + worker + console; yields (base URL, redis client, screenshot dir)."""
    s = stack_env
    asyncio.run(ensure_topics(s))
    now = datetime.now(s.tz)
    seed_console(redis_client, working_days_back(now), now, cases_per_day=300, sensors=600, captures=6,
                 evidence_dir=s.evidence_dir)
    shots = Path(os.environ.get("CITYOPS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = subprocess_env()
    with worker(tmp_path / "worker.log", env):
        publish_overdue_case(s, "XSS1", XSS_ADDRESS, XSS_DESCRIPTION)
        wait_until(lambda: any(a.get("case_id") == "XSS1" and a.get("type") == "sla_overdue"
                               for a in read.alerts_current(redis_client, 50)), 60, "no SLA alert for the XSS case")
        with console_process(port, env, tmp_path / "console.log"):
            yield f"http://127.0.0.1:{port}", redis_client, shots


def test_console_in_a_real_browser(console):
    from playwright.sync_api import sync_playwright

    base, r, shots = console
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
            keep_offline(context, outside)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            # -------- big screen, as the leader: tiles, map, no scrolling
            sign_in(page, base, "", "leader", "leader-demo")  # warm-up: first load compiles and caches
            page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
            page.goto("about:blank")
            form_s, clicked = sign_in(page, base, "", "leader", "leader-demo")
            page.locator('[data-testid="stMetric"]').nth(7).wait_for(timeout=30_000)
            tiles_s = time.monotonic() - clicked  # from pressing 登录 to all eight tiles shown
            metrics = page.locator('[data-testid="stMetric"]')
            assert metrics.count() == 8
            assert "今日受理" in metrics.first.inner_text()
            page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=30_000)
            time.sleep(2)
            scroll_h = page.evaluate("document.scrollingElement.scrollHeight")
            assert scroll_h <= 1080 + 2, f"big screen scrolls ({scroll_h}px)"
            page.screenshot(path=str(shots / "bigscreen.png"))
            # the refresh is a fragment: the page does not reload between ticks
            page.evaluate("window.__marker = 42")
            time.sleep(6)
            assert page.evaluate("window.__marker") == 42
            assert page.get_by_text("值班台").count() == 0, "a leader must not see the duty console"

            # -------- drill-down
            sign_in(page, base, "drill", "leader", "leader-demo")
            page.wait_for_selector('[data-testid="stMetric"]', timeout=30_000)
            page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=30_000)
            time.sleep(2)
            page.screenshot(path=str(shots / "drill.png"))

            # -------- duty console: the critical alert stands out; acknowledge it
            sign_in(page, base, "duty", "duty", "duty-demo")
            page.get_by_text("新的紧急告警").first.wait_for(timeout=30_000)
            info = choose_alert(page, "XSS1")
            assert "待处理" in info.inner_text()
            page.screenshot(path=str(shots / "duty.png"))
            ack_s = acknowledge_chosen(page)
            page.screenshot(path=str(shots / "duty_acknowledged.png"))
            audit = read.audit_trail(r, 5)
            assert audit and audit[0]["user"] == "李值班(duty)" and audit[0]["action"] == "acknowledge"

            # -------- case detail: event text is text
            sign_in(page, base, "case?case=XSS1", "duty", "duty-demo")
            page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=30_000)
            time.sleep(2)
            canvas = page.locator('[data-testid="stDeckGlJsonChart"]').first
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            tooltip = page.locator(".deck-tooltip")
            tooltip.wait_for(state="visible", timeout=10_000)
            assert "<script>" in tooltip.inner_text(), "the address shows as text in the tooltip"
            assert tooltip.locator("script, img, b").count() == 0
            page.screenshot(path=str(shots / "case.png"))
            assert page.evaluate("window.__xss") is None, "event text was executed"
            assert page.locator("img[src='x']").count() == 0

            # -------- user admin (and the briefing, when present), as the admin
            sign_in(page, base, "admin", "admin", "admin-demo")
            page.get_by_text("新增/修改用户").wait_for(timeout=30_000)
            page.wait_for_selector('[data-testid="stDataFrame"]', timeout=30_000)
            page.get_by_text("删除用户").wait_for(timeout=30_000)
            time.sleep(2)
            page.screenshot(path=str(shots / "admin.png"))
            if (REPO_ROOT / "dashboard" / "pages" / "briefing.py").exists():
                sign_in(page, base, "briefing", "admin", "admin-demo")
                page.get_by_role("button", name="生成昨日简报").click()  # yesterday is seeded
                page.get_by_text("下载 PDF(打印)").wait_for(timeout=120_000)
                page.wait_for_selector('[data-testid="stImage"] img', timeout=30_000)
                time.sleep(2)
                page.screenshot(path=str(shots / "briefing.png"))
            assert page.evaluate("window.__xss") is None
        except Exception:
            page.screenshot(path=str(shots / "failure.png"))
            raise
        finally:
            browser.close()
    # Timings are printed for the log, not judged: bench/bench_console_browser.py measures them over
    # repeated runs against the 3 s / 2 s targets (a timed assertion here fails on a busy CI machine).
    print(f"\nsign-in form usable after {form_s:.2f}s; big screen's tiles after sign-in {tiles_s:.2f}s; "
          f"acknowledge shown after {ack_s:.2f}s; screenshots in {shots}")
    assert not outside, f"requests left the intranet: {outside[:5]}"
    assert not [e for e in errors if "__xss" in e], errors
