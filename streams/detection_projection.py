"""AI captures → accepted or set aside, and for each accepted one a case dispatched to the right department.

Rules, in order (each refusal is counted with its reason, never silently dropped):

1. **Minimum confidence** ``CITYOPS_MIN_CONFIDENCE`` (default 0.5).
2. **Known camera**: the capture's camera must be in the fixture's registry (its position and grid
   decide where the case goes).
3. **Zone and time rules**: if the capture names a zone of the camera, that zone must watch this
   violation type, and not in one of its allowed windows (a night market allows vending 18:00–23:00).
4. **One capture per object**: the exactly-once id of a capture is ``(camera, type, track)``, so a
   tracker that reports the same parked car again changes nothing; and a capture whose box overlaps
   (IoU ≥ 0.5) a capture of the same type on the same camera within ``CITYOPS_CAPTURE_WINDOW_S``
   (default 600 s) is the same object seen again by a new track.

An accepted capture raises its ``ai_capture`` alert and then, by type (``cities/<city>/capture_review.yml``):

- a **trusted** type (``auto_dispatch``) opens its case at once (source 视频AI抓拍) with report, register and
  dispatch steps whose ids derive from the capture id, so re-sending never opens a second case; the
  evidence reference rides along on the case;
- **every other type waits for a duty officer's review** (AI 抓拍 → 值班员确认 → 派遣): it enters the review
  queue (``keys.capture_queue`` by hour, ``keys.capture_review`` its record) until 确认立案 opens the very same
  case (:func:`capture_case_events`, same ids) or 误报 discards it (``streams/command_projection.py``). A
  capture waits at most ``CITYOPS_CAPTURE_REVIEW_S`` (default 7200 s) after its last_seen: then it leaves the
  queue unreviewed (the hourly queue keys and the record expire; a command on it is refused as expired) and
  shows as queued but not reviewed in the day's figures.

Capture → dispatch time (last_seen to the dispatch step: 0 for a trusted type, whose case is dispatched at the
capture's time, the 确认立案's time otherwise) is sampled per day (``keys.capture_lag_daily``) for the duty
console's median and p90.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson

from cityops import keys
from cityops.alerts import Alert
from cityops.catalogue import Catalogue
from cityops.city import CityModel
from cityops.devices import Camera
from cityops.metrics import Metric
from cityops.schemas import CaseAction, CaseEvent, CaseSource, Detection, derived_id
from cityops.settings import env_number
from streams.effects import Effects


def min_confidence() -> float:
    return env_number("CITYOPS_MIN_CONFIDENCE", 0.5)


def capture_window_s() -> float:
    return env_number("CITYOPS_CAPTURE_WINDOW_S", 600)


def capture_review_s() -> float:
    """How long after its last_seen a capture may wait in the review queue (then it expires unreviewed)."""
    return env_number("CITYOPS_CAPTURE_REVIEW_S", 7200)


def iou(a: list[float], b: list[float]) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class DetectionContext:
    cameras: Mapping[str, Camera]
    city: CityModel
    catalogue: Catalogue
    tz: ZoneInfo
    auto_dispatch: frozenset[str] = frozenset()  # AI types opened and dispatched without review


@dataclass
class DetectionOutcome:
    effects: Effects | None = None
    cases: list[CaseEvent] = field(default_factory=list)
    reason: str = ""  # why it was set aside or refused ('' when accepted)
    refused: bool = False  # bad input (a camera or zone this city does not have): dead letter, not a rule decision


def capture_id(det: Detection) -> str:
    return f"cap:{det.camera_id}:{det.ai_type}:{det.track_id}"


def project_detection(det: Detection, recent: list[dict], ctx: DetectionContext) -> DetectionOutcome:
    """Judge one capture against the rules; ``recent`` are the camera's accepted captures (dicts with
    ``ai_type``, ``box``, ``t``) and is extended when this one is accepted."""
    outcome = _judge(det, recent, ctx)
    if outcome.refused:  # the agent dead-letters it with the reason (streams/deadletter.py)
        return outcome
    if outcome.effects is None:  # set aside: counted once (same exactly-once id), reason kept for the log
        eff = Effects(capture_id(det))
        key = keys.kpi_daily(keys.day_bucket(det.last_seen.astimezone(ctx.tz)), "city", ctx.city.code)
        eff.hincrby(key, Metric.CAPTURES_SET_ASIDE.value).expire(key, keys.DAILY_RETENTION_S)
        outcome.effects = eff
        outcome.cases = []
    return outcome


def _judge(det: Detection, recent: list[dict], ctx: DetectionContext) -> DetectionOutcome:
    if det.confidence < min_confidence():
        return DetectionOutcome(reason=f"confidence {det.confidence:.2f} below {min_confidence():.2f}")
    camera = ctx.cameras.get(det.camera_id)
    if camera is None:
        return DetectionOutcome(reason=f"unknown camera {det.camera_id!r}", refused=True)
    local = det.last_seen.astimezone(ctx.tz)
    if det.zone_id is not None:
        zone = next((z for z in camera.zones if z.id == det.zone_id), None)
        if zone is None:
            return DetectionOutcome(reason=f"camera {camera.id} has no zone {det.zone_id!r}", refused=True)
        if det.ai_type not in zone.ai_types:
            return DetectionOutcome(reason=f"zone {zone.id} does not watch {det.ai_type}")
        if zone.allowed_at(local.time()):
            windows = ", ".join(str(w) for w in zone.allowed)
            return DetectionOutcome(reason=f"{det.ai_type} is allowed in zone {zone.id} at {local:%H:%M} ({windows})")
    t, window_s = det.last_seen.timestamp(), capture_window_s()
    for other in recent:
        same_kind_lately = other["ai_type"] == det.ai_type and t - other["t"] <= window_s
        if same_kind_lately and iou(det.box, other["box"]) >= 0.5:
            return DetectionOutcome(reason=f"same object as capture {other['id']} (boxes overlap)")
    mine = {"id": det.event_id, "ai_type": det.ai_type, "box": det.box, "t": t}
    recent.append(mine)
    eff = Effects(capture_id(det))
    eff.hset(keys.camera_recent(camera.id), {det.event_id: orjson.dumps(mine).decode()})
    eff.expire(keys.camera_recent(camera.id), keys.DAY)
    day = keys.day_bucket(local)
    for scope, scope_id in (("city", ctx.city.code), ("district", ctx.city.grids[camera.grid_code].district_code)):
        key = keys.kpi_daily(day, scope, scope_id)
        eff.hincrby(key, Metric.CAPTURES.value).hincrby(key, Metric.CAPTURES.per(det.ai_type))
        eff.expire(key, keys.DAILY_RETENTION_S)
    case_id = capture_case_id(det)
    trusted = det.ai_type in ctx.auto_dispatch
    record = det.model_dump(mode="json", exclude_none=True) | {"case_id": case_id, "grid": camera.grid_code,
                                                               "lon": camera.lon, "lat": camera.lat,
                                                               "camera_name": camera.name_zh,
                                                               "review": "auto" if trusted else "pending"}
    eff.xadd(keys.captures(), keys.CAPTURES_MAXLEN, orjson.dumps(record).decode())
    eff.xadd(keys.alerts(), keys.ALERTS_MAXLEN, Alert.ai_capture(
        capture_event_id=det.event_id, case_id=case_id, camera_id=camera.id, ai_type=det.ai_type,
        evidence_ref=det.evidence_ref, grid=camera.grid_code, lon=camera.lon, lat=camera.lat,
        at=det.last_seen).to_json())
    review_key, ttl = keys.capture_review(det.event_id), int(capture_review_s())
    stats = keys.capture_stats_daily(day)
    eff.hincrby(stats, "auto" if trusted else "queued").expire(stats, keys.DAILY_RETENTION_S)
    stored = {"status": "auto" if trusted else "pending", "detection": det.model_dump_json(exclude_none=True),
              "case_id": case_id, "camera_name": camera.name_zh, "grid": camera.grid_code,
              "district": ctx.city.grids[camera.grid_code].district_code}
    eff.hset(review_key, stored).expire(review_key, ttl)  # a command on it is refused with why (auto, expired)
    if not trusted:  # waits for 确认立案 or 误报
        queue = keys.capture_queue(keys.hour_bucket(local))
        eff.zadd(queue, t, det.event_id).expire(queue, ttl + 3600)
        return DetectionOutcome(eff, [])
    # Dispatched by the platform at the capture's own time (the case's dispatch step says so): a replay or a
    # re-sent capture gives the same read model, whenever the worker gets to it.
    record_lag(eff, det, det.last_seen, ctx.tz)
    return DetectionOutcome(eff, capture_case_events(det, camera, ctx))


def capture_case_id(det: Detection) -> str:
    """The case an accepted capture opens (at once or on 确认立案): one id, so it is only ever one case."""
    return derived_id("AI", det.event_id)


def record_lag(eff: Effects, det: Detection, dispatched_at: datetime, tz: ZoneInfo) -> None:
    """One capture → dispatch sample (seconds, never negative: clocks differ) in the day of the dispatch."""
    key = keys.capture_lag_daily(keys.day_bucket(dispatched_at.astimezone(tz)))
    lag = max(0.0, (dispatched_at - det.last_seen).total_seconds())
    eff.rpush_capped(key, keys.CAPTURE_LAG_CAP, orjson.dumps(round(lag, 1)).decode())
    eff.expire(key, keys.DAILY_RETENTION_S)


def capture_case_events(det: Detection, camera: Camera, ctx: DetectionContext, *, at: datetime | None = None,
                        actor: str | None = None) -> list[CaseEvent]:
    """The report, register and dispatch steps of a capture's case. Reported at its last_seen by the detector;
    registered and dispatched ``at`` by ``actor`` (default: then, by the detector), i.e. when and by whom a
    duty officer confirmed it. The ids derive from the capture alone, so however often it is confirmed or
    re-sent, there is one case."""
    case_id = capture_case_id(det)
    category = ctx.catalogue.by_ai_type(det.ai_type)
    department = ctx.city.responsible_department(category.owner_role, camera.grid_code)
    seen = {"case_id": case_id, "event_time": det.last_seen, "actor": f"AI/{det.detector}"}
    decided = {"case_id": case_id, "event_time": max(at or det.last_seen, det.last_seen),
               "actor": actor or seen["actor"]}
    return [
        CaseEvent(event_id=derived_id(case_id, "report"), action=CaseAction.REPORT, source=CaseSource.AI_VIDEO,
                  category_code=category.code, lon=camera.lon, lat=camera.lat, grid_id=camera.grid_code,
                  description=f"{camera.name_zh} 抓拍 {category.minor_zh} (置信度 {det.confidence:.2f}, "
                              f"停留 {det.dwell_s:.0f} 秒)", evidence_ref=det.evidence_ref, origin_ref=det.event_id,
                  **seen),
        CaseEvent(event_id=derived_id(case_id, "register"), action=CaseAction.REGISTER, **decided),
        CaseEvent(event_id=derived_id(case_id, "dispatch"), action=CaseAction.DISPATCH, department_id=department,
                  **decided),
    ]
