"""Behaviour stays the same, proven: the read model and the Kafka sends of one input, old commit vs working tree.

    .venv/bin/python -m tools.compare_versions --old <commit> [--new WORKTREE] [--workdir DIR]

The old commit's tree is extracted with ``git archive <commit> | tar -x`` (nothing in the repository is
checked out); the new one is the working tree (or ``--new``). One broker and one Redis serve both; each
version gets its own topic prefix and Redis database, receives the *same bytes* (built once, by default
from the old tree's simulator and replayers: ``--input-from``), and runs its own ``python -m cityops worker``
(same interpreter, the version's tree as working directory and ``PYTHONPATH``) until everything is
consumed, the outbox and repeat queue are empty and the SLA clock has caught up (``settle`` of
``tests/support/stack.py``, as ``make chaos`` waits); then the worker stops.

The input, in four phases published one after the other, each consumed before the next: one Beijing
air-quality station (2013), an LA 311 replay (2020), one noise series (2025-03) and a seeded simulated day
on a fixed past working day (cases and sensor ticks), each limited in rows, plus a few refused messages.
Why phases: the repeat finder forgets reports more than its window behind their category's newest, so
reports of different eras racing on different partitions would be repeats or not by timing. The replayed sensors
get no simulated ticks: their readings come from one gateway (one partition), in time order, so whether
one is late never depends on how partitions interleave.

Compared: both read-model dumps key by key with the chaos judge (:func:`cityops.chaos.compare`, with its
wall-clock exclusions ``VOLATILE``), and every topic's messages beyond the input, as multisets
(the cases topic as a set: the outbox re-publishes a derived event until it is applied). Normalised
first, as wall clock or run-specific: each version's topic prefix and consumer group in keys and values,
the offline timer's output (it fires on silence measured by arrival time: ``offline:`` alerts, their
active-alert entries, a sensor hash's ``offline``/``offline_alert``), and a dead letter's ``received_at``.
Both workers run with ``CITYOPS_STALE_CASE_DAYS=3650``: LA 311's open cases are years old, and the stale-case
timer (wall clock) would expire them at moments that depend on timing. Dead letters are counted under the day
they arrive (``co:dlq:d:{today}``), so a run across local midnight shows that key as a difference.
Prints a table; exits 1 on any difference, 2 when the run itself failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import marshal
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASETS = REPO_ROOT.parent / "shared" / "datasets"
DAY = "2025-11-20"  # a past working day with holiday data: calendars and SLA clocks are deterministic
DISTINCT_TOPICS = ("cases",)  # the outbox re-publishes a derived case event until the case agent applied it
# Stripped from the parent's environment so both workers run with the same settings.
_SETTINGS_PREFIXES = ("CITYOPS_", "KAFKA_", "REDIS_")

Item = tuple[str, str, bytes]  # (topic kind, key, payload)


@dataclass(frozen=True)
class FieldRename:
    """A stored hash field renamed on purpose by the new code: applied to the old dump before comparing, and
    printed with the number of keys it touched, so that the comparison stays exact about everything else."""

    key_prefix: str
    old: str
    new: str
    why: str


# Every intended change of the stored read model since the baseline, each with its reason; empty when none.
DECLARED_RENAMES: tuple[FieldRename, ...] = (
    FieldRename("co:alert:sensor:", "since", "at", "issue 12.1: an alert's raised time is one field, `at`"),
)


def apply_renames(model: dict[str, object], renames: Iterable[FieldRename]) -> dict[FieldRename, int]:
    """Rename the declared fields in ``model`` in place; per rename, how many keys it touched."""
    touched: dict[FieldRename, int] = {}
    for rename in renames:
        n = 0
        for key, value in model.items():
            if key.startswith(rename.key_prefix) and isinstance(value, dict) and rename.old in value:
                value[rename.new] = value.pop(rename.old)
                n += 1
        touched[rename] = n
    return touched


def _log(msg: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------- the input

def build_input(args: argparse.Namespace) -> list[list[Item]]:
    """The input in phases (one era each, in time order), built with the simulator and replayers of the tree this
    process imports (their ``--fast`` mode).

    Imports only what the baseline commit already had, so it runs in the old tree too.
    """
    from datetime import date, datetime, time, timedelta

    import orjson

    from cityops.catalogue import get_catalogue
    from cityops.schemas import CaseEvent, encode
    from cityops.settings import Settings
    from cityops.workcalendar import get_calendar
    from fixtures.replay import air, la311, noise
    from fixtures.replay.common import ReplayReport
    from fixtures.simulator.cases import CaseDayPlanner
    from fixtures.simulator.run import sensor_envelopes
    from fixtures.simulator.sensors import SensorModel
    from fixtures.xiamen import load_city, load_sensors

    settings, tz = Settings(), Settings().tz
    sensors = load_sensors()
    air_items: list[Item] = []

    # air (2013…): one station → the first dust site's PM10/PM2.5 sensors, one envelope per hour
    pm10, pm25 = air.dust_sites(sensors)[0]
    report = ReplayReport("air", args.air_file)
    by_hour: dict[datetime, list[dict]] = {}
    for t, reading in air.read_station(Path(args.air_file), pm10, pm25, settings, report, args.air_rows):
        by_hour.setdefault(t, []).append(reading)
    for t in sorted(by_hour):
        stamp = t.isoformat()
        envelope = {"v": 1, "envelope_id": f"{air.GATEWAY}-{int(t.timestamp())}-0", "gateway_id": air.GATEWAY,
                    "sent_at": stamp, "readings": [r | {"time": stamp} for r in by_hour[t]]}
        air_items.append(("sensors", air.GATEWAY, orjson.dumps(envelope)))

    # noise (2025-03): one series → the first construction site's noise sensor, envelopes of 100 readings
    report = ReplayReport("noise", args.noise_file)
    target = noise.noise_sensors(sensors)[0]
    noise_items: list[Item] = []
    readings = sorted((t, target.id, v) for t, v in noise.read_series(Path(args.noise_file), settings, report,
                                                                      args.noise_rows))
    for part in range(0, len(readings), 100):
        chunk = readings[part:part + 100]
        first = int(chunk[0][0].timestamp())
        envelope = {"v": 1, "envelope_id": f"{noise.GATEWAY}-{chunk[0][1]}-{first}-{part // 100}",
                    "gateway_id": noise.GATEWAY, "sent_at": chunk[-1][0].isoformat(),
                    "readings": [{"sensor_id": sid, "kind": "noise", "metric": "laeq", "value": v, "unit": "dB(A)",
                                  "time": t.isoformat()} for t, sid, v in chunk]}
        noise_items.append(("sensors", noise.GATEWAY, orjson.dumps(envelope)))

    # LA 311 (2020): cases, in time order as the replayer sends them
    report = ReplayReport("la311", args.la311_file)
    events = la311.build_events(Path(args.la311_file), settings, report, args.la311_rows)
    events.sort(key=lambda e: e[:3])
    la311_items = [("cases", ev.case_id, encode(ev)) for _, _, _, ev in events]

    # the seeded simulated day (tests/support/stack.seeded_day on a fixed day): cases and sensor ticks by time
    day = date.fromisoformat(args.day)
    cal = get_calendar()
    if not cal.is_working_day(day):
        raise ValueError(f"--day {day} is not a working day")
    planner = CaseDayPlanner(load_city(), get_catalogue(), cal, tz, seed=args.seed, cases_per_day=args.cases_per_day)
    timed: list[tuple[datetime, str, str, bytes]] = []
    for pe in planner.plan_day(day):
        event = CaseEvent.model_validate(dict(pe.event))
        timed.append((pe.time, "cases", event.case_id, encode(event)))
    # the replayed sensors are left out of the ticks: another gateway's envelopes go to another partition, so
    # the replay's older readings could arrive after the day's, and be late or not depending on timing
    replayed = {pm10.id, pm25.id, target.id}
    model = SensorModel(sensors, seed=args.seed)
    for minute in range(args.sensor_ticks):
        tick = datetime.combine(day, time(9, 0), tz) + timedelta(minutes=minute)
        pairs = [(s, v) for s, v in zip(sensors, model.values_at(tick).tolist(), strict=True) if s.id not in replayed]
        for key, payload in sensor_envelopes([s for s, _ in pairs], [v for _, v in pairs], tick):
            timed.append((tick, "sensors", key, payload))
    timed.sort(key=lambda x: x[0])
    day_items = [(kind, key, payload) for _, kind, key, payload in timed]
    after = (readings[-1][0] if readings else datetime.combine(day, time(0), tz)) + timedelta(minutes=1)
    bad_cases, bad_sensors = bad_messages(target.id, after.isoformat(), noise.GATEWAY)
    return [air_items, la311_items, noise_items + bad_sensors, day_items + bad_cases]


def bad_messages(noise_sensor: str, after: str, gateway: str) -> tuple[list[Item], list[Item]]:
    """A few refused messages, so the dead-letter sends are compared too (their refusal never depends on timing:
    no lateness, and the noise reading goes through the replay's gateway, after the replayed series)."""
    case = {"v": 1, "event_id": "CMP-BAD-3-close", "case_id": "CMP-BAD-3", "action": "close",
            "event_time": "2025-11-20T12:00:00+08:00", "actor": "compare"}
    loud = {"v": 1, "envelope_id": "CMP-BAD-LOUD", "gateway_id": gateway, "sent_at": after,
            "readings": [{"sensor_id": noise_sensor, "kind": "noise", "metric": "laeq", "value": 500.0,
                          "unit": "dB(A)", "time": after},
                         {"sensor_id": "NO-SUCH-SENSOR", "kind": "noise", "metric": "laeq", "value": 50.0,
                          "unit": "dB(A)", "time": after}]}
    return ([("cases", "CMP-BAD-1", b"not json {"),
             ("cases", "CMP-BAD-2", b'{"v":1,"event_id":"CMP-BAD-2","case_id":"CMP-BAD-2","action":"report"}'),
             ("cases", "CMP-BAD-3", json.dumps(case).encode())],
            [("sensors", gateway, json.dumps(loud).encode()),
             ("sensors", "CMP-BAD-4", b"\xff\xfe not an envelope")])


def _clean_env(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS_PREFIXES) and k != "PYTHONPATH"}
    return env | {"PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}


def input_in(tree: Path, args: argparse.Namespace, out: Path) -> list[list[Item]]:
    """Build the input in a process that imports ``tree``'s code; returns its phases."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "input", "--out", str(out), "--day", args.day,
           "--seed", str(args.seed), "--cases-per-day", str(args.cases_per_day), "--sensor-ticks",
           str(args.sensor_ticks), "--la311-file", args.la311_file, "--la311-rows", str(args.la311_rows),
           "--air-file", args.air_file, "--air-rows", str(args.air_rows), "--noise-file", args.noise_file,
           "--noise-rows", str(args.noise_rows)]
    subprocess.run(cmd, cwd=tree, env=_clean_env(tree), check=True)
    return marshal.loads(out.read_bytes())


# --------------------------------------------------------------------------------------------- pure judging

def _replace(value: object, tokens: dict[str, str]) -> object:
    if isinstance(value, str):
        for old, new in tokens.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {_replace(k, tokens): _replace(v, tokens) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_replace(v, tokens) for v in value)
    return value


@dataclass(frozen=True)
class Volatile:
    """What the offline timer writes (arrival-time driven, so wall clock): dropped before comparing."""

    alert_prefix: str = "co:alert:offline:"
    active_alerts: str = "co:alerts:active"
    member_prefix: str = "offline:"
    sensor_prefix: str = "co:sensor:"
    sensor_fields: tuple[str, ...] = ("offline", "offline_alert")

    @classmethod
    def from_keys(cls) -> Volatile:
        from cityops import keys

        return cls(alert_prefix=keys.alert("offline:"), active_alerts=keys.active_alerts(),
                   sensor_prefix=keys.sensor(""))


def normalise_model(model: dict[str, object], tokens: dict[str, str],
                    volatile: Volatile = Volatile()) -> dict[str, object]:
    """A dump with the run's own names (``tokens``: prefix → placeholder) replaced and the offline timer's
    output dropped."""
    out: dict[str, object] = {}
    for key, value in model.items():
        if key.startswith(volatile.alert_prefix):
            continue
        if key == volatile.active_alerts and isinstance(value, list):
            value = [m for m in value if not str(m[0] if isinstance(m, list | tuple) else m)
                     .startswith(volatile.member_prefix)]
        elif key.startswith(volatile.sensor_prefix) and isinstance(value, dict):
            value = {f: v for f, v in value.items() if f not in volatile.sensor_fields}
        out[str(_replace(key, tokens))] = _replace(value, tokens)
    return out


def normalise_send(kind: str, key: bytes | None, value: bytes | None, tokens: dict[str, str]) -> tuple[str, str]:
    """One sent message as comparable text: run names replaced; a dead letter without its ``received_at``."""
    k = (key or b"").decode("utf-8", "replace")
    v = (value or b"").decode("utf-8", "replace")
    if kind == "deadletter":
        try:
            rec = json.loads(v)
        except ValueError:
            return str(_replace(k, tokens)), str(_replace(v, tokens))
        if isinstance(rec, dict):
            rec.pop("received_at", None)
            v = json.dumps(rec, sort_keys=True, ensure_ascii=False)
    return str(_replace(k, tokens)), str(_replace(v, tokens))


def beyond_input(sent: Iterable[tuple[str, str]], given: Iterable[tuple[str, str]]) -> tuple[Counter, int]:
    """What a topic holds beyond the input given to it (multiset), and how many given messages are missing."""
    extra = Counter(sent)
    missing = 0
    for msg in given:
        if extra[msg] > 0:
            extra[msg] -= 1
        else:
            missing += 1
    return +extra, missing


@dataclass
class TopicComparison:
    topic: str
    old: int  # messages beyond the input (distinct ones for DISTINCT_TOPICS)
    new: int
    copies_old: int  # all messages beyond the input, re-publications included
    copies_new: int
    only_old: list[tuple[str, str]]
    only_new: list[tuple[str, str]]
    missing_input: tuple[int, int] = (0, 0)

    @property
    def differences(self) -> int:
        return len(self.only_old) + len(self.only_new) + sum(self.missing_input)


def compare_sends(kind: str, old: Counter, new: Counter, missing: tuple[int, int] = (0, 0)) -> TopicComparison:
    """Multiset comparison of one topic's sends (sets for the topics of ``DISTINCT_TOPICS``)."""
    if kind in DISTINCT_TOPICS:
        a, b = Counter(set(old)), Counter(set(new))
    else:
        a, b = old, new
    return TopicComparison(kind, sum(a.values()), sum(b.values()), sum(old.values()), sum(new.values()),
                           sorted((a - b).elements()), sorted((b - a).elements()), missing)


@dataclass
class Result:
    """What the run prints; ``ok`` is the exit status's source."""

    old: str
    new: str
    events_input: int = 0
    keys: tuple[int, int] = (0, 0)
    keys_compared: int = 0
    differences: list[str] = field(default_factory=list)
    values: dict[str, tuple[object, object]] = field(default_factory=dict)  # first differing keys: (old, new)
    topics: list[TopicComparison] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    renamed: dict[FieldRename, int] = field(default_factory=dict)  # declared renames applied to the old dump

    @property
    def ok(self) -> bool:
        return self.keys_compared > 0 and not self.differences and not any(t.differences for t in self.topics)

    def table(self, shown: int = 5) -> str:
        rows = [("old", self.old), ("new", self.new), ("events in the input (same bytes to both)",
                                                       f"{self.events_input:,}"),
                ("read-model keys old / new", f"{self.keys[0]:,} / {self.keys[1]:,}"),
                ("keys compared", f"{self.keys_compared:,}"), ("key differences", str(len(self.differences)))]
        rows += [(f"declared rename {r.key_prefix}* {r.old} → {r.new}", f"{n:,} keys ({r.why})")
                 for r, n in self.renamed.items()]
        for t in self.topics:
            mode = "distinct" if t.topic in DISTINCT_TOPICS else "multiset"
            rows.append((f"sends beyond the input: {t.topic} ({mode}) old / new",
                         f"{t.old:,} / {t.new:,} (all copies {t.copies_old:,} / {t.copies_new:,})"))
            rows.append((f"  differences: {t.topic}", str(t.differences)))
        rows += [(f"seconds: {k}", f"{v:.0f}") for k, v in self.seconds.items()]
        rows.append(("verdict", "SAME" if self.ok else "DIFFERENT"))
        width = max(len(k) for k, _ in rows)
        lines = [f"| {'what'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
        for key in self.differences[:shown]:
            a, b = differing_part(*self.values.get(key, (None, None)))
            lines.append(f"key {key}:\n  old {_short(a)}\n  new {_short(b)}")
        for t in self.topics:
            if any(t.missing_input):
                lines.append(f"{t.topic}: input messages not found on the topic, old {t.missing_input[0]}, "
                             f"new {t.missing_input[1]}")
            for side, msgs in (("only old", t.only_old), ("only new", t.only_new)):
                for k, v in msgs[:shown]:
                    lines.append(f"{t.topic} {side}: key {k!r} value {_short(v)}")
        return "\n".join(lines)


def differing_part(a: object, b: object) -> tuple[object, object]:
    """Of two hashes only the fields that differ (absent: None); other values whole."""
    if isinstance(a, dict) and isinstance(b, dict):
        names = sorted(f for f in set(a) | set(b) if a.get(f) != b.get(f))
        return {f: a.get(f) for f in names}, {f: b.get(f) for f in names}
    return a, b


def _short(value: object, limit: int = 600) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


# --------------------------------------------------------------------------------------------- the run

def extract(commit: str, dest: Path) -> str:
    """``git archive <commit> | tar -x -C dest``; returns the full commit id."""
    full = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                          check=True, capture_output=True, text=True).stdout.strip()
    dest.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(REPO_ROOT), "archive", full], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=True)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {full} failed")
    return full


@dataclass
class Version:
    label: str
    tree: Path
    db: int
    prefix: str = ""
    group: str = ""

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.prefix, self.group = f"cmp{self.label}{tag}", f"cmpw{self.label}{tag}"

    @property
    def tokens(self) -> dict[str, str]:
        return {f"{self.prefix}.": "<topics>.", self.group: "<group>"}


def _consume_all(env: dict[str, str], idle_s: float = 3.0) -> dict[str, list[tuple[bytes | None, bytes | None]]]:
    """Every message of the version's topics, from the start until none came for ``idle_s`` (tansu's end
    offsets are not reliable)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from cityops.settings import Settings

    s = Settings(kafka_broker=env["KAFKA_BROKER"], topic_prefix=env["CITYOPS_TOPIC_PREFIX"])
    kinds = {getattr(s.topics, k): k for k in ("cases", "sensors", "detections", "commands", "deadletter")}

    async def go() -> dict[str, list[tuple[bytes | None, bytes | None]]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        got: dict[str, list[tuple[bytes | None, bytes | None]]] = {k: [] for k in kinds.values()}
        try:
            parts = [TopicPartition(t, p) for t in kinds for p in (consumer.partitions_for_topic(t) or [])]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            last = time.monotonic()
            while time.monotonic() - last < idle_s:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for tp, records in batch.items():
                    got[kinds[tp.topic]].extend((r.key, r.value) for r in records)
                    last = time.monotonic() if records else last
        finally:
            await consumer.stop()
        return got

    return asyncio.run(go())


def run_version(v: Version, phases: list[list[Item]], base_url: tuple[str, str], workdir: Path,
                result: Result) -> tuple[dict[str, object], dict[str, Counter], dict[str, int]]:
    """Publish each phase of the input to ``v``'s topics and let its worker settle before the next (the repeat
    finder forgets reports far behind their category's newest, so eras must not interleave); the dump and the
    sends beyond the input."""
    from redis import Redis

    from tests.support.stack import publish, settle

    broker, redis_base = base_url
    var = workdir / v.label / "var"
    var.mkdir(parents=True)
    env = {"KAFKA_BROKER": broker, "REDIS_URL": f"{redis_base}/{v.db}", "CITYOPS_TOPIC_PREFIX": v.prefix,
           "CITYOPS_WORKER_ID": v.group, "CITYOPS_WORKER_WEB_PORT": "0", "CITYOPS_VAR": str(var),
           # LA 311's open cases are years old: the stale-case timer (400 days, wall clock) would expire them
           # at a moment that depends on timing; 3650 days (the maximum) keeps them live in both runs
           "CITYOPS_STALE_CASE_DAYS": "3650"}
    t0 = time.monotonic()
    r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
    r.flushdb()
    log = workdir / v.label / "worker.log"
    with log.open("ab") as fh:
        worker = subprocess.Popen([sys.executable, "-m", "cityops", "worker", "--loglevel", "info"], cwd=v.tree,
                                  env=_clean_env(v.tree) | env, stdout=fh, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    sent, model = 0, {}
    try:
        for i, phase in enumerate(phases):
            sent += publish(env, phase)
            model = settle(r, env, sent, [worker] if i == len(phases) - 1 else [])
    except AssertionError as err:
        raise RuntimeError(f"{v.label}: {err}; worker log {log}") from None
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        r.close()
    result.seconds[f"{v.label} run (publish, worker, settle)"] = time.monotonic() - t0
    raw = _consume_all(env)
    given: dict[str, list[tuple[str, str]]] = {}
    for kind, key, payload in (item for phase in phases for item in phase):
        given.setdefault(kind, []).append(normalise_send(kind, key.encode(), payload, v.tokens))
    sends, missing = {}, {}
    for kind, msgs in raw.items():
        sends[kind], missing[kind] = beyond_input((normalise_send(kind, k, m, v.tokens) for k, m in msgs),
                                                  given.get(kind, []))
    _log(f"{v.label}: {len(model):,} keys, sends beyond the input "
         f"{ {k: sum(c.values()) for k, c in sends.items()} }, {time.monotonic() - t0:.0f} s")
    return normalise_model(model, v.tokens, Volatile.from_keys()), sends, missing


def run(args: argparse.Namespace) -> Result:
    from cityops.chaos import compare
    from cityops.services.broker import start_broker
    from cityops.services.readiness import wait_for_broker, wait_for_redis
    from cityops.services.redis_server import start_redis
    from cityops.settings import Settings
    from tests.support.workers import free_port, stop_process

    t0 = time.monotonic()
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="cityops-compare-"))
    workdir.mkdir(parents=True, exist_ok=True)
    old_tree = workdir / "old-tree"
    if old_tree.exists():
        shutil.rmtree(old_tree)
    full = extract(args.old, old_tree)
    new_tree = Path(args.new).resolve() if args.new else REPO_ROOT
    result = Result(old=f"{full[:10]} ({old_tree})", new=str(new_tree))
    _log(f"logs in {workdir}")
    phases = input_in(old_tree if args.input_from == "old" else new_tree, args, workdir / "input.bin")
    result.events_input = sum(len(p) for p in phases)
    _log(f"input: {result.events_input:,} messages in phases of {[len(p) for p in phases]}")
    broker_port, redis_port = free_port(), free_port()
    base = Settings(kafka_broker=f"kafka://127.0.0.1:{broker_port}", redis_url=f"redis://127.0.0.1:{redis_port}/0")
    procs = [start_broker("127.0.0.1", broker_port, workdir / "broker.log"),
             start_redis("127.0.0.1", redis_port, workdir / "redis", workdir / "redis.log")]
    try:
        wait_for_broker(base, 30)
        wait_for_redis(base, 30)
        urls = (base.kafka_broker, base.redis_url.rsplit("/", 1)[0])
        old_model, old_sends, old_missing = run_version(Version("old", old_tree, 1), phases, urls, workdir, result)
        new_model, new_sends, new_missing = run_version(Version("new", new_tree, 2), phases, urls, workdir, result)
    finally:
        for proc in procs:
            stop_process(proc)
    if not args.strict:
        result.renamed = apply_renames(old_model, DECLARED_RENAMES)
    c = compare(old_model, new_model)
    result.keys, result.keys_compared, result.differences = (len(old_model), len(new_model)), c.keys_compared, \
        c.differences
    result.values = {k: (old_model.get(k), new_model.get(k)) for k in c.differences[:500]}
    if c.differences:
        (workdir / "differences.json").write_text(json.dumps(result.values, ensure_ascii=False, indent=1, default=str))
    for kind in sorted(set(old_sends) | set(new_sends)):
        t = compare_sends(kind, old_sends.get(kind, Counter()), new_sends.get(kind, Counter()),
                          (old_missing.get(kind, 0), new_missing.get(kind, 0)))
        if t.copies_old or t.copies_new or t.differences:
            result.topics.append(t)
    result.seconds["total"] = time.monotonic() - t0
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.compare_versions", description=__doc__.split("\n\n", 1)[0])
    sub = p.add_subparsers(dest="cmd")
    inp = sub.add_parser("input", help="internal: build the input with the code of the working directory")
    inp.add_argument("--out", required=True)
    for q in (p, inp):
        q.add_argument("--day", default=DAY, help="the simulated day (a past working day)")
        q.add_argument("--seed", type=int, default=11)
        q.add_argument("--cases-per-day", type=int, default=800)
        q.add_argument("--sensor-ticks", type=int, default=10, help="minutes of all sensors' readings from 09:00")
        q.add_argument("--la311-file", default=str(DATASETS / "la-311" / "la311_2020_requests_seed.csv"))
        q.add_argument("--la311-rows", type=int, default=1500)
        q.add_argument("--air-file", default=str(DATASETS / "beijing-air-quality" /
                                                 "PRSA_Data_Aotizhongxin_20130301-20170228.csv"))
        q.add_argument("--air-rows", type=int, default=160, help="hours; keep within the repeat window (7 days)")
        q.add_argument("--noise-file", default=str(DATASETS / "noise-levels" / "test_data_laeq1m.csv"))
        q.add_argument("--noise-rows", type=int, default=2000)
    p.add_argument("--old", help="the old commit (git archive)")
    p.add_argument("--new", default=None, help="the new tree (default: this working tree)")
    p.add_argument("--input-from", choices=("old", "new"), default="old", help="whose simulator builds the input")
    p.add_argument("--workdir", default=None)
    p.add_argument("--strict", action="store_true", help="compare without applying DECLARED_RENAMES")
    return p


def main(argv: list[str] | None = None) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # "unable to connect" while the broker starts
    args = _parser().parse_args(argv)
    if args.cmd == "input":
        Path(args.out).write_bytes(marshal.dumps(build_input(args)))
        return 0
    if not args.old:
        _parser().error("--old is required")
    try:
        result = run(args)
    except (RuntimeError, subprocess.CalledProcessError, TimeoutError, OSError) as err:
        _log(f"FAILED: {err}")
        return 2
    print(result.table())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
