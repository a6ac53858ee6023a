"""Alert reads: the feed, the alerts of a day, the duty console's current alerts, SLA countdowns, one alert."""

from __future__ import annotations

from datetime import datetime, timedelta

from redis import Redis

from cityops import bad_member, keys
from cityops.alerts import Alert, AlertKind, kind_of_id
from cityops.read.replies import json_entries, replies


def alert_feed(r: Redis, count: int = 100) -> list[Alert]:
    """The newest alerts first."""
    return [alert for _id, alert in _alerts(r, count)]


def alerts_of_day(r: Redis, day: datetime, count: int = keys.ALERTS_MAXLEN) -> list[Alert]:
    """Alerts of the feed raised (``at``) on ``day`` (local), oldest first. Reads at most ``count`` newest entries
    of the feed, so a day older than the feed holds is partial."""
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    lo, hi = start.timestamp(), (start + timedelta(days=1)).timestamp()
    return [alert for _id, alert in reversed(_alerts(r, count))
            if alert.raised_ts is not None and lo <= alert.raised_ts < hi]


def _alerts(r: Redis, count: int) -> list[tuple[str, Alert]]:
    """(entry id, alert) of the newest ``count`` feed entries, newest first; an entry that is no alert is left
    out, logged once."""
    out = []
    for entry_id, value in json_entries(r.xrevrange(keys.alerts(), count=count), "alert feed"):
        try:
            out.append((entry_id, Alert.from_json(value)))
        except ValueError as err:
            bad_member.skip("alert feed", entry_id, f"entry is no alert: {err}")
    return out


ALERT_CASE_FIELDS = ("state", "acknowledged", "acknowledged_by", "escalated", "escalated_by", "department",
                     "district", "street", "grid", "category")


def alerts_current(r: Redis, count: int = 300, active_beyond: int = 200) -> list[dict]:
    """The alerts of the newest ``count`` feed entries, one row per alert, newest first, in their state now,
    and the alerts still active that were raised before them.

    The feed is an append-only stream (raised, cleared, commands); the duty console needs each alert
    once, with what happened to it since: entries of one id are merged oldest to newest, then the
    alert's hash (``co:alert:{id}``, changed by commands) wins. Alerts that have no hash (AI captures)
    take acknowledgement and escalation from their case. Command echoes (type ``command``) are left
    out; ``feed_ts`` is when the newest entry arrived (epoch seconds).

    ``at`` is when the alert was raised (epoch seconds; None when nothing says), whatever the entries that
    cleared it or the form it was stored in.

    Why the active ones beyond the window: a flood of newer entries (a gateway outage taking hundreds
    of sensors offline at once) would otherwise push an overdue case's alert out of the window and off
    the officer's screen while it is still open. The newest ``active_beyond`` active alerts other than
    device-offline ones are added from their hashes, with ``feed_ts`` when they were raised.
    """
    merged: dict[str, dict] = {}
    raised: dict[str, float | None] = {}
    for entry_id, alert in reversed(_alerts(r, count)):
        if alert.kind is AlertKind.COMMAND:
            continue
        row = merged.setdefault(alert.id, {})
        kind = row.get("type")
        row.update(_row_fields(alert))
        if alert.kind.clears:
            if kind:
                row["type"] = kind  # a clearing entry keeps the type it was raised with
        else:
            raised[alert.id] = alert.raised_ts
        row["feed_ts"] = int(entry_id.split("-", 1)[0]) / 1000.0
    older = [(alert_id, score) for alert_id, score in r.zrevrange(keys.active_alerts(), 0, -1, withscores=True)
             if alert_id not in merged and kind_of_id(alert_id) is not AlertKind.DEVICE_OFFLINE][:active_beyond]
    if older:
        pipe = r.pipeline(transaction=False)
        for alert_id, _ in older:
            pipe.hgetall(keys.alert(alert_id))
        for (alert_id, score), state in zip(older, replies(pipe, [a for a, _ in older], "active alerts"),
                                            strict=True):
            if state:  # an alert whose hash has expired has nothing left to show
                try:
                    raised[alert_id] = Alert.from_hash(state, alert_id, raised=score).raised_ts
                except ValueError as err:
                    bad_member.skip("active alerts", alert_id, f"hash is no alert: {err}")
                    continue
                merged[alert_id] = state | {"id": alert_id, "feed_ts": score}
    rows = sorted(merged.values(), key=lambda a: a["feed_ts"], reverse=True)
    pipe = r.pipeline(transaction=False)
    for row in rows:
        pipe.hgetall(keys.alert(row["id"]))
        if row.get("case_id"):
            pipe.hmget(keys.case(row["case_id"]), ALERT_CASE_FIELDS)
        else:
            pipe.echo("")  # keeps the replies two per row
    raw = replies(pipe, [m for row in rows for m in (row["id"], row.get("case_id") or "")], "current alerts")
    for i, row in enumerate(rows):
        state, case_fields = raw[2 * i] or {}, raw[2 * i + 1]
        row["has_hash"] = bool(state)
        row.update(state)
        if isinstance(case_fields, list):
            case = {k: v for k, v in zip(ALERT_CASE_FIELDS, case_fields, strict=True) if v is not None}
            row["case_state"] = case.get("state", "")
            for k in ("district", "street", "grid", "category", "department"):
                if not row.get(k) and case.get(k):
                    row[k] = case[k]
            if not state:
                if case.get("acknowledged") == "1":
                    row.update(acknowledged="1", acknowledged_by=case.get("acknowledged_by", ""))
                if case.get("escalated") == "1":
                    row.update(escalated="1", severity="critical")
                if case.get("state") in ("voided", "closed", "rejected"):
                    row["state"] = "cleared"
        if row.get("state") == "active" and str(row.get("acknowledged", "0")) == "1":
            row["state"] = "acknowledged"
        row["at"] = raised.get(row["id"])
    return rows


def _row_fields(alert: Alert) -> dict[str, object]:
    """An alert's feed entry as a row's fields, in today's form whatever form it was stored in."""
    return {k: v for k, v in alert.to_dict().items() if v is not None}


def sla_due(r: Redis, now_ts: float, within_s: float, limit: int = 50) -> list[dict]:
    """Open cases whose running SLA clock runs out in the next ``within_s`` seconds, soonest first, each
    with ``due_ts`` (epoch seconds): the duty console's about-to-breach countdowns."""
    due = r.zrangebyscore(keys.sla_clock(), now_ts, now_ts + within_s, start=0, num=limit, withscores=True)
    pipe = r.pipeline(transaction=False)
    for case_id, _ in due:
        pipe.hgetall(keys.case(case_id))
    return [{"case_id": cid, "due_ts": score, **data}
            for (cid, score), data in zip(due, replies(pipe, [cid for cid, _ in due], "SLA due"), strict=True)
            if data]


def alert_state(r: Redis, alert_id: str) -> dict[str, str]:
    """One alert's current hash (empty for alerts kept only in the feed, such as AI captures)."""
    return r.hgetall(keys.alert(alert_id))
