"""Real infrastructure for the tests: a tansu broker and a redis-server on free ports, per session.

The suite has three layers, one folder each: ``unit/`` (pure logic), ``integration/`` (real broker, Redis,
workers, console pages) and ``e2e/`` (a browser, fault injection); each test is marked with its folder's name
(``pytest -m unit``). The session fixtures start nothing until an integration or e2e test asks for them.

No test depends on a process left running: everything starts here and stops at the end. Each test
that uses ``stack_env`` gets its own topic prefix and an empty Redis database, so tests do not see
each other's messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from cityops.services.broker import start_broker
from cityops.services.readiness import wait_for_broker, wait_for_redis
from cityops.services.redis_server import start_redis
from cityops.settings import Settings, get_settings
from tests.support.workers import free_port, stop_process

LAYERS = ("unit", "integration", "e2e")
INFRASTRUCTURE = {"infra_dir", "broker_url", "redis_url", "redis_client", "stack_env"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the layer its folder names, so a new file is marked by where it lives; a unit test
    that asks for the broker or Redis is refused (it belongs in ``integration/``)."""
    root = Path(__file__).parent
    misplaced = []
    for item in items:
        parts = item.path.relative_to(root).parts if item.path.is_relative_to(root) else ()
        if parts and parts[0] in LAYERS:
            item.add_marker(parts[0])
            if parts[0] == "unit" and INFRASTRUCTURE & set(getattr(item, "fixturenames", ())):
                misplaced.append(item.nodeid)
    if misplaced:
        raise pytest.UsageError(f"unit tests that start infrastructure (move them to tests/integration): {misplaced}")


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
