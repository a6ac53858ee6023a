"""Open311 intake latency: POST requests.json → the case visible through GET requests/{id}.json, at a steady
``--rate`` (default 200 requests/s) for ``--seconds`` (default 20), beside a baseline measured in the same run:
the same reports sent by a direct Kafka producer (cityops.bus.Publisher), timed from the send to the case's hash
in the read model.

One machine, a private broker (tansu) and Redis, one ``python -m cityops worker`` and one ``python -m cityops api``
(uvicorn, one process). Each Open311 report is its own task started on the schedule (open loop: a slow answer does
not slow the sending) that POSTs the form; one poller asks GET requests.json?service_request_id=… (up to 200 ids,
the pending ones) every ``--poll-ms`` (default 20), so latency = POST sent → the request listed by the API.
Prints p50/p95/p99/max of both paths, the rates reached and the API process's CPU time per report (its POST and its
share of the polling), then one JSON object on stdout. The client, API, worker, broker and Redis share the machine:
on a small one the rate the client reaches (``rate_sent``) says whether the figure is the platform's or the box's.

    .venv/bin/python bench/bench_open311.py [--rate 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cityops import apikeys, keys  # noqa: E402
from cityops.bus import Publisher, ensure_topics  # noqa: E402
from cityops.schemas import CaseAction, CaseEvent, CaseSource, encode  # noqa: E402
from cityops.services.broker import start_broker  # noqa: E402
from cityops.services.readiness import wait_for_broker, wait_for_redis  # noqa: E402
from cityops.services.redis_server import start_redis  # noqa: E402
from cityops.settings import Settings  # noqa: E402
from doors.api.geo import gcj02_to_wgs84  # noqa: E402
from tests.support.workers import free_port, stop_process  # noqa: E402

GCJ = (118.089412, 24.479803)
WGS = tuple(round(v, 6) for v in gcj02_to_wgs84(*GCJ))


def quantiles(values: list[float]) -> dict[str, float | int]:
    v = sorted(values)
    if not v:
        return {"n": 0}

    def q(p: float) -> float:
        return round(v[min(len(v) - 1, int(p * len(v)))] * 1000, 1)

    return {"n": len(v), "p50_ms": q(0.50), "p95_ms": q(0.95), "p99_ms": q(0.99), "max_ms": round(v[-1] * 1000, 1)}


async def direct(s: Settings, redis_url: str, rate: float, seconds: float) -> dict:
    """Baseline: case events straight onto the topic; latency = send → the case's hash exists."""
    r = Redis.from_url(redis_url, decode_responses=True)
    pending: dict[str, float] = {}
    latencies: list[float] = []
    done_sending = asyncio.Event()

    async def poll() -> None:
        while not (done_sending.is_set() and not pending):
            ids = list(pending)
            if ids:
                pipe = r.pipeline(transaction=False)
                for cid in ids:
                    pipe.exists(keys.case(cid))
                now = time.monotonic()
                for cid, found in zip(ids, await pipe.execute(), strict=True):
                    if found:
                        latencies.append(now - pending.pop(cid))
            await asyncio.sleep(0.005)

    poller = asyncio.create_task(poll())
    async with Publisher(s) as pub:
        n = int(rate * seconds)
        t0 = time.monotonic()
        for i in range(n):
            await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            cid = f"direct-{i}"
            event = CaseEvent(event_id=f"{cid}-report", case_id=cid, action=CaseAction.REPORT,
                              event_time=datetime.now(UTC), source=CaseSource.HOTLINE_12345, category_code="E0102",
                              lon=GCJ[0], lat=GCJ[1], description=f"bench {i}")
            pending[cid] = time.monotonic()
            await pub.send(s.topics.cases, cid, encode(event))
        sent_s = time.monotonic() - t0
    done_sending.set()
    await asyncio.wait_for(poller, 60)
    await r.aclose()
    return quantiles(latencies) | {"rate_sent": round(n / sent_s, 1)}


class Connection:
    """A bare HTTP/1.1 keep-alive connection: the bench's client must cost far less than the API it measures
    (httpx's per-request overhead starved the sending loop on a small machine)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str, body: bytes = b"", ctype: str = "") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)


async def open311(base: str, key: str, rate: float, seconds: float, poll_ms: float, connections: int = 64) -> dict:
    """POSTs on the schedule over ``connections`` keep-alive connections; one poller asks GET
    requests.json?service_request_id=… for every pending id at once (one request per ``poll_ms``, not one per
    report, so the polling does not become the load)."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    answered: list[float] = []  # POST sent → its 201 (the broker's ack included)
    failures: list[str] = []
    pending: dict[str, float] = {}
    done_sending = asyncio.Event()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(Connection(host, int(port)))

    async def one(i: int) -> None:
        started = time.monotonic()
        body = urlencode({"api_key": key, "service_code": "E0102", "lat": str(WGS[1]), "long": str(WGS[0]),
                          "description": f"bench {i}", "attribute[external_id]": f"B-{i}"}).encode()
        conn = await idle.get()
        try:
            status, answer = await conn.request("POST", "/open311/v2/requests.json", body,
                                                 "application/x-www-form-urlencoded")
        finally:
            idle.put_nowait(conn)
        answered.append(time.monotonic() - started)
        if status != 201:
            failures.append(f"{status} {answer[:200]!r}")
            return
        pending[json.loads(answer)[0]["service_request_id"]] = started

    async def poll() -> None:
        conn = Connection(host, int(port))
        deadline = None
        while not (done_sending.is_set() and not pending):
            ids = list(pending)[:200]
            if ids:
                status, answer = await conn.request("GET", "/open311/v2/requests.json?" + urlencode(
                    {"api_key": key, "service_request_id": ",".join(ids)}))
                now = time.monotonic()
                if status == 200:
                    for view in json.loads(answer):
                        latencies.append(now - pending.pop(view["service_request_id"]))
            if done_sending.is_set():
                deadline = deadline or time.monotonic() + 60
                if time.monotonic() > deadline:
                    failures.extend(f"{cid} not visible" for cid in pending)
                    return
            await asyncio.sleep(poll_ms / 1000)

    poller = asyncio.create_task(poll())
    n = int(rate * seconds)
    tasks = []
    t0 = time.monotonic()
    for i in range(n):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one(i)))
    sent_s = time.monotonic() - t0
    await asyncio.gather(*tasks)
    done_sending.set()
    await poller
    return quantiles(latencies) | {"post_answered": quantiles(answered), "rate_sent": round(n / sent_s, 1),
                                   "failures": len(failures), "first_failures": failures[:3]}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready")
        time.sleep(0.2)


def main() -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--poll-ms", type=float, default=20.0)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_open311"))
    bport, rport, aport = free_port(), free_port(), free_port()
    broker = start_broker("127.0.0.1", bport, tmp / "broker.log")
    redis_proc = start_redis("127.0.0.1", rport, tmp / "redis", tmp / "redis.log")
    procs: list[subprocess.Popen] = []
    try:
        redis_url = f"redis://127.0.0.1:{rport}/0"
        s = Settings(kafka_broker=f"kafka://127.0.0.1:{bport}", redis_url=redis_url,
                     topic_prefix=f"B{uuid.uuid4().hex[:8]}")
        wait_for_broker(s, 30)
        wait_for_redis(s, 30)
        asyncio.run(ensure_topics(s))
        clients, key = apikeys.add_client({}, "bench", name="bench", source="hotline_12345", rate_per_s=100_000,
                                          burst=100_000)
        apikeys.save_api_clients(tmp / "apikeys.json", clients)
        env = dict(os.environ, KAFKA_BROKER=s.kafka_broker, REDIS_URL=redis_url, PYTHONPATH=str(ROOT),
                   CITYOPS_TOPIC_PREFIX=s.topic_prefix, CITYOPS_WORKER_ID=f"B{uuid.uuid4().hex[:8]}",
                   CITYOPS_WORKER_WEB_PORT="0", CITYOPS_VAR=str(tmp / "var"), PYTHONUNBUFFERED="1",
                   CITYOPS_APIKEYS_FILE=str(tmp / "apikeys.json"), CITYOPS_API_PORT=str(aport))
        wlog, alog = tmp / "worker.log", tmp / "api.log"
        with wlog.open("wb") as fh:
            procs.append(subprocess.Popen([sys.executable, "-m", "cityops", "worker", "--loglevel", "info"],
                                          cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT))
        with alog.open("wb") as fh:
            procs.append(subprocess.Popen([sys.executable, "-m", "cityops", "api"], cwd=ROOT, env=env, stdout=fh,
                                          stderr=subprocess.STDOUT))
        base = f"http://127.0.0.1:{aport}"

        def api_up() -> bool:
            try:
                return httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(lambda: "Worker]: Ready" in wlog.read_text(errors="replace"), 120, "worker", procs[0])
        _wait(api_up, 60, "api", procs[1])
        load_before = [round(x, 2) for x in os.getloadavg()]
        print(f"baseline: direct producer at {args.rate:g}/s for {args.seconds:g} s …", file=sys.stderr, flush=True)
        baseline = asyncio.run(direct(s, redis_url, args.rate, args.seconds))
        print(f"  {baseline}", file=sys.stderr, flush=True)
        print(f"open311: POST → GET visible at {args.rate:g}/s for {args.seconds:g} s …", file=sys.stderr, flush=True)
        cpu0 = cpu_seconds(procs[1].pid)
        measured = asyncio.run(open311(base, key, args.rate, args.seconds, args.poll_ms))
        measured["api_cpu_ms_per_report"] = round((cpu_seconds(procs[1].pid) - cpu0) * 1000 / max(1, measured["n"]), 2)
        print(f"  {measured}", file=sys.stderr, flush=True)
        return {"bench": "open311", "rate": args.rate, "seconds": args.seconds, "poll_ms": args.poll_ms,
                "machine": f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
                "nproc": os.cpu_count(), "loadavg_before": load_before,
                "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                "baseline_direct_producer": baseline, "open311_post_to_get": measured}
    finally:
        for proc in procs:
            stop_process(proc)
        stop_process(broker)
        stop_process(redis_proc)


if __name__ == "__main__":
    print(json.dumps(main(), ensure_ascii=False))
