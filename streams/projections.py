"""Pure projections: decoded events (+ the current case state) → the Redis writes they cause.

No Faust and no Redis here, so the rules are unit-tested directly. The agents feed batches in and
hand the resulting :class:`~streams.effects.Effects` to the writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson

from cityops import keys
from cityops.city import CityModel
from cityops.schemas import CaseAction, CaseEvent, Detection, OperatorCommand, SensorReading
from streams.effects import Effects
from streams.lifecycle import IllegalTransition, next_state

# Lifecycle action → the counter it increments.
ACTION_METRIC: dict[CaseAction, str] = {
    CaseAction.REPORT: "received",
    CaseAction.ACCEPT: "accepted",
    CaseAction.REGISTER: "registered",
    CaseAction.REJECT: "rejected",
    CaseAction.DISPATCH: "dispatched",
    CaseAction.HANDLE: "handled",
    CaseAction.VERIFY: "verified",
    CaseAction.REWORK: "reworked",
    CaseAction.EXTEND: "extended",
    CaseAction.CLOSE: "closed",
    CaseAction.VOID: "voided",
}

UNLOCATED = "unlocated"


class ProjectionError(ValueError):
    """An event that is well-formed but cannot be applied (unknown case, grid or department)."""


@dataclass
class CaseView:
    """What the projection needs to know of a case between its events (mirrors ``co:case:{id}``)."""

    case_id: str
    state: str = ""
    category: str = ""
    source: str = ""
    grid: str = ""
    community: str = ""
    street: str = ""
    district: str = UNLOCATED
    department: str = ""
    t_report: str = ""  # ISO times of the report and the registration, for attributing to departments
    t_register: str = ""

    @classmethod
    def from_hash(cls, case_id: str, data: Mapping[str, str]) -> CaseView | None:
        if not data:
            return None
        return cls(case_id, data.get("state", ""), data.get("category", ""), data.get("source", ""),
                   data.get("grid", ""), data.get("community", ""), data.get("street", ""),
                   data.get("district", UNLOCATED), data.get("department", ""), data.get("t_report", ""),
                   data.get("t_register", ""))

    def scopes(self, city_code: str) -> list[tuple[str, str]]:
        out = [("city", city_code), ("district", self.district)]
        if self.grid:
            out += [("street", self.street), ("community", self.community), ("grid", self.grid)]
        if self.category:
            out.append(("category", self.category))
        if self.source:
            out.append(("source", self.source))
        if self.department:
            out.append(("department", self.department))
        return out


def locate(event: CaseEvent, city: CityModel) -> tuple[str, str, str, str]:
    """(grid, community, street, district) of a reported case; unlocated cases get ``('', '', '', UNLOCATED)``."""
    grid_code = event.grid_id
    if grid_code is None and event.lon is not None and event.lat is not None:
        grid_code = city.index.lookup(event.lon, event.lat)
    if grid_code is None:
        return "", "", "", UNLOCATED
    grid = city.grids.get(grid_code)
    if grid is None:
        raise ProjectionError(f"unknown grid {grid_code!r}")
    return grid.code, grid.community_code, grid.street_code, grid.district_code


def project_case_event(event: CaseEvent, view: CaseView | None, city: CityModel,
                       tz: ZoneInfo) -> tuple[Effects, CaseView]:
    """The writes of one case event and the case's view afterwards."""
    try:
        state = next_state(view.state if view is not None else None, event.action)
    except IllegalTransition as err:
        raise ProjectionError(f"case {event.case_id}: {err}") from None
    if event.action is CaseAction.REPORT:
        grid, community, street, district = locate(event, city)
        view = CaseView(event.case_id, "", event.category_code or "", event.source.value if event.source else "",
                        grid, community, street, district)
    assert view is not None  # next_state refuses every non-report step of an unknown case
    if event.department_id is not None and event.department_id not in city.departments:
        raise ProjectionError(f"unknown department {event.department_id!r}")
    if event.action is CaseAction.REGISTER and event.category_code:
        view.category = event.category_code
    eff = Effects(event.event_id)
    if event.action is CaseAction.DISPATCH:
        if not view.department and event.department_id:
            _attribute_to_department(eff, view, event.department_id, tz)
        view.department = event.department_id or view.department
    view.state = state
    local = event.event_time.astimezone(tz)
    day, hour = keys.day_bucket(local), keys.hour_bucket(local)
    metric = ACTION_METRIC[event.action]
    if event.action is CaseAction.REPORT:
        view.t_report = event.event_time.isoformat()
    elif event.action is CaseAction.REGISTER:
        view.t_register = event.event_time.isoformat()
    for scope, scope_id in view.scopes(city.code):
        eff.hincrby(keys.kpi_daily(day, scope, scope_id), metric)
        eff.expire(keys.kpi_daily(day, scope, scope_id), keys.DAILY_RETENTION_S)
    for scope, scope_id in (("city", city.code), ("district", view.district)):
        eff.hincrby(keys.kpi_hourly(hour, scope, scope_id), metric)
        eff.expire(keys.kpi_hourly(hour, scope, scope_id), keys.HOURLY_RETENTION_S)
    case_key = keys.case(event.case_id)
    stamp = event.event_time.isoformat()
    fields: dict[str, object] = {"state": view.state, "category": view.category, "source": view.source,
                                 "grid": view.grid, "community": view.community, "street": view.street,
                                 "district": view.district, "department": view.department,
                                 f"t_{event.action.value}": stamp, "updated_at": stamp}
    if event.action is CaseAction.REPORT:
        fields.update({"lon": event.lon, "lat": event.lat, "address": event.address,
                       "description": event.description, "urgent": int(event.urgent)})
    eff.hset(case_key, fields)
    return eff, view


def _attribute_to_department(eff: Effects, view: CaseView, department: str, tz: ZoneInfo) -> None:
    """A department learns of a case at its first dispatch: count it as received and registered there,
    in the day buckets of the report and the registration, so department figures add up like the city's."""
    for metric, stamp in (("received", view.t_report), ("registered", view.t_register)):
        if stamp:
            day = keys.day_bucket(datetime.fromisoformat(stamp).astimezone(tz))
            eff.hincrby(keys.kpi_daily(day, "department", department), metric)
            eff.expire(keys.kpi_daily(day, "department", department), keys.DAILY_RETENTION_S)


def project_readings(envelope_id: str, readings: list[SensorReading], tz: ZoneInfo) -> Effects:
    """Latest value per sensor from one envelope (the newest reading of each sensor wins)."""
    latest: dict[str, SensorReading] = {}
    for r in readings:
        cur = latest.get(r.sensor_id)
        if cur is None or r.time >= cur.time:
            latest[r.sensor_id] = r
    eff = Effects(envelope_id)
    for r in latest.values():
        key = keys.sensor(r.sensor_id)
        eff.hset(key, {"value": r.value, "kind": r.kind.value, "metric": r.metric, "unit": r.unit,
                       "time": r.time.astimezone(tz).isoformat()})
        eff.expire(key, keys.DAY * 2)
        eff.zadd(keys.sensors_index(), r.time.timestamp(), r.sensor_id)
    return eff


def project_detection(det: Detection, tz: ZoneInfo, city_code: str) -> Effects:
    local = det.last_seen.astimezone(tz)
    day = keys.day_bucket(local)
    eff = Effects(det.event_id)
    key = keys.kpi_daily(day, "city", city_code)
    eff.hincrby(key, "captures").hincrby(key, f"captures:{det.ai_type}").expire(key, keys.DAILY_RETENTION_S)
    eff.xadd(keys.captures(), keys.CAPTURES_MAXLEN, det.model_dump_json(exclude_none=True))
    return eff


def project_command(cmd: OperatorCommand) -> Effects:
    eff = Effects(cmd.command_id)
    record = {"command_id": cmd.command_id, "action": cmd.action.value, "target_kind": cmd.target_kind,
              "target_id": cmd.target_id, "user": cmd.user, "at": cmd.issued_at.isoformat(),
              "department_id": cmd.department_id, "note": cmd.note}
    eff.xadd(keys.audit(), 10_000_000, orjson.dumps(record).decode())
    return eff
