"""Start and stop real Faust worker processes for integration tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.conftest import REPO_ROOT, subprocess_env


@contextlib.contextmanager
def worker(log_path: Path, env: dict[str, str] | None = None, ready_timeout: float = 60) -> Iterator[subprocess.Popen]:
    """A ``python -m cityops worker`` process, yielded once Faust reports it is ready."""
    log = log_path.open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "cityops", "worker", "--loglevel", "info"], cwd=REPO_ROOT,
                            env=env or subprocess_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: "[^Worker]: Ready" in log_path.read_text(errors="replace"), ready_timeout,
                   f"worker not ready; log:\n{log_path.read_text(errors='replace')[-3000:]}", proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def wait_until(predicate: Callable[[], bool], timeout: float, message: str = "condition not met",
               proc: subprocess.Popen | None = None, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode}: {message}")
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)
