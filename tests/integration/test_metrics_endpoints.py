"""``/metrics`` and ``/healthz`` of real processes: a worker counts per topic what it consumed, applied and
refused, and shows its lag; the API process serves both on its own port. Parsed with prometheus_client's parser."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import httpx
import orjson
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from cityops.bus import Publisher, ensure_topics
from cityops.settings import get_settings
from tests.support.workers import free_port, wait_until, worker


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(got: dict, name: str, **labels: str) -> float:
    return got.get((name, tuple(sorted(labels.items()))), 0.0)


def _status(event_id: str, at: datetime, camera: str) -> bytes:
    return orjson.dumps({"event_id": event_id, "camera_id": camera, "at": at.isoformat(), "state": "ok",
                         "detector": "coco/opencv", "fps": 4.5, "frames_read": 10, "frames_processed": 9,
                         "captures": 0, "reconnects": 0})


def test_worker_metrics_count_what_was_sent_per_topic(stack_env, redis_client, tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("CITYOPS_METRICS_PORT_WORKER", str(port))
    s, base = stack_env, f"http://127.0.0.1:{port}"
    status_topic, cases_topic = s.topics.camera_status, s.topics.cases
    asyncio.run(ensure_topics(s))
    now = datetime.now(s.tz).replace(microsecond=0)

    async def send() -> None:
        async with Publisher(s) as pub:
            for i in range(1, 4):  # three cameras' statuses, one broken message, on camera-status …
                camera = f"CAM-000{i}"
                await pub.send(status_topic, camera, _status(f"st-{i}", now - timedelta(seconds=1), camera))
            await pub.send(status_topic, "CAM-0001", b"{not json")
            await pub.send(cases_topic, "C-1", b'{"event_id": "e1"}')  # … and a case event missing its fields

    with worker(tmp_path / "worker.log"):
        asyncio.run(send())
        wait_until(lambda: value(scrape(base), "cityops_events_consumed_total", topic=cases_topic) >= 1
                   and value(scrape(base), "cityops_events_consumed_total", topic=status_topic) >= 4, 30,
                   "the worker's /metrics did not count the events")
        got = scrape(base)
        assert value(got, "cityops_events_consumed_total", topic=status_topic) == 4
        assert value(got, "cityops_events_applied_total", topic=status_topic) == 3
        assert value(got, "cityops_events_refused_total", topic=status_topic, stage="validate") == 1
        assert value(got, "cityops_events_consumed_total", topic=cases_topic) == 1
        assert value(got, "cityops_events_applied_total", topic=cases_topic) == 0
        assert value(got, "cityops_events_refused_total", topic=cases_topic, stage="validate") == 1
        assert value(got, "cityops_batch_seconds_count", agent="camera_status") >= 1
        assert value(got, "cityops_redis_roundtrips_total", process="worker") > 0

        def caught_up() -> bool:
            lags = {k: v for k, v in scrape(base).items() if k[0] == "cityops_consumer_lag"
                    and ("topic", status_topic) in k[1]}
            return bool(lags) and sum(lags.values()) == 0

        wait_until(caught_up, 20, "no lag of the camera-status partitions, or it stayed above 0")
        wait_until(lambda: httpx.get(f"{base}/healthz", timeout=5).status_code == 200, 15, "worker never healthy")
        doc = httpx.get(f"{base}/healthz", timeout=5).json()
        assert doc["process"] == "worker" and doc["checks"]["redis"]["ok"] and doc["checks"]["event_loop"]["ok"]


def test_api_serves_metrics_and_healthz_on_its_port(stack_env, monkeypatch):
    from doors.api.app import create_app

    with TestClient(create_app(stack_env)) as client:
        resp = client.get("/metrics")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
        names = {f.name for f in text_string_to_metric_families(resp.text)}
        assert {"cityops_redis_roundtrips", "cityops_events_refused"} <= names
        resp = client.get("/healthz")
        assert resp.status_code == 200, resp.text
        assert resp.json()["checks"]["redis"]["ok"] is True
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    get_settings.cache_clear()
    with TestClient(create_app(get_settings())) as client:
        resp = client.get("/healthz")
        doc = json.loads(resp.text)
        assert resp.status_code == 503 and doc["checks"]["redis"]["ok"] is False
        assert "ConnectionError" in doc["checks"]["redis"]["detail"]
        assert client.get("/metrics").status_code == 200  # metrics still answer
