"""Device offline: a sensor whose data has not arrived for 3× its reporting interval raises an alert.

Arrival times (wall clock) are kept in ``co:sensors:seen`` by the sensor agent. Every 10 s each worker
looks for silent sensors and raises each one's offline alert in a Lua script that first checks the
sensor is still silent and has no offline alert yet, so concurrent workers raise it once. The next
reading from the sensor clears it (:mod:`streams.sensor_projection`).
"""

from __future__ import annotations

import time

import orjson

from cityops import keys
from streams import runtime
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app

SILENT_INTERVALS = 3

_RAISE_OFFLINE = """
local seen = redis.call('ZSCORE', KEYS[2], ARGV[1])
if (not seen) or tonumber(seen) ~= tonumber(ARGV[2]) then return 0 end
local current = redis.call('HGET', KEYS[1], 'offline_alert')
if current and current ~= '' then return 0 end
redis.call('HSET', KEYS[1], 'offline_alert', ARGV[3], 'offline', '1')
redis.call('HSET', KEYS[3], 'id', ARGV[3], 'type', 'device_offline', 'severity', 'minor', 'state', 'active',
           'sensor_id', ARGV[1], 'since', ARGV[2], 'acknowledged', '0')
redis.call('EXPIRE', KEYS[3], 34560000)
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[3])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', 'json', ARGV[5])
return 1
"""


async def raise_offline(now: float | None = None) -> int:
    r = runtime.redis()
    now = time.time() if now is None else now
    sensors = runtime.sensor_context().sensors
    shortest = min((s.interval_s for s in sensors.values()), default=60)
    silent = await r.zrangebyscore(keys.sensors_seen(), "-inf", now - SILENT_INTERVALS * shortest, withscores=True)
    raised = 0
    script = r.register_script(_RAISE_OFFLINE)
    for sensor_id, seen in silent:
        sensor = sensors.get(sensor_id)
        interval = sensor.interval_s if sensor else shortest
        if seen > now - SILENT_INTERVALS * interval:
            continue
        alert_id = f"offline:{sensor_id}:{int(seen)}"
        record = {"id": alert_id, "type": "device_offline", "severity": "minor", "state": "active",
                  "sensor_id": sensor_id, "silent_since": seen, "name_zh": sensor.name_zh if sensor else sensor_id,
                  "grid": sensor.grid_code if sensor else "", "lon": sensor.lon if sensor else None,
                  "lat": sensor.lat if sensor else None, "at": now}
        raised += int(await script(
            keys=[keys.sensor(sensor_id), keys.sensors_seen(), keys.alert(alert_id), keys.active_alerts(),
                  keys.alerts()],
            args=[sensor_id, repr(seen), alert_id, keys.ALERTS_MAXLEN, orjson.dumps(record).decode()]))
    return raised


@app.timer(interval=10.0)
async def offline_timer() -> None:
    await skip_tick_if_unavailable(raise_offline, "offline timer")
