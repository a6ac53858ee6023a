"""Gateway readings over HTTP: envelopes/s through one API process, beside a direct producer (the baseline).

One run, one machine, a private broker (tansu), the same envelopes (``--readings`` readings each, the
simulator's shape) both ways:

1. ``direct``: one :class:`cityops.bus.Publisher` sends the envelopes to the sensors topic and waits until
   the broker acknowledged all of them: what the broker takes from one producer.
2. ``direct_acked``: the same publisher (``pending_limit`` as the API's) with ``--connections`` senders that
   each wait for their envelope's ack before sending the next: what ``--connections`` clients that need an
   ack per envelope can reach through one producer without HTTP (the ceiling of the HTTP figure).
3. ``http``: ``python -m cityops api`` (one uvicorn process) receives them as ``POST /api/v1/gateways/{id}/
   readings`` with each gateway's token from ``--connections`` keep-alive connections, spread over
   ``--clients`` load processes, each request answered only after the broker's ack. The load processes
   use a minimal HTTP/1.1 client on raw sockets, so the client costs as little as it can.

Prints one JSON object: envelopes/s and readings/s each way, the ratios, HTTP status counts, the API process's
CPU time per envelope (what it costs whatever the machine's other load: ``1 / api_cpu_us_per_envelope`` is the
rate one free core would reach), the load processes' CPU, and the machine (CPUs, load average before and after,
the HTTP parser and event loop the API's uvicorn chose).
Run: ``.venv/bin/python bench/bench_gateway_http.py [--envelopes 40000] [--readings 20]``.
Target: ≥ 5,000 envelopes/s per API process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cityops.bus import Publisher, ensure_topics  # noqa: E402
from cityops.gateway_credentials import add_key  # noqa: E402
from cityops.services.broker import start_broker  # noqa: E402
from cityops.services.readiness import wait_for_broker  # noqa: E402
from cityops.settings import Settings  # noqa: E402
from fixtures.xiamen import load_sensors  # noqa: E402
from tests.support.workers import free_port, stop_process, subprocess_env  # noqa: E402


def envelopes(count: int, size: int) -> list[tuple[str, bytes]]:
    """``count`` valid envelopes of ``size`` readings each, round-robin over the city's gateways."""
    by_gateway: dict[str, list] = {}
    for s in load_sensors():
        by_gateway.setdefault(s.gateway_id, []).append(s)
    gateways = sorted(by_gateway)
    now = datetime.now(Settings().tz).replace(microsecond=0).isoformat()
    out = []
    for i in range(count):
        gw = gateways[i % len(gateways)]
        sensors = by_gateway[gw]
        readings = [{"sensor_id": s.id, "kind": s.kind, "metric": s.metric, "value": 1.0, "unit": s.unit,
                     "time": now} for s in (sensors[(i + k) % len(sensors)] for k in range(size))]
        out.append((gw, orjson.dumps({"v": 1, "envelope_id": f"{gw}-bench-{i}", "gateway_id": gw, "sent_at": now,
                                      "readings": readings})))
    return out


def bench_direct(settings: Settings, items: list[tuple[str, bytes]]) -> float:
    async def go() -> float:
        async with Publisher(settings, pending_limit=2000) as pub:
            start = time.perf_counter()
            for key, payload in items:
                await pub.send(settings.topics.sensors, key, payload)
            await pub.flush()
            return time.perf_counter() - start

    return len(items) / asyncio.run(go())


def bench_direct_acked(settings: Settings, items: list[tuple[str, bytes]], concurrency: int) -> float:
    async def go() -> float:
        async with Publisher(settings, pending_limit=500) as pub:
            loop = asyncio.get_running_loop()

            async def sender(share: list[tuple[str, bytes]]) -> None:
                for key, payload in share:
                    done = loop.create_future()
                    await pub.send(settings.topics.sensors, key, payload, wait=False, done=done)
                    await done

            start = time.perf_counter()
            await asyncio.gather(*(sender(items[i::concurrency]) for i in range(concurrency)))
            return time.perf_counter() - start

    return len(items) / asyncio.run(go())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time of the child processes waited for so far (the load processes, once joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load(port: int, requests: list[bytes], connections: int, out: mp.Queue) -> None:
    """One load process: ``connections`` keep-alive connections sending their share of the requests in turn."""
    async def connection(share: list[bytes], statuses: Counter) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for request in share:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            statuses[int(head[9:12])] += 1
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
        writer.close()

    async def go() -> Counter:
        statuses: Counter = Counter()
        await asyncio.gather(*(connection(requests[i::connections], statuses) for i in range(connections)))
        return statuses

    out.put(dict(asyncio.run(go())))


def bench_http(port: int, items: list[tuple[str, bytes]], tokens: dict[str, str], clients: int,
               connections: int) -> tuple[float, dict[int, int]]:
    requests = [(f"POST /api/v1/gateways/{gw}/readings HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {tokens[gw]}"
                 f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
                for gw, body in items]
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_load, args=(port, requests[i::clients], max(1, connections // clients), out))
             for i in range(clients)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    statuses: Counter = Counter()
    for _ in procs:
        statuses.update(out.get())
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    return statuses[202] / elapsed, dict(statuses)


def main() -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("--envelopes", type=int, default=40_000)
    p.add_argument("--readings", type=int, default=20, help="readings per envelope")
    p.add_argument("--clients", type=int, default=2, help="load processes")
    p.add_argument("--connections", type=int, default=64, help="keep-alive connections in all")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp())
    bport, aport = free_port(), free_port()
    broker = start_broker("127.0.0.1", bport, tmp / "broker.log")
    city = tmp / "city"
    city.mkdir()
    for item in (ROOT / "cities" / "xiamen").iterdir():
        if not item.name.startswith((".", "gateway_keys", "apikeys")):
            (city / item.name).symlink_to(item)
    env = {"KAFKA_BROKER": f"kafka://127.0.0.1:{bport}", "CITYOPS_CITY_DIR": str(city),
           "CITYOPS_TOPIC_PREFIX": f"b{uuid.uuid4().hex[:8]}", "CITYOPS_VAR": str(tmp / "var"),
           "CITYOPS_API_ACK_TIMEOUT_S": "30", "CITYOPS_APIKEYS_FILE": str(tmp / "apikeys.json")}
    settings = Settings(kafka_broker=env["KAFKA_BROKER"], topic_prefix=env["CITYOPS_TOPIC_PREFIX"])
    api = None
    try:
        wait_for_broker(settings, 30)
        asyncio.run(ensure_topics(settings))
        items = envelopes(args.envelopes, args.readings)
        tokens = {gw: add_key(city, gw) for gw in sorted({gw for gw, _ in items})}
        bench_direct(settings, items[:2000])  # warm-up: topic metadata, broker caches
        load_before = [round(x, 2) for x in os.getloadavg()]
        direct = bench_direct(settings, items)
        print(f"direct: {direct:,.0f} envelopes/s", file=sys.stderr)
        bench_direct_acked(settings, items[:2000], args.connections)  # warm-up
        direct_acked = bench_direct_acked(settings, items, args.connections)
        print(f"direct, an ack per envelope, {args.connections} senders: {direct_acked:,.0f} envelopes/s",
              file=sys.stderr)
        with (tmp / "api.log").open("wb") as log:
            api = subprocess.Popen([sys.executable, "-m", "cityops", "api", "--port", str(aport)], cwd=ROOT,
                                   env=subprocess_env() | env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while b"Application startup complete" not in (tmp / "api.log").read_bytes():
            if api.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the API did not start:\n{(tmp / 'api.log').read_text()[-3000:]}")
            time.sleep(0.2)
        warm = [(gw, body.replace(b"-bench-", b"-warm-")) for gw, body in items[:2000]]
        bench_http(aport, warm, tokens, args.clients, args.connections)
        api_cpu0, load_cpu0 = cpu_seconds(api.pid), children_cpu_seconds()
        http, statuses = bench_http(aport, items, tokens, args.clients, args.connections)
        api_cpu_us = (cpu_seconds(api.pid) - api_cpu0) * 1e6 / args.envelopes
        load_cpu_us = (children_cpu_seconds() - load_cpu0) * 1e6 / args.envelopes
        print(f"http: {http:,.0f} envelopes/s {statuses}; API CPU {api_cpu_us:.0f} µs per envelope", file=sys.stderr)
        server = re.search(r"api: HTTP parser (\S+), event loop (\S+)", (tmp / "api.log").read_text())
        return {"bench": "gateway_http", "envelopes": args.envelopes, "readings_per_envelope": args.readings,
                "direct_envelopes_per_s": round(direct), "direct_acked_envelopes_per_s": round(direct_acked),
                "http_envelopes_per_s": round(http), "http_readings_per_s": round(http * args.readings),
                "http_vs_direct": round(http / direct, 3), "http_vs_direct_acked": round(http / direct_acked, 3),
                "api_cpu_us_per_envelope": round(api_cpu_us, 1), "load_cpu_us_per_envelope": round(load_cpu_us, 1),
                "statuses": statuses, "clients": args.clients, "connections": args.connections,
                "target_envelopes_per_s": 5000, "nproc": os.cpu_count(), "loadavg_before": load_before,
                "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                "api_server": f"{server[1]}, {server[2]}" if server else "unknown",
                "machine": platform.processor() or platform.machine(), "python": platform.python_version()}
    finally:
        if api is not None:
            stop_process(api)
        stop_process(broker)


if __name__ == "__main__":
    print(json.dumps(main(), ensure_ascii=False))
