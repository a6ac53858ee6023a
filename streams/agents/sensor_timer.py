"""Device offline: a sensor whose data has not arrived for 3× its reporting interval raises an alert.

Arrival times (wall clock) are kept in ``co:sensors:seen`` by the sensor agent. Every 10 s each worker
looks for silent sensors and raises each one's offline alert in a Lua script that first checks the
sensor is still silent and has no offline alert yet, so concurrent workers raise it once. The next
reading from the sensor clears it (:mod:`streams.sensor_projection`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from redis.exceptions import ResponseError

from cityops import bad_member, keys
from cityops.alerts import Alert
from streams import runtime
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app
from streams.effects import SERVER_CONDITIONS
from streams.lua import source

SILENT_INTERVALS = 3


async def raise_offline(now: float | None = None) -> int:
    """Raise the offline alert of each sensor silent for too long; returns how many were raised. A sensor whose
    keys cannot take it is skipped with a log line."""
    r = runtime.redis()
    now = time.time() if now is None else now
    sensors = runtime.sensor_context().sensors
    shortest = min((s.interval_s for s in sensors.values()), default=60)
    silent = await r.zrangebyscore(keys.sensors_seen(), "-inf", now - SILENT_INTERVALS * shortest, withscores=True)
    raised = 0
    script = r.register_script(source("raise_offline"))
    for sensor_id, seen in silent:
        sensor = sensors.get(sensor_id)
        interval = sensor.interval_s if sensor else shortest
        if seen > now - SILENT_INTERVALS * interval:
            continue
        alert = Alert.device_offline(sensor_id=sensor_id, silent_since=seen, at=datetime.fromtimestamp(now, UTC),
                                     name_zh=sensor.name_zh if sensor else sensor_id,
                                     grid=sensor.grid_code if sensor else "", lon=sensor.lon if sensor else None,
                                     lat=sensor.lat if sensor else None)
        try:
            raised += int(await script(
                keys=[keys.sensor(sensor_id), keys.sensors_seen(), keys.alert(alert.id), keys.active_alerts(),
                      keys.alerts()],
                args=[sensor_id, repr(seen), alert.id, keys.ALERTS_MAXLEN, alert.to_json(), *alert.hash_flat()]))
        except ResponseError as err:  # this sensor's keys, not the others'
            if isinstance(err, SERVER_CONDITIONS):
                raise
            bad_member.skip("offline timer", sensor_id, err)
    return raised


@app.timer(interval=10.0)
async def offline_timer() -> None:
    await skip_tick_if_unavailable(raise_offline, "offline timer")
