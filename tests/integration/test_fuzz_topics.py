"""Hostile input end to end: over 10,000 malformed messages on every input topic, through a real broker and
a real worker, interleaved with valid traffic.

Two workers run side by side, each with its own topics and Redis database: the *reference* gets only the
valid traffic, the *fuzz* worker the same valid traffic with the hostile messages mixed in (the generator is
``tests/support/fuzz_messages.py``). Then:

- the fuzz worker is still alive and never logged a crashed agent;
- the dead letters counted in Redis equal, per topic and stage, the number the generator says each message
  must cause (a bad reading inside an envelope counts once each), and the dead-letter topic holds exactly as
  many records, each with a reason and, for messages refused whole, the exact bytes that were sent;
- the read model (every counter, case, sensor window, capture, audit entry) equals the reference's, key by
  key: nothing hostile was counted, nothing valid was lost, re-used ids were ignored.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis import Redis

from cityops import keys, read
from cityops.bus import Publisher, ensure_topics
from cityops.city_data import get_city_data
from cityops.schemas import DEAD_LETTER_PAYLOAD_BYTES, DeadLetter, decode
from cityops.settings import Settings
from fixtures.xiamen import load_city
from tests.support.fuzz_messages import (
    AUTH_KINDS,
    FUZZ_COMMAND_KEYS,
    FUZZ_COMMAND_MAX_AGE_S,
    FuzzPlan,
    Message,
    build_plan,
    summary,
)
from tests.support.stack import dump_read_model
from tests.support.workers import start_worker, stop_process, subprocess_env, wait_until

# Wall-clock dependent, so not comparable between two runs: heartbeats, arrival times and offline alerts,
# the alert feed, SLA-overdue alert records (whether the timer raises a stage's alert before the next step
# arrives depends on timing); and what only the fuzz run has by design: its dead letters and the dedupe marks
# of refused messages and of envelopes that held only refused readings; and the case stream's clock marks.
VOLATILE = ("co:meta:", "co:alerts", "co:dlq:", "co:sensors:seen", "co:alert:sla:", "co:alert:offline:", "co:seen:",
            "co:cases:open:scores", "co:stream_clock")
VOLATILE_FIELDS = ("offline", "offline_alert")
DB_REFERENCE, DB_FUZZ = 6, 7


def _env(broker_url: str, redis_url: str, db: int) -> dict[str, str]:
    return {"KAFKA_BROKER": f"kafka://{broker_url}", "REDIS_URL": redis_url.rsplit("/", 1)[0] + f"/{db}",
            "CITYOPS_TOPIC_PREFIX": f"f{uuid.uuid4().hex[:8]}", "CITYOPS_WORKER_ID": f"f{uuid.uuid4().hex[:8]}",
            "CITYOPS_WORKER_WEB_PORT": "0",
            # the commands' signing keys, and a freshness window covering the whole run (tests/support/fuzz_messages.py)
            "CITYOPS_COMMAND_KEYS": FUZZ_COMMAND_KEYS, "CITYOPS_COMMAND_MAX_AGE_S": str(FUZZ_COMMAND_MAX_AGE_S)}


def _settings(env: dict[str, str]) -> Settings:
    return Settings(kafka_broker=env["KAFKA_BROKER"], redis_url=env["REDIS_URL"],
                    topic_prefix=env["CITYOPS_TOPIC_PREFIX"])


async def _publish(env: dict[str, str], messages: list[Message]) -> Counter[str]:
    """Send in order (pipelined by the publisher); returns messages sent per topic attribute."""
    s = _settings(env)
    sent: Counter[str] = Counter()
    async with Publisher(s, pending_limit=2000) as pub:
        for m in messages:
            await pub.send(getattr(s.topics, m.topic), m.key, m.payload)
            sent[m.topic] += 1
    return sent


def _committed(env: dict[str, str]) -> Counter[str]:
    """Committed offsets of the worker's group per topic attribute (tansu's end offsets are not usable)."""
    s = _settings(env)

    async def go() -> Counter[str]:
        consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers, group_id=env["CITYOPS_WORKER_ID"],
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            out: Counter[str] = Counter()
            for attr in ("cases", "sensors", "detections", "commands"):
                for p in range(s.partitions):
                    out[attr] += (await consumer.committed(TopicPartition(getattr(s.topics, attr), p))) or 0
            return out
        finally:
            await consumer.stop()

    return asyncio.run(go())


def _settle(r: Redis, env: dict[str, str], sent: Counter[str], proc, what: str) -> None:
    """Everything sent consumed and committed, derived case events applied, the read model still."""
    def consumed() -> bool:
        done = _committed(env)
        return all(done[t] >= n for t, n in sent.items())

    wait_until(consumed, 150, f"{what}: the worker did not consume everything", proc, interval=1.0)
    last: list[object] = [None]

    def stable() -> bool:
        now = (_committed(env), r.dbsize(), r.xlen(keys.outbox()) if r.exists(keys.outbox()) else 0)
        if now == last[0] and now[2] == 0:
            return True
        last[0] = now
        return False

    wait_until(stable, 90, f"{what}: the read model kept changing", proc, interval=2.0)
    wait_until(lambda: r.zcount(keys.sla_clock(), "-inf", time.time()) == 0, 30, f"{what}: SLA timer behind", proc)


def _dump(r: Redis) -> dict[str, object]:
    """The read model without the wall-clock keys and fields; feeds such as the captures and the audit trail
    merge partitions, whose interleaving differs from run to run, so streams are compared as multisets."""
    model = dump_read_model(r, VOLATILE, VOLATILE_FIELDS, streams_in_any_order=True)
    if keys.audit() in model:  # when the command agent received each command: the wall clock
        model[keys.audit()] = sorted(orjson.dumps({k: v for k, v in orjson.loads(e["json"]).items()
                                                   if k != "received_at"}, option=orjson.OPT_SORT_KEYS).decode()
                                     for e in model[keys.audit()])
    return model


def _dead_letters_counted(r: Redis, settings: Settings) -> Counter[tuple[str, str]]:
    by_name = {getattr(settings.topics, t): t for t in ("cases", "sensors", "detections", "commands")}
    out: Counter[tuple[str, str]] = Counter()
    for key in r.scan_iter(match=keys.dlq_daily("*")):
        for fieldname, n in r.hgetall(key).items():
            topic, stage = fieldname.rsplit(":", 1)
            out[(by_name.get(topic, topic), stage)] += int(n)
    return out


def _read_dead_letter_topic(settings: Settings, expected: int, timeout: float = 60) -> list[DeadLetter]:
    async def go() -> list[DeadLetter]:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest",
                                    enable_auto_commit=False, group_id=None, max_partition_fetch_bytes=8 << 20,
                                    fetch_max_bytes=64 << 20)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(settings.topics.deadletter, p) for p in range(settings.partitions)])
            for p in range(settings.partitions):
                consumer.seek(TopicPartition(settings.topics.deadletter, p), 0)
            out: list[DeadLetter] = []
            deadline = time.monotonic() + timeout
            quiet_since = time.monotonic()
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                got = [decode(DeadLetter, rec.value) for recs in batch.values() for rec in recs]
                out.extend(got)
                if got:
                    quiet_since = time.monotonic()
                elif len(out) >= expected and time.monotonic() - quiet_since > 3:
                    break  # everything expected read, and nothing more arriving
            return out
        finally:
            await consumer.stop()

    return asyncio.run(go())


@dataclass
class FuzzRun:
    """What the two runs left behind, for the tests below to judge."""

    plan: FuzzPlan
    fuzz_settings: Settings
    worker_alive: bool
    worker_log: str
    dead_letters_counted: Counter[tuple[str, str]]
    reference_dead_letters: Counter[tuple[str, str]]
    letters: list[DeadLetter]
    model_ref: dict[str, object]
    model_fuzz: dict[str, object]
    counters: Mapping[str, float]
    iot_cases: int
    html_cases: dict[str, dict[str, str]]
    audit: list[dict]
    sensors_seen: list[str]
    seconds: float


@pytest.fixture(scope="module")
def fuzz_run(broker_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> FuzzRun:
    """Both runs, side by side: the reference gets the valid traffic, the fuzz worker everything."""
    started = time.monotonic()
    plan = build_plan()
    ref, fuzz = _env(broker_url, redis_url, DB_REFERENCE), _env(broker_url, redis_url, DB_FUZZ)
    r_ref, r_fuzz = (Redis.from_url(e["REDIS_URL"], decode_responses=True) for e in (ref, fuzz))
    r_ref.flushdb()
    r_fuzz.flushdb()
    for e in (ref, fuzz):
        asyncio.run(ensure_topics(_settings(e)))
    logs = tmp_path_factory.mktemp("fuzz")
    p_ref = start_worker(logs / "reference.log", subprocess_env() | ref)
    p_fuzz = start_worker(logs / "fuzz.log", subprocess_env() | fuzz)
    try:
        async def phase(ref_msgs: list[Message], fuzz_msgs: list[Message]) -> list[Counter[str]]:
            return list(await asyncio.gather(_publish(ref, ref_msgs), _publish(fuzz, fuzz_msgs)))

        sent_ref, sent_fuzz = asyncio.run(phase(plan.phase1_valid, plan.phase1_fuzz))
        _settle(r_ref, ref, sent_ref, p_ref, "reference, phase 1")
        _settle(r_fuzz, fuzz, sent_fuzz, p_fuzz, "fuzz, phase 1")
        more_ref, more_fuzz = asyncio.run(phase(plan.phase2_valid, plan.phase2_fuzz))
        _settle(r_ref, ref, sent_ref + more_ref, p_ref, "reference, phase 2")
        _settle(r_fuzz, fuzz, sent_fuzz + more_fuzz, p_fuzz, "fuzz, phase 2")
        alive = p_fuzz.poll() is None
        fs = _settings(fuzz)
        expected = sum(plan.expected_dead_letters().values())
        day = datetime.fromisoformat(orjson.loads(next(m.payload for m in plan.phase1_valid
                                                       if m.topic == "cases"))["event_time"])
        return FuzzRun(
            plan=plan, fuzz_settings=fs, worker_alive=alive,
            worker_log=(logs / "fuzz.log").read_text(errors="replace"),
            dead_letters_counted=_dead_letters_counted(r_fuzz, fs),
            reference_dead_letters=_dead_letters_counted(r_ref, _settings(ref)),
            letters=_read_dead_letter_topic(fs, expected),
            model_ref=_dump(r_ref), model_fuzz=_dump(r_fuzz),
            counters=read.day_counters(r_fuzz, day, "city", load_city().code), iot_cases=_iot_cases(r_fuzz),
            html_cases={cid: read.case(r_fuzz, cid) for cid in plan.html_cases},
            audit=[orjson.loads(f["json"]) for _, f in r_fuzz.xrange(keys.audit())],
            sensors_seen=r_fuzz.zrange(keys.sensors_seen(), 0, -1),
            seconds=time.monotonic() - started,
        )
    finally:
        stop_process(p_fuzz)
        stop_process(p_ref)
        r_ref.close()
        r_fuzz.close()


def _iot_cases(r: Redis) -> int:
    """Cases the sensor rules opened themselves (source 物联感知); the same in both runs."""
    return sum(1 for k in r.scan_iter(match=keys.case("IOT-*")) if keys.family_of(k) == "case")


def _names(settings: Settings) -> dict[str, str]:
    return {getattr(settings.topics, t): t for t in ("cases", "sensors", "detections", "commands")}


def test_the_plan_covers_every_topic_and_kind(fuzz_run: FuzzRun) -> None:
    hostile = fuzz_run.plan.hostile()
    assert len(hostile) >= 10_000
    kinds = summary(hostile)
    assert {t for t, _ in kinds} == {"cases", "sensors", "detections", "commands"}
    for topic in ("cases", "sensors", "detections", "commands"):  # each contract breaker on each topic
        for kind in ("binary", "not_json", "wrong_type", "missing_field", "nan_inf", "huge_string", "timestamp",
                     "html_in_id", "version"):
            assert kinds[(topic, kind)] >= 50, (topic, kind)
    for topic, kind in (("cases", "coordinates"), ("detections", "coordinates"), ("cases", "unknown_category"),
                        ("detections", "unknown_category"), ("commands", "unknown_category"),
                        ("cases", "illegal_transition"), ("commands", "illegal_transition"),
                        ("sensors", "bad_reading"), ("sensors", "late_reading"), ("sensors", "unknown_sensor")):
        assert kinds[(topic, kind)] >= 10, (topic, kind)
    for kind in AUTH_KINDS:  # forged, replayed (stale) and above-role commands: all refused at stage auth
        assert kinds[("commands", kind)] >= 10, kind
    assert fuzz_run.plan.expected_dead_letters()[("commands", "auth")] >= 6 * 10
    print(f"fuzz: {len(hostile)} hostile messages, {sum(fuzz_run.plan.expected_dead_letters().values())} dead "
          f"letters expected, {len(fuzz_run.plan.phase1_valid) + len(fuzz_run.plan.phase2_valid)} valid, "
          f"both runs {fuzz_run.seconds:.0f} s")


def test_the_worker_survives_without_a_crashed_agent(fuzz_run: FuzzRun) -> None:
    assert fuzz_run.worker_alive, "the fuzz worker exited"
    log = fuzz_run.worker_log
    assert "crashed" not in log.lower() and "Traceback" not in log, log[-3000:]


def test_every_hostile_message_is_dead_lettered_once_with_its_reason(fuzz_run: FuzzRun) -> None:
    plan, letters = fuzz_run.plan, fuzz_run.letters
    expected = plan.expected_dead_letters()
    assert fuzz_run.dead_letters_counted == expected  # Redis: per topic and stage, exactly
    assert fuzz_run.reference_dead_letters == Counter()
    assert len(letters) == sum(expected.values())  # the dead-letter topic: one record per refusal
    assert all(dl.reason.strip() for dl in letters)
    names = _names(fuzz_run.fuzz_settings)
    assert Counter((names[dl.source_topic], dl.stage) for dl in letters) == expected
    # a message refused whole travels with its exact bytes (the first 100 kB of an oversized one)
    per_reading = ("bad_reading", "late_reading", "unknown_sensor")  # their dead letters hold the reading
    whole = Counter((m.topic, m.payload[:DEAD_LETTER_PAYLOAD_BYTES]) for m in plan.hostile()
                    if m.kind not in per_reading)
    got = Counter((names[dl.source_topic], dl.raw_payload()) for dl in letters
                  if dl.stage in ("validate", "transition", "auth") and not dl.reason.startswith("unknown sensor"))
    assert got == whole, "a dead letter does not carry the exact bytes that were refused"
    assert all(dl.payload_truncated == (dl.payload_size > DEAD_LETTER_PAYLOAD_BYTES) for dl in letters)


AUTH_REASONS = {"forged": "bad signature", "tampered": "bad signature", "unknown_kid": "unknown signing key id",
                "unsigned": "not signed", "stale": "stale command", "above_role": "may not send"}


def test_forged_replayed_and_above_role_commands_are_refused_each_with_its_reason(fuzz_run: FuzzRun) -> None:
    names = _names(fuzz_run.fuzz_settings)
    kind_of = {m.payload: m.kind for m in fuzz_run.plan.hostile() if m.kind in AUTH_KINDS}
    refused = Counter()
    for dl in fuzz_run.letters:
        if dl.stage == "auth":
            assert names[dl.source_topic] == "commands"
            kind = kind_of[dl.raw_payload()]
            assert AUTH_REASONS[kind] in dl.reason, (kind, dl.reason)
            refused[kind] += 1
    assert refused == Counter(m.kind for m in fuzz_run.plan.hostile() if m.kind in AUTH_KINDS)
    applied = {a["command_id"] for a in fuzz_run.audit}
    assert not any(cid.startswith(("fz-cmd-forged-", "fz-cmd-stale-", "fz-cmd-above_role-", "fz-cmd-unsigned-",
                                   "fz-cmd-unknown_kid-")) for cid in applied)
    valid = [orjson.loads(m.payload) for m in fuzz_run.plan.phase2_valid]
    audit = {a["command_id"]: a for a in fuzz_run.audit}
    for body in valid:  # a tampered copy changed nothing: each valid command applied as signed, with its time
        record = audit[body["command_id"]]
        assert (record["action"], record["user"], record["role"], record["note"]) == (
            body["action"], body["user"], body["role"], body["note"])
        assert datetime.fromisoformat(record["received_at"]) >= datetime.fromisoformat(record["at"])


def _unknown_sensor_key(key: str) -> bool:
    """What only the hostile traffic makes: unknown sensors' hashes (must not exist) and their counts per gateway."""
    return key.startswith((keys.sensor("NO-SUCH-SENSOR-"), "co:unkdev:"))


def test_valid_traffic_is_counted_exactly_as_without_the_hostile_traffic(fuzz_run: FuzzRun) -> None:
    ref = fuzz_run.model_ref
    fuzz = {k: v for k, v in fuzz_run.model_fuzz.items() if not _unknown_sensor_key(k)}  # checked on their own below
    assert any(k.startswith("co:kpi:d:") for k in ref) and any(k.startswith("co:win:") for k in ref)
    assert any(k.startswith(keys.case("AI-")) for k in ref) and fuzz_run.audit
    diff = sorted(k for k in set(ref) | set(fuzz) if ref.get(k) != fuzz.get(k))
    assert diff == [], f"{len(diff)} keys differ, e.g. " + "; ".join(
        f"{k}: {ref.get(k)!r} vs {fuzz.get(k)!r}"[:400] for k in diff[:4])
    # the figures themselves: one received per case reported, capture and IoT episode, nothing twice
    plan = fuzz_run.plan
    reports = sum(m.topic == "cases" and orjson.loads(m.payload)["action"] == "report" for m in plan.phase1_valid)
    detections = sum(m.topic == "detections" for m in plan.phase1_valid)
    trusted = get_city_data().auto_dispatch  # the other captures wait for review: no case yet
    dispatched = sum(m.topic == "detections" and orjson.loads(m.payload)["ai_type"] in trusted
                     for m in plan.phase1_valid)
    assert fuzz_run.counters["received"] == reports + dispatched + fuzz_run.iot_cases
    assert fuzz_run.counters["captures"] == detections
    assert len(fuzz_run.audit) == len(plan.phase2_valid)  # re-sent and conflicting command ids changed nothing


def test_html_and_script_in_free_text_are_kept_as_the_text_sent(fuzz_run: FuzzRun) -> None:
    assert fuzz_run.html_cases
    for cid, (address, description) in fuzz_run.plan.html_cases.items():
        case = fuzz_run.html_cases[cid]
        assert (case["address"], case["description"]) == (address, description)
    notes = {a["command_id"]: a["note"] for a in fuzz_run.audit}
    for m in fuzz_run.plan.phase2_valid:
        body = orjson.loads(m.payload)
        assert notes[body["command_id"]] == body["note"]


def test_readings_of_unknown_sensors_leave_nothing_in_the_read_model(fuzz_run: FuzzRun) -> None:
    junk = [k for k in fuzz_run.model_fuzz if k.startswith(keys.sensor("NO-SUCH-SENSOR-"))]
    seen = [s for s in fuzz_run.sensors_seen if s.startswith("NO-SUCH-SENSOR-")]
    assert junk == [] and seen == [], f"{len(junk)} sensor hashes and {len(seen)} arrival marks of unknown sensors"
    # ... but each is counted for its gateway (the admin page's 未登记设备), once, however often it was re-sent
    sent = {orjson.loads(m.payload)["readings"][0]["sensor_id"] for m in fuzz_run.plan.hostile()
            if m.kind == "unknown_sensor"}
    daily = [v for k, v in fuzz_run.model_fuzz.items() if k.startswith("co:unkdev:d:")]
    assert sum(int(day.get("GW-FUZZ", 0)) for day in daily) == len(sent)
    ids = {member for member, _ in fuzz_run.model_fuzz[keys.unknown_device_ids("GW-FUZZ")]}
    assert len(ids) == min(len(sent), keys.UNKNOWN_DEVICE_IDS_CAP) and ids <= sent
