"""Every console page in Chinese mode speaks Chinese (issue 17 point 7), in a real browser (Debian chromium +
Playwright) against a real broker, Redis, worker and ``python -m cityops console``.

The read model is seeded so that pages have content: cases of the last working days with the SLA timer's overdue
marks and alerts, an urgent case published through Kafka, sensors in alarm, AI captures, a camera's status and a
malformed message the worker dead-letters. An admin signs in (Chinese is the default language) and every page of
the navigation is visited: the list comes from ``dashboard/app.py``'s ``_page(...)`` calls, so a page added later is
checked too (the case page is opened on a dispatched case and on the urgent one). Each page's visible text
(``document.body.innerText`` plus the cells of its tables, which Streamlit draws on a canvas) is searched for Latin
words; any word not in the small allow-list below fails the test, listed per page. Screenshots and the text read
go to ``CITYOPS_SCREENSHOT_DIR`` (default the test's tmp dir).
"""

from __future__ import annotations

import asyncio
import json
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

URGENT_CASE = "ZHCN1"
DETECTOR = r"coco|opencv|torch|classical|yolo\w*"
# A Latin token: letters, digits and the joiners ids and units use (PM2.5, mg/m³, CAM-0001, notify.yml).
TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_\-./³²]*[A-Za-z0-9³²]|[A-Za-z]")
# What may stay Latin in Chinese mode. Each entry says why; ids are matched as classes, not listed one by one.
ALLOWED = [
    (r"[A-Z]{1,5}\d[\w\-./]*", "ids from the data: case ids XM2026…, category codes E0102"),
    (r"[A-Z]{2,5}-[\w\-.]*\d[\w\-.]*", "numbered ids: cameras CAM-0001, sensors IOT-NR-0020-1, cases AI-seed-cap-0"),
    (r"[a-z0-9_]+(?:\.[a-z0-9_]+)+", "dotted names: file names (notify.yml), Kafka topic names (….cases)"),
    (r"PM10|PM2\.5|dB|dBA|m?g/m³|kPa|pp", "units (µg/m³ reads as g/m³ here) and pollutants, as instruments print them"),
    (r"LAeq|LAEQ|LAmax", "sound levels as GB 3096 writes them (also in the city's sensor names: 工地LAEQ监测)"),
    (r"CSV|Excel|PNG|PDF|Markdown", "file formats named on buttons"),
    (r"AI|IoT|KPI|SLA|P90", "abbreviations Chinese users read as such (AI抓拍, P90)"),
    (r"CityOps", "the product's name"),
    (r"Language|English", "the language switch names English in English on purpose (语言 Language, English)"),
    (rf"(?:{DETECTOR})(?:[/+](?:{DETECTOR}))*", "detector ids a camera reports (CameraStatus.detector: data)"),
]
ALLOWED_RE = [re.compile(p) for p, _why in ALLOWED]
# Text that is not shown as words: Streamlit's skip link for screen readers (hidden until focused) and command
# lines the user is told to type (a shell command has no Chinese form).
STRIP = [re.compile(r"Skip to main content"), re.compile(r"python -m cityops( [a-z_\-]+)*")]
# The page's visible text and its tables' cells (glide-data-grid draws on a canvas; its DOM copy is hidden), and
# the Material icons' ligature names (keyboard_arrow_right, warning: drawn as glyphs, not read as words).
READ_TEXT = """() => {
  const cells = Array.from(document.querySelectorAll(
      '[data-testid="stDataFrame"] [role="columnheader"], [data-testid="stDataFrame"] [role="gridcell"]'))
    .map(e => e.textContent);
  const icons = Array.from(document.querySelectorAll(
      '[data-testid="stIconMaterial"], [data-testid="stAlertDynamicIcon"]')).map(e => e.textContent);
  const frames = Array.from(document.querySelectorAll('[data-testid="stDataFrame"]'));
  return {text: document.body.innerText + "\\n" + cells.join("\\n"), icons: icons,
          tables_drawn: frames.every(f => !f.checkVisibility() || f.querySelector('[role="columnheader"]') !== null)};
}"""


# Pages only a department user gets (its desk is its default page, at ``/``): read in a session of their own.
DEPARTMENT_PAGES = {"department"}


def nav_pages(app: Path = REPO_ROOT / "dashboard" / "app.py") -> list[str]:
    """The url paths of the command centre's navigation, read from app.py's ``_page("x.py", "page_x", "icon",
    "path")`` calls (:data:`DEPARTMENT_PAGES` left out); the default page is served at ``/`` (path ``""`` here)."""
    out = []
    for m in re.finditer(r'_page\(\s*"[^"]+",\s*"[^"]+",\s*"[^"]+",\s*"([^"]+)"(\s*,\s*default=True)?',
                         app.read_text(encoding="utf-8")):
        if m.group(1) not in DEPARTMENT_PAGES:
            out.append("" if m.group(2) else m.group(1))
    return out


def usernames() -> set[str]:
    """The demo accounts' login names: account ids shown as data (当前用户: 系统管理员 (admin), the users table)."""
    users = json.loads((REPO_ROOT / "config" / "users.demo.json").read_text(encoding="utf-8"))["users"]
    return {u["username"] for u in users}


def foreign_words(text: str, data: set[str] = frozenset()) -> list[str]:
    """Latin tokens of ``text`` not in the allow-list nor in ``data`` (words of raw data the page shows as text),
    sorted, unique; single letters (an axis x, the T of an ISO time) are skipped."""
    for strip in STRIP:
        text = strip.sub(" ", text)
    words = {w for w in TOKEN.findall(text) if sum(ch.isalpha() for ch in w) >= 2}
    return sorted(w for w in words - data if not any(a.fullmatch(w) for a in ALLOWED_RE))


def raw_words(letters: list[dict]) -> set[str]:
    """Words of what the 死信 page shows as raw text: the refused payloads and the validators' reasons (library
    messages quoting the input, kept verbatim for the admin)."""
    return {w for d in letters for field in ("payload", "reason") for w in TOKEN.findall(str(d.get(field, "")))}


@pytest.fixture
def console(stack_env, redis_client, tmp_path):
    s = stack_env
    asyncio.run(ensure_topics(s))
    now = datetime.now(s.tz)
    seeded = seed_console(redis_client, working_days_back(now), now, cases_per_day=60, sensors=200, captures=4,
                          evidence_dir=s.evidence_dir)
    assert seeded["overdue"] and seeded["captures"], seeded  # 案件超期 and AI抓拍 rows on the duty console
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
        publish_overdue_case(s, URGENT_CASE)
        asyncio.run(dead_letter())
        wait_until(lambda: read.case(redis_client, URGENT_CASE), 60, "the published case was not registered")
        wait_until(lambda: read.recent_dead_letters(redis_client), 60, "the bad message was not refused")
        # a case in 处置 (dispatched: its department and steps show on the case page)
        dispatched = next(a["case_id"] for a in read.alerts_current(redis_client, 1000)
                          if a.get("type") == "sla_overdue" and a.get("stage") == "handle")
        with console_process(port, env, tmp_path / "console.log"):
            yield f"http://127.0.0.1:{port}", redis_client, shots, [dispatched, URGENT_CASE]


def _read(page) -> tuple[str, bool]:  # noqa: ANN001 - a Playwright page
    """The page's text less its icons' names, and whether every visible table has been drawn."""
    got = page.evaluate(READ_TEXT)
    text = got["text"]
    for icon in got["icons"]:
        text = text.replace(icon, " ")
    return text, got["tables_drawn"]


def _settle(page, timeout_s: float = 8.0) -> str:  # noqa: ANN001 - a Playwright page
    """The page's text (icons left out) once it stops changing: two equal reads 0.5 s apart, digits ignored (the
    refreshing fragments show a clock), every table drawn and no spinner."""
    page.wait_for_selector('[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"]',
                           timeout=30_000)
    deadline, before = time.monotonic() + timeout_s, None
    while True:
        page.wait_for_timeout(500)
        text, drawn = _read(page)
        shape = re.sub(r"\d", "0", text)
        busy = not drawn or page.locator('[data-testid="stSpinner"], [data-testid="stSkeleton"]').count()
        if (shape == before and not busy) or time.monotonic() > deadline:
            return text
        before = shape


def _open(page, base: str, path: str) -> None:  # noqa: ANN001 - a Playwright page
    """Go to ``path`` through the top menu, as a user does: the page changes without a reload (an admin is not kept
    across one, and signing in again for every page would double the test's time)."""
    link = page.locator(f'[data-testid="stTopNavDropdownLink"][href="{base}/{path}"]')
    sections = page.locator('[data-testid="stTopNavSection"]')
    for i in range(sections.count()):
        sections.nth(i).click()
        try:
            link.first.wait_for(timeout=1_500)
        except Exception:  # noqa: BLE001 - not in this section: close it, try the next
            page.keyboard.press("Escape")
            continue
        link.first.click()
        page.wait_for_url(f"{base}/{path}", timeout=15_000)
        return
    raise AssertionError(f"/{path} is not in the menu")


def test_every_page_in_chinese_mode_shows_no_english_words(console):
    from playwright.sync_api import sync_playwright

    base, r, shots, cases = console
    paths = nav_pages()
    assert "" in paths and "dead_letters" in paths and len(paths) >= 9, paths
    data = usernames()
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        started = time.monotonic()
        text = _settle(page)
        page.screenshot(path=str(shots / f"zh_{name}.png"), full_page=True)
        text += "\n" + _read(page)[0]  # and what drew while the screenshot was taken
        (shots / f"zh_{name}.txt").write_text(text, encoding="utf-8")
        raw = raw_words(read.recent_dead_letters(r, 50)) if name == "dead_letters" else set()
        words = foreign_words(text, data | raw)
        if words:
            found[name] = words
        print(f"{name}: {time.monotonic() - started:.1f} s")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN").new_page()
            sign_in(page, base, "", "admin", "admin-demo")
            page.get_by_label("密码", exact=True).wait_for(state="detached", timeout=30_000)  # the page, not the form
            for path in paths:
                if path:
                    _open(page, base, path)
                if path == "case_search":  # the results table shows after 查询
                    page.get_by_role("button", name="查询", exact=True).click()
                    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
                if path == "case":  # a dispatched case (department, steps) and the urgent one
                    for i, case_id in enumerate(cases):
                        page.get_by_label("案件编号").fill(case_id)
                        page.keyboard.press("Enter")
                        page.get_by_text(f"案件详情 · {case_id}").wait_for(timeout=30_000)
                        check(f"case_{i}")
                else:
                    check(path or "default")
            page = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN").new_page()
            sign_in(page, base, "", "dept", "dept-demo")  # a department user: its desk is its only page
            page.get_by_label("密码", exact=True).wait_for(state="detached", timeout=30_000)
            check("department")
        finally:
            browser.close()
    assert not found, "English words on Chinese pages:\n" + "\n".join(f"  /{p}: {', '.join(w)}"
                                                                     for p, w in found.items())


def test_the_allow_list_lets_through_only_what_it_names():
    """The word filter itself: ids, units, formats and Streamlit's skip link pass; ordinary English words and
    department codes do not."""
    assert foreign_words("Skip to main content 案件 ZHCN1 · CAM-0001 · E0102 · PM2.5 72 dB µg/m³ · 导出 CSV · "
                         "AI抓拍 · coco/opencv · 运行 python -m cityops briefing") == []
    assert foreign_words("环节 dispatch · handle · 状态 active · admin · CITY-ENFORCE", {"admin"}) == \
        ["CITY-ENFORCE", "active", "dispatch", "handle"]
