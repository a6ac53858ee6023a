"""The command agent on a real Redis: forged, replayed, stale and above-role commands are dead-lettered at stage
``auth`` and change nothing; signed commands the role allows apply, audited with when they were received.

The agent's batch function runs as the worker runs it (cases made first by the case agent's own batch
function); only the Kafka topics it sends to are recorders, as in tests/integration/test_sensor_agent_parts.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from redis import Redis

from cityops import keys
from cityops.command_signing import parse_keys, sign
from cityops.schemas import CommandAction, DeadLetter, OperatorCommand, decode, encode
from cityops.settings import get_settings
from streams import deadletter, runtime
from tests.support.fake_events import FetchedEvent, RecordingTopic
from tests.support.stack import dump_read_model

KEYS = "cmd2026:" + "k" * 40
OTHER_SECRET = parse_keys("cmd2026:" + "z" * 40)  # the same key id, another secret: a forger's guess
UNKNOWN_KID = parse_keys("cmd1999:" + "k" * 40)


class Agents:
    """The case and command agents' batch functions on this test's Redis, with offsets that never repeat."""

    def __init__(self, cases, commands) -> None:  # noqa: ANN001 - the agent modules
        self.cases, self.commands = cases, commands
        self.offset = 0

    def run(self, module, payloads: list[bytes]) -> list[int]:  # noqa: ANN001
        events = []
        for p in payloads:
            self.offset += 1
            events.append(FetchedEvent(p, self.offset))

        async def go() -> None:
            runtime._redis, runtime._writer = None, None  # a client on this run's event loop
            try:
                await module.process(events)
            finally:
                await runtime.redis().aclose()
                runtime._redis, runtime._writer = None, None

        asyncio.run(go())
        return [e.message.offset for e in events]


@pytest.fixture
def agents(redis_url: str, redis_client: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[Agents]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CITYOPS_COMMAND_KEYS", KEYS)
    get_settings.cache_clear()
    from streams.agents import cases, commands

    monkeypatch.setattr(commands, "cases_topic", RecordingTopic())
    monkeypatch.setattr(deadletter, "deadletter_topic", RecordingTopic())
    monkeypatch.setattr(runtime, "_redis", None)
    monkeypatch.setattr(runtime, "_writer", None)
    a = Agents(cases, commands)
    t = (datetime.now(get_settings().tz) - timedelta(minutes=30)).replace(microsecond=0)
    steps = []
    for cid, actions in (("AUTH-V", ("report", "register", "dispatch", "handle", "verify")),
                         ("AUTH-O", ("report", "register", "dispatch"))):
        for i, action in enumerate(actions):
            steps.append(orjson.dumps({"event_id": f"{cid}-{action}", "case_id": cid, "action": action,
                                       "event_time": (t + timedelta(minutes=i)).isoformat(), "source": "citizen_app",
                                       "category_code": "E0102", "lon": 118.0894, "lat": 24.4798,
                                       "department_id": "DSAN-350203"}))
    a.run(cases, steps)
    assert redis_client.hget(keys.case("AUTH-V"), "state") == "verified"
    assert redis_client.hget(keys.case("AUTH-O"), "state") == "dispatched"
    yield a
    get_settings.cache_clear()


def command(command_id: str, action: str, target: str, role: str, *, ring=None, ago_s: float = 1.0,  # noqa: ANN001
            changed: dict | None = None) -> bytes:
    """A command as the console sends it, signed with ``ring`` (the worker's keys by default); ``changed``
    fields are altered after signing, as a man in the middle would."""
    cmd = OperatorCommand(command_id=command_id, action=CommandAction(action), target_kind="case", target_id=target,
                          user=f"测试{role}({role})", role=role, issued_at=datetime.now(UTC) - timedelta(seconds=ago_s),
                          note="<b>备注</b>")
    body = orjson.loads(encode(sign(cmd, ring or parse_keys(KEYS))))
    return orjson.dumps(body | (changed or {}))


def unsigned(command_id: str, action: str, target: str, role: str) -> bytes:
    body = orjson.loads(command(command_id, action, target, role))
    return orjson.dumps({k: v for k, v in body.items() if k not in ("kid", "sig")})


def _letters(agents: Agents) -> dict[str, DeadLetter]:
    return {dl.event_id: dl for dl in (decode(DeadLetter, v) for _, v in deadletter.deadletter_topic.sent)}


def _audit(r: Redis) -> list[dict]:
    return [orjson.loads(f["json"]) for _, f in r.xrange(keys.audit())]


HOSTILE = {
    "forged-close": ("bad signature", lambda: command("forged-close", "close", "AUTH-V", "admin", ring=OTHER_SECRET)),
    "unknown-kid": ("unknown signing key id 'cmd1999'",
                    lambda: command("unknown-kid", "close", "AUTH-V", "admin", ring=UNKNOWN_KID)),
    "unsigned": ("not signed", lambda: unsigned("unsigned", "close", "AUTH-V", "admin")),
    "raised-role": ("bad signature", lambda: command("raised-role", "acknowledge", "AUTH-V", "duty",
                                                     changed={"role": "admin", "action": "close"})),
    "retargeted": ("bad signature", lambda: command("retargeted", "escalate", "AUTH-O", "duty",
                                                    changed={"target_id": "AUTH-V", "action": "close"})),
    "duty-close": ("role duty may not send close on a case (needs admin)",
                   lambda: command("duty-close", "close", "AUTH-V", "duty")),
    "leader-ack": ("role leader may not send acknowledge", lambda: command("leader-ack", "acknowledge", "AUTH-O",
                                                                           "leader")),
    "stale-close": ("stale command", lambda: command("stale-close", "close", "AUTH-V", "admin", ago_s=600)),
    "future-close": ("in the future", lambda: command("future-close", "close", "AUTH-V", "admin", ago_s=-600)),
}


def test_forged_replayed_and_above_role_commands_are_dead_lettered_and_change_nothing(agents, redis_client):
    before = dump_read_model(redis_client, ())
    offsets = agents.run(agents.commands, [make() for _, make in HOSTILE.values()])
    after = dump_read_model(redis_client, ())

    topic = get_settings().topics.commands
    day = keys.day_bucket(datetime.now(get_settings().tz))
    hour = keys.hour_bucket(datetime.now(get_settings().tz))
    bookkeeping = {keys.dlq_recent(), keys.dlq_daily(day), keys.dlq_hourly(hour)} | {
        keys.seen(f"dlq:{topic}:0:{o}") for o in offsets}
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed <= bookkeeping, f"a refused command changed {sorted(changed - bookkeeping)}"
    assert redis_client.hget(keys.case("AUTH-V"), "state") == "verified"
    assert not redis_client.hget(keys.case("AUTH-O"), "acknowledged_by")
    assert _audit(redis_client) == [] and agents.commands.cases_topic.sent == []

    letters = _letters(agents)
    assert set(letters) == set(HOSTILE)
    for command_id, (reason, _) in HOSTILE.items():
        assert letters[command_id].stage == "auth" and reason in letters[command_id].reason, letters[command_id]
    assert redis_client.hgetall(keys.dlq_daily(day)) == {f"{topic}:auth": str(len(HOSTILE))}


def test_a_valid_command_applies_with_its_received_time_and_a_resent_one_is_a_duplicate(agents, redis_client):
    t0 = datetime.now(UTC)
    close = command("ok-close", "close", "AUTH-V", "admin")
    # a forged copy with the same id, ahead of the real one in its batch: refused, and the real one still applies
    forged_first = command("ok-ack", "acknowledge", "AUTH-O", "duty", ring=OTHER_SECRET,
                           changed={"note": "forged"})
    ack = command("ok-ack", "acknowledge", "AUTH-O", "duty")
    agents.run(agents.commands, [forged_first, close, ack])
    t1 = datetime.now(UTC)

    audit = {a["command_id"]: a for a in _audit(redis_client)}
    assert set(audit) == {"ok-close", "ok-ack"}
    for record in audit.values():
        assert t0 <= datetime.fromisoformat(record["received_at"]) <= t1
        assert datetime.fromisoformat(record["at"]) < datetime.fromisoformat(record["received_at"])
        assert record["kid"] == "cmd2026"
    assert (audit["ok-close"]["role"], audit["ok-ack"]["role"], audit["ok-ack"]["note"]) == ("admin", "duty",
                                                                                          "<b>备注</b>")
    assert redis_client.hget(keys.case("AUTH-O"), "acknowledged_by") == "测试duty(duty)"
    published = [decode_case(v) for _, v in agents.commands.cases_topic.sent]
    assert [(e["case_id"], e["action"]) for e in published] == [("AUTH-V", "close")]
    assert [dl.event_id for dl in _letters(agents).values()] == ["ok-ack"]

    # re-sent as it was (the console's buffer, a redelivery), even once stale: ignored as a duplicate
    agents.run(agents.commands, [close, ack, command("ok-close", "close", "AUTH-V", "admin", ago_s=3600)])
    assert len(_audit(redis_client)) == 2 and len(agents.commands.cases_topic.sent) == 1
    assert len(deadletter.deadletter_topic.sent) == 1


def decode_case(value: bytes) -> dict:
    return orjson.loads(value)


def test_a_command_is_aged_at_the_brokers_append_time_when_the_topic_stamps_it(agents):
    received = datetime.now(UTC)
    event = FetchedEvent(b"{}", 1)
    assert agents.commands.arrival_time(event, received) == received  # no broker stamp: when the worker got it
    event.message.timestamp, event.message.timestamp_type = received.timestamp() - 300, 0  # CreateTime: the
    assert agents.commands.arrival_time(event, received) == received  # producer's, which anyone may set
    event.message.timestamp_type = 1  # LogAppendTime: the broker's, so a queued command is aged when it arrived
    assert agents.commands.arrival_time(event, received) == datetime.fromtimestamp(received.timestamp() - 300, UTC)


def test_inspection_findings_apply_once_and_unknown_or_leader_findings_are_refused(agents, redis_client):
    from cityops.read.supervision import finding_points

    def finding(command_id: str, unit: str, points: float, role: str = "duty", kind: str = "street") -> bytes:
        cmd = OperatorCommand(command_id=command_id, action=CommandAction.FINDING, target_kind=kind, target_id=unit,
                              user=f"督查({role})", role=role, issued_at=datetime.now(UTC) - timedelta(seconds=1),
                              note="占道经营未处置", points=points)
        return encode(sign(cmd, parse_keys(KEYS)))

    ok = finding("insp-1", "350203001", -4.5)
    agents.run(agents.commands, [ok, finding("insp-2", "350203001", 2.0), ok,  # the copy counts nothing
                                 finding("insp-3", "999999999", -1.0), finding("insp-4", "350203001", -9.0, "leader"),
                                 finding("insp-5", "SSQ-350203003", -3.0, kind="department")])
    today = datetime.now(get_settings().tz).date()
    tz = get_settings().tz
    assert finding_points(redis_client, today, today, "street", ["350203001"], tz) == {"350203001": -2.5}
    assert finding_points(redis_client, today, today, "department", ["SSQ-350203003"], tz)["SSQ-350203003"] == -3.0
    letters = _letters(agents)
    assert "unknown street '999999999'" in letters["insp-3"].reason
    assert "role leader may not send finding on a street" in letters["insp-4"].reason
    assert {a["command_id"] for a in _audit(redis_client)} == {"insp-1", "insp-2", "insp-5"}


def _signed(command_id: str, action: str, target: str, role: str, **kw: object) -> bytes:
    cmd = OperatorCommand(command_id=command_id, action=CommandAction(action), target_kind="case", target_id=target,
                          user=f"测试{role}({role})", role=role, issued_at=datetime.now(UTC) - timedelta(seconds=1),
                          **kw)
    return encode(sign(cmd, parse_keys(KEYS)))


def _timer_at(now: float) -> int:
    from streams.agents.supervision_timer import step_due_orders

    async def go() -> int:
        runtime._redis, runtime._writer = None, None
        try:
            return await step_due_orders(now)
        finally:
            await runtime.redis().aclose()
            runtime._redis, runtime._writer = None, None

    return asyncio.run(go())


def test_a_supervision_order_is_reminded_escalated_and_closed_by_its_department_s_reply(agents, redis_client):
    """督办 of a dispatched case → its 督办单 against the department; the timer (on the real Redis and its Lua)
    reminds it once, escalates it at the deadline, counts the escalation; another department's reply is refused,
    the case's department's reply closes it and ends its alerts on the duty feed."""
    from cityops import read
    from cityops.read.supervision_orders import case_order, open_orders

    issued = datetime.now(UTC)
    due = issued + timedelta(minutes=10)
    agents.run(agents.commands, [_signed("sup-1", "escalate", "AUTH-O", "duty", level=1, reply_due=due,
                                         note="三天内清理完毕")])
    order = case_order(redis_client, "AUTH-O")
    assert order is not None and (order.level, order.department, order.note) == (1, "DSAN-350203", "三天内清理完毕")
    assert [o.case_id for o in open_orders(redis_client)] == ["AUTH-O"]
    remind = order.remind_at(get_settings().supervision_remind_s).timestamp()
    assert _timer_at(remind - 1) == 0
    assert _timer_at(remind + 1) == 1 and _timer_at(remind + 2) == 0  # once per level
    late = datetime.fromisoformat(order.reply_due).timestamp() + 1
    assert _timer_at(late) == 1
    order = case_order(redis_client, "AUTH-O")
    assert (order.level, order.escalations, order.reminded) == (2, 1, 0) and len(order.alerts) == 2
    kinds = [(a.kind.value, a.stage, a.action) for a in read.alert_feed(redis_client, 20) if a.case_id == "AUTH-O"]
    assert ("supervision", "remind", "1") in kinds and ("supervision", "escalate", "2") in kinds
    assert all(redis_client.zscore(keys.active_alerts(), a) is not None for a in order.alerts)
    day = datetime.now(get_settings().tz).strftime("%Y%m%d")
    assert redis_client.hget(keys.supervision_daily(day, "department", "DSAN-350203"), "escalated") == "1"
    from cityops.city_data import get_city_data
    from cityops.read.assessment import unit_scores

    today = datetime.now(get_settings().tz).date()
    scores = unit_scores(redis_client, get_city_data().assessment, today, today, get_settings().tz)["department"]
    [mine] = [s for s in scores if s.unit_id == "DSAN-350203"]
    assert mine.item("supervision_overdue").value == 1.0 and mine.item("supervision_overdue").points == -3.0

    agents.run(agents.commands, [
        _signed("rep-other", "reply", "AUTH-O", "department", department_id="DSQ-350203", note="不是我们的"),
        _signed("rep-duty", "reply", "AUTH-O", "duty", note="值班员代答"),
        _signed("rep-1", "reply", "AUTH-O", "department", department_id="DSAN-350203", note="已清理完毕")])
    letters = _letters(agents)
    assert "is against department DSAN-350203, not DSQ-350203" in letters["rep-other"].reason
    assert "role duty may not send reply on a case (needs department)" in letters["rep-duty"].reason
    order = case_order(redis_client, "AUTH-O")
    assert (order.state, order.reply, order.replied_by) == ("replied", "已清理完毕", "测试department(department)")
    assert open_orders(redis_client) == [] and redis_client.zcard(keys.supervision_due()) == 0
    assert all(redis_client.zscore(keys.active_alerts(), a) is None for a in order.alerts)
    assert _timer_at(late + 86400) == 0


def test_a_department_handles_its_case_with_a_photo_and_returns_another(agents, redis_client):
    from cityops.read.supervision_orders import department_queue

    assert [row["case_id"] for row in department_queue(redis_client, "DSAN-350203")] == ["AUTH-O"]
    agents.run(agents.commands, [
        _signed("h-wrong", "handle", "AUTH-O", "department", department_id="CITY-MUNI", note="x"),
        _signed("r-1", "return", "AUTH-O", "department", department_id="DSAN-350203", note="属于园林部门")])
    assert "not dispatched to department CITY-MUNI" in _letters(agents)["h-wrong"].reason
    steps = [value for _, value in agents.commands.cases_topic.sent]
    agents.run(agents.cases, steps)
    case = redis_client.hgetall(keys.case("AUTH-O"))
    assert case["state"] == "registered" and case["stage"] == "dispatch"
    assert department_queue(redis_client, "DSAN-350203") == []
    # the centre re-dispatches; the department handles it with its photo
    agents.run(agents.cases, [orjson.dumps({"event_id": "AUTH-O-redispatch", "case_id": "AUTH-O",
                                            "action": "dispatch", "event_time": datetime.now(UTC).isoformat(),
                                            "department_id": "DSAN-350203"})])
    assert [row["case_id"] for row in department_queue(redis_client, "DSAN-350203")] == ["AUTH-O"]
    sent_before = len(agents.commands.cases_topic.sent)
    agents.run(agents.commands, [_signed("h-1", "handle", "AUTH-O", "department", department_id="DSAN-350203",
                                         note="已清运", evidence_ref="uploads/DSAN-350203/h1.jpg")])
    agents.run(agents.cases, [v for _, v in agents.commands.cases_topic.sent[sent_before:]])
    assert redis_client.hget(keys.case("AUTH-O"), "state") == "handled"
    [handled] = [orjson.loads(e) for e in redis_client.lrange(keys.case_timeline("AUTH-O"), 0, -1)
                 if orjson.loads(e)["action"] == "handle"]
    assert handled["evidence_ref"] == "uploads/DSAN-350203/h1.jpg" and handled["description"] == "已清运"
    assert department_queue(redis_client, "DSAN-350203") == []
