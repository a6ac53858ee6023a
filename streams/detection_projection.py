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

An accepted capture opens a case (source 视频AI抓拍) with report, register and dispatch steps whose
ids derive from the capture id, so re-sending never opens a second case; the evidence reference rides
along on the case.
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
    case_id = derived_id("AI", det.event_id)
    record = det.model_dump(mode="json", exclude_none=True) | {"case_id": case_id, "grid": camera.grid_code,
                                                               "lon": camera.lon, "lat": camera.lat,
                                                               "camera_name": camera.name_zh}
    eff.xadd(keys.captures(), keys.CAPTURES_MAXLEN, orjson.dumps(record).decode())
    eff.xadd(keys.alerts(), keys.ALERTS_MAXLEN, Alert.ai_capture(
        capture_event_id=det.event_id, case_id=case_id, camera_id=camera.id, ai_type=det.ai_type,
        evidence_ref=det.evidence_ref, grid=camera.grid_code, lon=camera.lon, lat=camera.lat,
        at=det.last_seen).to_json())
    return DetectionOutcome(eff, _case_events(det, camera, case_id, ctx))


def _case_events(det: Detection, camera: Camera, case_id: str, ctx: DetectionContext) -> list[CaseEvent]:
    category = ctx.catalogue.by_ai_type(det.ai_type)
    department = ctx.city.responsible_department(category.owner_role, camera.grid_code)
    at: datetime = det.last_seen
    common = {"case_id": case_id, "event_time": at, "actor": f"AI/{det.detector}"}
    return [
        CaseEvent(event_id=derived_id(case_id, "report"), action=CaseAction.REPORT, source=CaseSource.AI_VIDEO,
                  category_code=category.code, lon=camera.lon, lat=camera.lat, grid_id=camera.grid_code,
                  description=f"{camera.name_zh} 抓拍 {category.minor_zh} (置信度 {det.confidence:.2f}, "
                              f"停留 {det.dwell_s:.0f} 秒)", evidence_ref=det.evidence_ref, origin_ref=det.event_id,
                  **common),
        CaseEvent(event_id=derived_id(case_id, "register"), action=CaseAction.REGISTER, **common),
        CaseEvent(event_id=derived_id(case_id, "dispatch"), action=CaseAction.DISPATCH, department_id=department,
                  **common),
    ]
