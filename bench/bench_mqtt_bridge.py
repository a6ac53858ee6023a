"""Gateway readings over MQTT: messages/s through the bridge, beside a direct producer (the baseline).

One run, one machine, a private Kafka broker (tansu), the same one-reading envelopes both ways:

1. ``direct``: one :class:`cityops.bus.Publisher` sends the envelopes to the sensors topic and waits until the
   broker acknowledged all of them.
2. ``mqtt``: ``--gateways`` paho clients (one thread each, each with its gateway's token) publish them at
   QoS 1 to the embedded amqtt broker (``python -m cityops mqtt-broker``); one ``python -m cityops
   mqtt-bridge`` forwards them, acknowledging each after Kafka's ack. Timed from the first publish until a
   Kafka consumer has read every one of them on the sensors topic.

3. ``mqtt_mosquitto``: the same, through Mosquitto instead of amqtt, only when a ``mosquitto`` binary is on
   the PATH (``apt-get install mosquitto``; never needed by the tests). Anonymous, no ACL, persistence off:
   it measures the bridge, not Mosquitto's auth. Which broker each figure used is in the output.

Prints one JSON object (with ``nproc`` and the load average, as the machine is shared). Run:
``.venv/bin/python bench/bench_mqtt_bridge.py [--messages 30000]``. Target: ≥ 5,000 messages/s through one bridge.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: E402

from cityops.bus import Publisher, ensure_topics  # noqa: E402
from cityops.gateway_credentials import add_key  # noqa: E402
from cityops.services.broker import start_broker  # noqa: E402
from cityops.services.readiness import wait_for_broker  # noqa: E402
from cityops.settings import Settings  # noqa: E402
from fixtures.xiamen import load_sensors  # noqa: E402
from tests.support.mqtt_stack import gateway_client, start_bridge  # noqa: E402
from tests.support.mqtt_stack import start_broker as start_mqtt_broker  # noqa: E402
from tests.support.workers import free_port, stop_process, subprocess_env  # noqa: E402


def messages(count: int, gateways: list[str], by_gateway: dict[str, list]) -> list[tuple[str, bytes]]:
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    out = []
    for i in range(count):
        gw = gateways[i % len(gateways)]
        s = by_gateway[gw][i % len(by_gateway[gw])]
        out.append((gw, orjson.dumps({"v": 1, "envelope_id": f"b-{uuid.uuid4().hex}", "gateway_id": gw,
                                      "sent_at": stamp,
                                      "readings": [{"sensor_id": s.id, "kind": s.kind, "metric": s.metric,
                                                    "value": 1.0, "unit": s.unit, "time": stamp}]})))
    return out


async def direct(settings: Settings, items: list[tuple[str, bytes]]) -> float:
    async with Publisher(settings, pending_limit=2000) as pub:
        start = time.perf_counter()
        for gw, payload in items:
            await pub.send(settings.topics.sensors, gw, payload)
        await pub.flush()
        return time.perf_counter() - start


async def count_on_topic(settings: Settings, want: int, timeout: float) -> float:
    """Seconds (perf_counter, absolute) at which ``want`` messages have been read from the sensors topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False,
                                group_id=None, fetch_max_bytes=64 << 20)
    await consumer.start()
    try:
        parts = [TopicPartition(settings.topics.sensors, p) for p in range(settings.partitions)]
        consumer.assign(parts)
        for p in parts:
            consumer.seek(p, 0)
        seen = 0
        deadline = time.perf_counter() + timeout
        while seen < want and time.perf_counter() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=20000)
            seen += sum(len(v) for v in batch.values())
        if seen < want:
            raise RuntimeError(f"only {seen} of {want} forwarded")
        return time.perf_counter()
    finally:
        await consumer.stop()


def _gateway(env: dict[str, str], gw: str, token: str, payloads: list[bytes], go: threading.Event) -> None:
    client = gateway_client(env, gw, token)
    go.wait()
    infos = [client.publish(f"cityops/gw/{gw}/readings", p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(120)
    client.loop_stop()


def _through_bridge(env: dict[str, str], tmp: Path, name: str, items: list[tuple[str, bytes]],
                    tokens: dict[str, str], settings: Settings) -> float:
    """Seconds from the first publish until every message of ``items`` is on ``settings``' sensors topic."""
    bridge = start_bridge(env, tmp / f"bridge-{name}.log")
    try:
        go = threading.Event()
        workers = [threading.Thread(target=_gateway, args=(env, g, tokens[g], [p for gw, p in items if gw == g], go))
                   for g in tokens]
        for w in workers:
            w.start()
        time.sleep(2.0)  # every gateway connected
        start = time.perf_counter()
        go.set()
        end = asyncio.run(count_on_topic(settings, len(items), 300))
        for w in workers:
            w.join(60)
        return end - start
    finally:
        stop_process(bridge)


def _start_mosquitto(tmp: Path, port: int) -> subprocess.Popen:
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_inflight_messages 1000\nmax_queued_messages 0\n", encoding="utf-8")
    with (tmp / "mosquitto.log").open("ab") as out:
        proc = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(conf)], stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    raise RuntimeError(f"mosquitto not up: {(tmp / 'mosquitto.log').read_text(errors='replace')[-1000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=30_000)
    ap.add_argument("--gateways", type=int, default=4)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    kport = free_port()
    kafka = start_broker("127.0.0.1", kport, tmp / "tansu.log")
    procs = []
    try:
        city = tmp / "xiamen"
        shutil.copytree(ROOT / "cities" / "xiamen", city)
        by_gateway: dict[str, list] = {}
        for s in load_sensors():
            by_gateway.setdefault(s.gateway_id, []).append(s)
        gateways = sorted(by_gateway)[: args.gateways]
        tokens = {g: add_key(city, g) for g in gateways}
        env = {**subprocess_env(), "KAFKA_BROKER": f"kafka://127.0.0.1:{kport}", "CITYOPS_CITY_DIR": str(city),
               "CITYOPS_VAR": str(tmp / "var"), "CITYOPS_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}",
               "CITYOPS_TOPIC_PREFIX": "bm", "CITYOPS_MQTT_CLIENT_ID": "bench-bridge"}
        wait_for_broker(Settings(kafka_broker=env["KAFKA_BROKER"]), 30)
        direct_settings = Settings(kafka_broker=env["KAFKA_BROKER"], topic_prefix="bd")
        mqtt_settings = Settings(kafka_broker=env["KAFKA_BROKER"], topic_prefix="bm")
        asyncio.run(ensure_topics(direct_settings))
        asyncio.run(ensure_topics(mqtt_settings))
        items = messages(args.messages, gateways, by_gateway)
        direct_s = asyncio.run(direct(direct_settings, items))

        n = len(items)
        result: dict[str, object] = {
            "messages": n, "readings_per_message": 1, "gateways": len(gateways),
            "direct_msgs_per_s": round(n / direct_s), "direct_broker": "tansu (Kafka), one Publisher"}
        procs.append(start_mqtt_broker(env, tmp / "mqtt-broker.log"))
        amqtt_s = _through_bridge(env, tmp, "amqtt", items, tokens, mqtt_settings)
        stop_process(procs.pop())
        result.update(mqtt_amqtt_msgs_per_s=round(n / amqtt_s), mqtt_amqtt_vs_direct=round(direct_s / amqtt_s, 3),
                      mqtt_amqtt_broker="amqtt (embedded, python -m cityops mqtt-broker)")
        if shutil.which("mosquitto"):
            mport = free_port()
            mosq_env = {**env, "CITYOPS_MQTT_URL": f"mqtt://127.0.0.1:{mport}", "CITYOPS_TOPIC_PREFIX": "bq",
                        "CITYOPS_MQTT_CLIENT_ID": "bench-bridge-mosquitto"}
            mosq_settings = Settings(kafka_broker=env["KAFKA_BROKER"], topic_prefix="bq")
            asyncio.run(ensure_topics(mosq_settings))
            procs.append(_start_mosquitto(tmp, mport))
            mosq_s = _through_bridge(mosq_env, tmp, "mosquitto", items, tokens, mosq_settings)
            version = subprocess.run([shutil.which("mosquitto") or "mosquitto", "-h"], capture_output=True,
                                     text=True).stdout.splitlines()[:1]
            result.update(mqtt_mosquitto_msgs_per_s=round(n / mosq_s),
                          mqtt_mosquitto_vs_direct=round(direct_s / mosq_s, 3),
                          mqtt_mosquitto_broker=(version or ["mosquitto"])[0])
        else:
            result["mqtt_mosquitto_msgs_per_s"] = "skipped: no mosquitto binary on the PATH"
        result.update(nproc=os.cpu_count(), load_average=[round(x, 2) for x in os.getloadavg()],
                      machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
                              f"{platform.python_version()}")
        print(json.dumps(result, indent=1))
    finally:
        for p in reversed(procs):
            stop_process(p)
        stop_process(kafka)
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
