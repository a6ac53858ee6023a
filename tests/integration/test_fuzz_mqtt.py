"""Hostile input at the MQTT door: 6,000 malformed messages through the bridge's message handler, and a
sample of them mixed with valid traffic through the real broker, bridge and worker.

Why two parts: 6,000 messages through amqtt and the worker take longer than this suite may spend, and the
bridge's verdict is a pure function of (topic, payload) (:func:`doors.mqtt.bridge.check_message`), so the
bulk runs in-process: nothing raises, nothing malformed is forwarded, nothing valid is refused, every
refusal has a reason naming the gateway. The sample (300 malformed, 120 valid, interleaved) then goes the
whole way: the bridge stays up and the read model counts exactly the valid readings.
"""

from __future__ import annotations

import random
import time

import orjson

from cityops import keys
from cityops.settings import Settings
from doors.mqtt.bridge import check_message, outgoing
from tests.integration.test_mqtt_bridge import _readings_counted, stack  # noqa: F401 - the module's stack
from tests.support.mqtt_stack import envelope, gateway_client, reading_times
from tests.support.workers import wait_until

GW = "LV-GW-01"
TOPIC = f"cityops/gw/{GW}/readings"


def _malformed(rng: random.Random, i: int) -> tuple[str, bytes]:
    """One malformed message (topic, payload) of many kinds; each is refused whole by the contract."""
    [t] = reading_times(1)
    good = orjson.loads(envelope(GW, "LV-NS-01", i, t))
    kind = i % 14
    if kind == 0:
        return TOPIC, rng.randbytes(rng.randint(0, 200))
    if kind == 1:
        return TOPIC, b"{" * rng.randint(1, 5000)
    if kind == 2:
        return TOPIC, b""
    if kind == 3:
        return TOPIC, orjson.dumps([good])
    if kind == 4:
        good.pop(rng.choice(["envelope_id", "gateway_id", "sent_at", "readings"]))
    elif kind == 5:
        good["gateway_id"] = "LV-GW-02"  # names another gateway than its topic
    elif kind == 6:
        good["readings"] = []
    elif kind == 7:
        good["sent_at"] = rng.choice(["yesterday", "2026-11-24T09:30:00", "1999-01-01T00:00:00+00:00", 5, None])
    elif kind == 8:
        good["v"] = rng.choice([2, "1", 0, None])
    elif kind == 9:
        good["envelope_id"] = rng.choice(["", "x" * 129, "a b", "é", 7])
    elif kind == 10:
        good["readings"] = "not a list"
    elif kind == 11:
        return TOPIC, b"x" * 1_000_001
    elif kind == 12:
        return rng.choice(["cityops/gw//readings", "cityops/gw/LV-GW-01", "other/topic", "cityops/gw/a/b/readings"]), \
            orjson.dumps(good)
    else:
        good["readings"] = [{"sensor_id": "LV-NS-01"}] * 1001  # too many
    return TOPIC, orjson.dumps(good)


def test_six_thousand_malformed_messages_are_refused_with_reasons_and_valid_ones_pass() -> None:
    rng = random.Random(14)
    settings = Settings(topic_prefix="fz")
    refused = 0
    for i in range(6000):
        topic, payload = _malformed(rng, i)
        verdict = check_message(topic, payload)
        assert verdict.reason, f"malformed message {i} (kind {i % 14}) was forwarded"
        kafka_topic, key, value = outgoing(settings, topic, payload, verdict)
        assert kafka_topic == settings.topics.deadletter and len(value) < 1_048_576
        letter = orjson.loads(value)
        assert letter["reason"].startswith(f"gateway {verdict.gateway_id or '?'}: ")
        if topic == TOPIC:
            assert key == GW
        refused += 1
    for i, t in enumerate(reading_times(300)):
        verdict = check_message(TOPIC, envelope(GW, "LV-NS-01", i, t))
        assert verdict.reason is None and verdict.gateway_id == GW
    assert refused == 6000


def test_a_sample_through_broker_bridge_and_worker_counts_only_the_valid(stack) -> None:  # noqa: F811
    env, r = stack["env"], stack["redis"]
    rng = random.Random(15)
    sensor, n_valid = "LV-DS-01", 120
    client = gateway_client(env, GW, stack["tokens"][GW])
    try:
        infos = []
        valid = iter(list(reading_times(n_valid)))
        sent_valid = 0
        for i in range(420):
            if i % 7 in (0, 3, 5) and sent_valid < n_valid:  # 3 of 7 valid, the rest malformed
                t = next(valid)
                payload = orjson.loads(envelope(GW, sensor, sent_valid, t, 40.0))
                payload["readings"][0].update(kind="dust", metric="pm10", unit="ug/m3")
                infos.append(client.publish(TOPIC, orjson.dumps(payload), qos=1))
                sent_valid += 1
            else:
                topic, payload = _malformed(rng, i)
                if len(payload) > 256_000:
                    payload = payload[:1000]
                infos.append(client.publish(topic if topic.startswith(f"cityops/gw/{GW}/") else TOPIC, payload, qos=1))
        for info in infos:
            info.wait_for_publish(20)
        assert sent_valid == n_valid
        wait_until(lambda: _readings_counted(r, sensor) >= n_valid, 40,
                   f"valid readings lost: {_readings_counted(r, sensor)} of {n_valid}")
        time.sleep(1.0)
        assert _readings_counted(r, sensor) == n_valid
        assert stack["bridge"][0].poll() is None, "the bridge died"
        assert r.hget(keys.sensor(sensor), "value") is not None
    finally:
        client.loop_stop()
