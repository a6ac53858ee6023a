"""Each console page's logic through Streamlit's AppTest, against a real Redis with a seeded read model.

The read model is written by the stream processors' own projections (``tests/support/console_seed.py``); the
Kafka publisher is replaced by a recorder, so these tests check what a page *sends* (the browser test
checks the whole round trip through the worker).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cityops import read
from cityops.schemas import OperatorCommand, decode
from cityops.settings import REPO_ROOT, get_settings
from cityops.workcalendar import get_calendar
from fixtures.xiamen import load_city
from streams.case_projection import project_case_event
from tests.support.console_run import USERS, deck_specs
from tests.support.console_seed import (
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


def _audit(r, kind: str) -> list[dict]:  # noqa: ANN001
    return [a for a in read.audit_trail(r, 500) if a.get("kind") == kind]


def test_sign_in_with_the_demo_accounts(seeded, monkeypatch, tmp_path):
    monkeypatch.setenv("CITYOPS_USERS_FILE", str(tmp_path / "users.json"))
    get_settings.cache_clear()
    r, _ = seeded
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    (outline,) = deck_specs(at)
    assert [lay["id"] for lay in outline["layers"]] == ["districts"], "before sign-in: the city's outline only"
    at.text_input(key="login_username").input("leader")
    at.text_input(key="login_password").input("wrong-password")
    at.button[0].click().run()
    assert "user" not in at.session_state
    assert any("用户名或密码错误" in e.value for e in at.error)
    at.text_input(key="login_password").input("leader-demo")
    at.button[0].click().run()
    assert at.session_state["user"] == USERS["leader"]
    assert "login_password" not in at.session_state, "the typed password does not stay in the session"
    users = tmp_path / "users.json"
    assert users.exists(), "the accounts file is created from the demo accounts (the console binds to loopback)"
    assert oct(users.stat().st_mode & 0o777) == "0o600"
    saved = {u["username"]: u["password_hash"] for u in json.loads(users.read_text())["users"]}
    assert saved["leader"].startswith("scrypt$131072$"), "the demo's 2^14 hash was upgraded at sign-in"
    assert saved["duty"].startswith("scrypt$16384$"), "the others wait for their own sign-in"
    assert not at.exception
    assert len(at.metric) == 8, "the big screen is the leader's first page"
    trail = _audit(r, "signin")
    assert [a["action"] for a in trail[:2]] == ["sign_in", "sign_in_failed"]
    assert trail[0]["user"] == "王局长(leader)" and trail[1]["user"] == "leader"
    assert all(a["address"] and a["at"] for a in trail[:2])


def test_failed_sign_ins_are_counted_across_sessions_and_delay_the_account(seeded, monkeypatch, tmp_path):
    """Five wrong passwords, each from a new session (a new tab), are one count in Redis; beyond them the
    account must wait (even the right password is refused meanwhile, with the seconds left); every
    failure and refusal is in the audit trail."""
    monkeypatch.setenv("CITYOPS_USERS_FILE", str(tmp_path / "users.json"))
    get_settings.cache_clear()
    from cityops import keys
    from cityops.signin_guard import subjects

    r, _ = seeded
    counter = keys.signin_failures(subjects("duty", None)[0].name)
    r.delete(counter)

    def attempt(password: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60).run()
        at.text_input(key="login_username").input("duty")
        at.text_input(key="login_password").input(password)
        at.button[0].click().run()
        assert not at.exception, at.exception
        return at

    for i in range(5):
        assert any("用户名或密码错误" in e.value for e in attempt(f"guess-{i}").error)
    assert r.hget(counter, "n") == "5", "one counter for every session"
    r.hset(counter, mapping={"n": 9, "last": repr(time.time())})  # as after four more (1+2+4+8 s)
    at = attempt("duty-demo")
    assert "user" not in at.session_state
    locked = [e.value for e in at.error if "登录失败次数过多" in e.value]
    assert locked and any(str(s) in locked[0] for s in range(14, 17)), "2^4 = 16 s to wait"
    assert [a["action"] for a in _audit(r, "signin")[:6]] == ["sign_in_refused"] + ["sign_in_failed"] * 5
    r.delete(counter)
    assert attempt("duty-demo").session_state["user"] == USERS["duty"], "open again once the delay is over"
    get_settings.cache_clear()


def test_a_console_off_loopback_does_not_create_the_demo_accounts(seeded, monkeypatch, tmp_path):
    monkeypatch.setenv("CITYOPS_USERS_FILE", str(tmp_path / "users.json"))
    monkeypatch.setenv("CITYOPS_CONSOLE_ADDRESS", "0.0.0.0")
    get_settings.cache_clear()
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.text_input(key="login_username").input("admin")
    at.text_input(key="login_password").input("admin-demo")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert "user" not in at.session_state and not (tmp_path / "users.json").exists()
    assert any("账号文件不可用" in e.value for e in at.error)
    monkeypatch.setenv("CITYOPS_DEMO", "1")
    get_settings.cache_clear()
    at.button[0].click().run()
    assert at.session_state["user"] == USERS["admin"], "CITYOPS_DEMO=1 asks for them explicitly"
    get_settings.cache_clear()


def test_big_screen_shows_kpis_against_yesterday(seeded):
    r, _ = seeded
    at = _page("bigscreen", "leader").run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert labels == ["今日受理", "今日立案", "今日结案", "结案率", "按期结案率", "超期未结", "传感器告警",
                      "今日AI抓拍"]
    today = read.day_counters(r, datetime.now(get_settings().tz), "city", load_city().code)
    assert at.metric[0].value == f"{today['received']:,}"
    assert at.metric[0].delta and at.metric[0].delta[0] in "+-"
    assert at.metric[6].value == str(len([s for s in read.sensor_states(r).values() if s.get("phase") == "active"]))
    assert at.metric[7].value == str(read.day_counters(r, datetime.now(get_settings().tz), "source",
                                                       "ai_video").get("received", 0))
    year = datetime.now(get_settings().tz).year
    notices = [w.value for w in at.warning]
    if get_calendar().has_year(year):
        assert notices == [], notices
    else:  # on 1 January, until the State Council's holiday notice is added to holidays.csv
        assert len(notices) == 1 and f"节假日数据缺少 {year} 年" in notices[0], notices


def test_big_screen_in_english_and_without_redis(seeded, monkeypatch):
    at = _page("bigscreen", "leader", lang="en").run()
    assert at.metric[0].label == "Received today"
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    at = _page("bigscreen", "leader").run()
    assert not at.exception
    assert any("读模型暂不可用" in w.value for w in at.warning)
    get_settings.cache_clear()


def test_assessment_page_ranks_within_class_for_the_chosen_period(seeded):
    from cityops.periods import period_of
    from dashboard.views.assessment import assessment_tables

    r, _ = seeded
    at = _page("assessment", "leader").run()
    assert not at.exception, at.exception
    current = period_of("month", datetime.now(get_settings().tz).date())
    at.selectbox(key="as_period_month").select(current).run()  # the month under way: the seeded cases are in it
    assert not at.exception, at.exception
    assert any("尚未结束" in w.value for w in at.warning)
    view = assessment_tables(r, "month", current.label, "zh")
    street_tables = [x for x in view.tables if x.kind == "street"]
    shown = at.dataframe[0].value
    assert list(shown.columns) == list(street_tables[0].headers)
    assert shown.to_dict("records") == street_tables[0].records()
    assert shown["名次"].tolist() == [row.rank for row in street_tables[0].rows]
    assert len(at.dataframe) == len(view.tables)  # every class of both tabs
    scores = {row.score for x in view.tables for row in x.rows}
    assert len(scores) > 1  # the seeded cases moved the scores off the base
    assert "约谈名单" in at.markdown[-1].value or any("约谈名单" in m.value for m in at.markdown)


def test_a_duty_officer_enters_an_inspection_finding_a_leader_cannot(seeded, monkeypatch):
    sent: list[tuple[str, str, bytes]] = []

    class Recorder:
        def publish(self, topic: str, key: str, value: bytes) -> None:
            sent.append((topic, key, value))

    import dashboard.common

    monkeypatch.setattr(dashboard.common, "publisher", lambda: Recorder())
    leader = _page("assessment", "leader").run()
    assert not leader.exception and not [e for e in leader.expander if "督查" in e.label]
    at = _page("assessment", "duty").run()
    at.selectbox(key="fd_unit").select("350203001")
    at.number_input(key="fd_points").set_value(-4.5)
    at.button[0].click().run()  # no note: refused on the page, nothing sent
    assert any("请填写发现的问题" in e.value for e in at.error) and not sent
    at.selectbox(key="fd_unit").select("350203001")  # the form was cleared by the refused submit
    at.number_input(key="fd_points").set_value(-4.5)
    at.text_input(key="fd_note").input("<b>路面坑洼</b>三天未修复")
    at.button[0].click().run()
    assert not at.exception, at.exception
    [(topic, key, value)] = sent
    cmd = decode(OperatorCommand, value)
    assert (topic, key) == (get_settings().topics.commands, "350203001")
    assert (cmd.action.value, cmd.target_kind, cmd.points, cmd.note) == ("finding", "street", -4.5,
                                                                         "<b>路面坑洼</b>三天未修复")
    assert cmd.user == "李值班(duty)" and cmd.role == "duty" and cmd.sig


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


def test_drill_down_over_a_date_range_sums_its_days_and_compares_with_the_days_before(seeded):
    r, _ = seeded
    tz = get_settings().tz
    today = datetime.now(tz).date()

    def received(day) -> int:  # noqa: ANN001 - a date
        noon = datetime.combine(day, datetime.min.time(), tz) + timedelta(hours=12)
        return int(read.day_counters(r, noon, "district", "350203").get("received", 0))

    # the range ends on the last seeded day before today and starts after the one before it, so the range of the
    # same length before it holds that day: both sides have cases
    a, b = [d for d in (today - timedelta(days=i) for i in range(14, 0, -1)) if received(d)][-2:]
    first, last = a + timedelta(days=1), b
    n = (last - first).days + 1
    this = sum(received(first + timedelta(days=i)) for i in range(n))
    before = sum(received(first - timedelta(days=i)) for i in range(1, n + 1))
    assert this > 0 and before > 0, (this, before)
    at = _page("drill", "leader", drill_district="350203").run()
    at.date_input(key="drill_period").set_value((first, last)).run()
    assert not at.exception, at.exception
    assert (at.metric[0].label, at.metric[0].value) == ("受理", f"{this:,}")
    assert at.metric[0].delta == f"{this - before:+,}"
    assert f"{first} 至 {last}" in at.markdown[0].value
    assert "受理" in at.dataframe[0].value.columns and "今日受理" not in at.dataframe[0].value.columns
    at.date_input(key="drill_period").set_value((today, today)).run()
    assert at.metric[0].label == "今日受理", "today alone is the live view again"


def test_admin_adds_a_user_with_a_hashed_password(seeded, monkeypatch, tmp_path):
    users = tmp_path / "users.json"
    monkeypatch.setenv("CITYOPS_USERS_FILE", str(users))
    get_settings.cache_clear()
    at = _page("admin", "admin").run()
    assert not at.exception, at.exception
    demo = json.loads((Path(__file__).resolve().parents[2] / "config" / "users.demo.json").read_text())["users"]
    assert len(at.dataframe[0].value) == len(demo)
    at.text_input[0].input("wang.wu")
    at.text_input[1].input("王五")
    at.selectbox[0].select("duty")
    at.text_input[2].input("a-long-password")
    at.button[0].click().run()
    saved = json.loads(Path(users).read_text())
    entry = next(u for u in saved["users"] if u["username"] == "wang.wu")
    assert entry["role"] == "duty" and entry["password_hash"].startswith("scrypt$")
    assert "a-long-password" not in users.read_text()
    assert oct(users.stat().st_mode & 0o777) == "0o600"
    change = _audit(seeded[0], "account")[0]
    assert (change["action"], change["target_id"], change["user"]) == ("user_add", "wang.wu", "系统管理员(admin)")
    assert change["role"] == "duty" and change["password_changed"] is True and "a-long-password" not in str(change)
    # a department user is bound to its department; another role never is
    at.text_input[0].input("zhao.liu")
    at.text_input[2].input("a-long-password")
    at.selectbox[0].select("department")
    at.selectbox[1].select("DSAN-350203")
    at.button[0].click().run()
    entry = next(u for u in json.loads(users.read_text())["users"] if u["username"] == "zhao.liu")
    assert (entry["role"], entry["department"]) == ("department", "DSAN-350203")
    at.text_input[0].input("sun.qi")
    at.text_input[2].input("a-long-password")
    at.selectbox[0].select("department")
    at.button[0].click().run()
    assert at.error and "sun.qi" not in users.read_text()  # a department user without its department
    at.selectbox(key="delete_user").select("wang.wu")
    at.button(key="delete_btn").click().run()
    assert "wang.wu" not in {u["username"] for u in json.loads(users.read_text())["users"]}
    assert _audit(seeded[0], "account")[0]["action"] == "user_remove"
    get_settings.cache_clear()


@pytest.fixture
def users_file(seeded, monkeypatch, tmp_path) -> Path:
    """A users file of this test (the demo accounts), so it can demote and delete."""
    import shutil

    path = tmp_path / "users.json"
    shutil.copyfile(REPO_ROOT / "config" / "users.demo.json", path)
    monkeypatch.setenv("CITYOPS_USERS_FILE", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def test_a_demoted_or_deleted_user_loses_access_on_the_next_run(users_file):
    from cityops import auth

    at = _page("duty", "duty").run()
    assert not at.exception and at.dataframe, "the duty console, as the file says"
    auth.save_users(users_file, auth.upsert_user(auth.load_users(users_file), "duty", "leader", "李值班", None))
    at.run()
    assert any("无权访问" in e.value for e in at.error) and not at.dataframe
    assert at.session_state["user"]["role"] == "leader"
    auth.save_users(users_file, auth.remove_user(auth.load_users(users_file), "duty"))
    at.run()
    assert "user" not in at.session_state
    assert _has_key(at, "login_username") and any("账号已变更" in i.value for i in at.info)


def test_an_idle_session_ends_but_the_big_screen_stays(seeded, users_file, monkeypatch):
    monkeypatch.setenv("CITYOPS_SESSION_IDLE_S", "600")
    get_settings.cache_clear()
    at = _page("duty", "duty", last_seen=time.time() - 601, case_id="X1").run()
    assert not at.exception, at.exception
    assert "user" not in at.session_state and "case_id" not in at.session_state, "the whole session is gone"
    assert any("长时间未操作" in i.value for i in at.info) and not at.dataframe
    fresh = _page("duty", "duty", last_seen=time.time() - 300).run()
    assert fresh.dataframe and fresh.session_state["last_seen"] > time.time() - 60, "a page run is activity"
    wall = _page("bigscreen", "leader", last_seen=time.time() - 86_400).run()
    assert len(wall.metric) == 8, "the leader's big screen runs unattended on the wall"
    trail = _audit(seeded[0], "signin")
    assert trail[0]["action"] == "session_ended" and trail[0]["reason"] == "idle"


def test_sign_out_clears_the_whole_session(seeded, users_file):
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["user"] = USERS["admin"]
    at.session_state["case_id"] = "X1"
    at.session_state["pending"] = {"a": ("acknowledge", 0.0)}
    at.run()
    assert not at.exception, at.exception
    next(b for b in at.sidebar.button if b.label == "退出登录").click().run()
    assert not at.exception, at.exception
    left = [k for k in ("user", "case_id", "pending", "last_seen") if k in at.session_state]
    assert left == [], left
    assert _audit(seeded[0], "signin")[0]["action"] == "sign_out"
    assert _has_key(at, "login_username")


# Every page script under dashboard/pages/ and the least role it needs. A new page must be added here,
# and must check its role itself: the test runs each page with no user and with every role.
PAGE_ROLES = {"bigscreen": "leader", "briefing": "leader", "drill": "leader", "duty": "duty", "case": "duty",
              "cameras": "duty", "admin": "admin", "dead_letters": "admin",
              "case_search": "leader", "assessment": "leader", "department": "department"}


@pytest.mark.parametrize("page", sorted(p.stem for p in PAGES.glob("*.py") if not p.name.startswith("_")))
def test_every_page_checks_its_own_role(users_file, page):
    from cityops import auth

    assert page in PAGE_ROLES, f"pages/{page}.py: add it to PAGE_ROLES with the role it requires"
    needed = PAGE_ROLES[page]
    anonymous = _page(page, None, case_id="X1").run()
    assert not anonymous.exception, anonymous.exception
    assert _has_key(anonymous, "login_username"), f"{page}: no user gets the sign-in form"
    assert not anonymous.metric and not anonymous.dataframe and not anonymous.subheader, f"{page} showed content"
    assert not [b for b in anonymous.button if b.label != "登录"], f"{page} offered actions to nobody"
    for role in auth.ROLES:
        at = _page(page, role, case_id="X1").run()
        assert not at.exception, (page, role, at.exception)
        refused = any("无权访问" in e.value for e in at.error)
        if auth.role_at_least(role, needed):
            assert not refused, f"{page} refused {role}"
            assert not _has_key(at, "login_username"), f"{page} asked {role} to sign in again"
        else:
            assert refused, f"{page} let {role} in"
            assert not at.metric and not at.dataframe and not at.button, f"{page} showed {role} content"


def _has_key(at: AppTest, key: str) -> bool:
    return any(getattr(w, "key", None) == key for w in at.text_input)


@pytest.mark.parametrize("listed", [False, True], ids=["year-missing", "year-listed"])
def test_big_screen_says_when_this_year_has_no_holiday_data(seeded, monkeypatch, tmp_path, listed):
    """A city folder whose holidays.csv stops before this year: deadlines ignore holidays, and the wall says so;
    the same folder with this year's New Year's Day added: no notice (whatever year the test runs in)."""
    import shutil

    folder = tmp_path / "city"
    shutil.copytree(REPO_ROOT / "cities" / "xiamen", folder)
    year = datetime.now(get_settings().tz).year
    lines = (folder / "holidays.csv").read_text(encoding="utf-8").splitlines()
    lines = [x for x in lines if not x.startswith(str(year))]
    if listed:
        lines.append(f"{year}-01-01,holiday,元旦,New Year's Day")
    (folder / "holidays.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("CITYOPS_CITY_DIR", str(folder))
    get_settings.cache_clear()
    get_calendar.cache_clear()
    try:
        at = _page("bigscreen", "leader").run()
        assert not at.exception, at.exception
        notices = [w.value for w in at.warning]
        if listed:
            assert notices == [], notices
        else:
            assert len(notices) == 1 and f"节假日数据缺少 {year} 年" in notices[0]
        at = _page("bigscreen", "leader", lang="en").run()
        assert any(f"holidays.csv has no entries for {year}" in w.value for w in at.warning) is not listed
    finally:
        monkeypatch.delenv("CITYOPS_CITY_DIR")
        get_settings.cache_clear()
        get_calendar.cache_clear()
