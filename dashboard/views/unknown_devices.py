"""The admin page's 未登记设备 table: one row per gateway with its unknown-device counts and latest ids.

Device and gateway ids come from the field (anyone can send any): they stay table data, never markup."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from cityops.read.unknown_devices import GatewayUnknowns
from dashboard.i18n import t


def unknown_devices_rows(gateways: list[GatewayUnknowns], tz: ZoneInfo, lg: str) -> list[dict[str, object]]:
    """Rows for a dataframe, newest gateway first: gateway (marked when unregistered), today, total, latest ids."""
    rows = []
    for g in gateways:
        ids = ", ".join(f"{d.device_id} ({_local(d.last_seen, tz)}, {d.readings})" for d in g.devices)
        rows.append({t("gateway", lg): g.gateway_id + ("" if g.registered else t("gateway_unregistered", lg)),
                     t("unknown_today", lg): g.today, t("unknown_total", lg): g.total,
                     t("last_seen", lg): _local(g.last_seen, tz), t("unknown_ids", lg): ids})
    return rows


def _local(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%m-%d %H:%M:%S")
