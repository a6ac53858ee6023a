"""Driving the console in a real browser: shared by the browser test and the console benchmarks.

Debian's chromium through Playwright for Python, with the flags that keep it off the network (never
``playwright install``). The helpers here know the console's sign-in form and the duty officer's
acknowledge action; they return timings but judge nothing: the test asserts behaviour, the benchmarks
(``bench/bench_console_browser.py``) report the timings against their targets.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from cityops.bus import Publisher
from cityops.settings import Settings
from tests.support.console_seed import working_days_back
from tests.support.workers import REPO_ROOT, stop_process, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SIGN_IN_MAP = ".st-key-signin_map"
FIRST_ELEMENT = '[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"]'


def keep_offline(context, outside: list[str]) -> None:  # noqa: ANN001 - a Playwright browser context
    """Abort every request that leaves this machine, noting its URL in ``outside``: the console must need no internet
    (a government intranet), so a test asserts ``outside == []``."""

    def guard(route) -> None:  # noqa: ANN001
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)


def sign_in(page, base: str, path: str, user: str, password: str) -> tuple[float, float]:  # noqa: ANN001
    """Open ``path`` as a new visitor (no cookie: a wall screen's sign-in cookie would skip the form) and sign in.
    Returns (seconds from navigation until the sign-in form can be used, the monotonic time 登录 was pressed),
    so the user's typing is never counted."""
    page.context.clear_cookies()
    start = time.monotonic()
    page.goto(f"{base}/{path}")
    page.get_by_label("用户名").wait_for(timeout=30_000)
    form_s = time.monotonic() - start
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(password)
    # The sign-in page has a map of its own (a page's own fields may be labelled 用户名 too, so the map tells
    # the sign-in page apart): once it is gone after 登录, no one can take its canvas for the new page's.
    outline = page.locator(SIGN_IN_MAP)
    outline.wait_for(state="attached", timeout=30_000)
    clicked = time.monotonic()
    page.get_by_role("button", name="登录").click()
    outline.wait_for(state="detached", timeout=30_000)
    page.wait_for_selector(FIRST_ELEMENT, state="attached", timeout=30_000)
    return form_s, clicked


def choose_alert(page, case_id: str, attempts: int = 5):  # noqa: ANN001, ANN201 - Playwright objects
    """On the duty console, pick the alert of ``case_id`` in the action chooser; returns its status box.

    Enter picks the first option of the filtered list, so the list must show the match first. The feed
    refreshes every second and a refresh can close the open list under the typing: then try again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    combo = page.get_by_role("combobox", name="选择告警")
    info = page.locator('[data-testid="stAlertContentInfo"]').filter(has_text=case_id)
    for attempt in range(1, attempts + 1):
        try:
            combo.click()
            combo.fill(case_id)
            page.get_by_role("option").filter(has_text=f"{case_id} ·").first.wait_for(timeout=3_000)
            page.keyboard.press("Enter")
            info.wait_for(timeout=5_000)
            return info
        except PlaywrightTimeout:
            if attempt == attempts:
                raise
            page.keyboard.press("Escape")
    raise AssertionError("unreachable")


def pick_option(page, label: str, option: str, attempts: int = 5) -> None:  # noqa: ANN001 - a Playwright page
    """Choose ``option`` in the select box labelled ``label``. A rerun of the page (the duty feed's tick) can
    close the open list before the click lands: then open it again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    combo = page.get_by_role("combobox", name=label)
    for attempt in range(1, attempts + 1):
        try:
            combo.click()
            page.get_by_role("option", name=option, exact=True).click(timeout=3_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts:
                raise
            page.keyboard.press("Escape")


def acknowledge_chosen(page, timeout_ms: int = 15_000) -> float:  # noqa: ANN001
    """Press 确认 and wait until the chosen alert shows as acknowledged; seconds from click to shown."""
    clicked = time.monotonic()
    page.get_by_role("button", name="确认", exact=True).click()
    page.locator('[data-testid="stAlertContentInfo"]').filter(has_text="已确认").wait_for(timeout=timeout_ms)
    return time.monotonic() - clicked


def publish_overdue_case(settings: Settings, case_id: str, address: str = "思明区湖滨南路",
                         description: str = "占道经营") -> None:
    """An urgent case reported and registered two working days ago, through Kafka: its dispatch clock has
    long run out, so the worker's SLA timer raises a critical alert about it."""
    t0 = datetime.combine(working_days_back(datetime.now(settings.tz)), datetime.min.time(), settings.tz) \
        + timedelta(hours=10)
    events = [
        {"event_id": f"{case_id}-report", "case_id": case_id, "action": "report", "event_time": t0.isoformat(),
         "source": "hotline_12345", "category_code": "E0102", "lon": 118.0894, "lat": 24.4798, "urgent": True,
         "address": address, "description": description},
        {"event_id": f"{case_id}-register", "case_id": case_id, "action": "register",
         "event_time": (t0 + timedelta(minutes=1)).isoformat()},
    ]

    async def go() -> None:
        async with Publisher(settings) as pub:
            for e in events:
                await pub.send(settings.topics.cases, e["case_id"], orjson.dumps(e))

    asyncio.run(go())


@contextlib.contextmanager
def console_process(port: int, env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """``python -m cityops console`` on ``port``, yielded once Streamlit serves, stopped afterwards."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cityops", "console", "--port", str(port)], cwd=REPO_ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: any(m in log_path.read_text(errors="replace")
                                   for m in ("Uvicorn server started", "You can now view")),
                       60, f"console did not start; log:\n{log_path.read_text(errors='replace')[-2000:]}", proc)
            yield proc
        finally:
            stop_process(proc)
