"""Real processes for integration tests: start and stop workers, wait for conditions."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared" / "datasets"  # the real data sets the replays and detectors read


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a broker, Redis or console a test or tool starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env() -> dict[str, str]:
    """The current environment (with the test's settings) for child processes."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if it has not gone within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_worker(log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A ``python -m cityops worker`` process in its own session (so a test can kill its whole group)."""
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "cityops", "worker", "--loglevel", "info"], cwd=REPO_ROOT,
                                env=env or subprocess_env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


@contextlib.contextmanager
def worker(log_path: Path, env: dict[str, str] | None = None, ready_timeout: float = 60) -> Iterator[subprocess.Popen]:
    """A worker process, yielded once Faust reports it is ready, stopped afterwards."""
    proc = start_worker(log_path, env)
    try:
        wait_until(lambda: "[^Worker]: Ready" in log_path.read_text(errors="replace"), ready_timeout,
                   f"worker not ready; log:\n{log_path.read_text(errors='replace')[-3000:]}", proc)
        yield proc
    finally:
        stop_process(proc)


def wait_until(predicate: Callable[[], bool], timeout: float, message: str = "condition not met",
               proc: subprocess.Popen | None = None, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode}: {message}")
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)
