"""Every console page in Chinese mode speaks Chinese (issue 17 point 7), in a real browser (Debian chromium +
Playwright) against a real broker, Redis, worker and ``python -m cityops console``.

The read model is seeded so that pages have content: cases of the last working days (one of them overdue, raised
through Kafka by the worker's SLA timer), sensors in alarm, AI captures, a camera's status and a dead letter. An
admin signs in (Chinese is the default language) and every page of the navigation is visited: the list comes from
``dashboard/app.py``'s ``_page(...)`` calls, so a page added later is checked too. Each page's visible text
(``document.body.innerText`` plus the cells of its tables, which Streamlit draws on a canvas) is searched for Latin
words; any word not in the small allow-list below fails the test, listed per page. Screenshots go to
``CITYOPS_SCREENSHOT_DIR`` (default the test's tmp dir).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cityops import read
from cityops.bus import Publisher, ensure_topics
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, console_process, publish_overdue_case, sign_in
from tests.support.cameras import CAMERA, seed_status, write_latest_frame
from tests.support.console_seed import seed_console, working_days_back
from tests.support.workers import REPO_ROOT, free_port, subprocess_env, wait_until, worker

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian chromium (/usr/bin/chromium) is not installed; CI installs it")

OVERDUE_CASE = "ZHCN1"
# Extra address of a page that needs one to show content (the case page opens the overdue case).
QUERY = {"case": f"?case={OVERDUE_CASE}"}
# A Latin token: letters, digits and the joiners ids and units use (PM2.5, mg/m³, CAM-0001, p90).
TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_\-./³²]*[A-Za-z0-9³²]|[A-Za-z]")
# What may stay Latin in Chinese mode. Each entry says why; ids are matched as classes, not listed one by one.
ALLOWED = [
    (r"[A-Z]{1,5}\d[\w\-./]*", "ids from the data: case ids, category codes (E0102), sensor ids"),
    (r"[A-Z]{2,5}-\d+[\w\-./]*", "device ids: CAM-0001, GW-…"),
    (r"[A-Za-z]+[-_]?\d+[A-Za-z0-9_\-]*", "ids of zones and gateways that carry digits (zone-1)"),
    (r"PM10|PM2\.5|dB|dBA|mg/m³|μg/m³|ug/m³|LAeq|ppm|pp", "units and pollutant names, as on Chinese instruments"),
    (r"CSV|Excel|PNG|PDF|Markdown|JPEG", "file formats named on buttons"),
    (r"AI|IoT|KPI|SLA|P90|GB|HJ", "abbreviations Chinese users read as such (AI抓拍, GB 3096 standard codes)"),
    (r"CityOps", "the product's name in the browser title bar and headers"),
    (r"Language", "the language switch is labelled in both languages on purpose (语言 Language)"),
    (r"English", "the language switch's option to change to English"),
    (r"coco/opencv|coco|opencv|yolo\w*|mock", "detector model ids reported by the camera (data, not labels)"),
]
ALLOWED_RE = [re.compile(rf"(?:{p})") for p, _why in ALLOWED]
# The visible text of the page and its tables' cells (glide-data-grid draws on a canvas; its DOM copy is hidden).
READ_TEXT = """() => {
  const cells = Array.from(document.querySelectorAll(
      '[data-testid="stDataFrame"] [role="columnheader"], [data-testid="stDataFrame"] [role="gridcell"]'))
    .map(e => e.textContent);
  return document.body.innerText + "\\n" + cells.join("\\n");
}"""


def nav_pages(app: Path = REPO_ROOT / "dashboard" / "app.py") -> list[str]:
    """The url paths of the navigation, read from app.py's ``_page("x.py", "page_x", "icon", "path")`` calls; the
    default page is served at ``/`` (its path is ``""`` here)."""
    out = []
    for m in re.finditer(r'_page\(\s*"[^"]+",\s*"[^"]+",\s*"[^"]+",\s*"([^"]+)"(\s*,\s*default=True)?',
                         app.read_text(encoding="utf-8")):
        out.append("" if m.group(2) else m.group(1))
    return out


def foreign_words(text: str) -> list[str]:
    """Latin tokens of ``text`` not in the allow-list (sorted, unique); single letters (×, axis x) are skipped."""
    words = {w for w in TOKEN.findall(text) if sum(ch.isalpha() for ch in w) >= 2}
    return sorted(w for w in words if not any(a.fullmatch(w) for a in ALLOWED_RE))


@pytest.fixture
def console(stack_env, redis_client, tmp_path):
    s = stack_env
    asyncio.run(ensure_topics(s))
    now = datetime.now(s.tz)
    seed_console(redis_client, working_days_back(now), now, cases_per_day=60, sensors=200, captures=4,
                 evidence_dir=s.evidence_dir)
    write_latest_frame(s.evidence_dir)
    seed_status(redis_client, CAMERA, now - timedelta(seconds=1), "zh-status")
    shots = Path(os.environ.get("CITYOPS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)

    async def dead_letter() -> None:
        async with Publisher(s) as pub:
            await pub.send(s.topics.cases, "zh-bad", b'{"case_id": 5')

    env = subprocess_env()
    env["CITYOPS_STATUS_INTERVAL_S"] = "600"  # the seeded camera status stays fresh for the whole test
    port = free_port()
    with worker(tmp_path / "worker.log", env):
        publish_overdue_case(s, OVERDUE_CASE)
        asyncio.run(dead_letter())
        wait_until(lambda: any(a.get("case_id") == OVERDUE_CASE and a.get("type") == "sla_overdue"
                               for a in read.alerts_current(redis_client, 200)), 60, "no SLA alert for the case")
        wait_until(lambda: read.recent_dead_letters(redis_client), 60, "the bad message was not refused")
        with console_process(port, env, tmp_path / "console.log"):
            yield f"http://127.0.0.1:{port}", shots


def _settle(page, timeout_s: float = 15.0) -> str:  # noqa: ANN001 - a Playwright page
    """The page's text once it has stopped changing (two equal reads 1 s apart) and no spinner shows."""
    page.wait_for_selector('[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"]',
                           timeout=30_000)
    deadline = time.monotonic() + timeout_s
    before = ""
    while time.monotonic() < deadline:
        page.wait_for_timeout(1_000)
        spinning = page.locator('[data-testid="stSpinner"], [data-testid="stSkeleton"]').count()
        text = page.evaluate(READ_TEXT)
        if text == before and not spinning:
            break
        before = text
    return page.evaluate(READ_TEXT)


def test_every_page_in_chinese_mode_shows_no_english_words(console):
    from playwright.sync_api import sync_playwright

    base, shots = console
    paths = nav_pages()
    assert "" in paths and "dead_letters" in paths and len(paths) >= 9, paths
    found: dict[str, list[str]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN").new_page()
            for path in paths:
                name = path or "default"
                sign_in(page, base, path + QUERY.get(path, ""), "admin", "admin-demo")  # an admin is not kept
                _settle(page)                                                          # across a reload
                search = page.get_by_role("button", name="查询", exact=True)
                if path == "case_search" and search.count():
                    search.click()
                    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
                text = _settle(page)
                page.screenshot(path=str(shots / f"zh_{name}.png"), full_page=True)
                assert "用户名" not in text or path == "admin", f"{name}: still on the sign-in form"
                words = foreign_words(text)
                if words:
                    found[name] = words
        finally:
            browser.close()
    assert not found, "English words on Chinese pages:\n" + "\n".join(f"  /{p}: {', '.join(w)}"
                                                                     for p, w in found.items())


def test_the_allow_list_lets_through_only_what_it_names():
    """The word filter itself: ids, units and formats pass; ordinary English words do not."""
    assert foreign_words("案件 ZHCN1 · CAM-0001 · E0102 · PM2.5 72 dB mg/m³ · 导出 CSV · AI抓拍") == []
    assert foreign_words("环节 dispatch · handle · 状态 active") == ["active", "dispatch", "handle"]
