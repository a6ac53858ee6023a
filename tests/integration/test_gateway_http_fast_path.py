"""The gateways' fast path (doors/api/gateways.ReadingsFastPath) with no broker at all: a valid envelope is answered
503 (never 202: the answer waits for Kafka's ack), a streamed body over the limit 413, and requests that are not
a POST of readings fall through to FastAPI unchanged (405, 404, the OpenAPI schema)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime

import orjson
from fastapi.testclient import TestClient

from cityops.city_data import load_city_data
from cityops.gateway_credentials import add_key
from cityops.settings import REPO_ROOT, get_settings
from doors.api.app import create_app
from doors.api.gateways import MAX_BODY_BYTES
from tests.support.workers import free_port


def test_no_broker_means_503_and_other_requests_reach_fastapi(tmp_path, monkeypatch):
    folder = tmp_path / "city"
    folder.mkdir()
    for item in (REPO_ROOT / "cities" / "xiamen").iterdir():
        if not item.name.startswith((".", "gateway_keys", "apikeys")):
            (folder / item.name).symlink_to(item)
    monkeypatch.setenv("CITYOPS_CITY_DIR", str(folder))
    get_settings.cache_clear()
    s = replace(get_settings(), kafka_broker=f"kafka://127.0.0.1:{free_port()}", api_ack_timeout_s=1.0,
                apikeys_file=tmp_path / "apikeys.json")
    sensor = load_city_data(folder).sensors[0]
    token = add_key(folder, sensor.gateway_id)
    now = datetime.now(s.tz).replace(microsecond=0).isoformat()
    envelope = {"v": 1, "envelope_id": f"{sensor.gateway_id}-nobroker-1", "gateway_id": sensor.gateway_id,
                "sent_at": now, "readings": [{"sensor_id": sensor.id, "kind": sensor.kind, "metric": sensor.metric,
                                              "value": 1.0, "unit": sensor.unit, "time": now}]}
    path = f"/api/v1/gateways/{sensor.gateway_id}/readings"
    bearer = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with TestClient(create_app(s)) as api:
        started = time.monotonic()
        res = api.post(path, content=orjson.dumps(envelope), headers=bearer)
        assert res.status_code == 503, res.text
        assert res.headers["retry-after"] == "5" and time.monotonic() - started < 10
        assert res.json()["error"]["status"] == 503

        def chunks():  # noqa: ANN202 - a chunked upload declares no length: refused while it streams
            for _ in range(MAX_BODY_BYTES // 1000 + 2):
                yield b"x" * 1000

        res = api.post(path, content=chunks(), headers=bearer)
        assert res.status_code == 413 and res.json()["error"]["field"] == "body", res.text
        res = api.post(path, content=b"{}", headers={})
        assert res.status_code == 401 and res.headers["www-authenticate"].startswith("Bearer"), res.text
        assert api.get(path).status_code == 405  # not a POST: FastAPI's own answer
        assert api.post(f"/api/v1/gateways/{sensor.gateway_id}/x/readings", content=b"{}").status_code == 404
        assert path.replace(sensor.gateway_id, "{gateway_id}") in api.get("/openapi.json").json()["paths"]
