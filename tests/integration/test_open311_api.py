"""The running API process (``python -m cityops api``) with an HTTP client, through the broker and a worker to the
read model and back: a report becomes a case whose status GET requests/{id}.json shows, the same request sent
twice (also across an API restart) is one case, and every refusal has its status and field in Open311's format."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis import Redis

from cityops import apikeys, keys, read
from doors.api.geo import gcj02_to_wgs84
from tests.support.workers import REPO_ROOT, free_port, start_worker, stop_process, subprocess_env, wait_until

WGS_LON, WGS_LAT = (round(v, 6) for v in gcj02_to_wgs84(118.089412, 24.479803))  # grid 350203003001003
DB = 9


@dataclass
class Stack:
    env: dict[str, str]
    base: str
    redis: Redis
    keys: dict[str, str]
    log: Path
    api: subprocess.Popen | None = None


def start_api(stack: Stack) -> None:
    with stack.log.open("ab") as log:
        stack.api = subprocess.Popen([sys.executable, "-m", "cityops", "api"], cwd=REPO_ROOT, env=stack.env,
                                     stdout=log, stderr=subprocess.STDOUT)

    def up() -> bool:
        try:
            return httpx.get(f"{stack.base}/openapi.json", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 60, f"API not up; log:\n{stack.log.read_text(errors='replace')[-3000:]}", stack.api)


@pytest.fixture(scope="module")
def stack(broker_url: str, redis_url: str, tmp_path_factory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("open311")
    keyfile = tmp / "apikeys.json"
    clients: dict[str, apikeys.ApiClient] = {}
    made: dict[str, str] = {}
    for cid, source, scopes, rate, burst in (
            ("hotline-12345", "hotline_12345", ("open311.report", "open311.read"), 1000.0, 1000),
            ("dashboard", "inspection", ("open311.read",), 1000.0, 1000),
            ("slow-app", "citizen_app", ("open311.report", "open311.read"), 0.01, 2)):
        clients, made[cid] = apikeys.add_client(clients, cid, name=cid, source=source, scopes=scopes,
                                                rate_per_s=rate, burst=burst)
    apikeys.save_api_clients(keyfile, clients)
    port = free_port()
    env = subprocess_env() | {
        "KAFKA_BROKER": f"kafka://{broker_url}", "REDIS_URL": redis_url.rsplit("/", 1)[0] + f"/{DB}",
        "CITYOPS_VAR": str(tmp / "var"), "CITYOPS_TOPIC_PREFIX": f"o{uuid.uuid4().hex[:10]}",
        "CITYOPS_WORKER_ID": f"o{uuid.uuid4().hex[:10]}", "CITYOPS_WORKER_WEB_PORT": "0",
        "CITYOPS_APIKEYS_FILE": str(keyfile), "CITYOPS_API_PORT": str(port)}
    r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
    r.flushdb()
    s = Stack(env, f"http://127.0.0.1:{port}", r, made, tmp / "api.log")
    wlog = tmp / "worker.log"
    proc = start_worker(wlog, env)  # starts while the API does
    try:
        start_api(s)
        wait_until(lambda: "[^Worker]: Ready" in wlog.read_text(errors="replace"), 60,
                   f"worker not ready; log:\n{wlog.read_text(errors='replace')[-3000:]}", proc)
        yield s
    finally:
        stop_process(proc)
        if s.api is not None:
            stop_process(s.api)
        r.close()


def post(stack: Stack, key: str | None, headers: dict[str, str] | None = None, **fields: str) -> httpx.Response:
    body = {"service_code": "E0102", "lat": str(WGS_LAT), "long": str(WGS_LON)} | fields
    if key is not None:
        body["api_key"] = key
    return httpx.post(f"{stack.base}/open311/v2/requests.json", data=body, headers=headers or {}, timeout=10)


def get(stack: Stack, path: str, key: str | None = None, **params: str) -> httpx.Response:
    key = key or stack.keys["dashboard"]
    return httpx.get(f"{stack.base}/open311/v2/{path}", params={"api_key": key, **params}, timeout=10)


def visible(stack: Stack, case_id: str, timeout: float = 30) -> dict:
    wait_until(lambda: get(stack, f"requests/{case_id}.json").status_code == 200, timeout,
               f"case {case_id} never appeared; API log:\n{stack.log.read_text(errors='replace')[-2000:]}")
    return get(stack, f"requests/{case_id}.json").json()[0]


def test_a_report_reaches_the_read_model_and_reads_back(stack: Stack) -> None:
    services = get(stack, "services.json")
    assert services.status_code == 200 and any(s["service_code"] == "E0102" for s in services.json())
    assert get(stack, "services/E0102.json").json()["attributes"][0]["code"] == "external_id"
    resp = post(stack, stack.keys["hotline-12345"], description="中山路垃圾满溢", address_string="中山路88号",
                media_url="https://img.example/1.jpg")
    assert resp.status_code == 201, resp.text
    case_id = resp.json()[0]["service_request_id"]
    assert case_id.startswith("hotline-12345-")
    view = visible(stack, case_id)
    assert view["status"] == "open" and view["status_notes"].startswith("已上报 (reported)")
    assert view["service_code"] == "E0102" and view["description"] == "中山路垃圾满溢"
    assert view["media_url"] == "https://img.example/1.jpg" and view["address"] == "中山路88号"
    assert (view["long"], view["lat"]) == pytest.approx((WGS_LON, WGS_LAT), abs=2e-6)
    case = stack.redis.hgetall(keys.case(case_id))
    assert case["source"] == "hotline_12345" and case["grid"] == "350203003001003"
    assert float(case["lon"]) == pytest.approx(118.089412, abs=2e-6)  # stored in GCJ-02
    listed = get(stack, "requests.json", service_request_id=f"{case_id},nope").json()
    assert [v["service_request_id"] for v in listed] == [case_id]
    found = get(stack, "requests.json", service_code="E0102", status="open").json()
    assert case_id in [v["service_request_id"] for v in found]
    assert case_id not in [v["service_request_id"] for v in get(stack, "requests.json", status="closed").json()]
    assert get(stack, f"tokens/{case_id}.json").json() == [{"token": case_id, "service_request_id": case_id}]


def test_the_same_request_twice_is_one_case_even_across_a_restart(stack: Stack) -> None:
    key = stack.keys["hotline-12345"]
    ids = {post(stack, key, **{"attribute[external_id]": "GD-2026-0001"}).json()[0]["service_request_id"]
           for _ in range(3)}
    idem = {post(stack, key, headers={"Idempotency-Key": "k-77"}).json()[0]["service_request_id"] for _ in range(2)}
    assert len(ids) == 1 and len(idem) == 1 and ids != idem
    case_id = ids.pop()
    visible(stack, case_id)
    stop_process(stack.api)
    start_api(stack)
    again = post(stack, key, description="重复", **{"attribute[external_id]": "GD-2026-0001"})
    assert again.status_code == 201 and again.json()[0]["service_request_id"] == case_id
    fresh = post(stack, key).json()[0]["service_request_id"]  # sent after the copies: once it shows, they were read
    visible(stack, fresh)
    assert len(stack.redis.lrange(keys.case_timeline(case_id), 0, -1)) == 1  # one 上报, the copies dropped
    assert stack.redis.hget(keys.case(case_id), "description") is None  # the first copy's (none) stands
    dead = read.recent_dead_letters(stack.redis)
    assert not dead, f"copies were dead-lettered, not dropped: {dead}"


@pytest.mark.parametrize(("kind", "status", "field"), [
    ("no key", 401, "api_key"), ("wrong key", 401, "api_key"), ("read-only key", 403, "api_key"),
    ("bad lat", 400, "lat"), ("unknown service", 400, "service_code"), ("outside the city", 400, "lat"),
    ("too large", 413, None), ("json body", 415, "Content-Type"), ("unknown request", 404, "service_request_id"),
])
def test_refusals_name_status_and_field(stack: Stack, kind: str, status: int, field: str | None) -> None:
    key = stack.keys["hotline-12345"]
    resp = {
        "no key": lambda: post(stack, None),
        "wrong key": lambda: post(stack, key[:-4] + "AAAA"),
        "read-only key": lambda: post(stack, stack.keys["dashboard"]),
        "bad lat": lambda: post(stack, key, lat="north"),
        "unknown service": lambda: post(stack, key, service_code="E9999"),
        "outside the city": lambda: post(stack, key, lat="39.9", long="116.4"),
        "too large": lambda: post(stack, key, description="x" * 70_000),
        "json body": lambda: httpx.post(f"{stack.base}/open311/v2/requests.json", json={"api_key": key}, timeout=10),
        "unknown request": lambda: get(stack, "requests/none-such.json"),
    }[kind]()
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert isinstance(body, list) and body[0]["code"] == status and body[0]["description"]
    assert body[0]["field"] == field


def test_over_the_rate_is_429_with_retry_after(stack: Stack) -> None:
    codes = [get(stack, "services.json", key=stack.keys["slow-app"]) for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert int(codes[-1].headers["Retry-After"]) >= 1 and codes[-1].json()[0]["field"] == "api_key"
