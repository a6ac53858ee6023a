"""Fuzz of the Open311 door: 5,000 malformed requests (in process, through the real app, producer and broker)
mixed with valid ones. No request crashes the door (no 5xx, every refusal in Open311's format with its status),
nothing valid is lost, and the read model a worker builds holds exactly the valid traffic's cases."""

from __future__ import annotations

import random
import string
import time
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient

from cityops import apikeys, keys, read
from cityops.settings import get_settings
from doors.api.app import create_app
from doors.api.geo import gcj02_to_wgs84
from tests.support.workers import start_worker, stop_process, subprocess_env, wait_until

MALFORMED = 5000
VALID = 60
WGS_LON, WGS_LAT = (round(v, 6) for v in gcj02_to_wgs84(118.089412, 24.479803))
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
REFUSALS = {400, 401, 403, 404, 405, 413, 415, 429}


def junk(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.printable + "厦门中山路\u200b\ufeff") for _ in range(n))


def valid_form(key: str, rng: random.Random, i: int) -> dict[str, str]:
    form = {"api_key": key, "service_code": rng.choice(["E0102", "C0101", "E0201"]),
            "description": f"有效 valid {i} {junk(rng, 8)}", "attribute[external_id]": f"EXT-{i // 2}"}
    if i % 3:
        form |= {"lat": str(WGS_LAT), "long": str(WGS_LON)}
    else:
        form["address_string"] = f"思明区中华街道{i}号"
    return form


def malformed(key: str, reader_key: str, rng: random.Random) -> tuple[str, str, bytes, dict[str, str]]:
    """(method, path, body, headers) of one request that must be refused, by construction."""
    base = {"api_key": key, "service_code": "E0102", "lat": str(WGS_LAT), "long": str(WGS_LON)}
    kind = rng.randrange(16)
    form = dict(base)
    headers = dict(FORM)
    if kind == 0:
        form["api_key"] = rng.choice(["", junk(rng, 40), key[:-3] + "xyz", "co.hotline-12345." + "A" * 43, reader_key])
        if form["api_key"] == "":
            del form["api_key"]
    elif kind == 1:
        form["service_code"] = rng.choice(["", "E99", "X0101", junk(rng, 6), "e0102", "E0102 "*2])
    elif kind == 2:
        form[rng.choice(["lat", "long"])] = rng.choice(["nan", "inf", "1e2", "", "24,4", junk(rng, 5), "-999", "95.0",
                                                        "0x18", "２４.４"])
    elif kind == 3:
        form["lat"], form["long"] = rng.choice([("24.0", "118.0"), ("39.9", "116.4"), ("0", "0"), ("-24.4", "118.1")])
    elif kind == 4:
        del form["lat"], form["long"]
    elif kind == 5:
        form[rng.choice(["description", "address_string", "email", "phone"])] = "x" * rng.choice([4001, 5000, 20000])
        form.setdefault("address_string", "a")
        if len(form["address_string"]) <= 500 and len(form.get("description", "")) <= 4000 \
                and len(form.get("email", "")) <= 200 and len(form.get("phone", "")) <= 200:
            form["description"] = "y" * 4001
    elif kind == 6:
        form["description"] = junk(rng, 10) + "\x00" + junk(rng, 5)
    elif kind == 7:
        form["media_url"] = rng.choice(["javascript:alert(1)", "ftp://x/y", "http://", "not a url", "https://a b/c"])
    elif kind == 8:
        form[f"attribute[{rng.choice(['colour', 'x', 'EXTERNAL', '1'])}]"] = junk(rng, 5)
    elif kind == 9:
        form["attribute[urgent]"] = rng.choice(["yes", "2", junk(rng, 3) + "x"])
    elif kind == 10:
        form[rng.choice(["colour", "lat2", "source", "case_id", "api-key"])] = junk(rng, 4)
    elif kind == 11:  # bodies that are not a form
        body = rng.choice([b"\xff\xfe\x00junk", b"a=%ff%fe", urlencode(form).encode() + b"&api_key=dup",
                           b"&".join(b"f%d=1" % n for n in range(80)), rng.randbytes(rng.randrange(1, 200)) + b"\xff"])
        return "POST", "/open311/v2/requests.json", body, headers
    elif kind == 12:
        headers = {"Content-Type": rng.choice(["application/json", "text/plain", "multipart/form-data; boundary=x",
                                               ""])}
    elif kind == 13:
        return "POST", "/open311/v2/requests.json", b"description=" + b"z" * 70_000, headers
    elif kind == 14:  # reads that must be refused
        path = rng.choice([f"/open311/v2/requests/{quote(junk(rng, 6), safe='')}.json",
                           "/open311/v2/services/E9999.json", "/open311/v2/requests.json?status=lost",
                           "/open311/v2/requests.json?start_date=yesterday", "/open311/v2/tokens/none.json",
                           "/open311/v2/requests.json?service_code=Q1"])
        sep = "&" if "?" in path else "?"
        return "GET", f"{path}{sep}api_key={quote(rng.choice([key, reader_key, 'nope']))}", b"", {}
    else:
        form["attribute[external_id]"] = "e" * rng.choice([129, 300])
    return "POST", "/open311/v2/requests.json", urlencode(form).encode(), headers


@pytest.fixture
def door(stack_env, tmp_path, monkeypatch):
    path = tmp_path / "apikeys.json"
    clients, key = apikeys.add_client({}, "hotline-12345", name="12345热线", source="hotline_12345",
                                      rate_per_s=100_000, burst=100_000)
    clients, reader_key = apikeys.add_client(clients, "dashboard", name="大屏", source="inspection",
                                             scopes=("open311.read",), rate_per_s=100_000, burst=100_000)
    apikeys.save_api_clients(path, clients)
    monkeypatch.setenv("CITYOPS_APIKEYS_FILE", str(path))
    get_settings.cache_clear()
    with TestClient(create_app(other_routers=False), raise_server_exceptions=False) as client:
        yield client, key, reader_key
    get_settings.cache_clear()


def test_fuzz_refuses_every_malformed_request_and_keeps_every_valid_one(door, redis_client, tmp_path) -> None:
    client, key, reader_key = door
    rng = random.Random(311)
    bad = [malformed(key, reader_key, rng) for _ in range(MALFORMED)]
    good = [valid_form(key, rng, i) for i in range(VALID)]
    slots = sorted(rng.sample(range(MALFORMED + VALID), VALID))
    sent: dict[str, dict[str, str]] = {}  # case id → the first form sent for it
    statuses: dict[int, int] = {}
    proc = start_worker(tmp_path / "worker.log", subprocess_env())  # starts while the requests are sent
    try:
        started = time.monotonic()
        g = b = 0
        for n in range(MALFORMED + VALID):
            if g < VALID and n == slots[g]:
                resp = client.post("/open311/v2/requests.json", content=urlencode(good[g]).encode(), headers=FORM)
                assert resp.status_code == 201, resp.text
                sent.setdefault(resp.json()[0]["service_request_id"], good[g])
                g += 1
                continue
            method, path, body, headers = bad[b]
            b += 1
            resp = client.request(method, path, content=body or None, headers=headers)
            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
            assert resp.status_code in REFUSALS, (method, path, body[:200], resp.status_code, resp.text[:300])
            err = resp.json()
            assert isinstance(err, list) and err[0]["code"] == resp.status_code and err[0]["description"]
        assert b == MALFORMED and len(sent) == VALID // 2  # each external id sent twice: one case
        print(f"{MALFORMED + VALID} requests in {time.monotonic() - started:.1f} s")

        def applied() -> bool:
            return all(redis_client.exists(keys.case(cid)) for cid in sent)

        wait_until(applied, 60, "not every valid report reached the read model", proc)
        stored = {k.removeprefix(keys.case("")) for k in redis_client.scan_iter(keys.case("*"))}
        assert stored == set(sent), "the read model holds other cases than the valid traffic's"
        for cid, form in sent.items():
            case = read.case(redis_client, cid)
            assert case["category"] == form["service_code"] and case["source"] == "hotline_12345"
            assert case["description"] == form["description"].strip()
            assert (case["grid"] != "") == ("lat" in form)
        assert read.recent_dead_letters(redis_client) == []
    finally:
        stop_process(proc)
    assert {400, 401, 403, 404, 413, 415} <= set(statuses)
