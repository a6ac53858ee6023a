"""Seeded hostile traffic for every input topic, with what the platform must do with each message.

Why a generator module rather than inline data: the end-to-end fuzz (``tests/integration/test_fuzz_topics.py``)
needs tens of thousands of messages *and* to know, for each one, how many dead letters it must cause
and at which stage, so that the count can be asserted exactly. Every hostile message is checked here
against the contract before it is used (:func:`_checked`): a mutation that happens to stay valid would
otherwise make the expected count wrong and the test meaningless.

Valid traffic (a seeded simulated day of cases, sensor envelopes, AI captures, duty officers'
commands) comes in two phases, because commands, conflicting duplicate ids, steps after a case's end
and late readings only have a defined outcome once the first phase has been applied:

- phase 1: cases, sensor envelopes, captures; the hostile messages that need no state;
- phase 2: commands on existing cases; steps after a case was closed/voided/rejected; conflicting
  re-uses of applied ids (ignored, never dead-lettered: the docs make re-sending always safe);
  readings more than the allowed lateness behind their sensor's newest.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import orjson

from cityops.catalogue import get_catalogue
from cityops.command_signing import CommandAuthError, parse_keys, sign, verify
from cityops.schemas import (
    CaseAction,
    CaseEvent,
    CommandAction,
    ContractError,
    Detection,
    OperatorCommand,
    decode,
    decode_sensor_envelope,
    encode,
)
from cityops.workcalendar import get_calendar
from fixtures.simulator.cases import CaseDayPlanner
from fixtures.simulator.run import sensor_envelopes
from fixtures.simulator.sensors import SensorModel
from fixtures.xiamen import load_cameras, load_city, load_sensors
from streams import lifecycle as lc

TZ = ZoneInfo("Asia/Shanghai")
TOPICS = ("cases", "sensors", "detections", "commands")

# Kinds of hostility (the list); every hostile message carries one.
KINDS = ("binary", "not_json", "not_object", "wrong_type", "missing_field", "nan_inf", "huge_string",
         "coordinates", "timestamp", "unknown_category", "version", "html_in_id", "illegal_transition",
         "bad_reading", "unknown_sensor", "late_reading", "unknown_target",
         # commands that pass the contract but not the command agent's checks (stage auth)
         "forged", "unknown_kid", "unsigned", "tampered", "stale", "above_role")
AUTH_KINDS = ("forged", "unknown_kid", "unsigned", "tampered", "stale", "above_role")

# The workers of the fuzz run verify commands with these keys and window (tests/integration/test_fuzz_topics.py
# sets them); the window covers the whole run, so that only the commands meant to be stale are.
FUZZ_COMMAND_KEYS = "fz2026:" + "f" * 40
FUZZ_COMMAND_MAX_AGE_S = 3600
FUZZ_COMMAND_MAX_AHEAD_S = 30
COMMAND_RING = parse_keys(FUZZ_COMMAND_KEYS)
FORGER_RING = parse_keys("fz2026:" + "g" * 40)  # the right key id, a guessed secret
UNKNOWN_RING = parse_keys("fz1999:" + "f" * 40)  # a key id the workers do not know

SCRIPTS = ("<script>alert(1)</script>", "<img src=x onerror=alert(document.cookie)>", "\"><svg/onload=alert(1)>",
           "javascript:alert(1)", "{{7*7}}<b>粗体</b>", "'; DROP TABLE cases; --", "&lt;&#x3C;\u202e反转")


@dataclass(frozen=True)
class Message:
    """One message to publish and what it must cause."""

    topic: str  # attribute of ``Settings.topics``: cases | sensors | detections | commands
    key: bytes | None
    payload: bytes
    kind: str  # "valid", "duplicate" (ignored) or one of KINDS
    stage: str = ""  # expected dead-letter stage, '' when none
    dead_letters: int = 0  # how many dead letters it must cause (a bad envelope reading each counts once)


@dataclass
class FuzzPlan:
    """Both runs' traffic: the reference publishes only ``*_valid``, the fuzz run ``*_fuzz``."""

    phase1_valid: list[Message] = field(default_factory=list)
    phase1_fuzz: list[Message] = field(default_factory=list)
    phase2_valid: list[Message] = field(default_factory=list)
    phase2_fuzz: list[Message] = field(default_factory=list)
    html_cases: dict[str, tuple[str, str]] = field(default_factory=dict)  # case id → (address, description) sent

    def hostile(self) -> list[Message]:
        return [m for m in self.phase1_fuzz + self.phase2_fuzz if m.dead_letters]

    def expected_dead_letters(self) -> Counter[tuple[str, str]]:
        """(topic attribute, stage) → count."""
        out: Counter[tuple[str, str]] = Counter()
        for m in self.hostile():
            out[(m.topic, m.stage)] += m.dead_letters
        return out


def past_working_day(today: date) -> date:
    """Two working days back: every SLA deadline has passed, so the overdue marks do not depend on timing."""
    cal = get_calendar()
    day = today - timedelta(days=2)
    while not cal.is_working_day(day):
        day -= timedelta(days=1)
    return day


def _dumps(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # integers beyond 64 bits, which are valid JSON: the standard library writes them
        return json.dumps(value, ensure_ascii=False).encode()


def _checked(topic: str, payload: bytes, stage: str, readings: int = 0) -> bytes:
    """Fail loudly if a hostile payload is not refused the way it claims (keeps the expected counts honest)."""
    if topic == "sensors":
        try:
            _, good, bad = decode_sensor_envelope(payload)
        except ContractError:
            assert stage == "validate", f"sensor payload refused whole but expected {stage}: {payload[:200]!r}"
            return payload
        assert stage in ("reading", "validate", "late"), f"sensor payload is valid: {payload[:200]!r}"
        if stage == "reading":
            assert len(bad) == readings, f"expected {readings} bad readings, got {len(bad)}: {payload[:300]!r}"
        return payload
    model = {"cases": CaseEvent, "detections": Detection, "commands": OperatorCommand}[topic]
    try:
        msg = decode(model, payload)
    except ContractError:
        assert stage == "validate", f"{topic} payload refused by the contract but expected {stage}: {payload[:200]!r}"
        return payload
    if isinstance(msg, OperatorCommand):
        try:
            verify(msg, COMMAND_RING, datetime.now(UTC), FUZZ_COMMAND_MAX_AGE_S, FUZZ_COMMAND_MAX_AHEAD_S)
        except CommandAuthError:
            assert stage == "auth", f"command refused by the command agent's checks, expected {stage}: {payload!r}"
            return payload
    assert stage == "transition", f"{topic} payload is valid, expected a refusal at {stage}: {payload[:200]!r}"
    return payload


def signed_command(body: dict, ring=COMMAND_RING) -> bytes:  # noqa: ANN001 - a CommandKeys
    """A command as the console sends it: ``body`` (JSON fields) signed with ``ring``'s signing key."""
    return encode(sign(decode(OperatorCommand, _dumps(body)), ring))


# ------------------------------------------------------------------------------------------ mutations


def _wrong_value(rng: random.Random, current: object) -> object:
    """A JSON value of a different type than ``current``."""
    options: list[object] = [None, True, 12, -3.5, "12", "118.1", [], [1, 2], {"$gt": ""}, {"nested": {"a": [1]}}]
    if isinstance(current, bool):
        options = [o for o in options if not isinstance(o, bool)] + ["true", 1, 0]
    elif isinstance(current, int | float):
        options = [o for o in options if isinstance(o, str | list | dict | bool) or o is None]
    elif isinstance(current, str):
        options = [o for o in options if not isinstance(o, str)]
    elif isinstance(current, list):
        options = [o for o in options if not isinstance(o, list)]
    return rng.choice(options)


BAD_TIMES = ("2026-11-24T10:00:00", "1999-12-31T23:59:59+08:00", "2300-01-01T00:00:00+08:00", "yesterday",
             "2026-02-30T10:00:00+08:00", "2026-11-24T25:00:00+08:00", "2026-11-24T10:00:00+99:00", "",
             "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59+14:00", "2026-11-24 10:00", "1764000000")
BAD_NUMBERS = (b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999")


def _with_raw_number(payload: dict, field_name: str, token: bytes) -> bytes:
    """JSON with one field's value replaced by a raw token JSON cannot hold (NaN, Infinity)."""
    marker = "__RAW_TOKEN__"
    return _dumps(payload | {field_name: marker}).replace(f'"{marker}"'.encode(), token)


@dataclass(frozen=True)
class Shape:
    """What the contract says about one message type, enough to break it on purpose."""

    topic: str
    required: tuple[str, ...]
    strings: tuple[str, ...]  # string fields (ids and free text)
    numbers: tuple[str, ...]
    times: tuple[str, ...]
    enums: tuple[str, ...]
    ids: tuple[str, ...]
    text_limits: dict[str, int]
    has_coordinates: bool


SHAPES = {
    "cases": Shape("cases", ("event_id", "case_id", "action", "event_time"),
                   ("event_id", "case_id", "address", "description", "actor"), ("lon", "lat"), ("event_time",),
                   ("action", "source", "category_code"), ("event_id", "case_id", "grid_id"),
                   {"actor": 64, "address": 500, "description": 4000, "event_id": 128}, True),
    "sensors": Shape("sensors", ("envelope_id", "gateway_id", "sent_at", "readings"), ("envelope_id", "gateway_id"),
                     ("gateway_id",), ("sent_at",), (), ("envelope_id", "gateway_id"),
                     {"envelope_id": 128, "gateway_id": 128}, False),
    "detections": Shape("detections", ("event_id", "camera_id", "ai_type", "confidence", "box", "frame_width",
                                       "frame_height", "track_id", "first_seen", "last_seen", "dwell_s",
                                       "evidence_ref", "detector"),
                        ("event_id", "camera_id", "track_id", "detector", "evidence_ref"),
                        ("confidence", "dwell_s", "frame_width", "frame_height"), ("first_seen", "last_seen"),
                        ("ai_type",), ("event_id", "camera_id", "track_id"), {"detector": 64, "evidence_ref": 300},
                        True),
    "commands": Shape("commands", ("command_id", "action", "target_kind", "target_id", "user", "role", "issued_at"),
                      ("command_id", "target_id", "user", "note"), (), ("issued_at",),
                      ("action", "target_kind", "role"),
                      ("command_id", "target_id"), {"user": 64, "note": 500, "command_id": 128}, False),
}

UNKNOWN_ENUM = {"action": ("teleport", "REPORT", "结案", "close "), "source": ("carrier_pigeon", "twitter"),
                "category_code": ("E9999", "C0000", "X0101", "e0102", "E01021"), "ai_type": ("ufo", "Illegal_Parking"),
                "target_kind": ("camera", "sensor"), "role": ("root", "Duty", "值班员"), "kind": ("radiation", "Noise"),
                "unit": ("dB", "mg/m3"),
                "metric": ("lamin", "pm1")}


def _mutate(rng: random.Random, shape: Shape, base: dict, kind: str) -> bytes:
    """One contract-breaking variant of a valid message (refused whole, stage ``validate``, except a sensor
    reading holding NaN, which is refused on its own: see :func:`_nan_envelope`)."""
    p = dict(base)
    if kind == "binary":
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
    if kind == "not_json":
        text = _dumps(p)
        return rng.choice([text[: rng.randint(1, len(text) - 1)], text.replace(b'"', b"'"), b"\xef\xbb\xbf" + text,
                           text + b" trailing", text.replace(b"{", b"[", 1), b"{" * 5000, b"[" * 300 + b"]" * 300,
                           b'{"event_id": "\\ud800"}', b"", b"null\x00", text.decode().encode("utf-16")])
    if kind == "not_object":
        return _dumps(rng.choice([[p], 1, "string", None, True, [], 3.14]))
    if kind == "wrong_type":
        f = rng.choice(sorted(p))
        if f == "v":
            f = shape.required[0]
        wrong = _wrong_value(rng, p[f])
        while wrong is None and f not in shape.required:  # null is how an optional field is left out
            wrong = _wrong_value(rng, p[f])
        p[f] = wrong
        return _dumps(p)
    if kind == "missing_field":
        for f in rng.sample(shape.required, rng.randint(1, len(shape.required))):
            p.pop(f, None)
        return _dumps(p)
    if kind == "nan_inf":
        # where there is no number field (commands), NaN goes where a string belongs
        fields = list(shape.numbers) + (["lon", "lat"] if shape.has_coordinates else []) or list(shape.strings)
        f = rng.choice(fields)
        if f in ("lon", "lat"):
            p.setdefault("lon", 118.09)
            p.setdefault("lat", 24.48)
        return _with_raw_number(p, f, rng.choice(BAD_NUMBERS))
    if kind == "huge_string":
        f = rng.choice(sorted(shape.text_limits))
        limit = shape.text_limits[f]
        size = 100_000 if rng.random() < 0.03 else rng.choice([limit + 1, limit * 2])
        p[f] = rng.choice(["x", "字", "<b>", "\U0001f525"]) * size
        return _dumps(p)
    if kind == "coordinates":
        lon, lat = rng.choice([(200.0, 24.4), (118.1, 91.0), (-118.2, 34.0), (0.0, 0.0), (118.1, 2.99),
                               (136.01, 30.0), (72.99, 30.0), (118.1, -24.4), (1e308, 24.0)])
        p["lon"], p["lat"] = lon, lat
        if rng.random() < 0.25:  # one without the other
            p.pop(rng.choice(["lon", "lat"]))
            p["lon" if "lon" in p else "lat"] = 118.1 if "lon" in p else 24.4
        return _dumps(p)
    if kind == "timestamp":
        p[rng.choice(shape.times)] = rng.choice(BAD_TIMES)
        return _dumps(p)
    if kind == "unknown_category":
        f = rng.choice(shape.enums)
        p[f] = rng.choice(UNKNOWN_ENUM[f])
        return _dumps(p)
    if kind == "version":
        p["v"] = rng.choice([2, 0, "1", True, 1.5, None, 99])
        return _dumps(p)
    if kind == "html_in_id":
        p[rng.choice(shape.ids)] = rng.choice(SCRIPTS)
        return _dumps(p)
    raise ValueError(kind)


CONTRACT_KINDS = ("binary", "not_json", "not_object", "wrong_type", "missing_field", "nan_inf", "huge_string",
                  "timestamp", "version", "html_in_id")


def _kinds_for(topic: str) -> tuple[str, ...]:
    extra = {"cases": ("coordinates", "unknown_category"), "detections": ("coordinates", "unknown_category"),
             "commands": ("unknown_category",), "sensors": ()}[topic]
    return CONTRACT_KINDS + extra


# --------------------------------------------------------------------------------------- valid traffic


def _case_traffic(day: date, cases: int, seed: int) -> tuple[list[tuple[datetime, Message]],
                                                             dict[str, list[CaseEvent]]]:
    """A seeded simulated day of case steps, up to a few minutes ago (the planner plans days ahead)."""
    planner = CaseDayPlanner(load_city(), get_catalogue(), get_calendar(), TZ, seed=seed, cases_per_day=cases)
    out: list[tuple[datetime, Message]] = []
    by_case: dict[str, list[CaseEvent]] = {}
    horizon = datetime.now(TZ) - timedelta(minutes=5)
    for pe in planner.plan_day(day):
        if pe.time >= horizon:
            continue
        ev = CaseEvent.model_validate(dict(pe.event))
        by_case.setdefault(ev.case_id, []).append(ev)
        out.append((pe.time, Message("cases", ev.case_id.encode(), encode(ev), "valid")))
    return out, by_case


# Suffixes that made a case id spell another key of a case in an earlier key layout (``X1:timeline`` was case
# X1's timeline list): the twins below must be cases of their own, counted once each, in both runs.
COLLIDING_SUFFIXES = (":timeline", ":timeline:timeline", ":recent")


def _colliding_twins(by_case: dict[str, list[CaseEvent]], n: int = 3) -> list[tuple[datetime, Message]]:
    """The steps of the first ``n`` cases again under ids that end in COLLIDING_SUFFIXES (added to ``by_case``)."""
    out: list[tuple[datetime, Message]] = []
    for cid in sorted(by_case)[:n]:
        for suffix in COLLIDING_SUFFIXES:
            twin = cid + suffix
            steps = [ev.model_copy(update={"case_id": twin, "event_id": ev.event_id + suffix}) for ev in by_case[cid]]
            by_case[twin] = steps
            out += [(ev.event_time, Message("cases", twin.encode(), encode(ev), "valid")) for ev in steps]
    return out


def _final_state(steps: list[CaseEvent]) -> str:
    state: str | None = None
    for ev in steps:
        state = lc.next_state(state, ev.action)
    assert state is not None
    return state


def _detection(camera_id: str, ai_type: str, track: str, at: datetime, event_id: str) -> dict:
    stamp = at.isoformat()
    return {"v": 1, "event_id": event_id, "camera_id": camera_id, "ai_type": ai_type, "confidence": 0.91,
            "box": [10.0, 20.0, 110.0, 220.0], "frame_width": 640, "frame_height": 360, "track_id": track,
            "first_seen": stamp, "last_seen": stamp, "dwell_s": 75.0, "evidence_ref": f"{camera_id}/{event_id}.jpg",
            "detector": "fuzz"}


def build_plan(seed: int = 20261125, hostile: int = 10_400, cases: int = 200, sensor_ticks: int = 6,
               detections: int = 24, commands: int = 30, today: date | None = None) -> FuzzPlan:
    """The whole seeded plan; ``hostile`` is how many messages must be refused (at least)."""
    rng = random.Random(seed)
    today = today or datetime.now(TZ).date()
    day = past_working_day(today)
    plan = FuzzPlan()
    stamp = datetime.combine(day, time(12, 0), TZ).isoformat()

    # --- valid phase-1 traffic, in time order
    timed, by_case = _case_traffic(day, cases, seed)
    timed += _colliding_twins(by_case)
    # HTML and script in free text are legal (shown literally, never rendered): put some on real reports.
    reports = [i for i, (_, m) in enumerate(timed) if orjson.loads(m.payload)["action"] == "report"]
    for n, i in enumerate(reports[: len(reports) // 4]):
        body = orjson.loads(timed[i][1].payload)
        body["address"] = SCRIPTS[n % len(SCRIPTS)]
        body["description"] = SCRIPTS[(n + 1) % len(SCRIPTS)] + " 描述"
        plan.html_cases[body["case_id"]] = (body["address"], body["description"])
        timed[i] = (timed[i][0], Message("cases", timed[i][1].key, _dumps(body), "valid"))
    sensors = load_sensors()
    model = SensorModel(sensors, seed=seed)
    first_tick = datetime.combine(day, time(9, 0), TZ)
    for minute in range(sensor_ticks):
        tick = first_tick + timedelta(minutes=minute)
        for key, payload in sensor_envelopes(sensors, model.values_at(tick).tolist(), tick):
            timed.append((tick, Message("sensors", key.encode(), payload, "valid")))
    cameras = load_cameras()
    ai_types = sorted({c.ai_type for c in get_catalogue() if c.ai_type})
    for i in range(detections):
        cam = cameras[i * 7 % len(cameras)]
        at = datetime.combine(day, time(10, 0), TZ) + timedelta(minutes=i)
        det = _detection(cam.id, ai_types[i % len(ai_types)], f"t{i}", at, f"fz-cap-{i}")
        timed.append((at, Message("detections", cam.id.encode(), _dumps(det), "valid")))
    timed.sort(key=lambda x: x[0])
    plan.phase1_valid = [m for _, m in timed]
    case_ids = sorted(by_case)
    final = {cid: _final_state(steps) for cid, steps in by_case.items()}
    last_time = {cid: max(s.event_time for s in steps) for cid, steps in by_case.items()}
    open_cases = [cid for cid in case_ids if final[cid] in lc.OPEN_STATES]
    ended = [cid for cid in case_ids if final[cid] in lc.FINAL_STATES]
    assert open_cases and ended, "the seeded day has no open or no finished cases"

    # --- hostile phase-1 traffic that needs no state
    special: list[Message] = []
    for i in range(target_share(hostile, 0.06)):  # steps for cases never reported
        cid = f"FZ-NEVER-{i}"
        action = rng.choice([a for a in CaseAction if a is not CaseAction.REPORT])
        ev = {"event_id": f"{cid}-{action.value}", "case_id": cid, "action": action.value, "event_time": stamp,
              "department_id": "DSAN-350203", "extension": "2d", "approver": "FZ-APPROVER", "park_kind": "postponed",
              "description": "FZ-REASON"}
        special.append(Message("cases", cid.encode(), _checked("cases", _dumps(ev), "transition"),
                               "illegal_transition", "transition", 1))
    for i in range(target_share(hostile, 0.01)):  # a report in a grid that does not exist
        cid = f"FZ-NOWHERE-{i}"
        ev = {"event_id": f"{cid}-report", "case_id": cid, "action": "report", "event_time": stamp,
              "source": "grid_patrol", "category_code": "E0102", "grid_id": f"999999{i:09d}"}
        special.append(Message("cases", cid.encode(), _checked("cases", _dumps(ev), "transition"),
                               "illegal_transition", "transition", 1))
    good_reading = next(m for m in plan.phase1_valid if m.topic == "sensors")
    good_reading = orjson.loads(good_reading.payload)["readings"][0]
    for i in range(target_share(hostile, 0.05)):  # a fine envelope holding only bad readings
        n_bad = rng.randint(1, 3)
        env = {"envelope_id": f"FZ-ENV-{i}", "gateway_id": "GW-FUZZ", "sent_at": stamp,
               "readings": [_bad_reading(rng, good_reading) for _ in range(n_bad)]}
        special.append(Message("sensors", b"GW-FUZZ", _checked("sensors", _envelope_bytes(env), "reading", n_bad),
                               "bad_reading", "reading", n_bad))
    for i in range(target_share(hostile, 0.02)):  # a sensor nobody registered
        env = {"envelope_id": f"FZ-UNK-{i}", "gateway_id": "GW-FUZZ", "sent_at": stamp,
               "readings": [good_reading | {"sensor_id": f"NO-SUCH-SENSOR-{i}"}]}
        special.append(Message("sensors", b"GW-FUZZ", _checked("sensors", _dumps(env), "validate"),
                               "unknown_sensor", "validate", 1))
    # bad readings slipped into valid envelopes: the good readings must count exactly as without them
    phase1_fuzz = list(plan.phase1_valid)
    for idx, m in enumerate(phase1_fuzz):
        if m.topic == "sensors" and idx % 3 == 0:
            env = orjson.loads(m.payload)
            n_bad = rng.randint(1, 2)
            for _ in range(n_bad):
                env["readings"].insert(rng.randint(0, len(env["readings"])), _bad_reading(rng, good_reading))
            phase1_fuzz[idx] = Message("sensors", m.key, _checked("sensors", _envelope_bytes(env), "reading", n_bad),
                                       "bad_reading", "reading", n_bad)

    # --- phase 2: commands, steps after the end, conflicting ids, late readings
    issued = datetime.now(TZ).replace(microsecond=0).isoformat()  # commands are fresh only for a while
    for i in range(commands):
        cid = open_cases[i % len(open_cases)]
        cmd = {"v": 1, "command_id": f"fz-cmd-{i}", "action": "acknowledge" if i % 2 else "escalate",
               "target_kind": "case", "target_id": cid, "user": f"值班员{i}", "role": "duty", "issued_at": issued,
               "note": SCRIPTS[i % len(SCRIPTS)]}
        plan.phase2_valid.append(Message("commands", cid.encode(), signed_command(cmd), "valid"))
    phase2_hostile: list[Message] = []
    for i in range(target_share(hostile, 0.02)):
        cmd = {"v": 1, "command_id": f"fz-cmd-unknown-{i}", "action": rng.choice(["acknowledge", "escalate"]),
               "target_kind": rng.choice(["case", "alert"]), "target_id": f"NO-SUCH-{i}", "user": "值班员",
               "role": "duty", "issued_at": issued}
        phase2_hostile.append(Message("commands", b"x", _checked("commands", signed_command(cmd), "transition"),
                                      "unknown_target", "transition", 1))
    not_verified = [cid for cid in open_cases if final[cid] != lc.VERIFIED]
    for i in range(min(len(not_verified), target_share(hostile, 0.01))):
        cmd = {"v": 1, "command_id": f"fz-cmd-close-{i}", "action": "close", "target_kind": "case",
               "target_id": not_verified[i], "user": "管理员", "role": "admin", "issued_at": issued}
        phase2_hostile.append(Message("commands", not_verified[i].encode(),
                                      _checked("commands", signed_command(cmd), "transition"), "illegal_transition",
                                      "transition", 1))
    phase2_hostile += _unauthorised_commands(rng, open_cases, final, plan.phase2_valid, issued, stamp,
                                             target_share(hostile, 0.005))
    for i in range(target_share(hostile, 0.04)):  # any step after 结案 / 作废 / 不予立案
        cid = ended[i % len(ended)]
        action = rng.choice(list(CaseAction))
        ev = {"event_id": f"{cid}-after-{i}", "case_id": cid, "action": action.value,
              "event_time": (last_time[cid] + timedelta(minutes=1)).isoformat(), "source": "grid_patrol",
              "category_code": "E0102", "department_id": "DSAN-350203", "extension": "1d", "approver": "FZ-APPROVER",
              "park_kind": "postponed", "description": "FZ-REASON"}
        phase2_hostile.append(Message("cases", cid.encode(), _checked("cases", _dumps(ev), "transition"),
                                      "illegal_transition", "transition", 1))
    dispatchable = [cid for cid in open_cases if final[cid] in (lc.REGISTERED, lc.DISPATCHED, lc.REWORKED)]
    for i, cid in enumerate(dispatchable[: target_share(hostile, 0.005)]):  # to a department that does not exist
        ev = {"event_id": f"{cid}-nodept-{i}", "case_id": cid, "action": "dispatch",
              "event_time": (last_time[cid] + timedelta(minutes=1)).isoformat(), "department_id": f"NO-DEPT-{i}"}
        phase2_hostile.append(Message("cases", cid.encode(), _checked("cases", _dumps(ev), "transition"),
                                      "illegal_transition", "transition", 1))
    # readings far behind their sensor's newest (stage late); the gateway's partition keeps them after the valid ones
    late_at = (first_tick - timedelta(hours=3)).isoformat()
    valid_envelopes = [m for m in plan.phase1_valid if m.topic == "sensors"]
    for i in range(target_share(hostile, 0.01)):
        m = valid_envelopes[i % len(valid_envelopes)]
        env = orjson.loads(m.payload)
        late = {"envelope_id": f"FZ-LATE-{i}", "gateway_id": env["gateway_id"], "sent_at": late_at,
                "readings": [env["readings"][i % len(env["readings"])] | {"time": late_at}]}
        phase2_hostile.append(Message("sensors", m.key, _checked("sensors", _dumps(late), "late"), "late_reading",
                                      "late", 1))

    # --- contract breakers on every topic fill up to the number asked for
    contract: list[Message] = []
    bases: dict[str, list[dict]] = {t: [orjson.loads(m.payload) for m in plan.phase1_valid + plan.phase2_valid
                                        if m.topic == t] for t in TOPICS}
    for topic in TOPICS:  # one message per topic just over the 1,000,000-byte limit
        body = rng.choice(bases[topic]) | {"padding": "x" * 1_000_050}
        contract.append(Message(topic, b"huge", _checked(topic, _dumps(body), "validate"), "huge_string",
                                "validate", 1))
    already = len(special) + len(phase2_hostile) + sum(m.dead_letters > 0 for m in phase1_fuzz)
    weights = [0.3, 0.2, 0.25, 0.25]
    while already + len(contract) < hostile:
        topic = rng.choices(TOPICS, weights=weights)[0]
        kind = rng.choice(_kinds_for(topic))
        base = rng.choice(bases[topic])
        key = rng.choice([str(base.get("case_id") or base.get("gateway_id") or base.get("camera_id")
                              or base.get("target_id")).encode(), None, rng.randbytes(8)])
        contract.append(Message(topic, key, _checked(topic, _mutate(rng, SHAPES[topic], base, kind), "validate"),
                                kind, "validate", 1))
    # commands' contract breakers go with the phase-2 traffic, the others interleave with phase 1
    phase1_hostile = special + [m for m in contract if m.topic != "commands"]
    phase2_hostile += [m for m in contract if m.topic == "commands"]
    rng.shuffle(phase1_hostile)
    plan.phase1_fuzz = _interleave(rng, phase1_fuzz, phase1_hostile)

    # re-used ids with other content, sent once the originals are applied: ignored, never counted again
    duplicates: list[Message] = []
    for m in rng.sample(plan.phase1_valid, min(400, len(plan.phase1_valid))):
        body = orjson.loads(m.payload)
        if m.topic == "cases":
            body |= {"description": "重复编号 " + rng.choice(SCRIPTS), "urgent": True}
        elif m.topic == "sensors":
            for r in body["readings"]:
                r["value"] = 0.0
        else:  # same camera, type and track: the same capture, whatever its event id
            body |= {"confidence": 0.99, "event_id": body["event_id"] + "-again"}
        duplicates.append(Message(m.topic, m.key, _dumps(body), "duplicate"))
    fuzz2 = _interleave(rng, list(plan.phase2_valid), phase2_hostile + duplicates)
    # commands re-sent, as they were and with another action (signed anew, by an admin), after their originals
    # (same key, same partition): an applied command id is ignored whoever sends it again
    for m in rng.sample(plan.phase2_valid, len(plan.phase2_valid) // 2):
        again = orjson.loads(m.payload) | {"action": "close", "role": "admin"}
        fuzz2.append(Message("commands", m.key, signed_command(again), "duplicate"))
        fuzz2.append(Message("commands", m.key, m.payload, "duplicate"))
    plan.phase2_fuzz = fuzz2
    assert len(plan.hostile()) >= hostile, "fewer hostile messages than asked for"
    return plan


def target_share(total: int, share: float) -> int:
    return max(1, int(total * share))


def _unauthorised_commands(rng: random.Random, open_cases: list[str], final: dict[str, str],
                           valid: list[Message], issued: str, long_ago: str, n: int) -> list[Message]:
    """``n`` commands of each kind in :data:`AUTH_KINDS`, every one on an open case and one that would change it
    if applied (voids, escalations, closes of verified cases): the comparison with the reference run catches
    any that slips through. ``tampered`` copies of valid commands (the same id, one field changed after signing)
    go on their originals' key, before or after them: refused either way, and the original still applies."""
    verified = [cid for cid in open_cases if final[cid] == lc.VERIFIED] or open_cases
    out: list[Message] = []

    def body(kind: str, i: int, cid: str, action: CommandAction, role: str, at: str) -> dict:
        return {"v": 1, "command_id": f"fz-cmd-{kind}-{i}", "action": action.value, "target_kind": "case",
                "target_id": cid, "user": f"{role}{i}", "role": role, "issued_at": at}

    for i in range(n):
        cid = open_cases[i % len(open_cases)]
        vcid = verified[i % len(verified)]
        action = rng.choice([CommandAction.FALSE_ALARM, CommandAction.ESCALATE, CommandAction.ACKNOWLEDGE])
        forged = signed_command(body("forged", i, vcid, CommandAction.CLOSE, "admin", issued), FORGER_RING)
        unknown = signed_command(body("unknown_kid", i, cid, action, "duty", issued), UNKNOWN_RING)
        unsigned = _dumps(body("unsigned", i, cid, CommandAction.FALSE_ALARM, "admin", issued))
        stale = signed_command(body("stale", i, cid, CommandAction.FALSE_ALARM, "duty", long_ago))  # a replay
        above = rng.choice([body("above_role", i, vcid, CommandAction.CLOSE, "duty", issued),
                            body("above_role", i, cid, action, "leader", issued)])
        original = valid[i % len(valid)]
        sent = orjson.loads(original.payload)
        later = (datetime.fromisoformat(sent["issued_at"]) + timedelta(seconds=1)).isoformat()
        changed = rng.choice([{"action": "false_alarm"}, {"role": "admin", "action": "close"},
                              {"target_id": next(c for c in open_cases if c != sent["target_id"])},
                              {"note": "改过的备注"}, {"user": "王管理(admin)"}, {"issued_at": later}])
        tampered = _dumps(sent | changed)
        for kind, key, payload in (("forged", vcid, forged), ("unknown_kid", cid, unknown),
                                   ("unsigned", cid, unsigned), ("stale", cid, stale),
                                   ("above_role", above["target_id"], signed_command(above)),
                                   ("tampered", original.key.decode(), tampered)):
            out.append(Message("commands", key.encode(), _checked("commands", payload, "auth"), kind, "auth", 1))
    return out


def _interleave(rng: random.Random, base: list[Message], extra: list[Message]) -> list[Message]:
    """``extra`` spread at seeded positions through ``base``; each list keeps its own order."""
    slots = sorted(rng.randrange(len(base) + 1) for _ in extra)
    out: list[Message] = []
    j = 0
    for i, m in enumerate(base):
        while j < len(slots) and slots[j] <= i:
            out.append(extra[j])
            j += 1
        out.append(m)
    out.extend(extra[j:])
    return out


RAW_NAN = "__RAW_NUMBER__"


def _envelope_bytes(env: dict) -> bytes:
    """An envelope's JSON, with the NaN/Infinity tokens that :func:`_bad_reading` asked for written raw."""
    body = _dumps(env)
    for token in BAD_NUMBERS:
        body = body.replace(f'"{RAW_NAN}{token.decode()}"'.encode(), token)
    return body


def _bad_reading(rng: random.Random, good: dict) -> object:
    """A reading the contract refuses while its envelope stays valid."""
    r = dict(good)
    choice = rng.randrange(13)
    if choice == 0:
        r["value"] = rng.choice([-1.0, 160.5, 1e30, 5000.1, 10**30])
    elif choice == 1:
        r["value"] = rng.choice(["71.4", None, [71.4], {"v": 1}, True])
    elif choice == 2:
        r.pop(rng.choice(["sensor_id", "kind", "value", "unit", "time"]))
    elif choice == 3:
        r["kind"] = rng.choice(UNKNOWN_ENUM["kind"])
    elif choice == 4:
        r["unit"] = rng.choice(UNKNOWN_ENUM["unit"] + ("<script>", "x" * 10_000))
    elif choice == 5:
        r["metric"] = rng.choice(UNKNOWN_ENUM["metric"])
    elif choice == 6:
        r["time"] = rng.choice(BAD_TIMES)
    elif choice == 7:
        r["sensor_id"] = rng.choice(SCRIPTS + ("", "x" * 129))
    elif choice == 8:
        return rng.choice([None, 42, "reading", [], [[[]]], True])
    elif choice == 9:
        r = {"kind": "smoke", "value": 0.5, "unit": "state", "sensor_id": "SM-1", "time": good["time"]}
    elif choice == 10:
        r["v"] = 2
    elif choice == 11:
        r["value"] = RAW_NAN + rng.choice(BAD_NUMBERS).decode()
    else:
        r["time"] = good["time"].replace("+08:00", "")
    return r


def summary(messages: list[Message]) -> Counter[tuple[str, str]]:
    """(topic, kind) → messages, for the test's report."""
    return Counter((m.topic, m.kind) for m in messages)
