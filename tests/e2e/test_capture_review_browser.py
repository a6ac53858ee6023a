"""The duty officer's 待审核抓拍 queue in a real browser (Debian chromium via Playwright) against a real broker, Redis,
worker and console: two street-vending captures (evidence written by the detectors' own EvidenceStore from a
frame of vtest.avi, faces blurred) are published to the detections topic and appear in the queue; 确认立案 on
one opens its case, dispatched (read through cityops.read); 误报 on the other is counted. Screenshots go to
``CITYOPS_SCREENSHOT_DIR`` (default the test's tmp dir)."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from cityops import read
from cityops.bus import Publisher, ensure_topics
from detectors.base import Box
from detectors.evidence import EvidenceStore
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, console_process, sign_in
from tests.support.videos import vtest_frame
from tests.support.workers import free_port, subprocess_env, wait_until, worker

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian chromium (/usr/bin/chromium) is not installed; CI installs it")


def _captures(evidence_dir: Path, tz, seen: datetime) -> list[dict]:  # noqa: ANN001
    frame = vtest_frame()
    store = EvidenceStore(evidence_dir, tz)  # faces blurred: the default
    out = []
    for n, (x1, y1, x2, y2) in enumerate([(170, 90, 260, 300), (330, 80, 420, 300)], start=1):
        eid = f"br-{n}"
        ref, crop = store.write(frame, Box(x1, y1, x2, y2, "person", 0.9), camera_id="CAM-0001", event_id=eid,
                                when=seen, caption="street_vending")
        h, w = frame.shape[:2]
        out.append({"event_id": eid, "camera_id": "CAM-0001", "ai_type": "street_vending", "confidence": 0.87,
                    "box": [x1, y1, x2, y2], "frame_width": w, "frame_height": h, "track_id": str(n),
                    "first_seen": (seen - timedelta(seconds=80)).isoformat(), "last_seen": seen.isoformat(),
                    "dwell_s": 80.0, "evidence_ref": ref, "crop_ref": crop, "detector": "test"})
    return out


def test_a_capture_is_confirmed_and_dispatched_another_is_a_false_alarm(stack_env, redis_client, tmp_path):
    from playwright.sync_api import sync_playwright

    s = stack_env
    asyncio.run(ensure_topics(s))
    shots = Path(os.environ.get("CITYOPS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    captures = _captures(s.evidence_dir, s.tz, datetime.now(s.tz).replace(microsecond=0) - timedelta(seconds=40))

    async def publish() -> None:
        async with Publisher(s) as pub:
            for c in captures:
                await pub.send(s.topics.detections, c["camera_id"], orjson.dumps(c))

    env, port = subprocess_env(), free_port()
    day = datetime.now(s.tz).strftime("%Y%m%d")
    with worker(tmp_path / "worker.log", env), console_process(port, env, tmp_path / "console.log"):
        asyncio.run(publish())
        wait_until(lambda: len(read.review_queue(redis_client, datetime.now(s.tz), 600, s.tz).rows) == 2, 60,
                   "the captures did not reach the review queue (see read.recent_dead_letters)")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1400}, locale="zh-CN")
            try:
                sign_in(page, f"http://127.0.0.1:{port}", "duty", "duty", "duty-demo")
                first, second = (page.locator(f".st-key-review_{c['event_id']}") for c in captures)
                first.wait_for(timeout=30_000)
                second.wait_for(timeout=10_000)
                page.get_by_text("待审核抓拍 (2)").wait_for(timeout=10_000)
                first.locator('[data-testid="stImage"] img').first.wait_for(timeout=10_000)  # the evidence shows
                row = first.inner_text()
                assert "停留 1分20秒" in row and "置信度 0.87" in row, row  # dwell and confidence as sent
                first.scroll_into_view_if_needed()
                page.screenshot(path=str(shots / "duty_review_queue.png"), full_page=True)

                first.get_by_role("button", name="确认立案").click()
                wait_until(lambda: read.case(redis_client, "AI-br-1").get("state") == "dispatched", 30,
                           "the confirmed capture's case was not dispatched")
                first.wait_for(state="detached", timeout=15_000)
                second.get_by_role("button", name="误报").click()
                wait_until(lambda: read.review_stats(redis_client, [day]).totals.get("false_alarm") == 1, 30,
                           "the false alarm was not counted")
                second.wait_for(state="detached", timeout=15_000)
                page.get_by_text("没有待审核的抓拍").wait_for(timeout=15_000)
                page.get_by_text("50%").first.wait_for(timeout=10_000)  # 1 false alarm of 2 reviewed
                page.screenshot(path=str(shots / "duty_review_done.png"), full_page=True)
            except Exception:
                page.screenshot(path=str(shots / "duty_review_failure.png"), full_page=True)
                raise
            finally:
                browser.close()

    case = read.case(redis_client, "AI-br-1")
    assert case["source"] == "ai_video" and case["department"]
    assert not read.case(redis_client, "AI-br-2"), "a false alarm opens no case"
    stats = read.review_stats(redis_client, [day])
    assert stats.by_camera["CAM-0001"] == {"reviewed": 2, "confirmed": 1, "false_alarm": 1}
    assert len(read.dispatch_lags(redis_client, [day])) == 1
