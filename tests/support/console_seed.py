"""Fill a scratch Redis with a realistic read model quickly, through the stream processors' own code.

Why not through Kafka and Faust: 30 days at Xiamen scale are ≈ 600,000 case steps, which a worker
takes many minutes to consume. This module runs the *same* pure projections the agents run
(``project_case_event``, ``project_envelope``, ``project_detection``) and applies their
:class:`~streams.effects.Effects` with the same exactly-once Lua script, so the keys and values are
what the worker would have written. Only the transport is skipped. Used by the console tests and by
``bench/bench_console_read.py``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from redis import Redis

from cityops import keys, read
from cityops.alerts import Alert
from cityops.catalogue import get_catalogue
from cityops.schemas import Detection, SensorKind, SensorReading
from cityops.settings import get_settings
from cityops.workcalendar import get_calendar
from fixtures.simulator.cases import CaseDayPlanner
from fixtures.xiamen import load_cameras, load_city, load_sensors
from streams.case_projection import CaseContext, CaseView, ProjectionError, project_case_event
from streams.detection_projection import DetectionContext, project_detection
from streams.effects import _APPLY_ONCE, Effects
from streams.lua import source
from streams.sensor_projection import SensorContext, SensorState, project_envelope


class Applier:
    """Runs Effects through the apply-once script in pipelined batches (synchronous redis client)."""

    def __init__(self, r: Redis, ttl: int = 864000, batch: int = 2000) -> None:
        self.r = r
        self.ttl = ttl
        self.batch = batch
        self.sha = r.script_load(_APPLY_ONCE)
        self.pending: list[Effects] = []
        self.applied = 0

    def add(self, eff: Effects) -> None:
        self.pending.append(eff)
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        pipe = self.r.pipeline(transaction=False)
        for eff in self.pending:
            pipe.evalsha(self.sha, 1, keys.seen(eff.event_id), *eff.argv(self.ttl))
        self.applied += sum(int(x) for x in pipe.execute())
        self.pending = []


def working_days_back(now: datetime, n: int = 2) -> date:
    """The day ``n`` working days before ``now``'s: seeding from there leaves case clocks that have run out
    whatever today is (a weekend or a holiday week stops the working-time clocks, so "yesterday" may have
    none due yet)."""
    calendar, day = get_calendar(), now.date()
    while calendar.working_days_between(day, now.date()) < n:
        day -= timedelta(days=1)
    return day


def seed_cases(r: Redis, first_day: date, now: datetime, cases_per_day: int = 3500, seed: int = 7) -> dict:
    """Every case step of the simulated days ``first_day`` .. today that happened before ``now``."""
    city, catalogue, tz = load_city(), get_catalogue(), get_settings().tz
    planner = CaseDayPlanner(city, catalogue, get_calendar(), tz, seed=seed, cases_per_day=cases_per_day)
    ctx = CaseContext(city, catalogue, get_calendar(), tz, max_lateness_s=10 * 86400.0)
    views: dict[str, CaseView | None] = {}
    applier = Applier(r)
    heap: list[tuple[datetime, str, int, object]] = []
    refused = 0
    day = first_day
    while day <= now.date():
        for p in planner.plan_day(day):
            heapq.heappush(heap, (p.time, p.event.case_id, p.seq, p.event))
        horizon = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
        while heap and heap[0][0] < min(horizon, now):
            _t, cid, _seq, event = heapq.heappop(heap)
            try:
                eff, views[cid] = project_case_event(event, views.get(cid), ctx)  # type: ignore[arg-type]
            except ProjectionError:
                refused += 1
                continue
            applier.add(eff)
        day += timedelta(days=1)
    applier.flush()
    open_views = {cid: v for cid, v in views.items() if v is not None and v.state not in ("closed", "voided",
                                                                                              "rejected")}
    return {"applied": applier.applied, "refused": refused, "cases": len(views), "open": len(open_views)}


def seed_sensors(r: Redis, now: datetime, count: int = 2000, alarm_every: int = 25) -> int:
    """One envelope of current readings from ``count`` sensors; every ``alarm_every``-th one far over its
    limit twice (so its rule fires at once with a zero sustain time) to give the map some alarms."""
    import os

    city, catalogue, tz = load_city(), get_catalogue(), get_settings().tz
    sensors = load_sensors(count)
    ctx = SensorContext({s.id: s for s in sensors}, city, catalogue, tz)
    states: dict[str, SensorState] = {}
    applier = Applier(r)
    old = os.environ.get("CITYOPS_RULE_SUSTAIN_S")
    os.environ["CITYOPS_RULE_SUSTAIN_S"] = "0"
    try:
        for step, at in enumerate((now - timedelta(seconds=60), now)):
            readings = []
            for i, s in enumerate(sensors):
                high = i % alarm_every == 0
                value = {"noise": 95.0 if high else 52.0, "dust": 900.0 if high else 40.0,
                         "smoke": 1.0 if high else 0.0}[s.kind]
                readings.append(SensorReading(sensor_id=s.id, kind=SensorKind(s.kind), metric=s.metric, value=value,
                                              unit=s.unit, time=at))
            for start in range(0, len(readings), 500):
                out = project_envelope(f"seed-env-{at.timestamp():.0f}-{step}-{start}", readings[start:start + 500],
                                       states, ctx)
                applier.add(out.effects)
    finally:
        if old is None:
            os.environ.pop("CITYOPS_RULE_SUSTAIN_S", None)
        else:
            os.environ["CITYOPS_RULE_SUSTAIN_S"] = old
    applier.flush()
    return len(sensors)


def seed_captures(r: Redis, now: datetime, n: int = 20, evidence_refs: Iterable[str] = ()) -> int:
    """``n`` accepted AI captures from distinct demo cameras in the last hour, each with the case it opens
    (as the case agent would count it: the big screen's AI-capture tile counts those cases)."""
    city, catalogue, tz = load_city(), get_catalogue(), get_settings().tz
    cameras = [c for c in load_cameras() if c.zones]
    ctx = DetectionContext({c.id: c for c in cameras}, city, catalogue, tz,
                           auto_dispatch=frozenset(catalogue.ai_types()))  # seeded cases, no review queue
    case_ctx = CaseContext(city, catalogue, get_calendar(), tz, max_lateness_s=10 * 86400.0)
    refs = list(evidence_refs)
    applier = Applier(r)
    accepted = 0
    for i, cam in enumerate(cameras[:n * 3]):
        zone = cam.zones[0]
        ai_type = sorted(zone.ai_types)[0]
        at = now - timedelta(minutes=60 - i)
        if zone.allowed_at(at.astimezone(tz).time()):
            continue
        det = Detection(event_id=f"seed-cap-{i}", camera_id=cam.id, ai_type=ai_type, confidence=0.9,
                        box=[100.0, 80.0, 300.0, 260.0], frame_width=640, frame_height=360, track_id=str(i),
                        first_seen=at - timedelta(seconds=120), last_seen=at, dwell_s=120.0,
                        evidence_ref=refs[i % len(refs)] if refs else f"{cam.id}/seed-{i}.jpg", zone_id=zone.id,
                        detector="seed")
        outcome = project_detection(det, [], ctx)
        if outcome.effects is not None and outcome.cases:
            applier.add(outcome.effects)
            views: dict[str, CaseView | None] = {}
            for event in outcome.cases:
                eff, views[event.case_id] = project_case_event(event, views.get(event.case_id), case_ctx)
                applier.add(eff)
            accepted += 1
        if accepted >= n:
            break
    applier.flush()
    return accepted


def mark_overdue(r: Redis, now: datetime) -> int:
    """What the SLA timer would have done by ``now``: cases whose clock ran out marked overdue, with their
    alerts, by the timer's own Lua script (the timer is async and Faust-bound; this is its sync twin)."""
    city_code = load_city().code
    script = r.register_script(source("mark_overdue"))  # the SLA timer's own script
    marked = 0
    due = r.zrangebyscore(keys.sla_clock(), "-inf", now.timestamp(), withscores=True)
    pipe = r.pipeline(transaction=False)
    for case_id, _ in due:
        pipe.hgetall(keys.case(case_id))
    for (case_id, score), data in zip(due, pipe.execute(), strict=True):
        view = CaseView.from_hash(case_id, data)
        if view is None or not view.deadline:
            continue
        alert = Alert.sla_overdue(case_id=case_id, stage=view.stage, deadline_ts=score, deadline=view.deadline,
                                  urgent=view.urgent, at=datetime.fromtimestamp(score, UTC), district=view.district,
                                  street=view.street, grid=view.grid, category=view.category,
                                  department=view.department, lon=float(view.lon) if view.lon else None,
                                  lat=float(view.lat) if view.lat else None)
        sets = [keys.overdue(scope, sid) for scope, sid in view.scopes(city_code)]
        marked += int(script(keys=[keys.case(case_id), keys.sla_clock(), keys.alert(alert.id), *sets],
                             args=[case_id, repr(score), view.deadline, keys.alerts(), keys.ALERTS_MAXLEN,
                                   alert.to_json(), keys.active_alerts(), alert.id, *alert.hash_flat()]))
    return marked


def seed_console(r: Redis, first_day: date, now: datetime, *, cases_per_day: int, sensors: int, captures: int,
                 evidence_dir=None) -> dict:  # noqa: ANN001 - a Path
    """What the console shows, as the stream processors would have written it: every case step since
    ``first_day``, current readings of ``sensors`` sensors, ``captures`` AI captures (with evidence frames
    under ``evidence_dir`` when given) and the SLA timer's overdue marks. Returns what :func:`seed_cases`
    returns, with ``captures`` and ``overdue`` counted."""
    seeded = seed_cases(r, first_day, now, cases_per_day=cases_per_day)
    seed_sensors(r, now, count=sensors)
    refs = make_evidence(evidence_dir, 4) if evidence_dir is not None else ()
    seeded["captures"] = seed_captures(r, now, n=captures, evidence_refs=refs)
    seeded["overdue"] = mark_overdue(r, now)
    return seeded


def snapshot_hotspots(r: Redis) -> int:
    """What the workers' hotspot timer does every 5 s (its sync twin): the open cases' positions as one string."""
    return int(r.eval(source("snapshot_open_scores"), 2, keys.open_cases(), keys.open_cases_snapshot(),
                      read.MAX_HOTSPOT_POSITIONS, 30))


def make_evidence(evidence_dir, n: int = 4) -> list[str]:  # noqa: ANN001 - a Path
    """``n`` evidence frames (640×360 JPEG) under ``evidence_dir``; returns their references.

    Frames come from the shared street videos when present (so screenshots show real streets), else
    a drawn street scene, so tests never depend on the shared data.
    """
    import cv2
    import numpy as np

    from cityops.settings import REPO_ROOT

    videos = sorted((REPO_ROOT.parent / "shared" / "datasets" / "street-video").glob("*.[am][vp][i4]"))
    refs = []
    for i in range(n):
        frame = None
        if videos:
            cap = cv2.VideoCapture(str(videos[i % len(videos)]))
            cap.set(cv2.CAP_PROP_POS_FRAMES, 30 + 40 * i)
            ok, img = cap.read()
            cap.release()
            frame = cv2.resize(img, (640, 360)) if ok else None
        if frame is None:
            frame = np.zeros((360, 640, 3), np.uint8)
            frame[:] = (70, 70, 70)
            cv2.rectangle(frame, (0, 200), (640, 360), (40, 40, 40), -1)
            cv2.rectangle(frame, (120 + 20 * i, 150), (300 + 20 * i, 250), (30, 120, 200), -1)
        ref = f"seed/CAM-{i:04d}/frame-{i}.jpg"
        path = evidence_dir / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), frame)
        refs.append(ref)
    return refs
