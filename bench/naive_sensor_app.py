"""The baseline of bench/bench_sensors.py: a naive per-event Faust agent, one reading per message.

Each message is validated with the same contract and written to Redis with one pipelined round trip
(latest value plus the three windows). No envelopes, no batches, no pre-aggregation, no exactly-once
script: the shape a first version of the hot path would take. Run by the benchmark, not by the platform.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import faust
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cityops import keys  # noqa: E402
from cityops.schemas import SensorReading  # noqa: E402
from cityops.settings import get_settings  # noqa: E402
from streams.sensor_rules import energy  # noqa: E402

settings = get_settings()
app = faust.App(f"{settings.worker_id}-naive", broker=settings.faust_broker, store="memory://", autodiscover=False,
                web_enabled=False, topic_partitions=settings.partitions, consumer_auto_offset_reset="earliest",
                broker_rebalance_timeout=settings.rebalance_timeout_s,
                broker_session_timeout=settings.session_timeout_s,
                broker_heartbeat_interval=settings.heartbeat_interval_s,
                datadir=str(Path(tempfile.gettempdir()) / "{conf.name}-data"))
topic = app.topic(f"{settings.topic_prefix}.bench.naive", value_serializer="raw", key_serializer="raw")
redis = Redis.from_url(settings.redis_url, decode_responses=True)


@app.agent(topic)
async def naive_sensor_agent(stream):  # noqa: ANN001
    async for payload in stream:
        r = SensorReading.model_validate_json(payload)
        local = r.time.astimezone(settings.tz)
        amount = energy(r.value) if r.kind.value == "noise" else r.value
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.sensor(r.sensor_id), mapping={"value": r.value, "kind": r.kind.value,
                                                         "time": local.isoformat()})
            for key, bucket in ((keys.sensor_window("m", r.sensor_id, keys.hour_bucket(local)), f"{local:%M}"),
                                (keys.sensor_window("q", r.sensor_id, keys.day_bucket(local)),
                                 f"{local:%H}{local.minute // 15 * 15:02d}"),
                                (keys.sensor_window("h", r.sensor_id, keys.day_bucket(local)), f"{local:%H}")):
                pipe.hincrby(key, f"{bucket}:n", 1)
                pipe.hincrbyfloat(key, f"{bucket}:s", amount)
            await pipe.execute()


if __name__ == "__main__":
    sys.argv = [sys.argv[0], *sys.argv[1:], "--without-web"]
    app.main()
