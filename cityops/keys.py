"""The Redis key layout of the read model: the only place that spells a Redis key.

Writers (the Faust agents) and readers (the console, the briefing, ``cityops snapshot``) both build
keys with these functions, so nobody else reads raw Redis keys. Every key starts with ``co:``.

Why a layout rule: ids may contain ``:`` (``schemas.Id``), so a key that puts an id before more text
could be another family's key (case ``X1:timeline``'s hash was once case ``X1``'s timeline). No two
keys collide for valid arguments because:

- every family (each public function below that spells a key) has its own fixed prefix, and the
  prefixes are prefix-free: no family's prefix starts another's (a constant key is its own prefix;
  constants are only distinct, ``co:alerts`` and ``co:alerts:active`` are two keys);
- in a key at most one part may contain ``:``, and it comes last; every other part has a fixed format
  with no ``:`` (``FORMATS``: day and hour buckets, a scope of ``SCOPES``, a window resolution).

``families()`` finds the families and refuses a layout that breaks the rule; ``parse`` turns a key back
into its family and arguments (chaos judge, benches); ``tests/unit/test_keys.py`` proves both over arbitrary
ids, and that this table lists every family.

| key | type | what | retention |
|---|---|---|---|
| ``co:signin:{hash}`` | string | failed console sign-ins of an account or client address | the lockout window |
| ``co:seen:{event_id}`` | string | an applied event id (dedupe of re-sent events) | 10 days (settings) |
| ``co:case:{case_id}`` | hash | current state of one case | 400 days after closing |
| ``co:timeline:{case_id}`` | list | the case's steps (lifecycle timeline), newest 100 | 400 days after closing |
| ``co:cases:open`` | geo set | positions of open located cases (hotspot map) | while open |
| ``co:cases:open:scores`` | string | the geo set's scores, comma-separated, rebuilt by the hotspot timer | 30 s |
| ``co:sla`` | sorted set | open cases by the deadline of their running SLA clock | while a clock runs |
| ``co:stream_clock`` | hash | per case-topic partition: newest event time read, when, whether behind | live |
| ``co:cases:laststep`` | sorted set | open cases by the time of their latest step (stale-case expiry) | while open |
| ``co:cases:d:{day}:{scope}:{id}`` | sorted set | cases reported that day, by report time (search) | 400 d |
| ``co:overdue:{scope}:{id}`` | sorted set | open cases past their deadline, score = weight | while overdue |
| ``co:kpi:d:{YYYYMMDD}:{scope}:{id}`` | hash | daily counters, field = metric (``expired``: stale cases) | 400 days |
| ``co:kpi:h:{YYYYMMDDHH}:{scope}:{id}`` | hash | hourly counters, field = metric | 14 days |
| ``co:cohort:{YYYYMMDD}:{scope}:{id}`` | hash | KPI cohort: ``{milestone}@{day}`` counts | 400 days |
| ``co:sup:d:{YYYYMMDD}:{scope}:{id}`` | hash | 督办 received that day (``received``): district, street, dept. | 400 d |
| ``co:sup:order:{case_id}`` | hash | the case's 督办单: level, raised by, reply deadline, reminded, reply | 400 days |
| ``co:sup:open`` | sorted set | open 督办单 (case ids) by reply deadline | while open |
| ``co:sup:next`` | sorted set | open 督办单 by the supervision timer's next look (reminder, deadline) | while open |
| ``co:dept:queue:{department}`` | sorted set | cases the department has to handle now, by deadline | while queued |
| ``co:insp:d:{YYYYMMDD}:{scope}:{id}`` | hash | 督查发现 that day (``count``, ``points``): street, dept. | 400 d |
| ``co:sensors`` | sorted set | every sensor by the time of its newest reading (the console's sensor layer) | live |
| ``co:sensor:{sensor_id}`` | hash | newest reading, rule state, its window buckets (``win_*``) | reporting + 7 d |
| ``co:alerts`` | stream | the alert feed of the duty console (SLA overdue, sensors, captures) | 50,000 entries |
| ``co:alert:{alert_id}`` | hash | one alert: type, severity, state (active/acknowledged/cleared), target | 400 days |
| ``co:alerts:active`` | sorted set | ids of alerts not yet cleared, by start time | while active |
| ``co:win:{m,q,h}:{bucket}:{sensor_id}`` | hash | 1-min, 15-min, hourly windows: n, sum (energy), max | 2 h to 14 d |
| ``co:sensors:seen`` | sorted set | each sensor's newest envelope's *publish* time (topic), for offline alerts | live |
| ``co:camrecent:{camera_id}`` | hash | a camera's accepted captures today (to spot the same object again) | 1 day |
| ``co:camstatus:{camera_id}`` | hash | a camera's latest health (``at``; ``json``: its ``CameraStatus``) | 7 days |
| ``co:outbox`` | stream | case events the processors derived (IoT, AI, commands), until applied | until applied |
| ``co:repeat:queue`` | stream | newly reported located cases waiting for the repeated-problem check | until checked |
| ``co:repeat:geo:{category}`` | geo set | positions of that category's recent reports | the repeat window (settings) |
| ``co:repeat:t:{category}`` | sorted set | report times of the same cases | the repeat window (settings) |
| ``co:repeats:d:{day}:{scope}:{id}`` | sorted set | repeated problems reported that day (score: report time) | 400 d |
| ``co:captures`` | stream | latest AI captures, newest last | capped at 10,000 entries |
| ``co:capqueue:h:{hour}`` | sorted set | captures queued for review that hour, by last_seen | review window + 1 h |
| ``co:capreview:{event_id}`` | hash | one capture's review record: what the reviewer sees, status | review window |
| ``co:capstats:d:{day}`` | hash | captures queued, confirmed, false alarms per camera and per type | 400 days |
| ``co:caplag:d:{day}`` | list | capture → dispatch seconds of the cases dispatched that day | newest 5,000 |
| ``co:audit`` | stream | operator commands (who, when, what) | 400 days (``MINID``), at most ~2,000,000 entries |
| ``co:dlq:d:{YYYYMMDD}`` | hash | dead letters per day, field = ``topic:stage`` | 400 days |
| ``co:dlq:recent`` | stream | latest dead letters with their reasons | capped at 1,000 entries |
| ``co:dlq:h:{YYYYMMDDHH}`` | hash | per hour, field = ``topic:stage:reason class`` (死信 page) | 14 days |
| ``co:meta:heartbeats:{group}`` | hash | each worker process's last beat (every 5 s) | pruned after 1 h |
| ``co:unkdev:gateways`` | sorted set | registered gateways with readings of unknown devices, by last arrival | live |
| ``co:unkdev:strangers`` | sorted set | unregistered gateway ids that did, by last arrival | newest 1,000 |
| ``co:unkdev:d:{day}`` | hash | readings of unknown devices that arrived that day, field = gateway id | 30 days |
| ``co:unkdev:ids:{gateway_id}`` | sorted set | a gateway's unknown device ids by last arrival | newest 200, 30 days |
| ``co:unkdev:n:{gateway_id}`` | hash | readings per unknown device id of those 200 | 30 days |
| ``co:notify:msg:{message_id}`` | hash | one notification to one channel: state, attempts, last error, body | 30 days |
| ``co:notify:due`` | sorted set | notifications waiting to be sent, by when the next attempt is due | until sent |
| ``co:notify:log`` | sorted set | every notification by when it was raised (the admin page) | newest 5,000 |
| ``co:notify:held`` | sorted set | alerts held back by a flood window, by when the window closes | until summarised |
| ``co:notify:cursor`` | hash | the notify process's checkpoint: the last alert-feed entry it routed | live |

The ``co:notify:*`` keys have one writer, the notify process (``python -m cityops notify``, package ``notify``);
the admin page reads them (``cityops/read/notifications.py``). Nothing else writes them.

Scopes of counters: ``city`` (id ``350200``), ``district``, ``street``, ``community``, ``grid``,
``department``, ``category``, ``source``. Alert ids are ``{kind}:{id}:{fixed parts}`` (``sla:{case}:{stage}:{ts}``,
``sensor:{sensor}:{episode}``, ``offline:{sensor}:{ts}``, ``capture:{event}``, ``command:{command}``): a
different kind starts differently, and the parts after the id have no ``:``.
"""

from __future__ import annotations

import inspect
import re
import sys
from datetime import datetime
from functools import cache

PREFIX = "co"

DAY = 86_400
HOURLY_RETENTION_S = 14 * DAY
DAILY_RETENTION_S = 400 * DAY
CAPTURES_MAXLEN = 10_000
AUDIT_RETENTION_S = 400 * DAY  # the audit trail keeps 400 days of records ...
AUDIT_MAXLEN = 2_000_000  # ... and at most this many, so a flood of commands or sign-ins cannot grow it without bound
DLQ_RECENT_MAXLEN = 1_000

# "centre": the command centre (监督指挥中心), owner of the 受理/立案/派遣/核查/结案 stages; its id is the city code.
SCOPES = ("city", "district", "street", "community", "grid", "department", "category", "source", "centre")


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
    return f"{PREFIX}:timeline:{case_id}"


def open_cases() -> str:
    return f"{PREFIX}:cases:open"


def open_cases_snapshot() -> str:
    """The open cases' geohash scores as one comma-separated string, refreshed by the workers' hotspot
    timer every few seconds (``streams/agents/hotspot_timer.py``) and read by the big screen."""
    return f"{PREFIX}:cases:open:scores"


def sla_clock() -> str:
    return f"{PREFIX}:sla"


def stream_clock() -> str:
    """Per partition of the case topic, the newest event time read and when (``cityops/stream_clock.py``): the
    time the SLA timer judges deadlines against."""
    return f"{PREFIX}:stream_clock"


def open_cases_by_step() -> str:
    """Open cases by the event time of their latest step: the stale-case timer expires the oldest
    (``streams/agents/stale_cases.py``)."""
    return f"{PREFIX}:cases:laststep"


def cases_by_day(day: str, scope: str, scope_id: str) -> str:
    """Cases reported on ``day`` in one scope (of ``CASE_SEARCH_SCOPES``), by report time: the case search's index
    (``cityops/read/case_search.py``), so a search by date and place or category never reads every case."""
    return f"{PREFIX}:cases:d:{day}:{scope}:{scope_id}"


# No grid or community index: most grid-days hold one case, so their keys would cost more than the cases (a search
# by grid or community reads its street's day and checks the case's own grid / community).
CASE_SEARCH_SCOPES = ("city", "district", "street", "category", "source")


def overdue(scope: str, scope_id: str) -> str:
    return f"{PREFIX}:overdue:{scope}:{scope_id}"


def kpi_daily(day: str, scope: str, scope_id: str) -> str:
    return f"{PREFIX}:kpi:d:{day}:{scope}:{scope_id}"


def kpi_hourly(hour: str, scope: str, scope_id: str) -> str:
    return f"{PREFIX}:kpi:h:{hour}:{scope}:{scope_id}"


def cohort(day: str, scope: str, scope_id: str) -> str:
    """The cases of one scope registered on ``day``: per milestone and the day it was reached, how many
    (``closed@20261203``); a period's KPIs add up its days' fields dated up to its end (docs/metrics.md)."""
    return f"{PREFIX}:cohort:{day}:{scope}:{scope_id}"


def supervision_daily(day: str, scope: str, scope_id: str) -> str:
    """督办 of one local day against one unit (``received``: the cases first put under 督办 that day), read by
    the 考核 and the period 通报 (``cityops/read/supervision.py``); kept as long as the cohorts."""
    return f"{PREFIX}:sup:d:{day}:{scope}:{scope_id}"


def supervision_order(case_id: str) -> str:
    """The 督办单 of one case (``cityops/supervision_orders.Order``): raised by a 督办 command, reminded and
    escalated by the supervision timer, closed by the department's reply; kept as long as a closed case."""
    return f"{PREFIX}:sup:order:{case_id}"


def supervision_open() -> str:
    """Open 督办单 by their reply deadline: the duty console's and the department's lists."""
    return f"{PREFIX}:sup:open"


def supervision_due() -> str:
    """Open 督办单 by when the supervision timer looks at them next (a reminder, or the deadline)."""
    return f"{PREFIX}:sup:next"


def department_queue(department: str) -> str:
    """The cases a department has to handle now (dispatched or sent back to it), by their handling deadline:
    the department's own queue (``streams/case_projection.py`` keeps it)."""
    return f"{PREFIX}:dept:queue:{department}"


def findings_daily(day: str, scope: str, scope_id: str) -> str:
    """督查发现 of one local day against one street or department: ``count`` and ``points`` (their sum, signed),
    read by the 考核 (``cityops/read/supervision.py``); kept as long as the cohorts."""
    return f"{PREFIX}:insp:d:{day}:{scope}:{scope_id}"


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
    """``resolution`` m (bucket = hour ``YYYYMMDDHH``), q or h (bucket = day ``YYYYMMDD``); the sensor id
    comes last because it is the one part that may hold ``:``."""
    return f"{PREFIX}:win:{resolution}:{bucket}:{sensor_id}"


def sensors_seen() -> str:
    return f"{PREFIX}:sensors:seen"


def camera_recent(camera_id: str) -> str:
    """Accepted captures of one camera today (id → ai_type, box, time), to recognise an object seen again."""
    return f"{PREFIX}:camrecent:{camera_id}"


CAMERA_STATUS_RETENTION_S = 7 * DAY  # a camera silent for a week (taken down) drops out of the health page


def camera_status(camera_id: str) -> str:
    """A camera's latest health as its detector process last sent it (``streams/agents/camera_status.py``)."""
    return f"{PREFIX}:camstatus:{camera_id}"


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


CAPTURE_LAG_CAP = 5_000  # samples of capture → dispatch time kept per day (median, p90 need no more)


def capture_queue(hour: str) -> str:
    """Captures queued for review in one local hour (``YYYYMMDDHH``), by last_seen: hourly so that the queue
    expires by itself (no timer removes what nobody reviewed)."""
    return f"{PREFIX}:capqueue:h:{hour}"


def capture_review(event_id: str) -> str:
    """A capture that waits for (or had) a duty officer's review: its record, status and decision."""
    return f"{PREFIX}:capreview:{event_id}"


def capture_stats_daily(day: str) -> str:
    """Reviews of one local day: ``queued``, ``confirmed``, ``false_alarm``, ``auto`` and per camera and type
    (``reviewed:camera:{id}``, ``false_alarm:type:{ai_type}``, ...), the false-alarm rates' inputs."""
    return f"{PREFIX}:capstats:d:{day}"


def capture_lag_daily(day: str) -> str:
    """Capture → dispatch seconds of the AI cases dispatched that local day (newest ``CAPTURE_LAG_CAP``)."""
    return f"{PREFIX}:caplag:d:{day}"


def audit() -> str:
    return f"{PREFIX}:audit"


def dlq_daily(day: str) -> str:
    return f"{PREFIX}:dlq:d:{day}"


def dlq_recent() -> str:
    return f"{PREFIX}:dlq:recent"


def dlq_hourly(hour: str) -> str:
    """Dead letters per local hour by topic, stage and reason class (``streams/deadletter.reason_class``)."""
    return f"{PREFIX}:dlq:h:{hour}"


def signin_failures(subject: str) -> str:
    """Failed console sign-ins of one account or client address (``subject`` is already hashed)."""
    return f"{PREFIX}:signin:{subject}"


UNKNOWN_DEVICES_RETENTION_S = 30 * DAY  # the admin page's total counts the days kept
UNKNOWN_DEVICE_IDS_CAP = 200  # unknown device ids kept per gateway (newest by arrival)
UNKNOWN_GATEWAYS_CAP = 1_000  # unregistered gateway ids tracked (newest by arrival): a spray of ids stays bounded


def unknown_device_gateways() -> str:
    """Registered gateways that sent readings of devices the registry does not know, by last arrival."""
    return f"{PREFIX}:unkdev:gateways"


def unknown_device_strangers() -> str:
    """Gateway ids not in the registry that sent such readings: capped, and one dropped loses its keys and today's
    count with it, so a spray of ids cannot grow Redis."""
    return f"{PREFIX}:unkdev:strangers"


def unknown_devices_daily(day: str) -> str:
    """Readings of unknown devices that arrived on ``day``, per gateway id."""
    return f"{PREFIX}:unkdev:d:{day}"


def unknown_device_ids(gateway_id: str) -> str:
    """A gateway's unknown device ids by last arrival (the newest ``UNKNOWN_DEVICE_IDS_CAP``)."""
    return f"{PREFIX}:unkdev:ids:{gateway_id}"


def unknown_device_counts(gateway_id: str) -> str:
    """Readings per unknown device id of one gateway (the ids of ``unknown_device_ids``)."""
    return f"{PREFIX}:unkdev:n:{gateway_id}"


NOTIFY_RETENTION_S = 30 * DAY
NOTIFY_LOG_CAP = 5_000


def notification(message_id: str) -> str:
    """One (alert or report, route, channel) notification; its id is ``{route}:{channel}:{subject}``."""
    return f"{PREFIX}:notify:msg:{message_id}"


def notifications_due() -> str:
    return f"{PREFIX}:notify:due"


def notifications_log() -> str:
    return f"{PREFIX}:notify:log"


def notifications_held() -> str:
    return f"{PREFIX}:notify:held"


def notify_cursor() -> str:
    return f"{PREFIX}:notify:cursor"


def heartbeats(group: str) -> str:
    """One field per worker process of a consumer group (``host:pid``): when it last said it was alive."""
    return f"{PREFIX}:meta:heartbeats:{group}"


# The fixed format of every key part that is not last (see the module docstring), by parameter name.
FORMATS: dict[str, re.Pattern[str]] = {
    "day": re.compile("[0-9]{8}"), "hour": re.compile("[0-9]{10}"), "bucket": re.compile("[0-9]{8}|[0-9]{10}"),
    "resolution": re.compile("[mqh]"), "scope": re.compile("|".join(SCOPES)),
}
# Public functions of ``str`` arguments that read a key instead of spelling one.
_KEY_READERS = frozenset({"window_period"})


def window_period(window_key: str) -> str:
    """The hour or day bucket of a ``sensor_window`` key, without ``parse``: the sensor hot path reads it."""
    return window_key.split(":", 4)[3]


@cache
def families() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every key family, found by looking (each public function here of ``str`` arguments that returns ``str``)
    → its fixed prefix and the parts after it, in key order; a family that breaks the layout rule raises.

    Why found and not listed: a family added later is checked, parsed and tested without anyone remembering to.
    """
    module = sys.modules[__name__]
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for name, fn in vars(module).items():
        if name.startswith("_") or name in _KEY_READERS or not inspect.isfunction(fn) or fn.__module__ != __name__:
            continue
        hints = inspect.get_annotations(fn)
        params = list(inspect.signature(fn).parameters)
        if hints.get("return") not in ("str", str) or any(hints.get(p) not in ("str", str) for p in params):
            continue
        template = fn(*(f"{{{p}}}" for p in params))
        parts = tuple(re.findall(r"\{(\w+)\}", template))
        prefix = template.split("{", 1)[0]
        if not prefix.startswith(f"{PREFIX}:") or sorted(parts) != sorted(params) \
                or template != prefix + ":".join(f"{{{p}}}" for p in parts):
            raise ValueError(f"key family {name} ({template}): parts must follow its prefix, joined by ':'")
        if any(p not in FORMATS for p in parts[:-1]) or (parts and not prefix.endswith(":")):
            raise ValueError(f"key family {name} ({template}): only its last part may be free (may hold ':')")
        found[name] = (prefix, parts)
    for name, (prefix, parts) in found.items():
        for other, (other_prefix, _) in found.items():
            clash = other_prefix == prefix or (parts and other_prefix.startswith(prefix))
            if other != name and clash:
                raise ValueError(f"key families {name} and {other} could collide: {prefix!r} starts {other_prefix!r}")
    return found


def parse(key: str) -> tuple[str, dict[str, str]] | None:
    """The family (its function's name) and arguments that spell ``key``, or None for no read-model key.

    Why: tools that scan Redis (the chaos judge, the memory benches) classify keys without guessing at strings.
    """
    for name, (prefix, parts) in families().items():
        if not parts:
            if key == prefix:
                return name, {}
            continue
        if not key.startswith(prefix):
            continue
        values = key[len(prefix):].split(":", len(parts) - 1)  # prefix-free: no other family can match
        if len(values) != len(parts):
            return None
        if any(not FORMATS[p].fullmatch(v) for p, v in zip(parts[:-1], values[:-1], strict=True)):
            return None
        return name, dict(zip(parts, values, strict=True))
    return None


def family_of(key: str) -> str | None:
    """The family of ``key`` (``case_timeline`` for ``co:timeline:X1``), None for no read-model key."""
    parsed = parse(key)
    return parsed[0] if parsed else None
