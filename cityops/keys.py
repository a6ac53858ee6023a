"""The Redis key layout of the read model: the only place that spells a Redis key.

Writers (the Faust agents) and readers (the console, the briefing, ``cityops snapshot``) both build
keys with these functions, so nobody else reads raw Redis keys. Every key starts with ``co:``.

| key | type | what | retention |
|---|---|---|---|
| ``co:signin:{hash}`` | string | failed console sign-ins of an account or client address | the lockout window |
| ``co:seen:{event_id}`` | string | an applied event id (dedupe of re-sent events) | 10 days (settings) |
| ``co:case:{case_id}`` | hash | current state of one case | 400 days after closing |
| ``co:case:{case_id}:timeline`` | list | the case's steps (lifecycle timeline), newest 100 | 400 days after closing |
| ``co:cases:open`` | geo set | positions of open located cases (hotspot map) | while open |
| ``co:cases:open:scores`` | string | the geo set's scores, comma-separated, rebuilt by the hotspot timer | 30 s |
| ``co:sla`` | sorted set | open cases by the deadline of their running SLA clock | while a clock runs |
| ``co:overdue:{scope}:{id}`` | sorted set | open cases past their deadline, score = weight | while overdue |
| ``co:kpi:d:{YYYYMMDD}:{scope}:{id}`` | hash | daily counters, field = metric | 400 days |
| ``co:kpi:h:{YYYYMMDDHH}:{scope}:{id}`` | hash | hourly counters, field = metric | 14 days |
| ``co:sensors`` | sorted set | every sensor by the time of its newest reading (the console's sensor layer) | live |
| ``co:sensor:{sensor_id}`` | hash | newest reading, rule state, its window buckets (``win_*``) | reporting + 7 d |
| ``co:alerts`` | stream | the alert feed of the duty console (SLA overdue, sensors, captures) | 50,000 entries |
| ``co:alert:{alert_id}`` | hash | one alert: type, severity, state (active/acknowledged/cleared), target | 400 days |
| ``co:alerts:active`` | sorted set | ids of alerts not yet cleared, by start time | while active |
| ``co:win:{m,q,h}:{sensor}:{bucket}`` | hash | 1-min, 15-min, hourly windows: n, sum (energy), max | 2 h to 14 d |
| ``co:sensors:seen`` | sorted set | when each sensor's data last *arrived* (wall clock), for offline alerts | live |
| ``co:camera:{id}:recent`` | hash | a camera's accepted captures today (to spot the same object again) | 1 day |
| ``co:outbox`` | stream | case events the processors derived (IoT, AI, commands), until applied | until applied |
| ``co:repeat:queue`` | stream | newly reported located cases waiting for the repeated-problem check | until checked |
| ``co:repeat:geo:{category}`` | geo set | positions of that category's recent reports | the repeat window (settings) |
| ``co:repeat:t:{category}`` | sorted set | report times of the same cases | the repeat window (settings) |
| ``co:repeats:d:{day}:{scope}:{id}`` | sorted set | repeated problems reported that day (score: report time) | 400 d |
| ``co:captures`` | stream | latest AI captures, newest last | capped at 10,000 entries |
| ``co:audit`` | stream | operator commands (who, when, what) | 400 days (``MINID``) |
| ``co:dlq:d:{YYYYMMDD}`` | hash | dead letters per day, field = ``topic:stage`` | 400 days |
| ``co:dlq:recent`` | stream | latest dead letters with their reasons | capped at 1,000 entries |
| ``co:meta:heartbeats:{group}`` | hash | each worker process's last beat (every 5 s) | pruned after 1 h |

Scopes of counters: ``city`` (id ``350200``), ``district``, ``street``, ``community``, ``grid``,
``department``, ``category``, ``source``.
"""

from __future__ import annotations

from datetime import datetime

PREFIX = "co"

DAY = 86_400
HOURLY_RETENTION_S = 14 * DAY
DAILY_RETENTION_S = 400 * DAY
CAPTURES_MAXLEN = 10_000
DLQ_RECENT_MAXLEN = 1_000

SCOPES = ("city", "district", "street", "community", "grid", "department", "category", "source")


def day_bucket(t: datetime) -> str:
    """Local day bucket ``YYYYMMDD``; ``t`` must already be in the city's time zone."""
    return t.strftime("%Y%m%d")


def hour_bucket(t: datetime) -> str:
    return t.strftime("%Y%m%d%H")


def seen(event_id: str) -> str:
    return f"{PREFIX}:seen:{event_id}"


def case(case_id: str) -> str:
    return f"{PREFIX}:case:{case_id}"


def case_timeline(case_id: str) -> str:
    return f"{PREFIX}:case:{case_id}:timeline"


def open_cases() -> str:
    return f"{PREFIX}:cases:open"


def open_cases_snapshot() -> str:
    """The open cases' geohash scores as one comma-separated string, refreshed by the workers' hotspot
    timer every few seconds (``streams/agents/hotspot_timer.py``) and read by the big screen."""
    return f"{PREFIX}:cases:open:scores"


def sla_clock() -> str:
    return f"{PREFIX}:sla"


def overdue(scope: str, scope_id: str) -> str:
    return f"{PREFIX}:overdue:{scope}:{scope_id}"


def kpi_daily(day: str, scope: str, scope_id: str) -> str:
    return f"{PREFIX}:kpi:d:{day}:{scope}:{scope_id}"


def kpi_hourly(hour: str, scope: str, scope_id: str) -> str:
    return f"{PREFIX}:kpi:h:{hour}:{scope}:{scope_id}"


def sensor(sensor_id: str) -> str:
    return f"{PREFIX}:sensor:{sensor_id}"


def sensors_index() -> str:
    return f"{PREFIX}:sensors"


ALERTS_MAXLEN = 50_000


def alerts() -> str:
    return f"{PREFIX}:alerts"


def alert(alert_id: str) -> str:
    return f"{PREFIX}:alert:{alert_id}"


def active_alerts() -> str:
    return f"{PREFIX}:alerts:active"


def sensor_window(resolution: str, sensor_id: str, bucket: str) -> str:
    """``resolution`` m (bucket = hour ``YYYYMMDDHH``), q or h (bucket = day ``YYYYMMDD``)."""
    return f"{PREFIX}:win:{resolution}:{sensor_id}:{bucket}"


def sensors_seen() -> str:
    return f"{PREFIX}:sensors:seen"


def camera_recent(camera_id: str) -> str:
    """Accepted captures of one camera today (id → ai_type, box, time), to recognise an object seen again."""
    return f"{PREFIX}:camera:{camera_id}:recent"


def outbox() -> str:
    return f"{PREFIX}:outbox"


def repeat_queue() -> str:
    return f"{PREFIX}:repeat:queue"


def repeat_geo(category: str) -> str:
    return f"{PREFIX}:repeat:geo:{category}"


def repeat_times(category: str) -> str:
    return f"{PREFIX}:repeat:t:{category}"


def repeats_daily(day: str, scope: str, scope_id: str) -> str:
    """Repeated problems (same category within R metres within N days of an earlier one) reported on ``day``."""
    return f"{PREFIX}:repeats:d:{day}:{scope}:{scope_id}"


REPEAT_SCOPES = ("city", "district", "street", "category")


def captures() -> str:
    return f"{PREFIX}:captures"


def audit() -> str:
    return f"{PREFIX}:audit"


def dlq_daily(day: str) -> str:
    return f"{PREFIX}:dlq:d:{day}"


def dlq_recent() -> str:
    return f"{PREFIX}:dlq:recent"


def signin_failures(subject: str) -> str:
    """Failed console sign-ins of one account or client address (``subject`` is already hashed)."""
    return f"{PREFIX}:signin:{subject}"


def heartbeats(group: str) -> str:
    """One field per worker process of a consumer group (``host:pid``): when it last said it was alive."""
    return f"{PREFIX}:meta:heartbeats:{group}"
