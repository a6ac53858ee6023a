"""Fixtures shared by the integration tests that compare a disturbed run with an undisturbed one."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from redis import Redis

from cityops import keys
from cityops.settings import Settings
from tests.support.stack import publish, seeded_day, settings_for, settle, start_worker_with


@pytest.fixture(scope="session")
def day_input() -> list[tuple[str, str, bytes]]:
    return seeded_day(ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="session")
def reference(broker_url, redis_url, day_input, tmp_path_factory):
    """The read model of an undisturbed run (Redis database 1), built once for every test that compares with it
    (exactly-once, scale-out)."""
    base = Settings(kafka_broker=f"kafka://{broker_url}", redis_url=redis_url)
    env = settings_for(base, 1)
    r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
    r.flushdb()
    sent = publish(env, day_input)
    log = tmp_path_factory.mktemp("ref") / "worker.log"
    model = settle(r, env, sent, [start_worker_with(env, log)])
    r.close()
    families = {keys.family_of(k) for k in model}
    assert {"kpi_daily", "sensor"} <= families
    assert "repeats_daily" in families, "the simulated day should hold repeated problems"
    return model


@pytest.fixture
def agent(redis_url, monkeypatch):
    """The sensor agent's module with its sends recorded, rules sustained 60 s (the batch-function tests)."""
    from cityops.settings import get_settings
    from streams import deadletter
    from tests.support.fake_events import RecordingTopic

    monkeypatch.setenv("CITYOPS_RULE_SUSTAIN_S", "60")
    get_settings.cache_clear()
    from streams.agents import sensors

    monkeypatch.setattr(sensors, "cases_topic", RecordingTopic())
    monkeypatch.setattr(deadletter, "deadletter_topic", RecordingTopic())
    yield sensors
    get_settings.cache_clear()
