"""The 摄像头 page in a real browser (Debian chromium through Playwright) against a real console and Redis.

An admin signs in, opens 摄像头, sees the camera's latest frame with its zones drawn and its health, clicks four
corners on the frame in the zone editor (``streamlit_image_coordinates``, served from its wheel: nothing leaves
127.0.0.1), saves, and the cameras file (a scratch copy, ``CITYOPS_CAMERAS_FILE``) holds the new polygon.
Screenshots go to ``CITYOPS_SCREENSHOT_DIR`` (default: the test's tmp dir).

Skipped only when /usr/bin/chromium is missing and ``CI`` is unset; in CI it must run.
"""

from __future__ import annotations

import io
import os
import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cityops.settings import get_settings
from dashboard.views.cameras import zone_colour
from detectors.camera_config import load_camera_file
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, console_process, keep_offline, sign_in
from tests.support.cameras import CAMERA, camera_file_copy, seed_status, write_latest_frame
from tests.support.workers import free_port, subprocess_env, wait_until

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian chromium (/usr/bin/chromium) is not installed; CI installs it")

# Where the corners are clicked, as fractions of the shown frame (the roadside zone redrawn as a trapezoid).
CORNERS = [(0.10, 0.60), (0.90, 0.60), (0.98, 0.97), (0.02, 0.97)]


def _is_zone_colour(image, at: tuple[float, float]) -> bool:  # noqa: ANN001 - a Playwright locator
    """Whether the shown image's pixel at ``at`` (fractions) has the first zone's colour (JPEG: roughly)."""
    from PIL import Image

    shot = Image.open(io.BytesIO(image.screenshot())).convert("RGB")
    x, y = round(at[0] * (shot.width - 1)), round(at[1] * (shot.height - 1))
    return any(all(abs(c - z) < 60 for c, z in zip(shot.getpixel((x, y + dy)), zone_colour(0), strict=True))
               for dy in (-1, 0, 1))


@pytest.fixture
def console(redis_url, redis_client, tmp_path, monkeypatch):
    path = camera_file_copy(tmp_path / "cameras.yml")
    for k, v in {"REDIS_URL": redis_url, "CITYOPS_VAR": str(tmp_path / "var"), "CITYOPS_CAMERAS_FILE": str(path),
                 "KAFKA_BROKER": "kafka://127.0.0.1:1",
                 "CITYOPS_STATUS_INTERVAL_S": "60"}.items():  # the seeded status stays fresh while chromium starts
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    s = get_settings()
    write_latest_frame(s.evidence_dir)
    seed_status(redis_client, CAMERA, datetime.now(s.tz) - timedelta(seconds=1), "st-browser")
    shots = Path(os.environ.get("CITYOPS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with console_process(port, subprocess_env(), tmp_path / "console.log"):
        yield f"http://127.0.0.1:{port}", path, shots
    get_settings.cache_clear()


def test_admin_redraws_a_zone_by_clicking_its_corners(console):
    from playwright.sync_api import sync_playwright

    base, path, shots = console
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
            keep_offline(context, outside)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            sign_in(page, base, "cameras", "admin", "admin-demo")
            main = page.locator('[data-testid="stMain"]')
            main.get_by_text("最新画面（区域与屏蔽区）").first.wait_for(timeout=30_000)
            main.locator('[data-testid="stImage"] img').first.wait_for(timeout=30_000)
            time.sleep(1)  # the frame image decodes
            page.screenshot(path=str(shots / "cameras.png"))
            assert main.get_by_text("路侧禁停区").count() >= 1  # the zones' legend
            online = page.locator('[data-testid="stMetric"]').filter(has_text="在线摄像头")
            assert re.search(r"\b1\b", online.inner_text()), online.inner_text()  # the seeded camera reports ok

            editor = page.frame_locator('iframe[title*="streamlit_image_coordinates"]')
            image = editor.locator("#image")
            image.wait_for(timeout=30_000)
            image.scroll_into_view_if_needed()
            box = image.bounding_box()
            assert box is not None and box["width"] > 300, box
            for n, (fx, fy) in enumerate(CORNERS, start=1):
                image.click(position={"x": fx * (box["width"] - 1), "y": fy * (box["height"] - 1)})
                main.get_by_text(f"已点击角点: {n}").wait_for(timeout=15_000)
            page.screenshot(path=str(shots / "cameras_zone_drawn.png"))
            main.get_by_role("button", name="保存").click()
            main.get_by_text("区域已保存").wait_for(timeout=15_000)
            main.get_by_text("区域已保存").scroll_into_view_if_needed()
            wait_until(lambda: load_camera_file(path).cameras[CAMERA].zones[0].polygon != (
                (0.0, 0.55), (1.0, 0.55), (1.0, 1.0), (0.0, 1.0)), 10, "the file did not change")
            # the editor now draws the saved zone: its outline (the zone's colour) runs along the new top edge
            edge = (0.475, CORNERS[0][1])  # between the sidewalk zone and the night market's, which overlap it
            wait_until(lambda: _is_zone_colour(editor.locator("#image"), edge), 15, "the saved zone is not drawn")
            page.screenshot(path=str(shots / "cameras_zone_saved.png"))
        finally:
            browser.close()
    roadside = next(z for z in load_camera_file(path).cameras[CAMERA].zones if z.id == "roadside")
    assert len(roadside.polygon) == len(CORNERS)
    for (x, y), (fx, fy) in zip(roadside.polygon, CORNERS, strict=True):
        assert abs(x - fx) < 0.01 and abs(y - fy) < 0.01, (roadside.polygon, CORNERS)
    assert not outside, f"requests left 127.0.0.1: {outside[:5]}"
    assert not errors, errors
