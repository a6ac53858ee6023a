"""The MQTT door for tests and benches: a city folder with gateway keys, the broker and bridge processes, and
paho gateway clients."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cityops import gateway_credentials
from tests.support.workers import REPO_ROOT, free_port, wait_until


def city_with_keys(tmp: Path, gateways: tuple[str, ...] = ("LV-GW-01", "LV-GW-02")) -> tuple[Path, dict[str, str]]:
    """A copy of the lakeview city with one key per gateway; returns the folder and the tokens."""
    city = tmp / "lakeview"
    shutil.copytree(REPO_ROOT / "cities" / "lakeview", city)
    return city, {g: gateway_credentials.add_key(city, g) for g in gateways}


def mqtt_env(base: dict[str, str], city: Path, var: Path) -> dict[str, str]:
    port = free_port()
    return {**base, "CITYOPS_CITY_DIR": str(city), "CITYOPS_VAR": str(var), "CITYOPS_MQTT_URL": f"mqtt://127.0.0.1:{port}",
            "CITYOPS_MQTT_CLIENT_ID": f"bridge-{port}"}


def mqtt_port(env: dict[str, str]) -> int:
    return int(env["CITYOPS_MQTT_URL"].rsplit(":", 1)[1])


def start(command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "cityops", command], cwd=REPO_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def start_broker(env: dict[str, str], log: Path) -> subprocess.Popen:
    proc = start("mqtt-broker", env, log)
    wait_until(lambda: "mqtt broker listening" in log.read_text(errors="replace"), 30,
               f"mqtt broker not up: {log.read_text(errors='replace')[-2000:]}", proc)
    return proc


def start_bridge(env: dict[str, str], log: Path, connections: int = 1) -> subprocess.Popen:
    """A bridge process, returned once it has connected ``connections`` times in all (its log counts them)."""
    proc = start("mqtt-bridge", env, log)
    wait_until(lambda: log.read_text(errors="replace").count("bridge connected") >= connections, 60,
               f"bridge not connected: {log.read_text(errors='replace')[-2000:]}", proc)
    return proc


def gateway_client(env: dict[str, str], user: str, token: str, client_id: str | None = None) -> mqtt.Client:
    """A connected paho client of a gateway (network loop running); raises when the broker refuses it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"{user}-{time.monotonic_ns()}")
    client.username_pw_set(user, token)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    result: list[object] = []
    client.on_connect = lambda _c, _u, _f, reason, _p=None: result.append(reason)
    client.connect("127.0.0.1", mqtt_port(env))
    client.loop_start()
    deadline = time.monotonic() + 30  # a loaded 2-core machine answers slowly
    while not result and time.monotonic() < deadline:
        time.sleep(0.01)
    if not result or getattr(result[0], "is_failure", True):
        client.loop_stop()
        raise ConnectionRefusedError(f"broker refused {user}: {result}")
    return client


def envelope(gateway: str, sensor: str, index: int, t: datetime, value: float = 50.0,
             envelope_id: str | None = None) -> bytes:
    """One envelope of one noise reading (canonical form)."""
    stamp = t.astimezone(UTC).isoformat(timespec="seconds")
    return orjson.dumps({"v": 1, "envelope_id": envelope_id or f"{gateway}-{sensor}-{index}", "gateway_id": gateway,
                         "sent_at": stamp, "readings": [{"sensor_id": sensor, "kind": "noise", "metric": "laeq",
                                                         "value": value, "unit": "dB(A)", "time": stamp}]})


def reading_times(n: int, end: datetime | None = None) -> Iterator[datetime]:
    """``n`` distinct reading times, one second apart, ending a minute ago."""
    end = end or datetime.now(UTC) - timedelta(minutes=1)
    return (end - timedelta(seconds=n - i) for i in range(n))


def publish_burst(env: dict[str, str], gateway: str, token: str, sensor: str, count: int, start_at: float) -> None:
    """A gateway process's whole life: connect, wait until ``start_at`` (wall clock, so several processes
    start together), publish ``count`` one-reading envelopes at QoS 1 as fast as paho allows, wait for every
    PUBACK, disconnect at once. Exits non-zero when a PUBACK did not come: the broker then owes nothing."""
    client = gateway_client(env, gateway, token)
    try:
        time.sleep(max(0.0, start_at - time.time()))
        topic = f"cityops/gw/{gateway}/readings"
        infos = [client.publish(topic, envelope(gateway, sensor, i, t, 40 + i % 9), qos=1)
                 for i, t in enumerate(reading_times(count))]
        for info in infos:
            info.wait_for_publish(120)
            if not info.is_published():
                raise SystemExit(f"{gateway}: message {info.mid} not acknowledged by the broker")
    finally:
        client.disconnect()
        client.loop_stop()
