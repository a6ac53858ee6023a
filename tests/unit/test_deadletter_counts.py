"""The dead-letter path counts each refusal per hour by topic, stage and reason class (the 死信 page's chart),
and the reason class cannot be grown by what a sender writes (field names, ids, values)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from cityops import keys
from cityops.settings import get_settings
from streams import deadletter
from streams.deadletter import reason_class


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, key: bytes | None, value: bytes) -> None:
        self.sent.append(value)


@pytest.mark.parametrize(("reason", "expected"), [
    ("reading.temp_c: Input should be a valid number; ts: Field required", "input should be a"),
    ("unknown sensor S-123", "unknown sensor"),
    ("unknown sensor QX-99871", "unknown sensor"),
    ("target unreadable: WRONGTYPE Operation", "target unreadable"),
    ("attacker_field_7: Extra inputs are not permitted", "extra inputs are not"),
    ("签名无效", "签名无效"),
    ("", "other"),
    ("12345 67890", "other"),
])
def test_reason_class_drops_field_paths_ids_and_values(reason, expected):
    assert reason_class(reason) == expected


def test_many_senders_chosen_field_names_make_one_class():
    classes = {reason_class(f"field_{i}: Extra inputs are not permitted") for i in range(500)}
    assert classes == {"extra inputs are not"}


def test_refuse_counts_the_letter_in_its_hour_with_topic_stage_and_reason(monkeypatch):
    recorder = _Recorder()
    monkeypatch.setattr(deadletter, "deadletter_topic", recorder)
    eff = asyncio.run(deadletter.refuse(None, "cityops.sensors", b"{not json", "invalid JSON: expected value",
                                        "decode", event_id="ev-1"))
    hour = keys.dlq_hourly(keys.hour_bucket(datetime.now(get_settings().tz)))
    assert ("HINCRBY", hour, "cityops.sensors:decode:invalid json", "1", "") in eff.ops
    assert ("EXPIRE", hour, str(keys.HOURLY_RETENTION_S), "", "") in eff.ops
    assert len(recorder.sent) == 1
