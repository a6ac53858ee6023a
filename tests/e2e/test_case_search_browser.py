"""案件查询 in a real browser (Debian chromium through Playwright) against a real Redis and ``python -m cityops
console``: a duty officer searches, pages on, downloads the Excel export (opened with openpyxl: every case of the
search) and opens a case's 案件详情 from the list. Screenshots go to ``CITYOPS_SCREENSHOT_DIR`` (default tmp)."""

from __future__ import annotations

import io
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cityops.read.case_search import CaseQuery, search_cases
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, console_process, sign_in
from tests.support.console_seed import seed_cases, working_days_back
from tests.support.workers import free_port, subprocess_env

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian chromium (/usr/bin/chromium) is not installed; CI installs it")


def test_search_page_pages_exports_and_opens_a_case(stack_env, redis_client, tmp_path):
    from playwright.sync_api import sync_playwright

    s = stack_env
    now = datetime.now(s.tz)
    first = working_days_back(now)
    seed_cases(redis_client, first, now, cases_per_day=40)
    # what the page searches by default: the last seven days
    everything = search_cases(redis_client, CaseQuery(now.date() - timedelta(days=6), now.date(), limit=500),
                              "350200", s.tz)
    total = len(everything.cases)
    assert total > 50, "the seed gives more than one page"
    shots = Path(os.environ.get("CITYOPS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with console_process(port, subprocess_env(), tmp_path / "console.log"), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN",
                                       accept_downloads=True).new_page()
            sign_in(page, f"http://127.0.0.1:{port}", "case_search", "duty", "duty-demo")
            page.get_by_text("设置条件后点“查询”").wait_for(timeout=30_000)
            page.get_by_role("button", name="查询", exact=True).click()
            page.get_by_text("第 1 页").wait_for(timeout=30_000)
            page.locator('[data-testid="stDataFrame"]').wait_for(timeout=30_000)
            page.screenshot(path=str(shots / "case_search.png"))
            newest = everything.cases[0]["case_id"]
            pick = page.get_by_role("combobox", name="选择案件")
            assert newest in (pick.input_value() or pick.get_attribute("aria-label") or "")

            page.get_by_role("button", name="下一页").click()
            page.get_by_text("第 2 页").wait_for(timeout=30_000)
            page.wait_for_timeout(500)
            second = pick.input_value() or pick.get_attribute("aria-label") or ""
            assert everything.cases[50]["case_id"] in second, "page 2 starts after the first 50"
            page.screenshot(path=str(shots / "case_search_page2.png"))

            with page.expect_download(timeout=30_000) as dl:
                page.get_by_role("button", name="导出 Excel").click()
            sheet = load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes())).active
            ids = [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)]
            assert ids == [c["case_id"] for c in everything.cases], "the export holds every case of the search"

            page.get_by_role("button", name="打开案件详情").click()
            page.wait_for_url("**/case?case=*", timeout=30_000)
            page.get_by_text(f"案件详情 · {everything.cases[50]['case_id']}").wait_for(timeout=30_000)
            page.screenshot(path=str(shots / "case_search_opened.png"))
        except Exception:
            page.screenshot(path=str(shots / "case_search_failure.png"))
            raise
        finally:
            browser.close()
