"""Gateways publishing at the same time, from separate processes, through broker, bridge and worker.

Why: amqtt acknowledges (PUBACK) a gateway's QoS 1 message when it enters the gateway session's delivery
queue, broadcasts that queue one message at a time, and threw the rest of it away when the gateway
disconnected; two gateways publishing together outran the broadcast, so a gateway that disconnected right
after its last PUBACK lost up to a quarter of its acknowledged messages (issue 14). Every reading that a
gateway had acknowledged must be counted exactly once in the read model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.integration.test_mqtt_bridge import _readings_counted, stack  # noqa: F401 - the module's stack
from tests.support.workers import REPO_ROOT, subprocess_env, wait_until

# A fresh interpreter per gateway (not multiprocessing's spawn, which re-runs whatever ``__main__`` the test session
# holds: after the console's AppTest tests that is a page script).
BURST = ("import json, os, sys; from tests.support.mqtt_stack import publish_burst; "
         "publish_burst(json.loads(os.environ['CITYOPS_BURST_ENV']), *sys.argv[1:4], int(sys.argv[4]), "
         "float(sys.argv[5]))")

PER_GATEWAY = 3000  # enough that the broker's broadcast falls behind two gateways (5,000 lost 70 % before the fix)


def test_concurrent_gateways_in_separate_processes_lose_nothing(stack) -> None:  # noqa: F811
    env, r, tokens = stack["env"], stack["redis"], stack["tokens"]
    sensors = {"LV-GW-01": "LV-NS-01", "LV-GW-02": "LV-NS-02"}
    start_at = time.time() + 6  # both connected by then (each interpreter imports paho and the project)
    child_env = subprocess_env() | {"CITYOPS_BURST_ENV": json.dumps(env)}
    gateways = [subprocess.Popen([sys.executable, "-c", BURST, gw, tokens[gw], sensor, str(PER_GATEWAY), str(start_at)],
                                 cwd=REPO_ROOT, env=child_env) for gw, sensor in sensors.items()]
    for p in gateways:
        p.wait(120)
    assert [p.returncode for p in gateways] == [0, 0], "a gateway did not get every PUBACK"

    def counts() -> dict[str, int]:
        return {s: _readings_counted(r, s) for s in sensors.values()}

    wait_until(lambda: all(n >= PER_GATEWAY for n in counts().values()), 60,
               f"acknowledged readings lost: {counts()} of {PER_GATEWAY} each")
    time.sleep(1.0)  # re-sent duplicates would show up by now
    assert counts() == dict.fromkeys(sensors.values(), PER_GATEWAY)
    assert stack["bridge"][0].poll() is None, "the bridge died"
