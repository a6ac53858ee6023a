"""A 督办单 raised, reminded, escalated and replied to, in real browsers (Debian chromium via Playwright) against a real
broker, Redis, worker and console (issue 17 point 3).

A case is reported and dispatched to 思明区环境卫生管理站 two working days ago through Kafka, so its handling clock has
run out and the duty feed has its 案件超期 alert. The duty officer chooses it on the duty console and raises a
一般督办 with the shortest reply window offered. The console offers the windows ``CITYOPS_SUPERVISION_WINDOWS`` names
(a deployment setting, like the bureau's own deadlines); this test offers "1分钟" so the supervision timer's steps
come within the test: the reminder half-way (the default ``CITYOPS_SUPERVISION_REMIND_S`` of an hour is longer than
the window) and the escalation to 重点督办 at the deadline, each shown on the duty console's 督办单 panel and feed.
The department user then signs in (a second browser context), sees the order on its desk and replies; the order
leaves the duty console's open list and the read model has it replied. Screenshots go to ``CITYOPS_SCREENSHOT_DIR``
(default the test's tmp dir).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cityops import read
from cityops.bus import ensure_topics
from cityops.read.supervision_orders import case_order
from tests.e2e.test_department_browser import DEPARTMENT, choose_case, grid_text, publish_dispatched, shown_words
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    choose_alert,
    console_process,
    keep_offline,
    pick_option,
    sign_in,
)
from tests.support.console_seed import working_days_back
from tests.support.workers import free_port, subprocess_env, wait_until, worker

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian chromium (/usr/bin/chromium) is not installed; CI installs it")

CASE = "SUPV1"
WINDOW_S = 60  # the shortest window the command agent accepts


def test_a_supervision_order_is_raised_reminded_escalated_and_replied_to(stack_env, redis_client, tmp_path,
                                                                       monkeypatch):
    from playwright.sync_api import sync_playwright

    s = stack_env
    asyncio.run(ensure_topics(s))
    shots = Path(os.environ.get("CITYOPS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("CITYOPS_SUPERVISION_WINDOWS", f"1分钟={WINDOW_S},2小时=7200")
    env, port = subprocess_env(), free_port()
    base = f"http://127.0.0.1:{port}"
    outside: list[str] = []
    started = time.monotonic()
    with worker(tmp_path / "worker.log", env), console_process(port, env, tmp_path / "console.log"):
        t0 = datetime.combine(working_days_back(datetime.now(s.tz)), datetime.min.time(), s.tz) + timedelta(hours=9)
        publish_dispatched(s, CASE, t0)
        wait_until(lambda: any(a.get("case_id") == CASE and a.get("type") == "sla_overdue"
                               for a in read.alerts_current(redis_client, 50)), 60,
                   "no 案件超期 alert for the dispatched case (see read.recent_dead_letters)")
        print(f"\nstack up and the case overdue after {time.monotonic() - started:.0f} s")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            duty_ctx = browser.new_context(viewport={"width": 1600, "height": 1500}, locale="zh-CN")
            dept_ctx = browser.new_context(viewport={"width": 1600, "height": 1100}, locale="zh-CN")
            for ctx in (duty_ctx, dept_ctx):
                keep_offline(ctx, outside)
            duty, dept = duty_ctx.new_page(), dept_ctx.new_page()
            try:
                # -------- the duty officer raises a 一般督办 with a one-minute reply window
                sign_in(duty, base, "duty", "duty", "duty-demo")
                duty.get_by_text("暂无未回复的督办单").wait_for(timeout=30_000)
                choose_alert(duty, CASE)
                pick_option(duty, "督办级别", "一般督办")
                pick_option(duty, "回复时限", "1分钟")
                duty.get_by_label("备注").fill("暴露垃圾超期未处置，请立即清理")
                raised = time.monotonic()
                duty.get_by_role("button", name="督办", exact=True).click()
                panel = duty.locator(f".st-key-sup_{CASE}")
                panel.wait_for(timeout=15_000)
                order = case_order(redis_client, CASE)
                assert order is not None and order.level == 1 and order.department == DEPARTMENT
                assert order.raised_by == "李值班(duty)" and order.note == "暴露垃圾超期未处置，请立即清理"
                assert WINDOW_S <= order.window_s < WINDOW_S + 2, order.window_s
                _shows(panel, "一般督办", "思明区环境卫生管理站")
                duty.get_by_text("督办单（未回复） (1)").wait_for(timeout=5_000)
                duty.screenshot(path=str(shots / "supervision_raised.png"), full_page=True)
                print(f"\nraised after {time.monotonic() - started:.0f} s")

                # -------- the department signs in meanwhile: the order is on its desk
                sign_in(dept, base, "", "dept", "dept-demo")
                mine = dept.locator(f".st-key-deptsup_{CASE}")
                mine.wait_for(timeout=30_000)
                _shows(mine, "一般督办", "暴露垃圾超期未处置")

                # -------- half-way: the reminder, on the panel and the feed
                panel.get_by_text("已提醒").wait_for(timeout=(WINDOW_S / 2 + 15) * 1000)
                wait_until(lambda: f"{CASE} · 督办提醒 · 一般督办" in grid_text(duty), 10,
                           "the reminder is not on the duty feed")
                duty.screenshot(path=str(shots / "supervision_reminded.png"), full_page=True)

                # -------- the deadline passes unanswered: 重点督办, escalated once
                panel.get_by_text("重点督办").wait_for(timeout=(WINDOW_S + 20 - (time.monotonic() - raised)) * 1000)
                panel.get_by_text("已升级1次").wait_for(timeout=5_000)
                wait_until(lambda: f"{CASE} · 督办升级 · 重点督办" in grid_text(duty), 10,
                           "the escalation is not on the duty feed")
                assert case_order(redis_client, CASE).level == 2
                duty.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=5_000)  # not mid-redraw
                duty.screenshot(path=str(shots / "supervision_escalated.png"), full_page=True)

                # -------- the department replies on its desk, where the order shows its new level
                mine.get_by_text("重点督办").wait_for(timeout=10_000)
                choose_case(dept, CASE)
                reply = dept.locator('[data-testid="stForm"]').filter(has_text="回复内容")
                reply.get_by_label("回复内容").fill("已安排人员于今日完成清理，并加强该路段巡查")
                dept.screenshot(path=str(shots / "supervision_department.png"), full_page=True)
                reply.get_by_role("button", name="督办回复", exact=True).click()
                reply.get_by_text("已提交").wait_for(timeout=15_000)
                assert not shown_words(dept), shown_words(dept)

                # -------- gone from the duty console's open list (and its alerts off the feed)
                panel.wait_for(state="detached", timeout=15_000)
                duty.get_by_text("暂无未回复的督办单").wait_for(timeout=5_000)
                wait_until(lambda: {a["state"] for a in read.alerts_current(redis_client, 50)
                                    if a.get("type") == "supervision"} == {"cleared"}, 10,
                           "the order's reminder and escalation were not cleared by the reply")
                duty.screenshot(path=str(shots / "supervision_replied.png"), full_page=True)
            except Exception:
                duty.screenshot(path=str(shots / "supervision_failure_duty.png"), full_page=True)
                dept.screenshot(path=str(shots / "supervision_failure_department.png"), full_page=True)
                raise
            finally:
                browser.close()

    order = case_order(redis_client, CASE)
    assert order.state == "replied" and order.replied_by == "思明区环卫站(dept)"
    assert order.reply == "已安排人员于今日完成清理，并加强该路段巡查"
    assert order.level == 2 and order.escalations == 1
    assert not outside, f"requests left the intranet: {outside[:5]}"
    print(f"\nsupervision test took {time.monotonic() - started:.0f} s; screenshots in {shots}")


def _shows(box, *texts: str, timeout_s: float = 15) -> None:  # noqa: ANN001 - a Playwright locator
    """Until ``box`` shows every one of ``texts``: a container found is not yet filled (Streamlit draws its
    elements one by one), so reading it once can see only its first lines."""
    wait_until(lambda: all(text in box.inner_text() for text in texts), timeout_s,
               f"{texts} not shown in: {box.inner_text()!r}")
