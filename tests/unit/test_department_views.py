"""The department desk's and the 督办单 panel's view models, the reply windows a 督办 offers and the check and storage
of a 处置 photo (pure: no Streamlit, no Redis)."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from cityops.catalogue import get_catalogue
from cityops.city_data import get_city_data
from cityops.supervision_orders import REPLY_WINDOWS_S, Order
from dashboard.views import department as views
from dashboard.views import duty as duty_views

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=TZ)


def _jpeg(size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buf, format="JPEG")
    return buf.getvalue()


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG that declares ``w``×``h`` pixels in a few bytes (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def test_time_left_reads_in_chinese_and_says_when_it_is_past():
    assert views.fmt_left(90061) == "1天1小时"
    assert views.fmt_left(3900) == "1小时05分"
    assert views.fmt_left(65) == "1分05秒"
    assert views.fmt_left(-1) == "已超期"


def test_reply_windows_come_from_the_setting_or_the_platform():
    assert views.reply_windows("") == REPLY_WINDOWS_S
    assert views.reply_windows("1分钟=60, 半天=43200") == {"1分钟": 60.0, "半天": 43200.0}
    # under a minute or over 30 days the agent refuses: not offered; nothing usable left → the platform's own
    assert views.reply_windows("太短=10,太长=99999999,乱写") == REPLY_WINDOWS_S


def test_the_reply_deadline_is_never_shorter_than_the_window_chosen():
    now = datetime(2026, 3, 2, 10, 0, 0, 250_000, tzinfo=UTC)
    due = views.reply_due(now, 60)
    assert due.microsecond == 0 and 60 <= (due - now).total_seconds() < 61
    exact = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert views.reply_due(exact, 7200) == exact + timedelta(hours=2)


def test_a_photo_is_checked_before_it_is_stored(tmp_path):
    assert views.photo_format(_jpeg()) == "JPEG"
    for bad in (b"", b"not an image at all", _png_header_only(50_000, 50_000), _jpeg()[:200]):
        with pytest.raises(views.PhotoRefused):
            views.photo_format(bad)
    with pytest.raises(views.PhotoRefused):
        views.photo_format(b"\xff" * (views.MAX_PHOTO_BYTES + 1))
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="GIF")
    with pytest.raises(views.PhotoRefused):
        views.photo_format(buf.getvalue())  # not a format the console shows


def test_a_stored_photo_gets_a_fresh_name_under_its_department(tmp_path):
    data = _jpeg()
    ref = views.save_photo(tmp_path, "DSAN-350203", data)
    assert ref.startswith("uploads/DSAN-350203/") and ref.endswith(".jpg")
    assert (tmp_path / ref).read_bytes() == data
    assert views.save_photo(tmp_path, "DSAN-350203", data) != ref
    with pytest.raises(views.PhotoRefused):
        views.save_photo(tmp_path, "../etc", _jpeg())
    assert not list(tmp_path.rglob("*.part"))


def _order(**kw) -> Order:
    base = dict(case_id="C1", order_id="cmd-1", level=2, department="DSAN-350203", raised_by="李值班(duty)",
                raised_at=NOW.isoformat(), level_at=NOW.isoformat(),
                reply_due=(NOW + timedelta(minutes=30)).isoformat(), window_s=3600.0, note="尽快清理",
                reminded=1, escalations=1)
    return Order(**(base | kw))


def test_queue_and_order_rows_name_what_the_department_sees():
    city, cat = get_city_data().city, get_catalogue()
    street = next(s for s in city.streets if s.startswith("350203"))
    cases = [{"case_id": "C1", "category": "E0102", "district": "350203", "street": street, "state": "dispatched",
              "handle_deadline": (NOW + timedelta(hours=2, minutes=5)).isoformat()},
             {"case_id": "C2", "category": "E0102", "district": "350203", "street": "", "state": "reworked",
              "handle_deadline": (NOW - timedelta(minutes=1)).isoformat()}]
    rows = views.queue_rows(cases, {"C1": _order()}, city, cat, NOW, TZ)
    assert [r["case_id"] for r in rows] == ["C1", "C2"]
    assert rows[0]["category"] == "市容环境/暴露垃圾" and rows[0]["area"].startswith("思明区 · ")
    assert rows[0]["state"] == "已派遣" and rows[1]["state"] == "返工中"
    assert rows[0]["deadline"] == "03-02 12:05" and rows[0]["remaining"] == "2小时05分"
    assert rows[0]["level"] == "重点督办" and rows[1]["level"] == ""
    assert rows[1]["remaining"] == "已超期" and rows[1]["overdue"]
    (o,) = views.order_rows([_order()], city, NOW, TZ)
    assert o["level_name"] == "重点督办" and o["department"] == "思明区环境卫生管理站"
    assert o["reply_due"] == "03-02 10:30:00" and o["remaining"] == "30分00秒"
    assert o["flags"] == "已提醒 · 已升级1次"


def test_the_duty_feed_shows_supervision_alerts_in_chinese():
    city = get_city_data().city
    alert = {"id": "sup:C1:2:escalate:1", "type": "supervision", "severity": "critical", "case_id": "C1",
             "stage": "escalate", "action": "2", "department": "DSAN-350203", "district": "350203",
             "at": NOW.timestamp()}
    (row,) = duty_views.alert_rows([alert], city, TZ)
    assert row["type_label"] == "督办单"
    assert row["detail"] == "C1 · 督办升级 · 重点督办 · 思明区环境卫生管理站"
    assert "督办提醒" in duty_views.alert_detail(alert | {"stage": "remind", "action": "1"}, city)
    assert "督办逾期 · 挂牌督办" in duty_views.alert_detail(alert | {"stage": "overdue", "action": "3"}, city)
