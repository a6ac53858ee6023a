"""Notifications end to end on a real Redis: alerts put into the feed the way the worker writes them reach a local
HTTP receiver in each robot's format (WeCom, DingTalk signed, Feishu signed, JSON webhook) and a local SMTP server
(aiosmtpd), both started here; the receiver is down at first: delivery waits and retries, and once it is up every
alert arrives once per route and channel, none twice, also across a restart that re-reads the feed. A flapping
sensor is summarised in one message; the briefing's PNG goes out with its headline figures.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from cityops import keys
from cityops.alerts import Alert, Severity
from cityops.notify_routes import parse_routes
from cityops.settings import get_settings
from notify import channels
from notify.process import Notifier
from tests.support.workers import free_port

DING_SECRET, FEISHU_SECRET = "SECding-test", "feishu-test"


class Receiver:
    """A local HTTP receiver of robot posts, started and stopped by the test (stopped = connection refused)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.got: list[dict] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                parts = urllib.parse.urlsplit(self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                got.append({"path": parts.path, "query": dict(urllib.parse.parse_qsl(parts.query)),
                            "headers": dict(self.headers), "body": body})
                answer = {"code": 0} if parts.path == "/feishu" else {"errcode": 0, "errmsg": "ok"}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def on(self, path: str) -> list[dict]:
        return [g for g in self.got if g["path"] == path]


class Mailbox:
    def __init__(self) -> None:
        self.mails: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 - aiosmtpd's hook
        self.mails.append(envelope)
        return "250 OK"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.stop()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def _routes(base: str) -> dict:
    return {"channels": {"wecom": {"type": "wecom", "url_env": "T_WECOM_URL"},
                         "ding": {"type": "dingtalk", "url_env": "T_DING_URL", "secret_env": "T_DING_SECRET"},
                         "feishu": {"type": "feishu", "url_env": "T_FEISHU_URL", "secret_env": "T_FEISHU_SECRET"},
                         "hook": {"type": "webhook", "url_env": "T_HOOK_URL"},
                         "mail": {"type": "email", "url_env": "T_SMTP_URL", "from": "cityops@test.cn",
                                  "to": ["duty@test.cn"]}},
            "flood": {"window_s": 2, "max_per_window": 10},
            "routes": [{"id": "critical", "send": "alerts", "match": {"severity": ["critical"]},
                        "channels": ["wecom", "ding", "feishu", "hook", "mail"]},
                       {"id": "briefing", "send": "briefing", "channels": ["wecom", "mail"]}]}


def _raise(r, sensor: str, episode: int) -> Alert:
    """Into the feed as the worker's scripts write it (``XADD co:alerts MAXLEN ~ N * json …``)."""
    alert = Alert.sensor_exceedance(sensor_id=sensor, sensor_kind="noise", episode=episode,
                                    severity=Severity.CRITICAL, metric="LAeq", value=80.0, limit=70.0, unit="dB(A)",
                                    at=datetime.now(UTC), case_id=f"C-{sensor}-{episode}", grid="350203001001001",
                                    district="350203", lon=118.1, lat=24.5, name_zh=f"工地{sensor}")
    r.xadd(keys.alerts(), {"json": alert.to_json()}, maxlen=keys.ALERTS_MAXLEN, approximate=True)
    return alert


def _run_until(notifier: Notifier, done, timeout: float = 12.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "not delivered in time"
        notifier.step(block_ms=100)


def test_every_alert_reaches_every_channel_once_through_an_outage_and_a_restart(
        redis_client, redis_url, receiver, mailbox, monkeypatch, tmp_path: Path) -> None:
    box, smtp_port = mailbox
    base = f"http://127.0.0.1:{receiver.port}"
    for name, value in {"T_WECOM_URL": f"{base}/wecom", "T_DING_URL": f"{base}/dingtalk?access_token=tok",
                        "T_DING_SECRET": DING_SECRET, "T_FEISHU_URL": f"{base}/feishu",
                        "T_FEISHU_SECRET": FEISHU_SECRET, "T_HOOK_URL": f"{base}/hook",
                        "T_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "REDIS_URL": redis_url,
                        "CITYOPS_VAR": str(tmp_path / "var"), "CITYOPS_NOTIFY_RETRY_BASE_S": "0.2",
                        "CITYOPS_NOTIFY_RETRY_MAX_S": "1"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    routes = parse_routes(_routes(base), "notify.yml")
    r = redis_client
    _raise(r, "OLD", 1)  # in the feed before the process first starts: history, not sent
    notifier = Notifier(r, routes, settings)
    notifier.cursor()
    alerts = [_raise(r, f"S{i}", 1) for i in range(3)]

    # the HTTP receiver is down: mail goes out, the robots' messages wait and are retried
    t0 = time.monotonic()
    _run_until(notifier, lambda: len(box.mails) == 3)
    assert time.monotonic() - t0 < 10, "a critical alert goes out within 10 s"
    for _ in range(8):
        notifier.step(block_ms=100)
    pending = [r.hgetall(keys.notification(f"critical:wecom:{a.id}")) for a in alerts]
    assert all(p["state"] == "pending" and int(p["attempts"]) >= 2 and "ConnectError" in p["last_error"]
               for p in pending), pending

    # a restart that reads the whole feed again claims nothing twice
    r.hset(keys.notify_cursor(), "alerts", "0-0")
    notifier = Notifier(r, routes, settings)
    notifier.read_alerts(block_ms=0)
    assert r.zcard(keys.notifications_log()) == 5 * 4, "OLD is now read too (cursor reset), but the others once"

    receiver.start()
    _run_until(notifier, lambda: all(len(receiver.on(p)) >= 4 for p in ("/wecom", "/dingtalk", "/feishu", "/hook")))
    for _ in range(5):
        notifier.step(block_ms=100)  # nothing more arrives
    ids = {a.id for a in alerts} | {"sensor:OLD:1"}
    hooks = receiver.on("/hook")
    assert sorted(h["body"]["data"]["alert"]["id"] for h in hooks) == sorted(ids), "once each, none twice"
    assert {h["headers"]["Idempotency-Key"] for h in hooks} == {f"critical:hook:{i}" for i in ids}
    for w in receiver.on("/wecom"):
        assert w["body"]["msgtype"] == "markdown" and w["body"]["markdown"]["content"].startswith("### 【紧急】")
    assert len(receiver.on("/wecom")) == 4
    for d in receiver.on("/dingtalk"):
        assert d["query"]["access_token"] == "tok"
        assert d["query"]["sign"] == channels.dingtalk_sign(DING_SECRET, int(d["query"]["timestamp"]))
        assert d["body"]["msgtype"] == "markdown" and "传感器超标" in d["body"]["markdown"]["title"]
    assert len(receiver.on("/dingtalk")) == 4
    for f in receiver.on("/feishu"):
        assert f["body"]["sign"] == channels.feishu_sign(FEISHU_SECRET, int(f["body"]["timestamp"]))
        assert f["body"]["msg_type"] == "post"
    assert len(receiver.on("/feishu")) == 4
    assert len(box.mails) == 4 and all(m.rcpt_tos == ["duty@test.cn"] for m in box.mails)
    assert b"Subject: =?utf-8?" in box.mails[0].content  # the Chinese title, encoded
    states = {r.hget(keys.notification(m), "state") for m in r.zrange(keys.notifications_log(), 0, -1)}
    assert states == {"sent"}

    from cityops.read.notifications import notification_states, recent_notifications

    rows = recent_notifications(r)
    assert len(rows) == 20 and notification_states(rows) == {"sent": 20}
    waited = [row for row in rows if row["channel"] == "hook" and row["subject"] != "sensor:OLD:1"]
    assert len(waited) == 3 and all(int(row["attempts"]) >= 2 and row["last_error"] for row in waited)

    # the same deliveries as Prometheus counts the operator alerts on (cityops/observability.py)
    from cityops.observability import metrics

    sent = {c: metrics().notifications.labels(c, "sent")._value.get()
            for c in ("wecom", "dingtalk", "feishu", "webhook")}
    assert all(n >= 4 for n in sent.values()), sent
    assert metrics().notifications.labels("webhook", "retried")._value.get() >= 3


def test_a_flapping_sensor_is_summarised_and_the_briefing_goes_out_with_its_png(
        redis_client, redis_url, receiver, mailbox, monkeypatch, tmp_path: Path) -> None:
    box, smtp_port = mailbox
    base = f"http://127.0.0.1:{receiver.port}"
    for name, value in {"T_WECOM_URL": f"{base}/wecom", "T_DING_URL": f"{base}/dingtalk", "T_DING_SECRET": "s",
                        "T_FEISHU_URL": f"{base}/feishu", "T_FEISHU_SECRET": "s", "T_HOOK_URL": f"{base}/hook",
                        "T_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "REDIS_URL": redis_url,
                        "CITYOPS_VAR": str(tmp_path / "var")}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    day = settings.briefings_dir / "2026-11-24"
    day.mkdir(parents=True)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    (day / "briefing-2026-11-24.zh.png").write_bytes(png)
    (day / "briefing-2026-11-24.zh.json").write_text(json.dumps(
        {"city": "厦门市", "day": "2026-11-24", "totals": [["received", "受理", 3534]],
         "rates": [{"key": "closure", "label": "结案率", "value": 0.991, "target": 0.98}]}, ensure_ascii=False))
    receiver.start()
    routes = parse_routes(_routes(base), "notify.yml")
    notifier = Notifier(redis_client, routes, settings)
    notifier.cursor()
    if time.time() % 2 > 1.5:  # the five alerts fall in one 2 s window, not across a boundary
        time.sleep(2 - time.time() % 2 + 0.05)
    for episode in range(1, 6):
        _raise(redis_client, "FLAP", episode)
    _run_until(notifier, lambda: any(h["body"]["kind"] == "summary" for h in receiver.on("/hook")), timeout=8)
    hooks = receiver.on("/hook")
    assert [h["body"]["kind"] for h in hooks] == ["alert", "summary"]
    assert hooks[1]["body"]["data"]["count"] == 4 and "FLAP（4 次）" in "".join(hooks[1]["body"]["lines"])
    images = [w["body"] for w in receiver.on("/wecom") if w["body"]["msgtype"] == "image"]
    assert len(images) == 1 and images[0]["image"]["md5"] == __import__("hashlib").md5(png).hexdigest()  # noqa: S324
    texts = [w["body"]["markdown"]["content"] for w in receiver.on("/wecom") if w["body"]["msgtype"] == "markdown"]
    assert any("每日简报 2026-11-24" in t and "结案率：99.1%（目标 98%）" in t for t in texts)
    briefing_mail = [m for m in box.mails if b"2026-11-24.png" in m.content]
    assert len(briefing_mail) == 1


def test_the_admin_page_shows_each_messages_delivery_state(redis_client, redis_url, monkeypatch, tmp_path) -> None:
    """Messages the notify process left in the outbox (one sent after retries, one failed with its reason) are
    listed on the admin page with their state, attempts and last error."""
    from streamlit.testing.v1 import AppTest

    from cityops.settings import REPO_ROOT
    from notify import outbox
    from notify.messages import Message

    r = redis_client
    for mid in ("critical:hook:sensor:S1:1", "critical:mail:sensor:S1:1"):
        route, channel, subject = mid.split(":", 2)
        assert outbox.claim(r, mid, route=route, channel=channel, subject=subject,
                            message=Message("alert", "【紧急】传感器超标", ("x",)), now=time.time())
        outbox.mark_sending(r, mid)
    outbox.mark_retry(r, "critical:hook:sensor:S1:1", time.time(), "ConnectError: refused")
    outbox.mark_sending(r, "critical:hook:sensor:S1:1")
    outbox.mark_sent(r, "critical:hook:sensor:S1:1", time.time())
    outbox.mark_failed(r, "critical:mail:sensor:S1:1", "SMTP 550: mailbox unavailable")
    for name, value in {"REDIS_URL": redis_url, "CITYOPS_VAR": str(tmp_path),
                        "CITYOPS_USERS_FILE": str(tmp_path / "users.json")}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    at = AppTest.from_file(str(REPO_ROOT / "dashboard" / "pages" / "admin.py"), default_timeout=60)
    at.session_state["user"] = {"username": "admin", "role": "admin", "display_name": "系统管理员"}
    at.run()
    assert not at.exception, at.exception
    assert any(m.value == "**消息推送（企业微信 · 钉钉 · 飞书 · 邮件）**" for m in at.markdown)
    [table] = [d.value for d in at.dataframe if "渠道" in d.value.columns]
    rows = {row["渠道"]: row for row in table.to_dict("records")}
    assert rows["hook"]["状态"] == "已送达" and rows["hook"]["尝试次数"] == "2"
    assert rows["mail"]["状态"] == "失败" and rows["mail"]["最近错误"] == "SMTP 550: mailbox unavailable"
    assert any("已送达 1" in c.value and "失败 1" in c.value for c in at.caption)
    get_settings.cache_clear()
