"""The metrics of cityops/observability.py: they render and parse as Prometheus text, a batch counts once when it
completes, and the endpoints answer /healthz 200 or 503 with what was checked."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from cityops import observability
from cityops.observability import Health, Metrics, MetricsServer
from cityops.settings import Settings


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, parsed by prometheus_client's own parser: (name, labels) → value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_metric_renders_and_parses_with_its_labels():
    m = Metrics(CollectorRegistry())
    m.events_consumed.labels("cityops.cases").inc(3)
    m.events_applied.labels("cityops.cases").inc(2)
    m.events_refused.labels("cityops.cases", "validate").inc()
    m.consumer_lag.labels("cityops.cases", "0").set(7)
    m.batch_seconds.labels("cases").observe(0.02)
    m.redis_roundtrips.labels("worker").inc(5)
    m.console_read_seconds.labels("big_screen").observe(0.03)
    m.detector_fps.labels("CAM-0001").set(4.5)
    m.notifications.labels("wecom", "failed").inc()
    got = samples(m.render().decode())
    assert got[("cityops_events_consumed_total", (("topic", "cityops.cases"),))] == 3
    assert got[("cityops_events_applied_total", (("topic", "cityops.cases"),))] == 2
    assert got[("cityops_events_refused_total", (("stage", "validate"), ("topic", "cityops.cases")))] == 1
    assert got[("cityops_consumer_lag", (("partition", "0"), ("topic", "cityops.cases")))] == 7
    assert got[("cityops_batch_seconds_count", (("agent", "cases"),))] == 1
    assert got[("cityops_batch_seconds_bucket", (("agent", "cases"), ("le", "0.025")))] == 1
    assert got[("cityops_redis_roundtrips_total", (("process", "worker"),))] == 5
    assert got[("cityops_console_read_seconds_count", (("read", "big_screen"),))] == 1
    assert got[("cityops_detector_fps", (("camera", "CAM-0001"),))] == 4.5
    assert got[("cityops_notifications_total", (("channel", "wecom"), ("outcome", "failed")))] == 1


def test_a_batch_counts_once_and_only_when_it_completes():
    m = Metrics(CollectorRegistry())
    with pytest.raises(ConnectionError):  # the first attempt: Redis away; nothing is counted
        with observability.batch("cases", "t.cases", 4, m):
            observability.count_refused("t.cases", "validate")
            raise ConnectionError("redis away")
    with observability.batch("cases", "t.cases", 4, m):  # the batch again, completing
        observability.count_refused("t.cases", "validate")
        observability.count_applied(3)
    got = samples(m.render().decode())
    assert got[("cityops_events_consumed_total", (("topic", "t.cases"),))] == 4
    assert got[("cityops_events_applied_total", (("topic", "t.cases"),))] == 3
    assert got[("cityops_events_refused_total", (("stage", "validate"), ("topic", "t.cases")))] == 1
    assert got[("cityops_batch_seconds_count", (("agent", "cases"),))] == 1


def test_a_notification_outcome_outside_the_list_is_refused_by_name():
    with pytest.raises(ValueError, match="outcome 'ok' is not one of sent"):
        observability.count_notification("wecom", "ok")


def test_each_process_port_from_its_own_setting_or_the_base(monkeypatch):
    monkeypatch.delenv("CITYOPS_METRICS_PORT_WORKER", raising=False)
    monkeypatch.delenv("CITYOPS_METRICS_PORT_MQTT_BRIDGE", raising=False)
    assert Settings().metrics_port("worker") == 0  # off by default
    assert Settings(metrics_base_port=9460).metrics_port("mqtt-bridge") == 9464
    monkeypatch.setenv("CITYOPS_METRICS_PORT_WORKER", "9999")
    assert Settings(metrics_base_port=9460).metrics_port("worker") == 9999
    monkeypatch.setenv("CITYOPS_METRICS_PORT_WORKER", "x")
    with pytest.raises(ValueError, match="CITYOPS_METRICS_PORT_WORKER"):
        Settings().metrics_port("worker")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_server_answers_metrics_and_healthz_200_then_503():
    m = Metrics(CollectorRegistry())
    m.events_consumed.labels("t.cases").inc()
    state = {"redis": True}
    health = Health("test")
    health.add("redis", lambda: (state["redis"], "PING answered" if state["redis"] else "no answer"))
    health.add("broken", lambda: (True, "fine"))
    server = MetricsServer(health, "127.0.0.1", 0, m)
    base = f"http://127.0.0.1:{server.port}"
    try:
        status, body = _get(base + "/metrics")
        assert status == 200
        assert samples(body.decode())[("cityops_events_consumed_total", (("topic", "t.cases"),))] == 1
        status, body = _get(base + "/healthz")
        assert status == 200 and json.loads(body) == {
            "process": "test", "ok": True,
            "checks": {"redis": {"ok": True, "detail": "PING answered"}, "broken": {"ok": True, "detail": "fine"}}}
        state["redis"] = False
        health.add("broken", lambda: 1 / 0)  # a check that raises fails, with its error, and nothing crashes
        status, body = _get(base + "/healthz")
        doc = json.loads(body)
        assert status == 503 and doc["ok"] is False
        assert doc["checks"]["redis"] == {"ok": False, "detail": "no answer"}
        assert doc["checks"]["broken"] == {"ok": False, "detail": "ZeroDivisionError: division by zero"}
        assert samples(m.render().decode())[("cityops_healthy", (("process", "test"),))] == 0
        assert _get(base + "/other")[0] == 404
    finally:
        server.close()


def test_serve_is_off_at_port_0_and_survives_a_port_in_use(caplog):
    assert observability.serve("worker", port=0) is None
    first = MetricsServer(Health("a"), "127.0.0.1", 0)
    try:
        assert observability.serve("worker", port=first.port) is None  # logged, not raised
        assert "CITYOPS_METRICS_PORT_WORKER" in caplog.text
    finally:
        first.close()


def test_timed_read_times_each_call_as_a_decorator():
    m = observability.metrics()
    key = ("cityops_console_read_seconds_count", (("read", "unit_read"),))
    before = samples(m.render().decode()).get(key, 0.0)

    @observability.timed_read("unit_read")
    def read() -> int:
        return 7

    assert read() == 7 and read() == 7
    assert samples(m.render().decode())[key] == before + 2
