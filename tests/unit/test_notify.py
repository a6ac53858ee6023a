"""Notifications, pure parts: the routes file's checks and matching, each channel's format and signature (known
vectors computed with ``openssl dgst -sha256 -hmac``, not with this code), the flood/flap windows and the backoff."""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cityops.alerts import Alert, Severity
from cityops.notify_routes import Channel, RoutesError, parse_routes
from notify import channels
from notify.messages import Message, alert_message, briefing_message, summary_message
from notify.outbox import backoff, message_id
from notify.routes import routes_for
from notify.summary import FloodWindows

TZ = ZoneInfo("Asia/Shanghai")
DOC = {
    "channels": {"duty": {"type": "wecom", "url_env": "DUTY_URL"},
                 "lead": {"type": "dingtalk", "url_env": "LEAD_URL", "secret_env": "LEAD_SECRET"},
                 "mail": {"type": "email", "url_env": "SMTP_URL", "from": "a@b.cn", "to": ["c@d.cn"]}},
    "flood": {"window_s": 60, "max_per_window": 2},
    "routes": [{"id": "crit", "send": "alerts", "match": {"severity": ["critical"]}, "channels": ["duty", "mail"]},
               {"id": "siming", "send": "alerts", "match": {"district": ["350203"], "kind": ["exceedance"]},
                "channels": ["lead"]},
               {"id": "brief", "send": "briefing", "channels": ["lead"]}],
}
KNOWN = {"districts": {"350203", "350206"}, "departments": {"D1"}, "categories": {"C0103"}}


def test_routes_match_on_every_field_they_name_and_only_those() -> None:
    routes = parse_routes(DOC, "notify.yml", **KNOWN)
    assert [r.id for r in routes_for(routes, "alerts", {"severity": "critical", "district": "350206"})] == ["crit"]
    both = routes_for(routes, "alerts", {"severity": "critical", "district": "350203", "kind": "exceedance"})
    assert [r.id for r in both] == ["crit", "siming"]
    assert routes_for(routes, "alerts", {"severity": "major", "district": "350203", "kind": "device_offline"}) == ()
    assert routes_for(routes, "alerts", {"severity": "major", "kind": "exceedance"}) == ()  # no district: no match
    assert [r.id for r in routes_for(routes, "briefing", {})] == ["brief"]
    assert routes.flood_max == 2 and routes.channels["mail"].to == ("c@d.cn",)


@pytest.mark.parametrize(("change", "says"), [
    (lambda d: d["routes"][0]["match"].update(district=["999999"]), "routes[0] (crit): match.district names '999999'"),
    (lambda d: d["routes"][0].update(channels=["nope"]), "channels names 'nope'"),
    (lambda d: d["channels"]["lead"].pop("secret_env"), "channel lead: secret_env is required"),
    (lambda d: d["channels"]["duty"].update(url_env="https://qyapi.weixin.qq.com/x?key=1"), "url_env must name"),
    (lambda d: d["channels"]["mail"].update(to=["nobody"]), "to holds 'nobody'"),
    (lambda d: d["routes"][1].update(id="crit"), "route id 'crit' is used twice"),
    (lambda d: d["routes"][0].update(send="sms"), "send must be one of"),
    (lambda d: d["routes"][0]["match"].update(colour=["red"]), "match.colour is not one of"),
    (lambda d: d["routes"][0].update(id="a:b"), "id 'a:b' must be"),
    (lambda d: d["flood"].update(window_s=0), "flood.window_s"),
])
def test_a_bad_routes_file_names_the_route_or_channel_and_the_field(change, says: str) -> None:
    import copy

    doc = copy.deepcopy(DOC)
    change(doc)
    with pytest.raises(RoutesError, match=None) as err:
        parse_routes(doc, "notify.yml", **KNOWN)
    assert says in str(err.value) and str(err.value).startswith("notify.yml")


def test_the_city_folders_routes_load_with_their_cities() -> None:
    from pathlib import Path

    from cityops.city_data import load_city_data
    from cityops.settings import REPO_ROOT

    for city in ("lakeview", "xiamen"):
        routes = load_city_data(Path(REPO_ROOT / "cities" / city)).notify
        assert {r.send for r in routes.routes} == {"alerts", "sla_due", "briefing"}
    assert (REPO_ROOT / "cities/xiamen/notify.yml").read_text() == (REPO_ROOT / "fixtures/data/notify.yml").read_text()


def test_dingtalk_signature_matches_the_known_vector() -> None:
    sign = channels.dingtalk_sign("SEC0123456789abcdef", 1577262236757)
    assert sign == "Pgr6tpIpjVrMPPJUPkaI9sivFPPTYOy5zIOMF2GPFMA="
    url = channels.dingtalk_url("http://h/robot/send?access_token=T", "SEC0123456789abcdef", 1577262236757)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query == {"access_token": ["T"], "timestamp": ["1577262236757"], "sign": [sign]}


def test_feishu_signature_matches_the_known_vector_and_goes_in_the_body() -> None:
    assert channels.feishu_sign("FEISHUSECRET", 1599360473) == "2WDTf84Md4QdgFiWYy5V8WKCwIX5QBn4Hl5R7XS9wYk="
    body = channels.feishu_body(Message("alert", "T", ("a", "b")), "FEISHUSECRET", 1599360473)
    assert body["timestamp"] == "1599360473" and body["sign"] == "2WDTf84Md4QdgFiWYy5V8WKCwIX5QBn4Hl5R7XS9wYk="
    assert body["msg_type"] == "post"
    assert body["content"]["post"]["zh_cn"] == {"title": "T", "content": [[{"tag": "text", "text": "a"}],
                                                                        [{"tag": "text", "text": "b"}]]}
    assert "sign" not in channels.feishu_body(Message("alert", "T", ()))  # unsigned robot


def test_wecom_sends_markdown_then_the_png_with_its_md5() -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    md, image = channels.wecom_bodies(Message("briefing", "简报", ("受理：3",), image_png=png))
    assert md == {"msgtype": "markdown", "markdown": {"content": "### 简报\n> 受理：3"}}
    assert image["msgtype"] == "image" and base64.b64decode(image["image"]["base64"]) == png
    assert image["image"]["md5"] == hashlib.md5(png).hexdigest()  # noqa: S324 - WeCom's checksum


def test_email_carries_the_text_and_the_png() -> None:
    mail_channel = Channel("mail", "email", "SMTP_URL", sender="a@b.cn", to=("c@d.cn", "e@f.cn"))
    mail = channels.email_message(Message("briefing", "简报", ("受理：3",), {"day": "2026-11-24"}, b"PNG"),
                                  mail_channel, "brief:mail:briefing:2026-11-24:zh")
    assert mail["To"] == "c@d.cn, e@f.cn" and mail["Subject"] == "简报"
    parts = list(mail.iter_attachments())
    assert [p.get_filename() for p in parts] == ["2026-11-24.png"] and parts[0].get_content() == b"PNG"
    assert "受理：3" in mail.get_body().get_content()


def test_an_alert_message_names_severity_kind_place_and_id() -> None:
    alert = Alert.sensor_exceedance(sensor_id="NS-1", sensor_kind="noise", episode=3, severity=Severity.CRITICAL,
                                    metric="LAeq", value=78.26, limit=70, unit="dB(A)",
                                    at=datetime(2026, 11, 24, 2, 0, tzinfo=UTC), case_id="C1", grid="350203001001001",
                                    district="350203", lon=None, lat=None, name_zh="工地1")
    m = alert_message(alert, {"district": "350203", "department": "D1"}, TZ)
    assert m.title == "【紧急】传感器超标"
    assert "工地1（NS-1）LAeq 78.3dB(A)，限值 70dB(A)" in m.lines and "时间：2026-11-24 10:00:00" in m.lines
    assert m.data["alert"]["id"] == "sensor:NS-1:3" and Message.from_stored(m.to_stored()) == m


def test_a_briefing_message_gives_its_headline_figures_as_text() -> None:
    figures = {"city": "厦门市", "day": "2026-11-24", "totals": [["received", "受理", 3534]],
               "rates": [{"key": "closure", "label": "结案率", "value": 0.991, "target": 0.98},
                         {"key": "handling", "label": "处置率", "value": None, "target": 0.95}]}
    m = briefing_message(figures, b"PNG")
    assert m.title == "厦门市每日简报 2026-11-24" and m.lines == ("受理：3534", "结案率：99.1%（目标 98%）")
    assert Message.from_stored(m.to_stored()).image_png == b"PNG"


def test_a_flood_sends_the_first_few_and_holds_the_rest_until_the_window_closes() -> None:
    w = FloodWindows(60, 3)
    decisions = [w.admit("r", f"S{i}", 120.0 + i) for i in range(6)]
    assert decisions == [None, None, None, 180.0, 180.0, 180.0]
    assert w.admit("other", "S9", 125.0) is None  # windows are per route
    assert w.admit("r", "S7", 180.0) is None  # the next window starts afresh


def test_a_flapping_sensor_goes_out_once_per_window() -> None:
    w = FloodWindows(60, 10)
    assert [w.admit("r", "S1", t) for t in (0.0, 10.0, 50.0)] == [None, 60.0, 60.0]
    assert w.admit("r", "", 20.0) is None and w.admit("r", "", 21.0) is None  # no sensor: only the flood limit
    assert w.admit("r", "S1", 61.0) is None


def test_a_summary_counts_kinds_and_names_flapping_sensors() -> None:
    subjects = [{"id": f"sensor:S1:{i}", "kind": "exceedance", "sensor_id": "S1"} for i in range(3)]
    subjects.append({"id": "offline:S2:1", "kind": "device_offline", "sensor_id": "S2"})
    m = summary_message("crit", 60, subjects)
    assert m.title == "【告警汇总】60 秒内另有 4 条告警"
    assert m.lines[0] == "传感器超标 3 条、设备离线 1 条" and m.lines[1] == "反复告警的设备：S1（3 次）"


def test_backoff_doubles_up_to_its_cap_and_ids_name_one_triple() -> None:
    assert [backoff(n, 2, 30) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert message_id("crit", "duty", "sensor:S:1") == "crit:duty:sensor:S:1"
