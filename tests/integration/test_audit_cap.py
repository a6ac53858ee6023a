"""The audit stream is bounded by count as well as by age: a flood of commands cannot grow it without end."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson

from cityops import keys
from cityops.schemas import OperatorCommand
from streams.command_projection import project_command
from streams.effects import Effects
from tests.support.effects import apply_effects

T = "2026-11-24T10:00:00+08:00"
RECEIVED = datetime(2026, 11, 24, 2, 0, 3, tzinfo=UTC)
ALERT = {"id": "sensor:NS-1:1", "state": "active", "severity": "major", "acknowledged": "0", "case_id": "IOT-NS-1-1"}


def test_a_kept_stream_with_a_maximum_length_drops_by_age_and_by_count(redis_url, redis_client):
    now_ms = int(time.time() * 1000)
    too_old = f"{now_ms - 401 * 86_400 * 1000}-0"
    redis_client.xadd("co:test:audit", {"json": "{}"}, id=too_old)
    for i in range(1, 1001):
        redis_client.xadd("co:test:audit", {"json": "{}"}, id=f"{now_ms - 86_400_000}-{i}")
    eff = Effects("cap-1").xadd_kept_for("co:test:audit", 400 * 86_400, '{"a": 1}', maxlen=100)
    assert apply_effects(redis_url, [eff]) == [True]
    ids = [entry_id for entry_id, _ in redis_client.xrange("co:test:audit")]
    assert too_old not in ids
    assert 100 <= len(ids) <= 200, "trimmed to about 100 (MAXLEN ~ drops whole nodes of 100 entries)"
    assert redis_client.xrevrange("co:test:audit", count=1)[0][1] == {"json": '{"a": 1}'}, "the newest is kept"
    eff = Effects("cap-2").xadd_kept_for("co:test:audit", 400 * 86_400, '{"a": 2}')  # no maxlen: age only
    assert apply_effects(redis_url, [eff]) == [True] and redis_client.xlen("co:test:audit") == len(ids) + 1


def test_the_command_audit_is_capped_by_the_keys_module_limits():
    cmd = OperatorCommand.model_validate_json(orjson.dumps(
        {"command_id": "c-cap", "action": "acknowledge", "target_kind": "alert", "target_id": "sensor:NS-1:1",
         "user": "值班员张三", "role": "duty", "issued_at": T}))
    out = project_command(cmd, ALERT, {}, received_at=RECEIVED, tz=RECEIVED.tzinfo)
    (audit,) = [op for op in out.effects.ops if op[0] == "XADDKEEP"]
    assert audit[1] == keys.audit() and audit[2] == str(keys.AUDIT_RETENTION_S) and audit[4] == str(keys.AUDIT_MAXLEN)
