"""Gateways publishing at the same time, from separate processes, through broker, bridge and worker.

Why: amqtt acknowledges (PUBACK) a gateway's QoS 1 message when it enters the gateway session's delivery
queue, broadcasts that queue one message at a time, and threw the rest of it away when the gateway
disconnected; two gateways publishing together outran the broadcast, so a gateway that disconnected right
after its last PUBACK lost up to a quarter of its acknowledged messages (issue 14). Every reading that a
gateway had acknowledged must be counted exactly once in the read model.
"""

from __future__ import annotations

import multiprocessing
import time

from tests.integration.test_mqtt_bridge import _readings_counted, stack  # noqa: F401 - the module's stack
from tests.support.mqtt_stack import publish_burst
from tests.support.workers import wait_until

PER_GATEWAY = 3000  # enough that the broker's broadcast falls behind two gateways (5,000 lost 70 % before the fix)


def test_concurrent_gateways_in_separate_processes_lose_nothing(stack) -> None:  # noqa: F811
    env, r, tokens = stack["env"], stack["redis"], stack["tokens"]
    sensors = {"LV-GW-01": "LV-NS-01", "LV-GW-02": "LV-NS-02"}
    spawn = multiprocessing.get_context("spawn")
    start_at = time.time() + 4  # both connected by then (spawn imports paho and the project)
    gateways = [spawn.Process(target=publish_burst, args=(env, gw, tokens[gw], sensor, PER_GATEWAY, start_at))
                for gw, sensor in sensors.items()]
    for p in gateways:
        p.start()
    for p in gateways:
        p.join(120)
    assert [p.exitcode for p in gateways] == [0, 0], "a gateway did not get every PUBACK"

    def counts() -> dict[str, int]:
        return {s: _readings_counted(r, s) for s in sensors.values()}

    wait_until(lambda: all(n >= PER_GATEWAY for n in counts().values()), 60,
               f"acknowledged readings lost: {counts()} of {PER_GATEWAY} each")
    time.sleep(1.0)  # re-sent duplicates would show up by now
    assert counts() == dict.fromkeys(sensors.values(), PER_GATEWAY)
    assert stack["bridge"][0].poll() is None, "the bridge died"
