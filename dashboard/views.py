"""View models of the console pages: plain functions from read-API results to what a page shows.

Why here and not in the pages: pages are Streamlit scripts that are awkward to test; these functions
take plain data and return plain data (dataclasses, dicts, DataFrames), so unit tests and AppTest
cover the logic, and the pages stay a thin layer of widgets.

Event text (addresses, descriptions, camera names…) is never turned into markup here: tables carry
it as data, and :func:`md_escape` makes it inert wherever a Streamlit element renders Markdown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from cityops import read
from cityops.catalogue import Catalogue
from cityops.city import CityModel
from cityops.metrics import Rates
from dashboard.i18n import ALERT_TYPE, CASE_STATE, SEVERITY, STATUS, label, t

# ------------------------------------------------------------------------------------------- text

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=\"'])")


def md_escape(text: object) -> str:
    """Backslash-escape every Markdown/HTML-significant character so the text renders as itself.

    CommonMark treats a backslash before any ASCII punctuation as that literal character, which
    defuses links, images (``![](http://…)`` would fetch from outside), raw HTML (``<script>``),
    Streamlit's ``:red[…]`` and ``:material/…:`` directives, and LaTeX. Newlines become spaces.
    """
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ").replace("\r", " ")


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def fmt_int(value: float | None) -> str:
    return "—" if value is None else f"{int(round(value)):,}"


def fmt_countdown(seconds: float) -> str:
    """``1:05:09`` / ``-0:03:10`` (past due): an HH:MM:SS countdown that reads well at a glance."""
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    return f"{sign}{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


# ------------------------------------------------------------------------------------------- KPIs


@dataclass(frozen=True)
class Tile:
    """One KPI tile: ``delta`` is ``None`` when no comparison exists (gauges without history)."""

    key: str
    label: str
    value: str
    delta: str | None
    delta_color: str  # normal (up is good) | inverse (up is bad) | off
    help: str


def _delta_count(now: float, before: float) -> str:
    return f"{now - before:+,.0f}"


def _delta_rate(now: float | None, before: float | None) -> str | None:
    if now is None or before is None:
        return None
    return f"{(now - before) * 100:+.1f} pp"


def sensors_in_alarm(states: Mapping[str, Mapping[str, str]]) -> int:
    """Sensors whose sustained rule has fired and not yet cleared (phase active or clearing)."""
    return sum(1 for s in states.values() if s.get("phase") in ("active", "clearing"))


def kpi_tiles(today: Mapping, yesterday_until: Mapping[str, float], sensors_alarm: int, captures_today: int,
              captures_delta: float | None, lang: str = "zh") -> list[Tile]:
    """The eight tiles of the big screen.

    ``today`` is :func:`cityops.read.kpis` of today; ``yesterday_until`` the counters of yesterday up
    to the same time (:func:`cityops.read.counters_until`). Rates of yesterday use the overdue gauge
    of now, the only one the read model keeps; the help text says so.
    """
    c = today["counters"]
    before = Rates.from_counters({**yesterday_until, "overdue_open": c.get("overdue_open", 0)})
    vs = t("vs_yesterday", lang)
    gauge = t("gauge_no_history", lang)

    def count(key: str, metric: str) -> Tile:
        value = float(c.get(metric, 0))
        return Tile(key, t(key, lang), fmt_int(value), _delta_count(value, yesterday_until.get(metric, 0.0)),
                    "normal", vs)

    return [
        count("kpi_received", "received"),
        count("kpi_registered", "registered"),
        count("kpi_closed", "closed"),
        Tile("kpi_closure_rate", t("kpi_closure_rate", lang), pct(today["closure_rate"]),
             _delta_rate(today["closure_rate"], before.closure_rate), "normal", vs),
        Tile("kpi_on_time_rate", t("kpi_on_time_rate", lang), pct(today["on_time_rate"]),
             _delta_rate(today["on_time_rate"], before.on_time_rate), "normal", vs),
        Tile("kpi_overdue_open", t("kpi_overdue_open", lang), fmt_int(c.get("overdue_open", 0)), None, "inverse",
             gauge),
        Tile("kpi_sensors_alarm", t("kpi_sensors_alarm", lang), fmt_int(sensors_alarm), None, "inverse", gauge),
        Tile("kpi_captures", t("kpi_captures", lang), fmt_int(captures_today),
             None if captures_delta is None else f"{captures_delta:+,.0f}", "off", vs),
    ]


def hourly_frame(today: Sequence[Mapping[str, int]], yesterday: Sequence[Mapping[str, int]], now: datetime,
                 metric: str = "received", lang: str = "zh") -> pd.DataFrame:
    """Cases per hour: today (hours still to come left empty) against the whole of yesterday."""
    rows = []
    for h in range(24):
        rows.append({t("hour", lang): f"{h:02d}",
                     t("today", lang): float(today[h].get(metric, 0)) if h <= now.hour else math.nan,
                     t("yesterday", lang): float(yesterday[h].get(metric, 0))})
    return pd.DataFrame(rows).set_index(t("hour", lang))


def ranking_frame(ranking: Sequence[Mapping], city: CityModel, lang: str = "zh") -> pd.DataFrame:
    rows = [{t("rank", lang): r["rank"],
             t("district", lang): city.area_name(r["id"], lang),
             t("score", lang): round(float(r["score"]), 1),
             t("kpi_closure_rate", lang): pct(r.get("closure_rate")),
             t("kpi_on_time_rate", lang): pct(r.get("on_time_rate"))} for r in ranking]
    return pd.DataFrame(rows, columns=[t(k, lang) for k in ("rank", "district", "score", "kpi_closure_rate",
                                                            "kpi_on_time_rate")])


def top_categories(per_category: Mapping[str, Mapping[str, int]], catalogue: Catalogue, lang: str = "zh",
                   n: int = 8, metric: str = "received") -> pd.DataFrame:
    """The ``n`` categories with most ``metric`` today, most first."""
    items = sorted(((c.get(metric, 0), code) for code, c in per_category.items() if c.get(metric, 0) > 0),
                   key=lambda x: (-x[0], x[1]))[:n]
    rows = []
    for value, code in items:
        name = catalogue.get(code).name(lang) if code in catalogue else code
        rows.append({t("category", lang): name, t("count", lang): int(value)})
    return pd.DataFrame(rows, columns=[t("category", lang), t("count", lang)])


@dataclass(frozen=True)
class CaptureCard:
    camera: str
    kind: str
    at: str
    case_id: str
    evidence_ref: str
    box: tuple[float, float, float, float] | None
    frame: tuple[int, int] | None


def capture_cards(captures: Iterable[Mapping], catalogue: Catalogue, tz, lang: str = "zh",  # noqa: ANN001
                  n: int = 4) -> list[CaptureCard]:
    """The newest captures with what a thumbnail needs (box scaled from the frame size)."""
    out = []
    for cap in captures:
        ai_type = str(cap.get("ai_type", ""))
        try:
            kind = catalogue.by_ai_type(ai_type).name(lang)
        except (KeyError, ValueError):
            kind = ai_type
        at = _local_time(cap.get("last_seen"), tz)
        box = cap.get("box")
        frame = (cap.get("frame_width"), cap.get("frame_height"))
        out.append(CaptureCard(str(cap.get("camera_name") or cap.get("camera_id", "")), kind, at,
                               str(cap.get("case_id", "")), str(cap.get("evidence_ref", "")),
                               tuple(box) if isinstance(box, list) and len(box) == 4 else None,
                               frame if all(isinstance(x, int) for x in frame) else None))
        if len(out) >= n:
            break
    return out


def _local_time(value: object, tz, fmt: str = "%H:%M:%S") -> str:  # noqa: ANN001
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz).strftime(fmt)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value).astimezone(tz).strftime(fmt)
        except ValueError:
            return value[:19]
    return ""


# ------------------------------------------------------------------------------------ duty console

SEVERITY_ORDER = {"critical": 0, "major": 1, "minor": 2, "info": 3}


def alert_time(alert: Mapping) -> float | None:
    """When the alert happened; alerts that carry no time of their own fall back to their place in the feed."""
    t = read.alert_time(alert)
    return t if t is not None else alert.get("feed_ts")


def alert_target(alert: Mapping) -> tuple[str, str]:
    """Where a command about this alert goes: the alert itself when it has a state hash, else its case."""
    if alert.get("has_hash"):
        return "alert", str(alert["id"])
    if alert.get("case_id"):
        return "case", str(alert["case_id"])
    return "alert", str(alert.get("id", ""))


def alert_detail(alert: Mapping, city: CityModel, lang: str = "zh") -> str:
    """One line of plain text about the alert (data, not markup)."""
    kind = alert.get("type", "")
    if kind.endswith("_exceedance"):
        return f"{alert.get('name_zh') or alert.get('sensor_id', '')} {alert.get('metric', '')} " \
               f"{alert.get('value', '')} / {alert.get('limit', '')} {alert.get('unit', '')}"
    if kind == "device_offline":
        return str(alert.get("name_zh") or alert.get("sensor_id", ""))
    if kind == "sla_overdue":
        return f"{alert.get('case_id', '')} · {alert.get('stage', '')}"
    if kind == "ai_capture":
        return f"{alert.get('camera_id', '')} · {alert.get('ai_type', '')}"
    return str(alert.get("case_id") or alert.get("sensor_id") or "")


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
            "time": _local_time(ts, tz, "%m-%d %H:%M:%S") if ts else "",
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
                     "stage": str(d.get("stage", "")),
                     "district": city.area_name(d.get("district", ""), lang) if d.get("district") else "—",
                     "category": catalogue.get(category).name(lang) if category in catalogue else category,
                     "urgent": d.get("urgent") == "1"})
    return rows


def timeline_rows(timeline: Iterable[Mapping], tz, lang: str = "zh") -> pd.DataFrame:  # noqa: ANN001
    from cityops.schemas import CASE_ACTION_ZH, CaseAction

    rows = []
    for step in timeline:
        action = str(step.get("action", ""))
        try:
            name = CASE_ACTION_ZH[CaseAction(action)] if lang == "zh" else action
        except ValueError:
            name = action
        rows.append({t("time", lang): _local_time(step.get("event_time"), tz, "%Y-%m-%d %H:%M:%S"),
                     t("action", lang): name,
                     t("actor", lang): str(step.get("actor", "") or ""),
                     t("department", lang): str(step.get("department_id", "") or ""),
                     t("description", lang): str(step.get("description", "") or "")})
    return pd.DataFrame(rows, columns=[t(k, lang) for k in ("time", "action", "actor", "department", "description")])


def case_fields(case: Mapping[str, str], city: CityModel, catalogue: Catalogue, lang: str = "zh") -> pd.DataFrame:
    """The case's facts as a two-column table (text stays text)."""
    category = case.get("category", "")
    facts = [
        ("state", label(CASE_STATE, case.get("state", ""), lang)),
        ("category", catalogue.get(category).name(lang) if category in catalogue else category),
        ("source", case.get("source", "")),
        ("district", city.area_name(case.get("district", ""), lang) if case.get("district") else ""),
        ("street", city.area_name(case.get("street", ""), lang) if case.get("street") else ""),
        ("grid", case.get("grid", "")),
        ("department", case.get("department", "")),
        ("deadline", case.get("deadline", "")),
        ("address", case.get("address", "")),
        ("description", case.get("description", "")),
    ]
    return pd.DataFrame([{t("detail", lang): t(k, lang), "": v} for k, v in facts])


# -------------------------------------------------------------------------------------- drill-down

LEVELS = ("city", "district", "street", "community", "grid")


def children_of(city: CityModel, level: str, code: str) -> tuple[str, list[str]]:
    """(child level, child codes) of an area; a grid has none."""
    if level == "city":
        return "district", sorted(city.districts)
    if level == "district":
        return "street", sorted(s.code for s in city.streets_of(code))
    if level == "street":
        return "community", sorted(c.code for c in city.communities_of(code))
    if level == "community":
        return "grid", sorted(g.code for g in city.grids_of(code))
    return "", []


def drill_frame(table: Mapping[str, Mapping], city: CityModel, lang: str = "zh") -> pd.DataFrame:
    """One row per sub-area with the same KPIs as the tiles, best score first."""
    rows = []
    for code, k in table.items():
        c = k["counters"]
        rows.append({"code": code, t("district", lang): city.area_name(code, lang),
                     t("kpi_received", lang): int(c.get("received", 0)),
                     t("kpi_registered", lang): int(c.get("registered", 0)),
                     t("kpi_closed", lang): int(c.get("closed", 0)),
                     t("kpi_closure_rate", lang): pct(k.get("closure_rate")),
                     t("kpi_on_time_rate", lang): pct(k.get("on_time_rate")),
                     t("kpi_overdue_open", lang): int(c.get("overdue_open", 0)),
                     t("score", lang): round(float(k.get("score", 0.0)), 1)})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values([t("score", lang), "code"], ascending=[False, True]).reset_index(drop=True)
