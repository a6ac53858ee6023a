"""One bad sensor key is that sensor's problem, on a real Redis.

A sensor hash, or the window bucket its pointer names, of the wrong type is found by the batch's one state
read: that sensor's readings are dead-lettered (stage ``apply``, the reason naming the key) and every other
reading applies, with no second read. A bad key the read cannot see (the bucket a new reading goes to) fails
its part's script; the agent then goes on envelope by envelope and dead-letters only that envelope. Either
way the read model of the rest equals that of a clean run without what was refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
from redis import Redis

from cityops import keys
from cityops.settings import get_settings
from fixtures.xiamen import load_sensors
from streams import deadletter
from tests.support.fake_events import FetchedEvent
from tests.support.sensor_agent import dump_db, run_sensor_batch

_SENSORS = [s for s in load_sensors() if s.kind in ("noise", "dust")][:9]
_START = datetime.now(get_settings().tz).replace(microsecond=0) - timedelta(minutes=20)


def _reading(sensor, i: int) -> dict:  # noqa: ANN001
    t = (_START + timedelta(seconds=20 * i)).isoformat()
    return {"sensor_id": sensor.id, "kind": sensor.kind, "metric": sensor.metric, "unit": sensor.unit, "time": t,
            "value": 85.0 + i % 3 if sensor.kind == "noise" else 60.0 + 7 * i % 50}


def _envelope(i: int, sensors: list) -> FetchedEvent:  # noqa: ANN001
    t = (_START + timedelta(seconds=20 * i)).isoformat()
    return FetchedEvent(orjson.dumps({"v": 1, "envelope_id": f"bad-{i}", "gateway_id": "GW-T", "sent_at": t,
                                      "readings": [_reading(s, i) for s in sensors]}), i)


def _events(indices: range, without: str | None = None, extra: dict[int, object] | None = None) -> list:
    """Envelopes ``indices`` of the first 8 sensors (less ``without``), envelope i also with sensor extra[i]."""
    base = [s for s in _SENSORS[:8] if s.id != without]
    return [_envelope(i, base + ([extra[i]] if extra and i in extra else [])) for i in indices]


def _letters(agent) -> list[dict]:  # noqa: ANN001
    return [orjson.loads(value) for _, value in deadletter.deadletter_topic.sent]


def _model(url: str, skip_keys: set[str], skip_sensor: str) -> dict:
    """The read model less the dead letters' own keys, ``skip_keys`` and ``skip_sensor``'s arrival time."""
    out = {k: v for k, v in dump_db(url).items()
           if k not in skip_keys and not k.startswith(("co:dlq:", keys.seen("dlq:")))}
    if keys.sensors_seen() in out:
        out[keys.sensors_seen()] = [m for m in out[keys.sensors_seen()] if m != skip_sensor]
    return out


def _counting_reads(agent, monkeypatch) -> list[int]:  # noqa: ANN001
    """How many sensors each state read of the agent asked for (one read per batch when no part fails)."""
    calls: list[int] = []
    real = agent.read_states_checked

    async def counted(r, sensor_ids):  # noqa: ANN001, ANN202
        calls.append(len(sensor_ids))
        return await real(r, sensor_ids)

    monkeypatch.setattr(agent, "read_states_checked", counted)
    return calls


def test_a_sensor_hash_of_the_wrong_type_refuses_that_sensors_readings_only(agent, redis_url, monkeypatch):
    base = redis_url.rsplit("/", 1)[0]
    bad = _SENSORS[2].id
    run_sensor_batch(agent, f"{base}/8", monkeypatch, _events(range(12), without=bad), part=5)
    reference = dump_db(f"{base}/8")

    Redis.from_url(f"{base}/9").flushdb()
    Redis.from_url(f"{base}/9").rpush(keys.sensor(bad), "planted")
    reads = _counting_reads(agent, monkeypatch)
    run_sensor_batch(agent, f"{base}/9", monkeypatch, _events(range(12)), part=5, fresh=False)

    assert reads == [8], "one state read for the batch, no per-sensor fallback"
    letters = _letters(agent)
    assert [(d["stage"], d["event_id"]) for d in letters] == [("apply", f"bad-{i}/{bad}") for i in range(12)]
    assert {d["reason"] for d in letters} == {f"{keys.sensor(bad)} holds a list, not a hash"}
    assert _model(f"{base}/9", {keys.sensor(bad)}, bad) == _model(f"{base}/8", set(), bad)
    assert any(k.startswith("co:alert:sensor:") for k in reference), "a rule should have fired"


def test_a_pointed_window_bucket_of_the_wrong_type_refuses_that_sensors_readings_only(agent, redis_url, monkeypatch):
    base = redis_url.rsplit("/", 1)[0]
    bad = _SENSORS[0].id
    run_sensor_batch(agent, f"{base}/8", monkeypatch, _events(range(6)), part=100)
    run_sensor_batch(agent, f"{base}/8", monkeypatch, _events(range(6, 12), without=bad), part=5, fresh=False)

    run_sensor_batch(agent, f"{base}/9", monkeypatch, _events(range(6)), part=100)
    r = Redis.from_url(f"{base}/9", decode_responses=True)
    window = r.hget(keys.sensor(bad), "win_m").split(" ")[0]  # the bucket the newest reading went to
    r.delete(window)
    r.rpush(window, "planted")
    reads = _counting_reads(agent, monkeypatch)
    run_sensor_batch(agent, f"{base}/9", monkeypatch, _events(range(6, 12)), part=5, fresh=False)

    assert reads == [8]
    letters = _letters(agent)
    assert [(d["stage"], d["event_id"]) for d in letters] == [("apply", f"bad-{i}/{bad}") for i in range(6, 12)]
    assert {d["reason"] for d in letters} == {f"{window} holds a list, not a hash"}
    assert _model(f"{base}/9", {window}, bad) == _model(f"{base}/8", {window}, bad)


def test_an_envelope_whose_new_bucket_has_the_wrong_type_is_dead_lettered_alone(agent, redis_url, monkeypatch):
    """The key the read cannot see: the window bucket the reading of sensor 9 (in envelope 6 only) goes to."""
    base = redis_url.rsplit("/", 1)[0]
    ninth = _SENSORS[8]
    # where it would go
    run_sensor_batch(agent, f"{base}/10", monkeypatch, _events(range(6, 7), extra={6: ninth}), part=100)
    window = Redis.from_url(f"{base}/10", decode_responses=True).hget(keys.sensor(ninth.id), "win_m").split(" ")[0]
    deadletter.deadletter_topic.sent.clear()

    run_sensor_batch(agent, f"{base}/8", monkeypatch, [e for e in _events(range(12)) if e.message.offset != 6], part=5)
    Redis.from_url(f"{base}/9").flushdb()
    Redis.from_url(f"{base}/9").rpush(window, "planted")
    run_sensor_batch(agent, f"{base}/9", monkeypatch, _events(range(12), extra={6: ninth}), part=5, fresh=False)

    letters = _letters(agent)
    assert [(d["stage"], d["event_id"]) for d in letters] == [("apply", "bad-6")]
    assert window in letters[0]["reason"], letters[0]["reason"]
    assert orjson.loads(letters[0]["payload"])["envelope_id"] == "bad-6"
    r = Redis.from_url(f"{base}/9", decode_responses=True)
    assert not r.exists(keys.seen("bad-6")) and r.lrange(window, 0, -1) == ["planted"]
    assert _model(f"{base}/9", {window}, ninth.id) == _model(f"{base}/8", set(), ninth.id)
