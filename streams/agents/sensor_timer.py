"""Device offline: a sensor whose data has not arrived for 3× its reporting interval raises an alert.

Arrival times (wall clock) are kept in ``co:sensors:seen`` by the sensor agent. Every 10 s each worker
looks for silent sensors and raises each one's offline alert in a Lua script that first checks the
sensor is still silent and has no offline alert yet, so concurrent workers raise it once. The next
reading from the sensor clears it (:mod:`streams.sensor_projection`).
"""

from __future__ import annotations

import time

import orjson
from redis.exceptions import ResponseError

from cityops import bad_member, keys
from streams import runtime
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app
from streams.effects import SERVER_CONDITIONS

SILENT_INTERVALS = 3

_RAISE_OFFLINE = """
local function bad(k, want) local t = redis.call('TYPE', k)['ok']; return t ~= 'none' and t ~= want end
if bad(KEYS[1], 'hash') or bad(KEYS[2], 'zset') or bad(KEYS[3], 'hash') or bad(KEYS[4], 'zset')
   or bad(KEYS[5], 'stream') then
  return redis.error_reply('WRONGTYPE a key of the sensor or its alert has the wrong type')
end
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
    """Raise the offline alert of each sensor silent for too long; returns how many were raised. A sensor whose
    keys cannot take it is skipped with a log line."""
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
        try:
            raised += int(await script(
                keys=[keys.sensor(sensor_id), keys.sensors_seen(), keys.alert(alert_id), keys.active_alerts(),
                      keys.alerts()],
                args=[sensor_id, repr(seen), alert_id, keys.ALERTS_MAXLEN, orjson.dumps(record).decode()]))
        except ResponseError as err:  # this sensor's keys, not the others'
            if isinstance(err, SERVER_CONDITIONS):
                raise
            bad_member.skip("offline timer", sensor_id, err)
    return raised


@app.timer(interval=10.0)
async def offline_timer() -> None:
    await skip_tick_if_unavailable(raise_offline, "offline timer")
