"""What a notification says, whatever the channel: a title, lines of text, the data behind them, and for the
briefing its PNG. Built here once from an alert, an SLA clock about to run out, a briefing or a flood summary;
:mod:`notify.channels` only lays it out in each channel's format.

Why the text is Chinese: the groups are a Chinese bureau's; the data (webhook, email attachment) is language-free.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cityops.alerts import Alert, AlertKind
from cityops.supervision_orders import LEVELS

SEVERITY_ZH = {"critical": "紧急", "major": "重要", "minor": "一般", "info": "提示"}
KIND_ZH = {AlertKind.SLA_OVERDUE: "案件超期", AlertKind.SENSOR_EXCEEDANCE: "传感器超标",
           AlertKind.DEVICE_OFFLINE: "设备离线", AlertKind.AI_CAPTURE: "AI抓拍", AlertKind.SUPERVISION: "督办单"}
SUPERVISION_STEP_ZH = {"remind": "即将到期，请尽快回复", "escalate": "逾期未复，已升级", "overdue": "挂牌督办逾期未复"}


@dataclass(frozen=True)
class Message:
    kind: str  # alert | sla_due | briefing | summary
    title: str
    lines: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict)
    image_png: bytes | None = None

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.lines))

    def to_stored(self) -> dict[str, Any]:
        """JSON-able form kept in the outbox (the PNG as base64), so a retry sends exactly what was composed."""
        out: dict[str, Any] = {"kind": self.kind, "title": self.title, "lines": list(self.lines), "data": self.data}
        if self.image_png is not None:
            out["image_png"] = base64.b64encode(self.image_png).decode()
        return out

    @classmethod
    def from_stored(cls, raw: dict[str, Any]) -> Message:
        png = raw.get("image_png")
        return cls(raw["kind"], raw["title"], tuple(raw["lines"]), raw.get("data") or {},
                   base64.b64decode(png) if png else None)


def _local(ts: float | None, tz: ZoneInfo) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")


def alert_message(alert: Alert, fields: dict[str, str | None], tz: ZoneInfo) -> Message:
    """An alert as the duty group reads it: severity and kind first, then where, what and when."""
    what = KIND_ZH.get(alert.kind, alert.kind.value)
    title = f"【{SEVERITY_ZH.get(alert.severity.value, alert.severity.value)}】{what}"
    lines = []
    if alert.kind is AlertKind.SENSOR_EXCEEDANCE:
        lines.append(f"{alert.name_zh or alert.sensor_id}（{alert.sensor_id}）{alert.metric} {alert.value:g}"
                     f"{alert.unit or ''}，限值 {alert.limit:g}{alert.unit or ''}")
    elif alert.kind is AlertKind.SLA_OVERDUE:
        lines.append(f"案件 {alert.case_id} 的{alert.stage}环节已超期（时限 {alert.deadline}）")
    elif alert.kind is AlertKind.DEVICE_OFFLINE:
        since = _local(alert.silent_since, tz)
        lines.append(f"{alert.name_zh or alert.sensor_id}（{alert.sensor_id}）自 {since} 无数据")
    elif alert.kind is AlertKind.AI_CAPTURE:
        lines.append(f"摄像头 {alert.camera_id} 抓拍 {alert.ai_type}，案件 {alert.case_id}")
    elif alert.kind is AlertKind.SUPERVISION:
        level = LEVELS.get(int(alert.action or 1), alert.action)
        lines.append(f"案件 {alert.case_id} 的{level}{SUPERVISION_STEP_ZH.get(alert.stage or '', '')}"
                     f"（回复时限 {alert.deadline}）")
    where = " / ".join(v for v in (fields.get("district"), alert.street, alert.grid) if v)
    if where:
        lines.append(f"位置：{where}")
    if fields.get("department"):
        lines.append(f"责任部门：{fields['department']}")
    lines.append(f"时间：{_local(alert.raised_ts, tz)}")
    lines.append(f"告警编号：{alert.id}")
    return Message("alert", title, tuple(lines), {"alert": alert.to_dict(), "fields": fields})


def sla_due_message(row: dict[str, Any], now_ts: float, tz: ZoneInfo) -> Message:
    """A case whose running SLA clock runs out soon (a row of ``read.sla_due``)."""
    minutes = max(0, round((float(row["due_ts"]) - now_ts) / 60))
    lines = [f"案件 {row['case_id']}（{row.get('category', '')}）将于 {_local(float(row['due_ts']), tz)} 超期，"
             f"剩余约 {minutes} 分钟",
             f"状态：{row.get('state', '')}  责任部门：{row.get('department', '')}",
             f"位置：{row.get('address') or row.get('grid', '')}"]
    data = {k: row.get(k) for k in ("case_id", "due_ts", "state", "category", "department", "district", "grid")}
    return Message("sla_due", "【即将超期】案件处置时限提醒", tuple(lines), data)


def briefing_message(figures: dict[str, Any], png: bytes) -> Message:
    """The briefing's headline figures as text (totals and rates against their targets) and its PNG."""
    lines = [f"{label}：{value}" for _key, label, value in figures.get("totals", [])]
    for rate in figures.get("rates", []):
        value, target = rate.get("value"), rate.get("target")
        if value is None:
            continue
        shown = f"{value:.1f}" if rate.get("key") == "score" else f"{value * 100:.1f}%"
        goal = f"{target:.1f}" if rate.get("key") == "score" else f"{target * 100:.0f}%"
        lines.append(f"{rate.get('label')}：{shown}（目标 {goal}）")
    title = f"{figures.get('city', '')}每日简报 {figures.get('day', '')}"
    data = {"day": figures.get("day"), "totals": figures.get("totals"), "rates": figures.get("rates")}
    return Message("briefing", title, tuple(lines), data, png)


def summary_message(route_id: str, window_s: float, subjects: list[dict[str, Any]]) -> Message:
    """One message for the alerts a flood window held back: how many, of which kinds and where."""
    by_kind: dict[str, int] = {}
    by_sensor: dict[str, int] = {}
    for s in subjects:
        by_kind[s.get("kind") or "?"] = by_kind.get(s.get("kind") or "?", 0) + 1
        if s.get("sensor_id"):
            by_sensor[s["sensor_id"]] = by_sensor.get(s["sensor_id"], 0) + 1
    lines = ["、".join(f"{KIND_ZH.get(AlertKind(k), k) if k in AlertKind._value2member_map_ else k} {n} 条"
                      for k, n in sorted(by_kind.items(), key=lambda kv: -kv[1]))]
    flapping = [f"{sid}（{n} 次）" for sid, n in sorted(by_sensor.items(), key=lambda kv: -kv[1]) if n > 1]
    if flapping:
        lines.append("反复告警的设备：" + "、".join(flapping[:10]))
    lines.append("详情请在值班台查看")
    title = f"【告警汇总】{round(window_s)} 秒内另有 {len(subjects)} 条告警"
    return Message("summary", title, tuple(lines), {"route": route_id, "count": len(subjects),
                                                    "ids": [s.get("id") for s in subjects][:200]})
