"""``make chaos``: fault injection on real processes, judged against an undisturbed run of the same input.

    python -m tools.chaos [--cases-fraction 1.0] [--rate 250] [--kills 3] [--redis-restarts 1]
                          [--broker-outages 1] [--outage-s 30] [--workdir DIR]

Starts a private broker (tansu, memory only) and Redis (append-only file) on free ports, then:

1. the reference: the seeded simulated day of ``tests/support/stack.py`` (``seeded_day``) published
   at once into Redis database 1 and consumed by one undisturbed worker;
2. the chaos run, Redis database 0: a producer *process* publishes the same input at a steady rate
   (``--rate`` events/s) through :class:`cityops.bus.Publisher` while the runner SIGKILLs the worker
   (and starts a new one), restarts Redis (SIGTERM, then the same port and AOF directory), and stops
   the broker for ``--outage-s`` seconds (then starts it again, same port, empty).

The runner acts as a supervisor would (honcho, systemd): a worker that exits on its own is started
again, and counted. When everything is consumed it compares the two read models key by key and
prints the table of :class:`cityops.chaos.Report`; the exit status is 1 on any difference.

Why the producer re-sends after a broker outage: tansu keeps topics in memory, so a broker restart
loses even acknowledged messages the worker had not read yet. The producer does what the simulator
does after a restart of ``make demo``: re-send its deterministic input with the same ids, ahead of
what it buffered during the outage (``Publisher(on_reconnect=...)``). A real Kafka keeps the log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import marshal
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from redis import Redis
from redis.exceptions import RedisError

from cityops import keys
from cityops.bus import Publisher, ensure_topics
from cityops.chaos import Fault, Report, compare, due, plan_faults
from cityops.services.broker import start_broker
from cityops.services.readiness import wait_for_broker, wait_for_redis
from cityops.services.redis_server import start_redis
from cityops.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def _log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------- producer process


def produce(items_path: Path, env: dict[str, str], rate: float, progress_path: Path,
            holds: list[float] | None = None, released_path: Path | None = None) -> int:
    """The producer process: publish the input at ``rate`` events/s, riding out outages; write progress as JSON.

    ``holds``: at each of these fractions of the input the producer waits until the runner has injected
    that many faults (``released_path`` holds the count). Why: the runner's own waits (a new worker
    getting ready) must not let the producer finish before the last fault, or a broker outage would
    hit an idle producer. The wait ends as soon as the fault is *injected*, so the producer keeps
    sending while the broker is down, Redis restarts, or the worker is being replaced.
    """
    items: list[tuple[str, str, bytes]] = marshal.loads(items_path.read_bytes())
    marks = [math.ceil(h * len(items)) for h in (holds or [])]  # ceil: the runner sees sent/total >= h there

    def released() -> int:
        try:
            return int(released_path.read_text()) if released_path else len(marks)
        except (OSError, ValueError):
            return 0

    s = Settings(kafka_broker=env["KAFKA_BROKER"], topic_prefix=env["CITYOPS_TOPIC_PREFIX"])
    state = {"sent": 0, "total": len(items), "transmissions": 0, "resent": 0, "outages": 0, "reordered": 0,
             "degraded": False, "buffered": 0, "done": False}

    def write() -> None:
        tmp = progress_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(progress_path)

    holder: list[Publisher] = []

    def again() -> list[tuple[str, str, bytes]]:
        """Everything the broker acknowledged so far (the n-th send has seq n): it may have lost it all."""
        n = holder[0].last_acked_seq + 1
        state["resent"] = int(state["resent"]) + n
        state["transmissions"] = int(state["transmissions"]) + n
        return [(getattr(s.topics, kind), key, payload) for kind, key, payload in items[:n]]

    async def go() -> None:
        await ensure_topics(s)
        async with Publisher(s, pending_limit=200, request_timeout_ms=1_500, on_reconnect=again) as pub:
            holder.append(pub)
            t0 = time.monotonic()
            i = 0
            while i < len(items):
                target = min(len(items), int((time.monotonic() - t0) * rate) + 1)
                held = sum(1 for m in marks if m <= i)
                if held > released():  # wait for the runner's fault, paused on the clock too
                    paused = time.monotonic()
                    while held > released():
                        state.update(outages=pub.outages, degraded=pub.degraded, buffered=pub.buffered)
                        write()
                        await asyncio.sleep(0.05)
                    t0 += time.monotonic() - paused
                    continue
                stop = next((m for m in marks if m > i), len(items))
                while i < min(target, stop):
                    kind, key, payload = items[i]
                    await pub.send(getattr(s.topics, kind), key, payload)
                    i += 1
                    state["sent"] = i
                    state["transmissions"] = int(state["transmissions"]) + 1
                state.update(outages=pub.outages, degraded=pub.degraded, buffered=pub.buffered)
                write()
                await asyncio.sleep(0.05)
            while pub.buffered or pub.degraded:  # flush, reporting progress
                state.update(outages=pub.outages, degraded=pub.degraded, buffered=pub.buffered)
                write()
                await asyncio.sleep(0.2)
            await pub.flush()
            state.update(outages=pub.outages, degraded=False, buffered=0, reordered=pub.reordered, resets=pub.resets,
                         done=True)
            write()

    asyncio.run(go())
    return 0


# --------------------------------------------------------------------------------------------- runner


class Stack:
    """Broker, Redis and workers on free ports, with the faults as methods."""

    def __init__(self, workdir: Path) -> None:
        from tests.support.workers import free_port

        self.dir = workdir
        self.broker_port, self.redis_port = free_port(), free_port()
        self.base = Settings(kafka_broker=f"kafka://127.0.0.1:{self.broker_port}",
                             redis_url=f"redis://127.0.0.1:{self.redis_port}/0")
        self.broker: subprocess.Popen | None = None
        self.redis: subprocess.Popen | None = None
        self.workers: int = 0
        self.worker_procs: list[subprocess.Popen] = []  # every worker started, so that none outlives a failed run
        self.stopping_seen: dict[int, float] = {}  # worker number → when its log first said it was stopping

    def start_broker(self) -> None:
        self.broker = start_broker("127.0.0.1", self.broker_port, self.dir / "broker.log")
        wait_for_broker(self.base, 30)

    def start_redis(self) -> None:
        self.redis = start_redis("127.0.0.1", self.redis_port, self.dir / "redis", self.dir / "redis.log")
        wait_for_redis(self.base, 30)

    def start_worker(self, env: dict[str, str]) -> subprocess.Popen:
        from tests.support.workers import start_worker, subprocess_env

        self.workers += 1
        proc = start_worker(self.dir / f"worker{self.workers}.log", subprocess_env() | env)
        self.worker_procs.append(proc)
        return proc

    def wait_ready(self, worker: subprocess.Popen, timeout: float = 90) -> float:
        """Seconds until the latest worker logs Faust's ``Ready`` (so the next fault hits a working worker)."""
        log, t0 = self.dir / f"worker{self.workers}.log", time.monotonic()
        while "[^Worker]: Ready" not in log.read_text(errors="replace"):
            if worker.poll() is not None or time.monotonic() - t0 > timeout:
                break
            time.sleep(0.2)
        return time.monotonic() - t0

    def stop(self) -> None:
        from tests.support.workers import stop_process

        for proc in (*self.worker_procs, self.broker, self.redis):
            if proc is not None and proc.poll() is None:
                stop_process(proc)


def _items(fraction: float) -> list[tuple[str, str, bytes]]:
    from tests.support.stack import seeded_day

    items = seeded_day(ZoneInfo("Asia/Shanghai"))
    return items[: max(1, int(len(items) * fraction))]


def _count_seen(r: Redis) -> int:
    return sum(1 for _ in r.scan_iter(match=keys.seen("*"), count=5000))


def reference_run(stack: Stack, items: list[tuple[str, str, bytes]]) -> tuple[dict[str, object], int]:
    from tests.support.stack import publish, settings_for, settle

    env = settings_for(stack.base, 1)
    r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
    r.flushdb()
    sent = publish(env, items)
    model = settle(r, env, sent, [stack.start_worker(env)])
    applied = _count_seen(r)
    r.close()
    return model, applied


def _crash_reason(log: str) -> str:
    """Faust's ``Crashed reason=...`` of the first crash in a worker log, or ``?``."""
    marker = "Crashed reason="
    if marker not in log:
        return "?"
    return log.split(marker, 1)[1].split(None, 1)[0]


def _supervise(worker: subprocess.Popen, stack: Stack, env: dict[str, str], report: Report,
               grace_s: float = 10.0) -> subprocess.Popen:
    """Do what a supervisor (honcho, systemd with a watchdog) would: restart a worker that exited on its own,
    and kill and restart one that began shutting down by itself (a crashed agent) but hangs instead of exiting.
    """
    log_path = stack.dir / f"worker{stack.workers}.log"
    if worker.poll() is not None:
        reason = _crash_reason(log_path.read_text(errors="replace"))
        report.worker_restarts_unplanned += 1
        report.notes.append(f"worker{stack.workers} exited on its own (status {worker.returncode}, "
                            f"crash reason {reason}); restarted")
        _log(f"worker exited by itself ({worker.returncode}, {reason}); restarting it")
        new = stack.start_worker(env)
        stack.wait_ready(new)
        return new
    log = log_path.read_text(errors="replace")
    if "[^Worker]: Stopping..." in log:
        first = stack.stopping_seen.setdefault(stack.workers, time.monotonic())
        if time.monotonic() - first > grace_s:
            reason = _crash_reason(log)
            report.worker_restarts_unplanned += 1
            report.notes.append(f"worker{stack.workers} crashed (reason {reason}), began shutting down and was "
                                f"still running {grace_s:g} s later: SIGKILLed and restarted by the runner")
            _log(f"worker crashed ({reason}) and hangs in shutdown; killing and restarting it")
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            new = stack.start_worker(env)
            stack.wait_ready(new)
            return new
    return worker


def chaos_run(stack: Stack, items: list[tuple[str, str, bytes]], args: argparse.Namespace,
              report: Report) -> tuple[dict[str, object], int]:
    from tests.support.stack import committed as committed_offsets
    from tests.support.stack import settings_for, settle
    from tests.support.workers import stop_process, subprocess_env

    env = settings_for(stack.base, 0)
    r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
    r.flushdb()
    items_path, progress_path = stack.dir / "items.bin", stack.dir / "progress.json"
    items_path.write_bytes(marshal.dumps(items))
    asyncio.run(ensure_topics(Settings(kafka_broker=env["KAFKA_BROKER"], topic_prefix=env["CITYOPS_TOPIC_PREFIX"])))
    worker = stack.start_worker(env)
    stack.wait_ready(worker)
    plan = plan_faults(args.kills, args.redis_restarts, args.broker_outages, args.outage_s)
    released_path = stack.dir / "released"
    released_path.write_text("0")
    with (stack.dir / "producer.log").open("ab") as plog:
        producer = subprocess.Popen([sys.executable, "-m", "tools.chaos", "produce", "--items", str(items_path),
                                     "--progress", str(progress_path), "--rate", str(args.rate),
                                     "--holds", ",".join(str(f.at) for f in plan),
                                     "--released", str(released_path), "--env", json.dumps(env)],
                                    cwd=REPO_ROOT, env=subprocess_env(),
                                    stdout=plog, stderr=subprocess.STDOUT, start_new_session=True)
    _log(f"plan: {', '.join(f'{f.kind} at {f.at:.0%}' for f in plan)}")
    done = 0
    progress: dict[str, object] = {}

    def read_progress() -> dict[str, object]:
        try:
            return json.loads(progress_path.read_text())
        except (OSError, ValueError):
            return progress

    def inject(fault: Fault) -> None:
        nonlocal worker, done

        def release() -> None:  # the fault is in place: the producer may go on
            released_path.write_text(str(done + 1))

        if fault.kind == "worker SIGKILL":
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            release()
            worker = stack.start_worker(env)
            _log(f"new worker ready in {stack.wait_ready(worker):.1f} s")
        elif fault.kind == "redis restart (AOF)":
            assert stack.redis is not None
            before = r.dbsize()
            stop_process(stack.redis)
            release()
            stack.start_redis()
            after = r.dbsize()
            _log(f"redis back from its AOF: {after:,} keys (had {before:,} a moment before the stop)")
            time.sleep(5)  # does the worker survive losing Redis under its feet?
            grown = r.dbsize() - after
            log = (stack.dir / f"worker{stack.workers}.log").read_text(errors="replace")
            state = ("had exited" if worker.poll() is not None else
                     f"had crashed ({_crash_reason(log)}) and was shutting down" if "[^Worker]: Stopping..." in log
                     else "was running")
            report.notes.append(f"Redis restart: the AOF gave back {after:,} keys ({before:,} just before the stop); "
                                f"5 s later the worker {state}; the read model had grown by {grown:,} keys")
        elif fault.kind == "broker stopped":
            assert stack.broker is not None
            stop_process(stack.broker)
            release()
            end = time.monotonic() + fault.duration_s
            while time.monotonic() < end:
                progress.update(read_progress())
                time.sleep(0.5)
            p = read_progress()
            alive = worker.poll() is None
            if not args.worker_through_outage:
                # The broker comes back empty; a worker that lived through that keeps its positions in the lost
                # topics and skips messages of the new ones (seen: hundreds of keys differ). Restart it with the
                # broker, SIGKILL first so it commits nothing stale, as honcho does in make demo (one process
                # exits, all stop).
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            back = time.monotonic()
            stack.start_broker()
            if not args.worker_through_outage:
                worker = stack.start_worker(env)
                stack.wait_ready(worker)
            _log(f"broker back after {fault.duration_s:g}s (empty); producer degraded={p.get('degraded')}, "
                 f"buffered={p.get('buffered')}; worker alive={alive}")
            # how the Faust worker that lived through the outage behaves: wait until it commits on the new topics
            resumed = None
            while time.monotonic() - back < args.stall_s:
                worker = _supervise(worker, stack, env, report)
                try:
                    if committed_offsets(env) > 0:
                        resumed = time.monotonic() - back
                        break
                except Exception:  # noqa: BLE001 - group coordinator not ready yet
                    pass
                time.sleep(1.0)
            report.notes.append(
                f"broker stopped {fault.duration_s:g} s: producer buffered {p.get('buffered')} messages; the worker "
                f"{'stayed up' if alive else 'exited'} during the outage, "
                + ("and was restarted with the broker; the new one " if not args.worker_through_outage
                   else "was left running; it ")
                + (f"committed on the re-created topics {resumed:.0f} s after the broker came back"
                   if resumed is not None else f"had committed nothing {args.stall_s:g} s after the broker came back"))
        report.faults[fault.kind] += 1

    deadline = time.monotonic() + len(items) / args.rate + args.outage_s * args.broker_outages + 600
    while True:
        progress.update(read_progress())
        if producer.poll() is not None and not progress.get("done"):
            raise RuntimeError(f"the producer failed ({producer.returncode}); see {stack.dir / 'producer.log'}")
        total = int(progress.get("total", 1) or 1)
        frac = int(progress.get("sent", 0) or 0) / total
        for fault in due(plan, done, frac):
            _log(f"inject {fault.kind} at {frac:.0%} sent")
            inject(fault)
            done += 1
        worker = _supervise(worker, stack, env, report)
        if progress.get("done") and done == len(plan):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the chaos run did not finish in time")
        time.sleep(0.2)
    producer.wait()
    progress.update(read_progress())
    report.events_sent = int(progress.get("transmissions", 0) or 0)
    report.events_resent = int(progress.get("resent", 0) or 0)
    report.producer_outages = int(progress.get("outages", 0) or 0)
    report.producer_reordered = int(progress.get("reordered", 0) or 0)
    if progress.get("resets"):
        report.notes.append(f"the producer saw acknowledged offsets go back {progress['resets']} time(s): a broker "
                            f"that restarted empty within its request timeout")

    # settle, still supervising: wait until the worker has consumed the whole input again
    stall_since, last = time.monotonic(), -1
    settle_deadline = time.monotonic() + 400
    while True:
        worker = _supervise(worker, stack, env, report)
        try:
            committed = committed_offsets(env)
        except Exception as err:  # noqa: BLE001 - the group may be rebalancing; try again
            _log(f"committed offsets not readable yet ({err})")
            committed = last
        if committed >= len(items):
            break
        if committed != last:
            stall_since, last = time.monotonic(), committed
        elif time.monotonic() - stall_since > args.stall_s:
            report.worker_restarts_unplanned += 1
            report.notes.append(f"worker{stack.workers} made no progress for {args.stall_s:g}s at {committed} "
                                f"committed; SIGKILLed and restarted by the runner")
            _log(f"worker stalled at {committed:,}/{len(items):,}; restarting it")
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            worker = stack.start_worker(env)
            stall_since = time.monotonic()
        if time.monotonic() > settle_deadline:
            raise RuntimeError(f"the worker never consumed everything ({committed}/{len(items)})")
        time.sleep(1.0)
    model = settle(r, env, len(items), [worker])
    applied = _count_seen(r)
    r.close()
    return model, applied


def run(args: argparse.Namespace, print_fn: Callable[[str], None] = print) -> Report:
    """The whole run; returns the report (also printed)."""
    t0 = time.monotonic()
    report = Report()
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="cityops-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(workdir)
    _log(f"logs in {workdir}")
    try:
        stack.start_broker()
        stack.start_redis()
        items = _items(args.cases_fraction)
        report.events_input = len(items)
        _log(f"reference run: {len(items):,} events, undisturbed")
        reference, report.events_applied_reference = reference_run(stack, items)
        _log(f"reference: {len(reference):,} keys; chaos run at {args.rate:g} events/s")
        model, report.events_applied = chaos_run(stack, items, args, report)
        report.comparison = compare(reference, model)
        if report.comparison.differences:  # both sides of every differing key, for the post-mortem
            sample = {k: {"reference": reference.get(k), "after faults": model.get(k)}
                      for k in report.comparison.differences[:500]}
            (workdir / "differences.json").write_text(json.dumps(sample, ensure_ascii=False, indent=1, default=str))
            report.notes.append(f"differing keys with both values: {workdir / 'differences.json'}")
    finally:
        stack.stop()
    report.seconds = time.monotonic() - t0
    print_fn(report.table())
    return report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.chaos", description=__doc__.split("\n\n", 1)[0])
    sub = p.add_subparsers(dest="cmd")
    pr = sub.add_parser("produce", help="internal: the producer process")
    pr.add_argument("--items", required=True)
    pr.add_argument("--progress", required=True)
    pr.add_argument("--rate", type=float, required=True)
    pr.add_argument("--env", required=True)
    pr.add_argument("--holds", default="")
    pr.add_argument("--released", default=None)
    p.add_argument("--cases-fraction", type=float, default=1.0, help="share of the seeded day to send (by time)")
    p.add_argument("--rate", type=float, default=150.0, help="producer events per second")
    p.add_argument("--kills", type=int, default=3, help="worker SIGKILLs")
    p.add_argument("--redis-restarts", type=int, default=1)
    p.add_argument("--broker-outages", type=int, default=1)
    p.add_argument("--outage-s", type=float, default=30.0, help="seconds the broker stays stopped")
    p.add_argument("--stall-s", type=float, default=60.0, help="restart a worker that makes no progress this long")
    p.add_argument("--worker-through-outage", action="store_true",
                   help="leave the worker running when the broker comes back empty (shows the lost-topics bug)")
    p.add_argument("--workdir", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = _parser().parse_args(argv)
    if args.cmd == "produce":
        holds = [float(h) for h in args.holds.split(",") if h]
        return produce(Path(args.items), json.loads(args.env), args.rate, Path(args.progress), holds,
                       Path(args.released) if args.released else None)
    try:
        return 0 if run(args).ok else 1
    except (RuntimeError, AssertionError, RedisError, TimeoutError) as err:
        _log(f"FAILED: {err}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
