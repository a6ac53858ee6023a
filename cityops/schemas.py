"""The event contract: every message on every CityOps topic, validated and versioned.

Why pydantic models decoded from raw bytes rather than Faust records: a Faust record that fails to
decode is dropped by the stream with only a log line, but a city bureau must be able to see every bad
message and why it was refused. Agents therefore consume raw bytes, call :func:`decode`, and send
anything that raises :class:`ContractError` to the dead-letter topic with ``str(error)`` as the reason.

Rules that hold for every message (documented in ``docs/events.md``):
- ``v`` is the schema version (1). A message with a newer major version is refused, never guessed at.
- Unknown fields are tolerated and ignored (producers may be newer than consumers).
- Wrong types are refused: ``"12"`` is not a number, ``1`` is not a string.
- Numbers must be finite; NaN and ±Infinity are refused.
- Times are ISO 8601 with a UTC offset; naive times are refused. They must lie between 2000-01-01 and
  24 hours after the receiving machine's clock.
- Coordinates are GCJ-02 longitude/latitude inside mainland China's bounding box (the platform's one
  coordinate system; see docs/architecture.md).
- Free text (addresses, descriptions, notes) is kept as text, length-bounded; it is never markup.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from cityops import sensor_kinds

SCHEMA_VERSION = 1

# Mainland China bounding box (GCJ-02 ≈ WGS-84 at this resolution). Anything outside is a bad coordinate.
LON_MIN, LON_MAX = 73.0, 136.0
LAT_MIN, LAT_MAX = 3.0, 54.0

EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_CLOCK_SKEW = timedelta(hours=24)


class ContractError(ValueError):
    """A message that breaks the contract. ``str(err)`` is the reason written to the dead letter."""

    def __init__(self, reason: str, *, event_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id


# --------------------------------------------------------------------------------------------- types


def _check_time(value: datetime) -> datetime:
    latest = datetime.now(UTC) + MAX_CLOCK_SKEW
    if value < EARLIEST_EVENT_TIME or value > latest:
        raise ValueError(f"time {value.isoformat()} is outside 2000-01-01 .. now+24h")
    return value


_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _check_iso(value: object) -> object:
    # pydantic also reads a string of digits as a Unix timestamp ("1764000000" → 2025-11-24 UTC); the contract
    # wants ISO 8601 with an offset, and a number in a string is as likely milliseconds or a typo as seconds.
    # A before-validator hands the value on as a Python object, where strict mode would refuse every string, so
    # the field is lax and this function is the type check: ISO strings (JSON) and datetimes (Python) only.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("Input should be a valid datetime")
    if not _ISO_DATETIME.match(value):
        raise ValueError("time must be an ISO 8601 string with a UTC offset, e.g. 2026-11-24T09:30:00+08:00")
    return value


def _check_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text contains a NUL character")
    return value


def _check_relative_path(value: str) -> str:
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\")) or ":" in parts[0] or any(p in ("", ".", "..") for p in parts):
        raise ValueError("evidence reference must be a relative path inside the evidence store")
    return value


ID_MAX_LENGTH = 128
Id = Annotated[str, StringConstraints(min_length=1, max_length=ID_MAX_LENGTH, pattern=r"^[A-Za-z0-9_.:@/+-]+$")]


def derived_id(*parts: str) -> str:
    """An id the processors build from others (``AI-{capture}``, ``{command}-dispatch``), always a valid Id.

    Joined with ``-`` when that fits in 128 characters; otherwise the joined text is replaced by its
    SHA-256 (keeping the last part readable), so the same parts always give the same id and re-sent
    inputs still deduplicate, while a legal but long input id can never produce an illegal derived one.
    """
    joined = "-".join(parts)
    if len(joined) <= ID_MAX_LENGTH:
        return joined
    return f"h.{hashlib.sha256(joined.encode()).hexdigest()}-{parts[-1][:40]}"
EventTime = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_check_iso),
                      AfterValidator(_check_time)]
ShortText = Annotated[str, StringConstraints(max_length=64), AfterValidator(_check_text)]
Text = Annotated[str, StringConstraints(max_length=500), AfterValidator(_check_text)]
LongText = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_check_text)]
Lon = Annotated[float, Field(ge=LON_MIN, le=LON_MAX, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=LAT_MIN, le=LAT_MAX, allow_inf_nan=False)]
CategoryCode = Annotated[str, StringConstraints(pattern=r"^[CE]\d{4}$")]
EvidenceRef = Annotated[str, StringConstraints(min_length=1, max_length=300), AfterValidator(_check_relative_path)]
WorkDurationText = Annotated[str, StringConstraints(pattern=r"^[1-9]\d{0,3}[mhd]$")]


def _check_version(value: object) -> object:
    # ``Literal[1]`` alone lets ``true`` and ``1.0`` through (they compare equal to 1); the contract says the
    # version is the JSON integer 1 and that booleans are booleans, so refuse any other type here.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Input should be the integer {SCHEMA_VERSION}")
    return value


class _Message(BaseModel):
    """Base of every message: strict types, unknown fields ignored, immutable once decoded."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, allow_inf_nan=False)

    v: Annotated[Literal[1], BeforeValidator(_check_version)] = SCHEMA_VERSION


# -------------------------------------------------------------------------------------------- cases


class CaseAction(StrEnum):
    """Lifecycle actions (CJ/T 315, GB/T 30428.8). Chinese labels in :data:`CASE_ACTION_ZH`."""

    REPORT = "report"  # 上报
    ACCEPT = "accept"  # 受理
    REGISTER = "register"  # 立案
    REJECT = "reject"  # 不予立案
    DISPATCH = "dispatch"  # 派遣
    HANDLE = "handle"  # 处置
    VERIFY = "verify"  # 核查
    REWORK = "rework"  # 返工
    EXTEND = "extend"  # 延期
    CLOSE = "close"  # 结案
    VOID = "void"  # 作废
    PARK = "park"  # 缓办 / 挂账 (approved): the handling clock stops
    RESUME = "resume"  # 恢复: a parked case goes back to its department, its handling limit anew
    RETURN = "return"  # 退回: the department says the case is not theirs (reason required); the centre re-dispatches


CASE_ACTION_ZH: dict[CaseAction, str] = {
    CaseAction.REPORT: "上报",
    CaseAction.ACCEPT: "受理",
    CaseAction.REGISTER: "立案",
    CaseAction.REJECT: "不予立案",
    CaseAction.DISPATCH: "派遣",
    CaseAction.HANDLE: "处置",
    CaseAction.VERIFY: "核查",
    CaseAction.REWORK: "返工",
    CaseAction.EXTEND: "延期",
    CaseAction.CLOSE: "结案",
    CaseAction.VOID: "作废",
    CaseAction.PARK: "缓办/挂账",
    CaseAction.RESUME: "恢复",
    CaseAction.RETURN: "退回",
}


class ParkKind(StrEnum):
    """Why a case is parked: 缓办 (postponed: cannot be handled yet, e.g. waits for a season or a permit) or
    挂账 (suspended: a hard problem put on the books, needs funds or a plan); both are approved, both stop the
    clock and leave the KPI denominators (docs/metrics.md)."""

    POSTPONED = "postponed"  # 缓办
    SUSPENDED = "suspended"  # 挂账


class CaseSource(StrEnum):
    """Information collection channels (信息采集渠道)."""

    GRID_PATROL = "grid_patrol"  # 网格员巡查
    CITIZEN_APP = "citizen_app"  # 市民城管通
    HOTLINE_12345 = "hotline_12345"  # 12345 热线
    HOTLINE_12319 = "hotline_12319"  # 12319 城建热线
    AI_VIDEO = "ai_video"  # 视频AI抓拍
    IOT_SENSOR = "iot_sensor"  # 物联感知
    DRONE = "drone"  # 无人机巡查
    INSPECTION = "inspection"  # 督查考评


CASE_SOURCE_ZH: dict[CaseSource, str] = {
    CaseSource.GRID_PATROL: "网格员巡查",
    CaseSource.CITIZEN_APP: "市民城管通",
    CaseSource.HOTLINE_12345: "12345热线",
    CaseSource.HOTLINE_12319: "12319热线",
    CaseSource.AI_VIDEO: "视频AI抓拍",
    CaseSource.IOT_SENSOR: "物联感知",
    CaseSource.DRONE: "无人机巡查",
    CaseSource.INSPECTION: "督查考评",
}


class CaseEvent(_Message):
    """One step of one case. Keyed by ``case_id`` on the topic so a case's steps stay in order."""

    event_id: Id
    case_id: Id
    action: CaseAction
    event_time: EventTime
    source: CaseSource | None = None
    category_code: CategoryCode | None = None
    lon: Lon | None = None
    lat: Lat | None = None
    grid_id: Id | None = None
    department_id: Id | None = None
    actor: ShortText | None = None
    address: Text | None = None
    description: LongText | None = None
    urgent: bool = False
    extension: WorkDurationText | None = None
    approver: ShortText | None = None  # who approved a 延期 or a 缓办/挂账 (required for those)
    park_kind: ParkKind | None = None
    evidence_ref: EvidenceRef | None = None
    origin_ref: Id | None = None  # the detection or sensor alert episode that opened the case

    @model_validator(mode="after")
    def _consistent(self) -> CaseEvent:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat must be given together")
        if self.action is CaseAction.REPORT:
            if self.source is None:
                raise ValueError("a report needs its source channel")
            if self.category_code is None:
                raise ValueError("a report needs a category_code")
        if self.action is CaseAction.DISPATCH and self.department_id is None:
            raise ValueError("a dispatch needs the department_id it goes to")
        if self.action is CaseAction.EXTEND and self.extension is None:
            raise ValueError("an extension needs its length, e.g. '2d'")
        if self.action in (CaseAction.EXTEND, CaseAction.PARK) and not (self.approver or "").strip():
            raise ValueError(f"a {self.action.value} needs the name of its approver (approver)")
        if self.action is CaseAction.PARK and self.park_kind is None:
            raise ValueError("a park needs its park_kind: postponed (缓办) or suspended (挂账)")
        if self.action is CaseAction.RETURN and not (self.description or "").strip():
            raise ValueError("a return (退回) needs its reason in description")
        if self.category_code is not None:
            _check_category(self.category_code)
        return self

    @property
    def located(self) -> bool:
        return self.lon is not None


def _check_category(code: str) -> None:
    from cityops.catalogue import get_catalogue  # lazy: the catalogue file is read once per process

    if code not in get_catalogue():
        raise ValueError(f"unknown category code {code!r}")


# ------------------------------------------------------------------------------------------ sensors


# The kinds are data (cityops/sensor_kinds/*.toml): one member per kind file, named by its kind in capitals
# (SensorKind.NOISE, SensorKind.GAS_PRESSURE), in the files' order.
SensorKind = StrEnum("SensorKind", [(name.upper(), name) for name in sensor_kinds.kinds()])  # type: ignore[misc]


class SensorReading(_Message):
    """One measurement. Readings travel inside a :class:`SensorEnvelope`, never alone."""

    sensor_id: Id
    kind: SensorKind
    metric: str | None = None
    value: Annotated[float, Field(allow_inf_nan=False)]
    unit: str
    time: EventTime

    @model_validator(mode="after")
    def _in_range(self) -> SensorReading:
        spec = sensor_kinds.spec(self.kind.value)
        metric = self.metric or spec.default_metric
        if metric not in spec.metrics:
            raise ValueError(f"metric {metric!r} is not valid for {self.kind.value} (use {', '.join(spec.metrics)})")
        rule = spec.metrics[metric]
        if self.unit not in rule.units:
            raise ValueError(f"unit {self.unit!r} is not valid for {self.kind.value} (use {rule.units[0]!r})")
        if not rule.lo <= self.value <= rule.hi:
            raise ValueError(f"{self.kind.value} value {self.value} is outside {rule.lo:g}..{rule.hi:g}")
        if spec.states is not None and self.value not in spec.states:
            names = " or ".join(f"{v:g} ({name})" for v, name in spec.states.items())
            raise ValueError(f"{self.kind.value} value must be {names}")
        if self.metric is None:
            object.__setattr__(self, "metric", spec.default_metric)
        return self


class SensorEnvelope(_Message):
    """What a gateway sends: many readings in one message (the hot path is designed around batches)."""

    envelope_id: Id
    gateway_id: Id
    sent_at: EventTime
    readings: Annotated[list[SensorReading], Field(min_length=1, max_length=1000)]


class _RawEnvelope(_Message):
    """The envelope with readings left undecoded, so that one bad reading does not sink the others."""

    envelope_id: Id
    gateway_id: Id
    sent_at: EventTime
    readings: Annotated[list[Any], Field(min_length=1, max_length=1000)]


# ---------------------------------------------------------------------------------------- detections


AiType = Literal[
    "street_vending",
    "shop_overflow",
    "mobile_vendor",
    "illegal_parking",
    "ebike_parking",
    "garbage_overflow",
    "exposed_garbage",
    "stacked_materials",
    "street_drying",
    "illegal_ads",
    "road_construction",
    "dumped_muck",
    "uncovered_muck_truck",
    "manhole_missing",
]


class Detection(_Message):
    """An AI video capture: one tracked object that broke a zone rule, with its evidence on disk."""

    event_id: Id
    camera_id: Id
    ai_type: AiType
    confidence: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    box: Annotated[list[Annotated[float, Field(ge=0.0, le=100_000.0, allow_inf_nan=False)]],
                   Field(min_length=4, max_length=4)]
    frame_width: Annotated[int, Field(gt=0, le=16384)]
    frame_height: Annotated[int, Field(gt=0, le=16384)]
    track_id: Id
    first_seen: EventTime
    last_seen: EventTime
    dwell_s: Annotated[float, Field(ge=0.0, le=7 * 86400.0, allow_inf_nan=False)]
    evidence_ref: EvidenceRef
    crop_ref: EvidenceRef | None = None
    zone_id: Id | None = None
    detector: ShortText
    lon: Lon | None = None
    lat: Lat | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Detection:
        x1, y1, x2, y2 = self.box
        if not (x1 < x2 and y1 < y2):
            raise ValueError("box must be [x1, y1, x2, y2] with x1 < x2 and y1 < y2")
        if x2 > self.frame_width or y2 > self.frame_height:
            raise ValueError("box lies outside the frame")
        if self.last_seen < self.first_seen:
            raise ValueError("last_seen is before first_seen")
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat must be given together")
        return self

    @property
    def event_time(self) -> datetime:
        return self.last_seen


class CameraState(StrEnum):
    """What a camera's detector process last saw of its source."""

    OK = "ok"  # frames arrive and are processed
    RECONNECTING = "reconnecting"  # the stream dropped; the source is backing off and retrying
    FAILED = "failed"  # the source gave up (corrupt file, retries exhausted)
    ENDED = "ended"  # a file source reached its end (not looping)


class CameraStatus(_Message):
    """A camera's health, sent by its detector process every few seconds (topic ``camera_status``, key = camera
    id). Frames never travel: ``latest_frame_ref`` names the JPEG of the latest frame in the evidence store."""

    event_id: Id
    camera_id: Id
    at: EventTime  # when the detector process sent it
    state: CameraState
    detector: ShortText  # e.g. "coco/opencv", "coco/torch+classical"
    fps: Annotated[float, Field(ge=0.0, le=10_000.0, allow_inf_nan=False)]  # frames processed per second lately
    frames_read: Annotated[int, Field(ge=0)]
    frames_processed: Annotated[int, Field(ge=0)]
    captures: Annotated[int, Field(ge=0)]  # since the process started
    reconnects: Annotated[int, Field(ge=0)]
    last_frame_at: EventTime | None = None  # timestamp of the latest processed frame
    latest_frame_ref: EvidenceRef | None = None
    frame_width: Annotated[int, Field(gt=0, le=16384)] | None = None
    frame_height: Annotated[int, Field(gt=0, le=16384)] | None = None
    error: Text | None = None  # the source's last error, credentials redacted

    @property
    def event_time(self) -> datetime:
        return self.at


# ------------------------------------------------------------------------------------------ commands


class CommandAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"  # 确认
    DISPATCH = "dispatch"  # 派遣
    ESCALATE = "escalate"  # 督办
    FALSE_ALARM = "false_alarm"  # 误报
    CLOSE = "close"  # 关闭 / 结案
    CONFIRM = "confirm"  # 确认立案: a duty officer confirms an AI capture, which opens and dispatches its case
    FINDING = "finding"  # 督查发现: an inspection finding against a street or department, points for the 考核
    REPLY = "reply"  # 督办回复: the department answers the 督办单 of its case (cityops/supervision_orders.py)
    HANDLE = "handle"  # 处置: the department reports its case handled, with a note and a photo
    RETURN = "return"  # 退回: the department returns a case that is not theirs, with the reason


NOTE_REQUIRED = {CommandAction.REPLY: "a reply (督办回复) needs its text in note",
                 CommandAction.HANDLE: "a handling report (处置) needs a note saying what was done",
                 CommandAction.RETURN: "a return (退回) needs its reason in note"}


KeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
Signature = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$")]  # HMAC-SHA256, base64url, no padding


FINDING_POINTS_MAX = 20.0  # one 督查发现 adds or deducts at most this many 考核 points


class OperatorCommand(_Message):
    """A duty officer's action from the console, applied by the command agent and audited.

    ``role`` is the signed-in user's role when the console sent it; ``kid`` names the console's key and ``sig``
    is the HMAC-SHA256 over every other field (:mod:`cityops.command_signing`). The contract lets an unsigned
    command through so that the command agent can refuse it with its own reason (stage ``auth``).
    """

    command_id: Id
    action: CommandAction
    # capture: one waiting in the review queue (its event_id); street, department: the unit a 督查发现 is against
    target_kind: Literal["alert", "case", "capture", "street", "department"]
    target_id: Id
    user: ShortText
    role: Literal["leader", "duty", "admin", "department"]
    issued_at: EventTime
    department_id: Id | None = None  # dispatch: where to; a department user's command: the user's department
    note: Text | None = None
    points: Annotated[float, Field(ge=-FINDING_POINTS_MAX, le=FINDING_POINTS_MAX, allow_inf_nan=False)] | None = None
    level: Annotated[int, Field(ge=1, le=3)] | None = None  # 督办: 一般 1, 重点 2, 挂牌 3
    reply_due: EventTime | None = None  # 督办: when the department's reply is due
    evidence_ref: EvidenceRef | None = None  # 处置: the photo the department attached
    kid: KeyId | None = None
    sig: Signature | None = None

    @model_validator(mode="after")
    def _consistent(self) -> OperatorCommand:
        if self.action is CommandAction.DISPATCH and self.department_id is None:
            raise ValueError("a dispatch command needs a department_id")
        unit = self.target_kind in ("street", "department")
        if (self.action is CommandAction.FINDING) != unit:
            raise ValueError("a finding (督查发现) targets a street or a department, and only a finding does")
        if self.action is CommandAction.FINDING and (self.points is None or not (self.note or "").strip()):
            raise ValueError("a finding needs its points and a note saying what was found")
        if self.action is not CommandAction.FINDING and self.points is not None:
            raise ValueError("only a finding carries points")
        if self.action in NOTE_REQUIRED and not (self.note or "").strip():
            raise ValueError(NOTE_REQUIRED[self.action])
        if self.action is not CommandAction.ESCALATE and (self.level is not None or self.reply_due is not None):
            raise ValueError("only a 督办 (escalate) carries a level and a reply deadline")
        if self.action is not CommandAction.HANDLE and self.evidence_ref is not None:
            raise ValueError("only a handling report (处置) carries a photo (evidence_ref)")
        if self.role == "department" and self.department_id is None:
            raise ValueError("a department user's command names the user's department (department_id)")
        return self

    @property
    def event_id(self) -> str:
        return self.command_id

    @property
    def event_time(self) -> datetime:
        return self.issued_at


# --------------------------------------------------------------------------------------- dead letter


class DeadLetter(_Message):
    """A refused message with its raw bytes and the reason, so nothing bad disappears silently."""

    source_topic: str
    reason: Annotated[str, StringConstraints(max_length=2000)]
    stage: Literal["decode", "validate", "auth", "reading", "transition", "late", "duplicate", "apply"]
    payload: str  # UTF-8 text, or base64 when payload_encoding says so
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    payload_size: int | None = None  # bytes of the refused message; more than the payload when truncated
    payload_truncated: bool = False
    received_at: AwareDatetime
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    event_id: str | None = None

    def raw_payload(self) -> bytes:
        return base64.b64decode(self.payload) if self.payload_encoding == "base64" else self.payload.encode()


# ------------------------------------------------------------------------------------- (de)coding

M = TypeVar("M", bound=_Message)
MAX_MESSAGE_BYTES = 1_000_000
# A dead letter keeps at most this many bytes of the refused message. Why: a refused message can be up to the
# broker's message size (and more than our own limit), and written into a JSON record its bytes grow (base64 by
# 4/3, escaped control characters by 6), so a dead letter carrying all of it can exceed the producer's 1 MiB
# request limit; the send then fails, the agent crashes and the rest of its batch is lost. 100 kB escaped
# six-fold stays under the limit.
DEAD_LETTER_PAYLOAD_BYTES = 100_000


def format_errors(err: ValidationError) -> str:
    parts: list[str] = []
    for e in err.errors(include_url=False)[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "function-after")
        msg = e.get("msg", "invalid")
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    more = err.error_count() - len(parts)
    if more > 0:
        parts.append(f"(+{more} more)")
    return "; ".join(parts)


def _event_id_of(raw: bytes) -> str | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        for key in ("event_id", "envelope_id", "command_id"):
            value = data.get(key)
            if isinstance(value, str) and len(value) <= 128:
                return value
    return None


def decode(model: type[M], raw: bytes | str) -> M:
    """Validate one JSON message against ``model`` or raise :class:`ContractError` with a reason."""
    if isinstance(raw, str):  # lone surrogates survive as bytes that are not UTF-8, refused as such below
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ContractError(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        return model.model_validate_json(raw)
    except ValidationError as err:
        if err.errors() and err.errors()[0].get("type") == "json_invalid":
            raise ContractError(f"not valid JSON: {err.errors()[0].get('msg')}") from None
        reason = format_errors(err)
        if any(e.get("loc") == ("v",) for e in err.errors()):
            reason = f"unsupported schema version (this platform reads v{SCHEMA_VERSION}); {reason}"
        raise ContractError(f"{model.__name__}: {reason}", event_id=_event_id_of(raw)) from None


_READING_ADAPTER = TypeAdapter(SensorReading)


def decode_sensor_envelope(raw: bytes | str) -> tuple[_RawEnvelope, list[SensorReading], list[tuple[int, Any, str]]]:
    """Decode a gateway envelope; return ``(envelope, good readings, rejected readings)``.

    Rejected readings are ``(index, raw reading, reason)``: the agent dead-letters each of them while
    keeping the good ones, because one broken sensor must not hide a whole gateway's data.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_MESSAGE_BYTES:  # before the fast path, which would otherwise accept an oversized envelope
        raise ContractError(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:  # fast path: the whole envelope is valid
        env = SensorEnvelope.model_validate_json(raw)
        return _RawEnvelope.model_construct(**env.__dict__), list(env.readings), []
    except ValidationError:
        pass
    envelope = decode(_RawEnvelope, raw)
    good: list[SensorReading] = []
    bad: list[tuple[int, Any, str]] = []
    for i, item in enumerate(envelope.readings):
        try:
            good.append(_READING_ADAPTER.validate_json(_json_bytes(item)))
        except (ValidationError, TypeError, ValueError) as err:
            reason = format_errors(err) if isinstance(err, ValidationError) else str(err)
            bad.append((i, item, f"reading {i}: {reason}"))
    return envelope, good, bad


def _json_bytes(value: Any) -> bytes:
    """JSON of an already-parsed value, whatever it holds.

    orjson refuses integers beyond 64 bits, which the JSON parser accepts (``{"value": 1e30}`` written as
    digits); the standard library writes them, so a reading holding one is judged on its value ("outside
    0..160") and a dead letter can always carry the refused item instead of crashing the agent.
    """
    try:
        return orjson.dumps(value, default=str)
    except (TypeError, orjson.JSONEncodeError):
        pass
    try:
        return json.dumps(value, default=str, ensure_ascii=False).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError, RecursionError):
        return repr(value).encode("utf-8", "surrogatepass")


def encode(message: _Message) -> bytes:
    """Serialise a message for Kafka: compact JSON, ``None`` fields left out."""
    return message.model_dump_json(exclude_none=True).encode()


def dead_letter(
    source_topic: str,
    raw: bytes | str | Any,
    reason: str,
    stage: str,
    *,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | str | None = None,
    event_id: str | None = None,
) -> DeadLetter:
    """Build the dead-letter record for a refused payload: its bytes kept exactly (base64 if not UTF-8), the
    first :data:`DEAD_LETTER_PAYLOAD_BYTES` of them when it is larger (``payload_truncated``, ``payload_size``)."""
    if not isinstance(raw, bytes | str):
        raw = _json_bytes(raw)
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    size = len(raw)
    raw = raw[:DEAD_LETTER_PAYLOAD_BYTES]
    try:
        payload, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(raw).decode(), "base64"
    if isinstance(key, bytes):
        key = key.decode("utf-8", "replace")
    return DeadLetter.model_construct(
        v=SCHEMA_VERSION,
        source_topic=source_topic,
        reason=reason[:2000],
        stage=stage,
        payload=payload,
        payload_encoding=encoding,
        payload_size=size,
        payload_truncated=size > len(raw),
        received_at=datetime.now(UTC),
        partition=partition,
        offset=offset,
        key=key,
        event_id=event_id,
    )


__all__: Sequence[str] = [
    "SCHEMA_VERSION",
    "CASE_ACTION_ZH",
    "CASE_SOURCE_ZH",
    "AiType",
    "CaseAction",
    "CaseEvent",
    "CaseSource",
    "CommandAction",
    "ContractError",
    "DeadLetter",
    "Detection",
    "OperatorCommand",
    "SensorEnvelope",
    "SensorKind",
    "SensorReading",
    "dead_letter",
    "decode",
    "decode_sensor_envelope",
    "encode",
    "format_errors",
]
