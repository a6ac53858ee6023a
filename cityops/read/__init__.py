"""Read API of the Redis read model: the query functions the console and the briefing use.

Readers never spell Redis keys themselves: they call these functions (``from cityops import read;
read.kpis(...)``), which use :mod:`cityops.keys`. One module per kind of read: :mod:`.kpis`,
:mod:`.alerts`, :mod:`.sensors`, :mod:`.hotspots`, :mod:`.cases`, :mod:`.workers`,
:mod:`.cameras`. A member whose key
has the wrong type or whose data does not parse is left out with a log line (:mod:`.replies`): one bad
member never fails a whole list.
"""

from cityops.read.alerts import (
    ALERT_CASE_FIELDS,
    alert_feed,
    alert_state,
    alerts_current,
    alerts_of_day,
    sla_due,
)
from cityops.read.cameras import CameraHealth, camera_health, capture_counts, captures_today
from cityops.read.captures import ReviewQueue, ReviewStats, capture_review, dispatch_lags, review_queue, review_stats
from cityops.read.cases import (
    audit_trail,
    case,
    case_timeline,
    overdue_cases,
    recent_captures,
    recent_dead_letters,
    repeated_problems,
)
from cityops.read.connection import connect
from cityops.read.hotspots import MAX_HOTSPOT_POSITIONS, open_case_lonlat, open_case_positions
from cityops.read.kpis import (
    counters_until,
    day_counters,
    day_counters_many,
    day_metric_many,
    hourly_counters,
    hourly_metric,
    kpis,
    kpis_many,
    kpis_until,
    overdue_open,
    ranking,
)
from cityops.read.sensors import SENSOR_STATE_FIELDS, SensorState, latest_sensors, sensor_overview, sensor_states
from cityops.read.workers import WorkersAlive, workers_alive

__all__ = [
    "ReviewQueue", "ReviewStats", "capture_review", "dispatch_lags", "review_queue", "review_stats",
    "ALERT_CASE_FIELDS", "MAX_HOTSPOT_POSITIONS", "SENSOR_STATE_FIELDS", "CameraHealth", "SensorState", "WorkersAlive",
    "camera_health", "capture_counts", "captures_today",
    "alert_feed", "alert_state", "alerts_current", "alerts_of_day", "audit_trail", "case",
    "case_timeline", "connect", "counters_until", "day_counters", "day_counters_many", "day_metric_many",
    "hourly_counters", "hourly_metric", "kpis", "kpis_many", "kpis_until", "latest_sensors", "open_case_lonlat",
    "open_case_positions", "overdue_cases", "overdue_open", "ranking", "recent_captures", "recent_dead_letters",
    "repeated_problems", "sensor_overview", "sensor_states", "sla_due", "workers_alive",
]
