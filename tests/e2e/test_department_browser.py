"""A department's desk (部门工作台) in a real browser (Debian chromium via Playwright) against a real broker, Redis,
worker and console (issue 17 point 4).

Two cases are reported, registered and dispatched to 思明区环境卫生管理站 through Kafka. The demo department user
``dept`` signs in and sees both in its queue (and only its desk in the menu); it handles the first with a note and a
photo (a real JPEG, uploaded through the page's file picker) and returns the second with a reason. Then the read
model shows the first handled, the photo's reference on its timeline (the file in the evidence store), and the
second back at 已立案 and out of the queue; the page says so too and shows no English word. Screenshots go to
``CITYOPS_SCREENSHOT_DIR`` (default the test's tmp dir).
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from PIL import Image, ImageDraw

from cityops import read
from cityops.bus import Publisher, ensure_topics
from cityops.read.supervision_orders import department_queue
from cityops.settings import Settings
from tests.e2e.test_chinese_pages_browser import READ_TEXT, foreign_words, usernames
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, console_process, keep_offline, sign_in
from tests.support.workers import free_port, subprocess_env, wait_until, worker

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian chromium (/usr/bin/chromium) is not installed; CI installs it")

DEPARTMENT = "DSAN-350203"  # the demo user ``dept``'s (config/users.demo.json)
HANDLED, RETURNED = "DEPA1", "DEPB2"


def publish_dispatched(settings: Settings, case_id: str, at: datetime, department: str = DEPARTMENT,
                       address: str = "思明区湖滨南路") -> None:
    """A 暴露垃圾 case reported, registered and dispatched to ``department`` from ``at`` on, through Kafka."""
    events = [
        {"event_id": f"{case_id}-report", "case_id": case_id, "action": "report", "event_time": at.isoformat(),
         "source": "hotline_12345", "category_code": "E0102", "lon": 118.0894, "lat": 24.4798, "address": address,
         "description": "路边暴露垃圾"},
        {"event_id": f"{case_id}-register", "case_id": case_id, "action": "register",
         "event_time": (at + timedelta(minutes=1)).isoformat()},
        {"event_id": f"{case_id}-dispatch", "case_id": case_id, "action": "dispatch", "actor": "派遣员",
         "department_id": department, "event_time": (at + timedelta(minutes=2)).isoformat()},
    ]

    async def go() -> None:
        async with Publisher(settings) as pub:
            for e in events:
                await pub.send(settings.topics.cases, e["case_id"], orjson.dumps(e))

    asyncio.run(go())


SPOKEN = """() => Array.from(document.querySelectorAll('[aria-live], [aria-live] *')).map(e => e.textContent)"""


def grid_text(page) -> str:  # noqa: ANN001 - a Playwright page
    """The page's text with its tables' cells (drawn on a canvas; their DOM copy is hidden), less its icons' names
    and what is only announced to screen readers (the chooser's "1 of 2 options available"), as the Chinese-pages
    test reads a page."""
    got = page.evaluate(READ_TEXT)
    text = got["text"]
    for hidden in [*got["icons"], *page.evaluate(SPOKEN)]:
        if hidden:
            text = text.replace(hidden, " ")
    return text


def shown_words(page) -> list[str]:  # noqa: ANN001
    """Latin words the page shows, once nothing is focused (a focused field shows Streamlit's own hints)."""
    page.keyboard.press("Escape")
    page.locator("h3").first.click()
    page.wait_for_timeout(300)
    text = grid_text(page)
    return foreign_words(text, usernames() | {"jpg"})  # the uploaded file's name is the user's data


def wait_text(page, needle: str, timeout_s: float = 20, absent: bool = False) -> None:  # noqa: ANN001
    wait_until(lambda: (needle in grid_text(page)) != absent, timeout_s,
               f"{needle!r} {'still' if absent else 'never'} on the page")


def choose_case(page, case_id: str) -> None:  # noqa: ANN001
    combo = page.get_by_role("combobox", name="选择案件")
    combo.click()
    combo.fill(case_id)
    page.get_by_role("option").filter(has_text=f"{case_id} ·").first.wait_for(timeout=5_000)
    page.keyboard.press("Enter")
    box = page.locator('[data-testid="stSelectbox"]').filter(has=combo)
    wait_until(lambda: case_id in combo.input_value() or f"{case_id} ·" in box.inner_text(), 5,
               f"{case_id} was not chosen")


def photo(path: Path) -> Path:
    """A real JPEG of a cleaned kerb, as a phone would send it."""
    img = Image.new("RGB", (640, 480), (120, 160, 200))
    ImageDraw.Draw(img).rectangle([100, 300, 540, 420], fill=(90, 90, 90))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    path.write_bytes(buf.getvalue())
    return path


def test_a_department_handles_one_case_with_a_photo_and_returns_another(stack_env, redis_client, tmp_path):
    from playwright.sync_api import sync_playwright

    s = stack_env
    asyncio.run(ensure_topics(s))
    shots = Path(os.environ.get("CITYOPS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    jpeg = photo(tmp_path / "现场.jpg")
    env, port = subprocess_env(), free_port()
    outside: list[str] = []
    started = time.monotonic()
    with worker(tmp_path / "worker.log", env), console_process(port, env, tmp_path / "console.log"):
        at = datetime.now(s.tz).replace(microsecond=0) - timedelta(minutes=10)
        for case_id in (HANDLED, RETURNED):
            publish_dispatched(s, case_id, at)
        wait_until(lambda: [c["case_id"] for c in department_queue(redis_client, DEPARTMENT)] == [HANDLED, RETURNED],
                   60, "the dispatched cases did not reach the department's queue (see read.recent_dead_letters)")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1600, "height": 1200}, locale="zh-CN")
            keep_offline(context, outside)
            page = context.new_page()
            try:
                sign_in(page, f"http://127.0.0.1:{port}", "", "dept", "dept-demo")
                page.get_by_text("部门工作台 · 思明区环境卫生管理站").wait_for(timeout=30_000)
                page.get_by_text("待处置案件 (2)").wait_for(timeout=15_000)
                wait_text(page, HANDLED)
                wait_text(page, RETURNED)
                text = grid_text(page)
                assert "市容环境/暴露垃圾" in text and "已派遣" in text, text
                assert "值班台" not in text and "领导驾驶舱" not in text, "a department user sees only its desk"
                page.screenshot(path=str(shots / "department_queue.png"), full_page=True)

                # 处置 with a note and a photo
                choose_case(page, HANDLED)
                handle = page.locator('[data-testid="stForm"]').filter(has_text="处置情况")
                handle.get_by_label("处置情况").fill("已清理路边暴露垃圾，现场恢复整洁")
                handle.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(jpeg))
                handle.locator('[data-testid="stFileChip"]').wait_for(timeout=15_000)
                page.screenshot(path=str(shots / "department_handle_form.png"), full_page=True)
                words = shown_words(page)
                assert not words, f"English words on the department desk: {words}"
                handle.get_by_role("button", name="处置", exact=True).click()
                handle.get_by_text("已提交").wait_for(timeout=15_000)
                wait_until(lambda: read.case(redis_client, HANDLED).get("state") == "handled", 30,
                           "the handling report was not applied (see read.recent_dead_letters)")

                # 退回 with the reason
                choose_case(page, RETURNED)
                back = page.locator('[data-testid="stForm"]').filter(has_text="退回理由")
                back.get_by_label("退回理由").fill("该点位属湖里区管辖，非本站责任区")
                back.get_by_role("button", name="退回", exact=True).click()
                back.get_by_text("已提交").wait_for(timeout=15_000)
                wait_until(lambda: read.case(redis_client, RETURNED).get("state") == "registered", 30,
                           "the return was not applied (see read.recent_dead_letters)")
                page.get_by_text("当前没有待处置的案件").wait_for(timeout=15_000)
                page.screenshot(path=str(shots / "department_done.png"), full_page=True)
                words = shown_words(page)
                assert not words, f"English words on the department desk: {words}"
            except Exception:
                page.screenshot(path=str(shots / "department_failure.png"), full_page=True)
                raise
            finally:
                browser.close()

    handled = read.case_timeline(redis_client, HANDLED)[-1]
    assert handled["action"] == "handle" and handled["department_id"] == DEPARTMENT
    assert handled["description"] == "已清理路边暴露垃圾，现场恢复整洁" and handled["actor"] == "思明区环卫站(dept)"
    ref = handled["evidence_ref"]
    assert ref.startswith(f"uploads/{DEPARTMENT}/") and ref.endswith(".jpg"), ref
    assert (s.evidence_dir / ref).read_bytes() == jpeg.read_bytes(), "the photo as uploaded, in the evidence store"
    returned = read.case_timeline(redis_client, RETURNED)[-1]
    assert returned["action"] == "return" and returned["description"] == "该点位属湖里区管辖，非本站责任区"
    assert read.case(redis_client, RETURNED)["state"] == "registered"
    assert department_queue(redis_client, DEPARTMENT) == [], "neither is the department's to handle now"
    assert not outside, f"requests left the intranet: {outside[:5]}"
    print(f"\ndepartment desk test took {time.monotonic() - started:.0f} s; screenshots in {shots}")
