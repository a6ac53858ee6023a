"""The wall screen's sign-in cookie and the 死信 page in a real browser (Debian chromium + Playwright) against a
real broker, Redis, worker and ``python -m cityops console``.

Checked: a leader who signed in is still signed in after a reload (the signed cookie), and after signing out a
reload asks for the password again (the session was revoked); an admin is not kept across a reload (idle rule);
malformed messages published to a real topic reach the 死信 page through the worker, counted in the chart and
listed with their raw payload as text (a ``<script>`` payload is not executed, binary bytes show escaped).
Screenshots go to ``CITYOPS_SCREENSHOT_DIR`` (default the test's tmp dir).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from cityops import read
from cityops.bus import Publisher, ensure_topics
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, FIRST_ELEMENT, console_process, sign_in
from tests.support.workers import free_port, subprocess_env, wait_until, worker

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian chromium (/usr/bin/chromium) is not installed; CI installs it")

SCRIPT_PAYLOAD = b'<script>window.__dlq = 1</script><b>not json'
BINARY_PAYLOAD = b"\x00\x01\xff\xfeGARBAGE\x1b[31m"


@pytest.fixture
def console(stack_env, redis_client, tmp_path):
    s = stack_env
    asyncio.run(ensure_topics(s))
    shots = Path(os.environ.get("CITYOPS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)

    async def publish() -> None:
        async with Publisher(s) as pub:
            await pub.send(s.topics.cases, "bad-1", SCRIPT_PAYLOAD)
            await pub.send(s.topics.cases, "bad-2", BINARY_PAYLOAD)
            await pub.send(s.topics.sensors, "bad-3", b'{"envelope_id": 5}')

    env = subprocess_env()
    port = free_port()
    with worker(tmp_path / "worker.log", env):
        asyncio.run(publish())
        wait_until(lambda: len(read.recent_dead_letters(redis_client)) >= 3, 60, "the bad messages were not refused")
        with console_process(port, env, tmp_path / "console.log"):
            yield f"http://127.0.0.1:{port}", shots


def _signed_in(page) -> bool:  # noqa: ANN001
    page.wait_for_selector(FIRST_ELEMENT, timeout=30_000)
    page.wait_for_timeout(1_500)
    return page.get_by_label("用户名").count() == 0


def _sign_out(page) -> None:  # noqa: ANN001
    page.get_by_test_id("stExpandSidebarButton").click()
    page.get_by_role("button", name="退出登录").click()
    page.get_by_label("用户名").wait_for(timeout=30_000)


def test_wall_screen_survives_a_reload_and_the_dead_letter_page_shows_refusals_as_text(console):
    from playwright.sync_api import sync_playwright

    base, shots = console
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
            page = context.new_page()
            sign_in(page, base, "", "leader", "leader-demo")
            wait_until(lambda: any(c["name"] == "cityops_session" for c in context.cookies()), 15,
                       "no sign-in cookie was set")
            page.reload()
            assert _signed_in(page), "the leader was asked to sign in again after a reload"
            page.screenshot(path=str(shots / "wall_after_reload.png"))
            _sign_out(page)
            page.reload()
            page.get_by_label("用户名").wait_for(timeout=30_000)
            page.screenshot(path=str(shots / "wall_after_signout_reload.png"))

            sign_in(page, base, "dead_letters", "admin", "admin-demo")
            page.get_by_text("最近的死信").wait_for(timeout=30_000)
            page.get_by_text("拒收合计").wait_for(timeout=10_000)
            page.wait_for_timeout(2_000)
            body = page.locator('[data-testid="stMain"]')
            assert "3" in body.get_by_test_id("stMetricValue").inner_text()
            assert page.evaluate("window.__dlq === undefined"), "a dead letter's payload was executed"
            assert page.locator("b", has_text="not json").count() == 0, "a payload became markup"
            page.screenshot(path=str(shots / "dead_letters.png"), full_page=True)
            page.get_by_test_id("stSelectbox").nth(1).click()
            page.get_by_role("option").filter(has_text="cases").first.click()
            page.wait_for_timeout(1_500)
            code = page.locator('[data-testid="stCode"]').inner_text()
            assert "<script>window.__dlq = 1</script>" in code or "\\x00\\x01\\xff\\xfe" in code, code
            page.screenshot(path=str(shots / "dead_letters_payload.png"), full_page=True)
            page.reload()
            page.get_by_label("用户名").wait_for(timeout=30_000)  # an admin is not kept across a reload
        finally:
            browser.close()
