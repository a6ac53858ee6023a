"""Device offline: a sensor that has had nothing in the sensors topic for 3× its reporting interval raises an alert.

The sensor agent keeps, in ``co:sensors:seen``, when each sensor's newest envelope was published (its topic
timestamp). Every 10 s each worker looks for sensors that may be silent; only then it asks the broker how far
the group has processed the topic (:mod:`streams.sensor_topic_probe`), and judges silence against that point,
not the wall clock (:mod:`streams.sensor_silence`): envelopes waiting unread are not silence. Each alert is
raised in a Lua script that first checks the sensor is still silent and has no offline alert yet, so
concurrent workers raise it once. The next reading from the sensor clears it (:mod:`streams.sensor_projection`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from aiokafka.errors import KafkaError
from redis.exceptions import ResponseError

from cityops import bad_member, keys
from cityops.alerts import Alert
from cityops.settings import get_settings
from streams import runtime
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app
from streams.effects import SERVER_CONDITIONS
from streams.lua import source
from streams.sensor_silence import is_silent, read_until
from streams.sensor_topic_probe import TopicProbe
from streams.topics import SENSORS

SILENT_INTERVALS = 3
PROBE_TIMEOUT_S = 5.0

log = logging.getLogger(__name__)
_probe: TopicProbe | None = None  # this process's broker clients (made on the first tick that needs them)


async def topic_read_until() -> float | None:
    """The time before which the group has processed every envelope of the sensors topic
    (:func:`streams.sensor_silence.read_until`); None when the broker could not say (nothing is judged then)."""
    global _probe
    asked_at = time.time()
    try:
        if _probe is None:
            _probe = TopicProbe(get_settings())
        partitions = await asyncio.wait_for(_probe.read(SENSORS.name), PROBE_TIMEOUT_S)
    except (KafkaError, OSError, TimeoutError) as err:
        log.warning("offline timer: the broker did not say how far the sensors topic is read (%r); not judged", err)
        if _probe is not None:
            probe, _probe = _probe, None
            try:
                await probe.stop()
            except (KafkaError, OSError):
                pass
        return None
    return read_until(partitions, asked_at)


async def raise_offline(now: float | None = None) -> int:
    """Raise the offline alert of each sensor silent for too long; returns how many were raised. A sensor whose
    keys cannot take it is skipped with a log line.

    ``now``: judge against that time instead of how far the sensors topic has been read (tests)."""
    r = runtime.redis()
    wall = time.time()
    sensors = runtime.sensor_context().sensors
    shortest = min((s.interval_s for s in sensors.values()), default=60)
    candidates = await r.zrangebyscore(keys.sensors_seen(), "-inf", (wall if now is None else now)
                                       - SILENT_INTERVALS * shortest, withscores=True)
    if not candidates:
        return 0  # nobody may be silent: the broker is not asked
    horizon = now if now is not None else await topic_read_until()
    if horizon is None:
        return 0
    now = wall if now is None else now
    raised = 0
    script = r.register_script(source("raise_offline"))
    for sensor_id, seen in candidates:
        sensor = sensors.get(sensor_id)
        interval = sensor.interval_s if sensor else shortest
        if not is_silent(seen, horizon, SILENT_INTERVALS * interval):
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
