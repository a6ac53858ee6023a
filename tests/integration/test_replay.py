"""Replayers on the real files: rows read, published and rejected, checked against the files themselves."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import orjson
import pytest

from cityops.bus import ensure_topics
from cityops.schemas import CaseEvent, SensorEnvelope, decode
from fixtures.replay import air, la311, noise
from tests.support.topics import consume
from tests.support.workers import SHARED

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="shared datasets not present")

LA2020 = SHARED / "la-311" / "la311_2020_requests_seed.csv"
LA2017 = SHARED / "la-311" / "MyLA311_Service_Request_Data_2017_Subset.csv"
AIR = SHARED / "beijing-air-quality"
NOISE_1M = SHARED / "noise-levels" / "test_data_laeq1m.csv"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_la311_2020_replays_every_row(stack_env):
    asyncio.run(ensure_topics(stack_env))
    report = asyncio.run(la311.replay(LA2020, stack_env, speed=None))
    rows = _rows(LA2020)
    assert (report.rows_read, report.rows_published, report.rows_rejected) == (len(rows), len(rows), 0)
    closed = sum(r["status"] == "Closed" for r in rows)
    cancelled = sum(r["status"] == "Cancelled" for r in rows)
    assert report.messages == 3 * len(rows) + 3 * closed + cancelled
    unlocated = sum(1 for r in rows if float(r["latitude"] or 0) == 0 or float(r["longitude"] or 0) == 0)
    assert report.notes["rows without usable coordinates → unlocated cases"] >= unlocated
    no_close_time = sum(r["status"] == "Closed" and not r["closeddate"] for r in rows)
    assert report.notes["Closed rows without closeddate → closed at updateddate"] == no_close_time > 0
    # what reached the topic decodes against the contract, keyed by case
    sample = asyncio.run(consume(stack_env, stack_env.topics.cases, 50))
    for key, value in sample:
        ev = decode(CaseEvent, value)
        assert key.decode() == ev.case_id and ev.case_id.startswith("LA311-")


def test_la311_2017_keeps_rows_closed_before_created_and_dead_letters_their_closing_steps(stack_env):
    """Refuse only what is wrong: such a row is a dispatched case; its handle, verify and close are refused,
    listed in the report and dead-lettered (stage ``transition``) with the row in the reason."""
    asyncio.run(ensure_topics(stack_env))
    report = asyncio.run(la311.replay(LA2017, stack_env, speed=None))
    rows = _rows(LA2017)
    tz = stack_env.tz
    bad: set[str] = set()
    for r in rows:
        created, closed = la311.parse_time(r["CreatedDate"], tz), la311.parse_time(r["ClosedDate"], tz)
        if closed is not None and closed < created and r["Status"] in ("Closed", "Cancelled"):
            bad.add(f"LA311-{r['SRNumber']}")
    assert bad
    assert (report.rows_read, report.rows_rejected, report.rows_published) == (len(rows), 0, len(rows))
    assert report.rows_partial == len(bad)
    assert {s.case_id for s in report.refused_steps} == bad
    assert {s.step for s in report.refused_steps} == {"handle", "verify", "close"}
    assert report.step_reasons["closeddate before createddate"] == 3 * len(bad) == report.dead_letters
    letters = [orjson.loads(v) for _, v in asyncio.run(consume(stack_env, stack_env.topics.deadletter,
                                                                report.dead_letters))]
    assert len(letters) == report.dead_letters
    assert {(d["stage"], d["source_topic"]) for d in letters} == {
        ("transition", f"replay:la311:{LA2017.name}")}
    assert {d["event_id"].rsplit("-", 1)[0] for d in letters} == bad
    assert all("closeddate before createddate (row " in d["reason"] for d in letters)


def test_la311_coordinates_land_on_the_xiamen_fixture():
    from fixtures.xiamen import load_city

    city = load_city()
    mapper = la311.CoordinateMapper(city)
    lon, lat, _ = mapper.map(-118.2437, 34.0522)  # downtown LA
    assert city.index.lookup(lon, lat) is not None
    assert mapper.map(0.0, 0.0) is None and mapper.map(-120.0, 34.0) is None


def test_air_replay_counts_missing_values(stack_env):
    asyncio.run(ensure_topics(stack_env))
    path = AIR / "PRSA_Data_Aotizhongxin_20130301-20170228.csv"
    limit = 3000
    report = asyncio.run(air.replay([path], stack_env, speed=None, limit=limit))
    rows = _rows(path)[:limit]
    both_missing = sum(r["PM10"] == "NA" and r["PM2.5"] == "NA" for r in rows)
    assert report.rows_read == limit
    assert report.rows_rejected == both_missing
    assert report.rows_published == limit - both_missing
    readings = sum((r["PM10"] != "NA") + (r["PM2.5"] != "NA") for r in rows)
    got = asyncio.run(consume(stack_env, stack_env.topics.sensors, report.messages))
    assert sum(len(decode(SensorEnvelope, v).readings) for _, v in got) == readings


def test_noise_replay_publishes_the_measured_series(stack_env):
    asyncio.run(ensure_topics(stack_env))
    report = asyncio.run(noise.replay([NOISE_1M], stack_env, speed=None))
    n = len(_rows(NOISE_1M))
    assert (report.rows_read, report.rows_published, report.rows_rejected) == (n, n, 0)
    assert report.messages == -(-n // 100)
    first = asyncio.run(consume(stack_env, stack_env.topics.sensors, 1))[0][1]
    env = orjson.loads(first)
    assert env["readings"][0]["kind"] == "noise" and len(env["readings"]) == 100


def test_bad_rows_are_counted_not_fatal(stack_env, tmp_path):
    asyncio.run(ensure_topics(stack_env))
    path = tmp_path / "noise.csv"
    path.write_text("datetime,LEQ dB -A\n2025-03-22 00:00:00,55.5\nnot-a-date,50\n2025-03-22 00:02:00,abc\n"
                    "2025-03-22 00:03:00,999\n2025-03-22 00:04:00,60.1\n", encoding="utf-8")
    report = asyncio.run(noise.replay([path], stack_env, speed=None))
    assert (report.rows_read, report.rows_published, report.rows_rejected) == (5, 2, 3)
    assert sum(n for r, n in report.reasons.items() if r.startswith("unreadable row")) == 2
    assert report.reasons["LAeq 999.0 outside 0..160 dB(A)"] == 1
