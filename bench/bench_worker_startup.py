"""Faust worker start-up on the embedded broker: our tuned settings against Faust's defaults, same run.

Starts a private tansu broker, then for each configuration a worker process, and measures the seconds
from process start to Faust's "Worker: Ready" (first consumer-group join done). Prints one JSON
object. Run: ``.venv/bin/python bench/bench_worker_startup.py``. Target: ≤ 10 s.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cityops.services.broker import start_broker  # noqa: E402
from cityops.services.readiness import wait_for_broker  # noqa: E402
from cityops.settings import Settings  # noqa: E402
from tests.support.workers import free_port  # noqa: E402

FAUST_DEFAULTS = {"CITYOPS_REBALANCE_TIMEOUT": "60", "CITYOPS_SESSION_TIMEOUT": "60",
                  "CITYOPS_HEARTBEAT_INTERVAL": "3"}  # faust-streaming's own defaults


def time_to_ready(broker: str, extra_env: dict[str, str], log: Path, timeout: float = 120) -> float:
    env = dict(os.environ, KAFKA_BROKER=f"kafka://{broker}", CITYOPS_TOPIC_PREFIX=f"b{uuid.uuid4().hex[:8]}",
               CITYOPS_WORKER_ID=f"bench{uuid.uuid4().hex[:8]}", CITYOPS_WORKER_WEB_PORT="0",
               PYTHONPATH=str(ROOT), **extra_env)
    started = time.monotonic()
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "cityops", "worker", "--loglevel", "info"], cwd=ROOT, env=env,
                                stdout=fh, stderr=subprocess.STDOUT)
    try:
        while time.monotonic() - started < timeout:
            if "[^Worker]: Ready" in log.read_text(errors="replace"):
                return round(time.monotonic() - started, 2)
            time.sleep(0.05)
        return float("nan")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> dict:
    tmp = Path(tempfile.mkdtemp())
    port = free_port()
    broker = start_broker("127.0.0.1", port, tmp / "broker.log")
    try:
        wait_for_broker(Settings(kafka_broker=f"kafka://127.0.0.1:{port}"), 30)
        address = f"127.0.0.1:{port}"
        tuned = [time_to_ready(address, {}, tmp / f"tuned{i}.log") for i in range(3)]
        default = time_to_ready(address, FAUST_DEFAULTS, tmp / "default.log")
    finally:
        broker.terminate()
        broker.wait()
    return {"benchmark": "worker_startup", "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "tuned_settings_ready_s": tuned, "faust_default_settings_ready_s": default, "target_s": 10}


if __name__ == "__main__":
    print(json.dumps(main()))
