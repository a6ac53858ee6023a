"""View models of the duty console: alert rows and their filters, new critical alerts, SLA countdowns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cityops import sensor_kinds
from cityops.alerts import AlertKind, kind_of_type, parse_time
from cityops.catalogue import Catalogue, get_catalogue
from cityops.city import CityModel
from cityops.supervision_orders import LEVELS
from dashboard.i18n import ALERT_TYPE, SEVERITY, STAGE, STATUS, SUP_STEP, label
from dashboard.views.common import fmt_countdown, local_time

SEVERITY_ORDER = {"critical": 0, "major": 1, "minor": 2, "info": 3}
UNIT_SHOWN = {"ug/m3": "µg/m³", "state": ""}  # stored ASCII units as instruments print them; a state has none
STATE_SHOWN = {"normal": ("正常", "normal"), "alarm": ("报警", "alarm")}  # a discrete kind's states (smoke)


def alert_time(alert: Mapping) -> float | None:
    """When the alert was raised (a row of ``read.alerts_current``: its ``at``); alerts that carry no time of their
    own fall back to their place in the feed."""
    at = parse_time(alert.get("at"))
    return at.timestamp() if at is not None else alert.get("feed_ts")


def alert_target(alert: Mapping) -> tuple[str, str]:
    """Where a command about this alert goes: the alert itself when it has a state hash, else its case."""
    if alert.get("has_hash"):
        return "alert", str(alert["id"])
    if alert.get("case_id"):
        return "case", str(alert["case_id"])
    return "alert", str(alert.get("id", ""))


def alert_detail(alert: Mapping, city: CityModel, lang: str = "zh") -> str:
    """One line of plain text about the alert (data, not markup)."""
    try:
        kind, _sensor_kind = kind_of_type(str(alert.get("type", "")))
    except ValueError:
        kind = None
    if kind is AlertKind.SENSOR_EXCEEDANCE:
        return sensor_detail(alert, _sensor_kind, lang)
    if kind is AlertKind.DEVICE_OFFLINE:
        return str(alert.get("name_zh") or alert.get("sensor_id", ""))
    if kind is AlertKind.SUPERVISION:
        return supervision_detail(alert, city, lang)
    if kind is AlertKind.SLA_OVERDUE:
        return f"{alert.get('case_id', '')} · {label(STAGE, str(alert.get('stage', '')), lang)}"
    if kind is AlertKind.AI_CAPTURE:
        ai_type = str(alert.get("ai_type", ""))
        try:
            ai_type = get_catalogue().by_ai_type(ai_type).name(lang)
        except (KeyError, ValueError):
            pass
        return f"{alert.get('camera_id', '')} · {ai_type}"
    return str(alert.get("case_id") or alert.get("sensor_id") or "")


def supervision_detail(alert: Mapping, city: CityModel, lang: str = "zh") -> str:
    """``XM… · 督办升级 · 重点督办 · 思明区环境卫生管理站``: the case, what the timer did, the order's level (``action``
    holds it as text) and the department it is against."""
    level = str(alert.get("action", ""))
    level_name = LEVELS.get(int(level), level) if level.isdigit() else level
    if lang != "zh" and level.isdigit():
        level_name = f"level {level}"
    dept = str(alert.get("department", ""))
    known = city.departments.get(dept)
    dept_name = (known.name_zh if lang == "zh" else known.name_en) if known is not None else dept
    parts = [str(alert.get("case_id", "")), label(SUP_STEP, str(alert.get("stage", "")), lang), level_name, dept_name]
    return " · ".join(p for p in parts if p)


def sensor_detail(alert: Mapping, sensor_kind: str | None, lang: str = "zh") -> str:
    """``楼宇噪声3 等效声级 82.0 / 70.0 dB(A)``: the metric by its label in the kind's spec, the unit as printed; a
    discrete kind (smoke) shows its state's name instead of value and limit. Codes the spec lacks show as stored."""
    name = alert.get("name_zh") or alert.get("sensor_id", "")
    metric = str(alert.get("metric", ""))
    spec = sensor_kinds.kinds().get(sensor_kind or "")
    known = spec.metrics.get(metric) if spec is not None else None
    shown = (known.label_zh if lang == "zh" else known.label_en) if known is not None else metric
    if spec is not None and spec.states:
        try:
            state = spec.states.get(float(alert.get("value", "")))
        except (TypeError, ValueError):
            state = None
        if state is not None:
            return f"{name} {shown}: {label(STATE_SHOWN, state, lang)}"
    unit = str(alert.get("unit", ""))
    return f"{name} {shown} {alert.get('value', '')} / {alert.get('limit', '')} {UNIT_SHOWN.get(unit, unit)}".rstrip()


def alert_rows(alerts: Iterable[Mapping], city: CityModel, tz, lang: str = "zh") -> list[dict]:  # noqa: ANN001
    """Feed rows (newest first, as given) with labels and the district the alert belongs to."""
    rows = []
    for a in alerts:
        district = str(a.get("district") or "")
        if not district and a.get("grid") in city.grids:
            district = city.grids[a["grid"]].district_code
        ts = alert_time(a)
        rows.append({
            "id": str(a.get("id", "")),
            "ts": ts,
            "time": local_time(ts, tz, "%m-%d %H:%M:%S") if ts else "",
            "type": str(a.get("type", "")),
            "type_label": label(ALERT_TYPE, str(a.get("type", "")), lang),
            "severity": str(a.get("severity", "minor")),
            "severity_label": label(SEVERITY, str(a.get("severity", "minor")), lang),
            "status": str(a.get("state", "active")),
            "status_label": label(STATUS, str(a.get("state", "active")), lang),
            "district": district,
            "district_label": city.area_name(district, lang) if district in city.districts else "—",
            "detail": alert_detail(a, city, lang),
            "case_id": str(a.get("case_id", "")),
            "acknowledged_by": str(a.get("acknowledged_by", "")),
            "target": alert_target(a),
            "lon": a.get("lon"),
            "lat": a.get("lat"),
            "evidence_ref": str(a.get("evidence_ref", "")),
        })
    return rows


def filter_rows(rows: Iterable[dict], district: str | None = None, kind: str | None = None,
                severity: str | None = None, status: str | None = None) -> list[dict]:
    """Rows matching every filter given (``None`` = any)."""
    return [r for r in rows
            if (district is None or r["district"] == district) and (kind is None or r["type"] == kind)
            and (severity is None or r["severity"] == severity) and (status is None or r["status"] == status)]


def new_critical(rows: Iterable[dict], seen: set[str]) -> list[dict]:
    """Critical, still active alerts the officer has not been shown yet (newest first)."""
    return [r for r in rows if r["severity"] == "critical" and r["status"] == "active" and r["id"] not in seen]


def due_rows(due: Iterable[Mapping], now_ts: float, city: CityModel, catalogue: Catalogue,
             lang: str = "zh") -> list[dict]:
    rows = []
    for d in due:
        category = str(d.get("category", ""))
        rows.append({"case_id": str(d.get("case_id", "")),
                     "countdown": fmt_countdown(float(d["due_ts"]) - now_ts),
                     "remaining_s": float(d["due_ts"]) - now_ts,
                     "stage": label(STAGE, str(d.get("stage", "")), lang),
                     "district": city.area_name(d.get("district", ""), lang) if d.get("district") else "—",
                     "category": catalogue.get(category).name(lang) if category in catalogue else category,
                     "urgent": d.get("urgent") == "1"})
    return rows
