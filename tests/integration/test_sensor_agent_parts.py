"""The sensor agent's batch in parts, on a real Redis: the parts' projections overlap the previous part's
script, and a part refused because another worker applied one of its envelopes meanwhile is redone
envelope by envelope. Either way the read model equals that of the batch applied as one part."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson

from cityops.settings import get_settings
from fixtures.xiamen import load_sensors
from tests.support.fake_events import FetchedEvent
from tests.support.sensor_agent import dump_db, run_sensor_batch


def _events() -> list[FetchedEvent]:
    """12 envelopes of 8 sensors, 20 s apart, loud enough for noise rules to fire (sustain set to 60 s)."""
    sensors = [s for s in load_sensors() if s.kind in ("noise", "dust")][:8]
    start = datetime.now(get_settings().tz).replace(microsecond=0) - timedelta(minutes=20)
    out = []
    for i in range(12):
        t = (start + timedelta(seconds=20 * i)).isoformat()
        readings = [{"sensor_id": s.id, "kind": s.kind, "metric": s.metric, "unit": s.unit, "time": t,
                     "value": 85.0 + i % 3 if s.kind == "noise" else 60.0 + 7 * i % 50} for s in sensors]
        out.append(FetchedEvent(orjson.dumps({"v": 1, "envelope_id": f"parts-{i}", "gateway_id": "GW-T", "sent_at": t,
                                        "readings": readings}), i))
    return out




def test_parts_give_the_read_model_of_one_part(agent, redis_url, monkeypatch):
    base = redis_url.rsplit("/", 1)[0]
    events = _events()
    run_sensor_batch(agent, f"{base}/8", monkeypatch, events, part=100)
    whole = dump_db(f"{base}/8")
    run_sensor_batch(agent, f"{base}/9", monkeypatch, events, part=5)  # parts of 5, 5 and 2 envelopes
    assert whole == dump_db(f"{base}/9")
    assert any(key.startswith("co:alert:sensor:") for key in whole), "a rule should have fired"
    assert agent.cases_topic.sent, "its case events published after the part's script"


def test_a_part_applied_meanwhile_by_another_worker_is_redone_envelope_by_envelope(agent, redis_url, monkeypatch):
    base = redis_url.rsplit("/", 1)[0]
    events = _events()
    run_sensor_batch(agent, f"{base}/8", monkeypatch, events, part=100)
    whole = dump_db(f"{base}/8")

    # Another worker applied the first 7 envelopes after this one checked which were applied: the first
    # part's script finds them claimed, and the agent goes on envelope by envelope, skipping those 7.
    async def not_yet_applied(items, event_id):  # noqa: ANN001, ANN202 - the check saw no marks yet
        return items

    run_sensor_batch(agent, f"{base}/9", monkeypatch, events[:7], part=100)
    monkeypatch.setattr(agent, "drop_repeats", not_yet_applied)
    run_sensor_batch(agent, f"{base}/9", monkeypatch, events, part=4, fresh=False)
    assert dump_db(f"{base}/9") == whole
