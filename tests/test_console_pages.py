"""Each console page's logic through Streamlit's AppTest, against a real Redis with a seeded read model.

The read model is written by the stream processors' own projections (``tests/console_seed.py``); the
Kafka publisher is replaced by a recorder, so these tests check what a page *sends* (the browser test
checks the whole round trip through the worker).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cityops import read
from cityops.schemas import OperatorCommand, decode
from cityops.settings import REPO_ROOT, get_settings
from streams.case_projection import project_case_event
from tests.console_seed import (
    Applier,
    make_evidence,
    mark_overdue,
    seed_captures,
    seed_cases,
    seed_sensors,
    working_days_back,
)

APP = REPO_ROOT / "dashboard" / "server" / "console.py"
PAGES = REPO_ROOT / "dashboard" / "pages"
USERS = {"leader": {"username": "leader", "role": "leader", "display_name": "王局长"},
         "duty": {"username": "duty", "role": "duty", "display_name": "李值班"},
         "admin": {"username": "admin", "role": "admin", "display_name": "系统管理员"}}
XSS = '<script>alert(1)</script><img src=x onerror=alert(2)> ![p](http://evil.example/x.png) :red[x]'


@pytest.fixture(scope="module")
def seeded(redis_url, tmp_path_factory):
    """One seeded read model for the module (seeding takes a few seconds)."""
    import os

    from redis import Redis

    var = tmp_path_factory.mktemp("var")
    old = {k: os.environ.get(k) for k in ("REDIS_URL", "CITYOPS_VAR", "KAFKA_BROKER")}
    os.environ.update({"REDIS_URL": redis_url, "CITYOPS_VAR": str(var), "KAFKA_BROKER": "kafka://127.0.0.1:1"})
    get_settings.cache_clear()
    r = Redis.from_url(redis_url, decode_responses=True)
    r.flushdb()
    now = datetime.now(get_settings().tz)
    seed_cases(r, working_days_back(now), now, cases_per_day=200)
    seed_sensors(r, now, count=300, alarm_every=10)
    seed_captures(r, now, n=4, evidence_refs=make_evidence(get_settings().evidence_dir, 2))
    _xss_case(r, now)
    _urgent_case_past_its_dispatch_clock(r, now)
    mark_overdue(r, now)
    yield r, var
    r.flushdb()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    get_settings.cache_clear()


def _xss_case(r, now) -> None:  # noqa: ANN001
    from cityops.catalogue import get_catalogue
    from cityops.schemas import CaseAction, CaseEvent, CaseSource
    from cityops.workcalendar import get_calendar
    from fixtures.xiamen import load_city
    from streams.case_projection import CaseContext

    ctx = CaseContext(load_city(), get_catalogue(), get_calendar(), get_settings().tz)
    event = CaseEvent(event_id="X1-report", case_id="X1", action=CaseAction.REPORT, event_time=now,
                      source=CaseSource.CITIZEN_APP, category_code="E0102", lon=118.0894, lat=24.4798,
                      address=XSS, description=XSS)
    eff, _ = project_case_event(event, None, ctx)
    applier = Applier(r)
    applier.add(eff)
    applier.flush()


def _urgent_case_past_its_dispatch_clock(r, now) -> None:  # noqa: ANN001
    """An urgent case registered two working days ago and never dispatched: a critical SLA alert whatever
    today is (the seeded days may have none urgent and overdue on a Monday morning)."""
    from cityops.catalogue import get_catalogue
    from cityops.schemas import CaseAction, CaseEvent, CaseSource
    from cityops.workcalendar import get_calendar
    from fixtures.xiamen import load_city
    from streams.case_projection import CaseContext

    ctx = CaseContext(load_city(), get_catalogue(), get_calendar(), get_settings().tz, max_lateness_s=10 * 86400.0)
    t0 = datetime.combine(working_days_back(now), datetime.min.time(), now.tzinfo) + timedelta(hours=10)
    report = CaseEvent(event_id="U1-report", case_id="U1", action=CaseAction.REPORT, event_time=t0, urgent=True,
                       source=CaseSource.HOTLINE_12345, category_code="E0102", lon=118.0894, lat=24.4798)
    register = CaseEvent(event_id="U1-register", case_id="U1", action=CaseAction.REGISTER,
                         event_time=t0 + timedelta(minutes=1))
    applier, view = Applier(r), None
    for event in (report, register):
        eff, view = project_case_event(event, view, ctx)
        applier.add(eff)
    applier.flush()


def _page(name: str, user: str | None, **state) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)
    if user:
        at.session_state["user"] = USERS[user]
    for k, v in state.items():
        at.session_state[k] = v
    return at


def test_sign_in_with_the_demo_accounts(seeded, monkeypatch, tmp_path):
    monkeypatch.setenv("CITYOPS_USERS_FILE", str(tmp_path / "users.json"))
    get_settings.cache_clear()
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    at.text_input(key="login_username").input("leader")
    at.text_input(key="login_password").input("wrong-password")
    at.button[0].click().run()
    assert "user" not in at.session_state
    assert any("用户名或密码错误" in e.value for e in at.error)
    at.text_input(key="login_password").input("leader-demo")
    at.button[0].click().run()
    assert at.session_state["user"] == USERS["leader"]
    assert (tmp_path / "users.json").exists(), "the accounts file is created from the demo accounts"
    assert not at.exception
    assert len(at.metric) == 8, "the big screen is the leader's first page"


def test_failed_sign_ins_lock_the_account_across_sessions(seeded, monkeypatch, tmp_path):
    """Five wrong passwords, each from a new session (a new tab), lock the account: even the right password
    is refused until the window ends; the counter lives in Redis, not in the session."""
    monkeypatch.setenv("CITYOPS_USERS_FILE", str(tmp_path / "users.json"))
    get_settings.cache_clear()

    def attempt(password: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60).run()
        at.text_input(key="login_username").input("duty")
        at.text_input(key="login_password").input(password)
        at.button[0].click().run()
        assert not at.exception, at.exception
        return at

    for i in range(5):
        assert any("用户名或密码错误" in e.value for e in attempt(f"guess-{i}").error)
    at = attempt("duty-demo")
    assert "user" not in at.session_state
    assert any("登录失败次数过多" in e.value for e in at.error)
    from cityops import keys
    from cityops.signin_guard import subjects

    seeded[0].delete(*(keys.signin_failures(s) for s in subjects("duty", None)))
    assert attempt("duty-demo").session_state["user"] == USERS["duty"], "unlocked once the window is over"
    get_settings.cache_clear()


def test_big_screen_shows_kpis_against_yesterday(seeded):
    r, _ = seeded
    at = _page("bigscreen", "leader").run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert labels == ["今日受理", "今日立案", "今日结案", "结案率", "按期结案率", "超期未结", "传感器告警",
                      "今日AI抓拍"]
    today = read.day_counters(r, datetime.now(get_settings().tz))
    assert at.metric[0].value == f"{today['received']:,}"
    assert at.metric[0].delta and at.metric[0].delta[0] in "+-"
    assert at.metric[6].value == str(len([s for s in read.sensor_states(r).values() if s.get("phase") == "active"]))
    assert at.metric[7].value == str(read.day_counters(r, datetime.now(get_settings().tz), "source",
                                                       "ai_video").get("received", 0))
    assert not at.warning


def test_big_screen_in_english_and_without_redis(seeded, monkeypatch):
    at = _page("bigscreen", "leader", lang="en").run()
    assert at.metric[0].label == "Received today"
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    at = _page("bigscreen", "leader").run()
    assert not at.exception
    assert any("读模型暂不可用" in w.value for w in at.warning)
    get_settings.cache_clear()


@pytest.mark.parametrize(("page", "user"), [("duty", "leader"), ("case", "leader"), ("admin", "duty")])
def test_pages_refuse_lower_roles(seeded, page, user):
    at = _page(page, user).run()
    assert any("无权访问" in e.value for e in at.error)
    assert not at.metric and not at.dataframe


def test_duty_console_filters_and_sends_commands_with_the_officers_name(seeded, monkeypatch):
    sent: list[tuple[str, str, bytes]] = []

    class Recorder:
        def publish(self, topic: str, key: str, value: bytes) -> None:
            sent.append((topic, key, value))

    import dashboard.common

    monkeypatch.setattr(dashboard.common, "publisher", lambda: Recorder())
    at = _page("duty", "duty").run()
    assert not at.exception, at.exception
    assert any("新的紧急告警" in e.value for e in at.error), "critical alerts stand out"
    feed = at.dataframe[0].value
    assert len(feed) > 0 and set(feed["级别"]) >= {"紧急"}
    at.selectbox(key="f_severity").select("critical").run()
    feed = at.dataframe[0].value
    assert set(feed["级别"]) == {"紧急"}
    at.selectbox(key="f_type").select("sla_overdue").run()
    assert set(at.dataframe[0].value["类型"]) == {"案件超期"}
    chosen = at.selectbox(key="action_alert").value
    at.button(key="btn_ack").click().run()
    assert len(sent) == 1
    topic, key, value = sent[0]
    cmd = decode(OperatorCommand, value)
    assert topic == get_settings().topics.commands
    assert cmd.action.value == "acknowledge" and cmd.user == "李值班(duty)"
    assert (cmd.target_kind, cmd.target_id) == ("alert", chosen) and key == chosen
    at.run()  # the feed's next tick
    assert any("处理中" in i.value and "待处理" in i.value for i in at.info), "sent, shown pending until applied"
    at.selectbox(key="action_department").select("DSQ-350203")
    at.button(key="btn_dispatch").click().run()
    dispatch = decode(OperatorCommand, sent[-1][2])
    assert dispatch.action.value == "dispatch" and dispatch.department_id == "DSQ-350203"


def test_case_detail_shows_event_text_as_text(seeded):
    at = _page("case", "duty", case_id="X1").run()
    assert not at.exception, at.exception
    facts = at.dataframe[0].value
    assert XSS in set(facts[""]), "address and description are data in a table, verbatim"
    markdown = " ".join(m.value for m in at.markdown) + " ".join(s.value for s in at.subheader)
    assert "<script" not in markdown.replace("\\<", "") and "](http" not in markdown
    timeline = at.dataframe[1].value
    assert list(timeline["操作"]) == ["上报"]
    unknown = _page("case", "duty", case_id="NOPE").run()
    assert any("未找到该案件" in i.value for i in unknown.info)


def test_drill_down_city_district_street(seeded):
    r, _ = seeded
    at = _page("drill", "leader").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert len(table) == 6, "the city's six districts"
    at.selectbox(key="drill_district").select("350203").run()
    now = datetime.now(get_settings().tz)
    assert at.metric[0].value == f"{read.day_counters(r, now, 'district', '350203').get('received', 0):,}"
    streets = at.selectbox(key="drill_street").options
    assert len(streets) > 2
    at.selectbox(key="drill_street").select_index(1).run()
    assert not at.exception
    assert len(at.dataframe[0].value) == len(at.selectbox(key="drill_community").options) - 1


def test_admin_adds_a_user_with_a_hashed_password(seeded, monkeypatch, tmp_path):
    users = tmp_path / "users.json"
    monkeypatch.setenv("CITYOPS_USERS_FILE", str(users))
    get_settings.cache_clear()
    at = _page("admin", "admin").run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 3
    at.text_input[0].input("wang.wu")
    at.text_input[1].input("王五")
    at.selectbox[0].select("duty")
    at.text_input[2].input("a-long-password")
    at.button[0].click().run()
    saved = json.loads(Path(users).read_text())
    entry = next(u for u in saved["users"] if u["username"] == "wang.wu")
    assert entry["role"] == "duty" and entry["password_hash"].startswith("scrypt$")
    assert "a-long-password" not in users.read_text()
    get_settings.cache_clear()
