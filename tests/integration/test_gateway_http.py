"""Gateway readings over HTTP against a real broker and worker: a posted envelope reaches the read model and is
read back through the read API; bad tokens, paths, bodies and envelopes are refused naming the field."""

from __future__ import annotations

from datetime import datetime

import orjson
from fastapi.testclient import TestClient

from cityops import read
from cityops.apikeys import add_client, keys_path, update_api_clients
from cityops.city_data import load_city_data
from cityops.gateway_credentials import add_key
from cityops.settings import REPO_ROOT, get_settings
from doors.api.app import create_app
from doors.api.gateways import MAX_BODY_BYTES
from tests.support.workers import wait_until, worker


def city_copy(tmp_path):  # noqa: ANN001, ANN201
    """The Xiamen data folder as links, so the gateway keys file this test writes stays out of the repository."""
    folder = tmp_path / "city"
    folder.mkdir()
    for item in (REPO_ROOT / "cities" / "xiamen").iterdir():
        if not item.name.startswith((".", "gateway_keys", "apikeys")):
            (folder / item.name).symlink_to(item)
    return folder


def test_posted_readings_reach_the_read_model_and_bad_posts_are_refused(stack_env, redis_client, tmp_path,
                                                                       monkeypatch):
    folder = city_copy(tmp_path)
    monkeypatch.setenv("CITYOPS_CITY_DIR", str(folder))
    monkeypatch.setenv("CITYOPS_APIKEYS_FILE", str(tmp_path / "apikeys.json"))
    get_settings.cache_clear()
    s = get_settings()
    sensors = load_city_data(folder).sensors
    noise = next(x for x in sensors if x.kind == "noise")
    gateway = noise.gateway_id
    other_gateway = next(x.gateway_id for x in sensors if x.gateway_id != gateway)
    token, other_token = add_key(folder, gateway), add_key(folder, other_gateway)
    read_key: dict[str, str] = {}

    def change(clients):  # noqa: ANN001, ANN202
        clients, read_key["key"] = add_client(clients, "dashboard", name="城市驾驶舱", source="inspection",
                                              scopes=("read",), rate_per_s=1000, burst=1000)
        return clients

    update_api_clients(keys_path(s.city_dir, s.apikeys_file), change)
    now = datetime.now(s.tz).replace(microsecond=0)
    reading = {"sensor_id": noise.id, "kind": "noise", "metric": "laeq", "value": 63.5, "unit": "dB(A)",
               "time": now.isoformat()}
    envelope = {"v": 1, "envelope_id": f"{gateway}-http-1", "gateway_id": gateway, "sent_at": now.isoformat(),
                "readings": [reading]}
    bearer = {"Authorization": f"Bearer {token}"}
    path = f"/api/v1/gateways/{gateway}/readings"
    with worker(tmp_path / "worker.log"), TestClient(create_app(s)) as api:
        def post(body: object, headers=bearer, at: str = path):  # noqa: ANN001, ANN202
            raw = body if isinstance(body, bytes) else orjson.dumps(body)
            return api.post(at, content=raw, headers={"Content-Type": "application/json", **headers})

        res = post(envelope)
        assert res.status_code == 202, res.text
        assert res.json() == {"envelope_id": envelope["envelope_id"], "gateway_id": gateway, "accepted": 1,
                              "rejected": []}
        # one good and one bad reading (a string value): the good one is kept, the bad one named and dead-lettered
        mixed = envelope | {"envelope_id": f"{gateway}-http-2",
                            "readings": [reading | {"value": 64.5}, reading | {"value": "70"}]}
        res = post(mixed)
        assert res.status_code == 202, res.text
        assert res.json()["accepted"] == 1 and [r["field"] for r in res.json()["rejected"]] == ["readings.1"]

        def state() -> dict:
            res = api.get(f"/api/v1/sensors/{noise.id}", headers={"X-Api-Key": read_key["key"]})
            assert res.status_code == 200, res.text
            return res.json()

        wait_until(lambda: (state()["latest"] or {}).get("value") == "64.5", 60,
                   "the posted readings did not reach the read model")
        seen = state()
        assert seen["latest"] == read.sensor_states(redis_client)[noise.id]
        buckets = seen["window"]["buckets"]
        assert [b["n"] for b in buckets] == [2] and buckets[0]["max"] == 64.5  # both readings, one 15-min bucket
        wait_until(lambda: any(d.get("event_id") == f"{gateway}-http-2#1" for d in read.recent_dead_letters(
            redis_client)), 30, "the refused reading was not dead-lettered")

        def refused(res, code: int, field: str) -> None:  # noqa: ANN001
            assert res.status_code == code, res.text
            assert res.json()["error"]["field"] == field, res.text

        refused(post(envelope, headers={}), 401, "Authorization")
        refused(post(envelope, headers={"Authorization": f"Bearer {token}x"}), 401, "Authorization")
        refused(post(envelope, headers={"Authorization": f"Bearer {other_token}"}), 401, "Authorization")
        refused(post(envelope | {"gateway_id": other_gateway}), 403, "gateway_id")  # its token, another's envelope
        refused(post(b"x" * (MAX_BODY_BYTES + 1)), 413, "body")
        refused(post(b"{not json"), 400, "body")
        refused(post({k: v for k, v in envelope.items() if k != "sent_at"}), 400, "sent_at")
        refused(post(envelope | {"readings": []}), 400, "readings")
        refused(post(envelope | {"readings": [reading | {"unit": "ug/m3"}]}), 400, "readings.0")
        refused(post(envelope | {"v": 2}), 400, "v")
