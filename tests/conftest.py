"""Real infrastructure for the tests: a tansu broker and a redis-server on free ports, per session.

No test depends on a process left running: everything starts here and stops at the end. Each test
that uses ``stack_env`` gets its own topic prefix and an empty Redis database, so tests do not see
each other's messages.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from cityops.services.broker import start_broker
from cityops.services.readiness import wait_for_broker, wait_for_redis
from cityops.services.redis_server import start_redis
from cityops.settings import Settings, get_settings
from tests.workers import REPO_ROOT, stop_process, subprocess_env  # noqa: F401  (re-exported for tests)

SHARED = REPO_ROOT.parent / "shared" / "datasets"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def infra_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("infra")


@pytest.fixture(scope="session")
def broker_url(infra_dir: Path) -> Iterator[str]:
    port = free_port()
    proc = start_broker("127.0.0.1", port, infra_dir / "broker.log")
    address = f"127.0.0.1:{port}"
    try:
        wait_for_broker(Settings(kafka_broker=f"kafka://{address}"), timeout=30)
        yield address
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def redis_url(infra_dir: Path) -> Iterator[str]:
    port = free_port()
    proc = start_redis("127.0.0.1", port, infra_dir / "redis", infra_dir / "redis.log")
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for_redis(Settings(redis_url=url), timeout=30)
        yield url
    finally:
        stop_process(proc)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def stack_env(broker_url: str, redis_url: str, redis_client: Redis, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Environment pointing this test's processes at the session broker and Redis, with fresh topics."""
    env = {
        "KAFKA_BROKER": f"kafka://{broker_url}",
        "REDIS_URL": redis_url,
        "CITYOPS_VAR": str(tmp_path / "var"),
        "CITYOPS_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}",
        "CITYOPS_WORKER_ID": f"w{uuid.uuid4().hex[:10]}",
        "CITYOPS_WORKER_WEB_PORT": "0",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
