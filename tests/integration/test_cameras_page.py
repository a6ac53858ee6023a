"""The 摄像头 page through Streamlit's AppTest, on a real Redis and a scratch copy of the cameras file.

Checked: a duty officer sees each reporting camera's state (a silent one as 离线), frames/s, reconnects and
today's captures, the frame with its zones drawn, and no editor; an admin saves a zone's new corners into the
file, and a polygon the file would refuse is shown as the file's message, the file left as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cityops.settings import get_settings
from detectors.camera_config import load_camera_file
from tests.support.cameras import CAMERA, camera_file_copy, seed_status, write_latest_frame
from tests.support.console_run import fresh_city, rendered_text, run_page

SLOT = f"{CAMERA}:roadside"


@pytest.fixture
def cameras_env(redis_url, redis_client, tmp_path, monkeypatch) -> Iterator[Path]:
    path = camera_file_copy(tmp_path / "cameras.yml")
    for k, v in {"REDIS_URL": redis_url, "CITYOPS_VAR": str(tmp_path / "var"), "CITYOPS_CAMERAS_FILE": str(path),
                 "KAFKA_BROKER": "kafka://127.0.0.1:1", "CITYOPS_STATUS_INTERVAL_S": "5"}.items():
        monkeypatch.setenv(k, v)
    with fresh_city():
        s = get_settings()
        now = datetime.now(s.tz)
        write_latest_frame(s.evidence_dir)
        seed_status(redis_client, CAMERA, now - timedelta(seconds=2), "st-a", error="RTSP 超时，已重连")
        seed_status(redis_client, "CAM-0002", now - timedelta(minutes=5), "st-b")  # silent for 5 min: offline
        yield path


def test_duty_officer_sees_health_frame_and_zones_but_no_editor(cameras_env):
    at = run_page("cameras", "duty")
    text = rendered_text(at)
    table = next(d.value for d in at.dataframe if "帧率(帧/秒)" in d.value.columns)
    rows = {r["摄像头"]: r for r in table.to_dict("records")}
    assert set(rows) == {CAMERA, "CAM-0002"}  # only cameras that report, until 显示全部 is chosen
    assert rows[CAMERA]["状态"] == "正常" and rows[CAMERA]["帧率(帧/秒)"] == "4.8" and rows[CAMERA]["重连次数"] == "2"
    assert rows[CAMERA]["错误"] == "RTSP 超时，已重连"
    assert rows["CAM-0002"]["状态"] == "离线"
    assert "路侧禁停区" in text and "屏蔽区" in text  # the zones' legend and the mask's
    assert len(at.get("image")) >= 1  # the frame with its overlay
    assert not [b for b in at.button if b.label == "保存"], "a duty officer must not edit zones"


def test_admin_saves_a_zone_into_the_cameras_file_and_sees_a_refusal_as_text(cameras_env):
    path = cameras_env
    corners = [(0.1, 0.5), (0.9, 0.5), (0.95, 0.98), (0.05, 0.98)]
    at = run_page("cameras", "admin", **{f"zone_draft:{SLOT}": list(corners)})
    at.button(key=f"zone_save:{SLOT}").click().run()
    assert not at.exception, at.exception
    saved = load_camera_file(path).cameras[CAMERA]
    assert next(z for z in saved.zones if z.id == "roadside").polygon == tuple(corners)
    assert "区域已保存" in rendered_text(at)
    before = path.read_text(encoding="utf-8")

    at.session_state[f"zone_draft:{SLOT}"] = [(0.1, 0.1), (0.2, 0.2), (0.3, 0.3)]  # on one line: no area
    at.button(key=f"zone_save:{SLOT}").click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "区域未保存" in errors and "has no area" in errors, errors
    assert path.read_text(encoding="utf-8") == before
