"""The duty officer's review of AI captures (AI 抓拍 → 值班员确认 → 派遣): an untrusted type waits in the queue, a
trusted one is dispatched at once; 确认立案 opens exactly the case a trusted type gets (once, however often it is
sent), 误报 discards it and is counted once per camera and type; a command on a capture that no longer waits is
refused with why. The same through a real worker: tests/integration/test_capture_review_worker.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from cityops import keys
from cityops.alerts import capture_alert_id
from cityops.catalogue import get_catalogue
from cityops.city_data import CityDataError, _capture_review
from cityops.schemas import CaseAction, Detection, OperatorCommand
from fixtures.xiamen import load_cameras, load_city
from streams.command_projection import CommandRefused, project_capture_command
from streams.detection_projection import DetectionContext, project_detection

TZ = ZoneInfo("Asia/Shanghai")
SEEN = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)


@pytest.fixture(scope="module")
def ctx() -> DetectionContext:
    """Illegal parking trusted, street vending reviewed (as cities/xiamen/capture_review.yml says)."""
    return DetectionContext({c.id: c for c in load_cameras()}, load_city(), get_catalogue(), TZ,
                            auto_dispatch=frozenset({"illegal_parking"}))


@pytest.fixture(scope="module")
def camera(ctx):  # noqa: ANN001, ANN201
    return next(c for c in ctx.cameras.values() if any(z.id == "night_market" for z in c.zones))


def det(camera_id: str, ai_type: str = "street_vending", **kw) -> Detection:
    base = {"event_id": "c1", "camera_id": camera_id, "ai_type": ai_type, "confidence": 0.9,
            "box": [100.0, 100.0, 200.0, 300.0], "frame_width": 640, "frame_height": 360, "track_id": "5",
            "first_seen": SEEN - timedelta(seconds=90), "last_seen": SEEN, "dwell_s": 90.0,
            "evidence_ref": f"{camera_id}/20261124/c1.jpg", "detector": "classical"}
    return Detection(**(base | kw))


def command(action: str, target: str = "c1", after_s: float = 150, command_id: str | None = None) -> OperatorCommand:
    return OperatorCommand.model_validate_json(orjson.dumps(
        {"command_id": command_id or f"cmd-{action}", "action": action, "target_kind": "capture", "target_id": target,
         "user": "李值班(duty)", "role": "duty", "issued_at": (SEEN + timedelta(seconds=after_s)).isoformat()}))


def hash_after(ops: list[tuple], key: str, start: dict[str, str] | None = None) -> dict[str, str]:
    """The hash ``key`` as the effects leave it (HSET only, the one write these hashes get)."""
    out = dict(start or {})
    for op in ops:
        if op[0] == "HSET" and op[1] == key:
            out[op[2]] = op[3]
    return out


def increments(ops: list[tuple], key: str) -> list[str]:
    return [op[2] for op in ops if op[0] == "HINCRBY" and op[1] == key]


def queued(ctx, camera) -> dict[str, str]:  # noqa: ANN001
    out = project_detection(det(camera.id), [], ctx)
    return hash_after(out.effects.ops, keys.capture_review("c1"))


def test_an_untrusted_type_waits_for_review_with_what_the_reviewer_needs(ctx, camera):
    out = project_detection(det(camera.id, zone_id="sidewalk", crop_ref="x/c1_crop.jpg"), [], ctx)
    assert out.reason == "" and out.cases == [], "no case before a duty officer confirms"
    ops = out.effects.ops
    record = hash_after(ops, keys.capture_review("c1"))
    assert record["status"] == "pending" and record["case_id"] == "AI-c1" and record["camera_name"] == camera.name_zh
    stored = Detection.model_validate_json(record["detection"])
    assert (stored.zone_id, stored.crop_ref, stored.dwell_s, stored.confidence) == ("sidewalk", "x/c1_crop.jpg",
                                                                                    90.0, 0.9)
    assert ("ZADD", keys.capture_queue("2026112410"), repr(SEEN.timestamp()), "c1", "") in ops
    assert ("EXPIRE", keys.capture_review("c1"), "7200", "", "") in ops, "expires after the review window"
    assert increments(ops, keys.capture_stats_daily("20261124")) == ["queued"]
    assert any(op[0] == "XADD" and op[1] == keys.alerts() and '"ai_capture"' in op[3] for op in ops), \
        "the ai_capture alert is raised as before"
    assert not any(op[1].startswith("co:caplag:") for op in ops), "not dispatched: no dispatch time yet"


def test_a_trusted_type_is_dispatched_at_once_with_its_dispatch_time(ctx, camera):
    out = project_detection(det(camera.id, "illegal_parking", zone_id="roadside"), [], ctx)
    assert [c.action for c in out.cases] == [CaseAction.REPORT, CaseAction.REGISTER, CaseAction.DISPATCH]
    ops = out.effects.ops
    assert hash_after(ops, keys.capture_review("c1"))["status"] == "auto"
    assert not any(op[0] == "ZADD" for op in ops), "not queued"
    assert ("RPUSHCAP", keys.capture_lag_daily("20261124"), str(keys.CAPTURE_LAG_CAP), "0.0", "") in ops
    assert out.cases[-1].event_time == SEEN  # the dispatch step's time: the same whenever the worker applies it


def test_confirm_opens_the_case_a_trusted_type_gets_and_twice_is_one_case(ctx, camera):
    record = queued(ctx, camera)
    out = project_capture_command(command("confirm"), record, ctx, received_at=SEEN)
    trusted = project_detection(det(camera.id), [], DetectionContext(ctx.cameras, ctx.city, ctx.catalogue, TZ,
                                                                     frozenset({"street_vending"})))
    assert [c.event_id for c in out.cases] == [c.event_id for c in trusted.cases], "same ids: one case"
    report, register, dispatch = out.cases
    assert report.event_time == SEEN and report.source.value == "ai_video"
    assert dispatch.event_time == SEEN + timedelta(seconds=150) and dispatch.actor == "李值班(duty)"
    assert dispatch.department_id == trusted.cases[2].department_id
    ops = out.effects.ops
    assert ("ZREM", keys.capture_queue("2026112410"), "c1", "", "") in ops
    assert ("RPUSHCAP", keys.capture_lag_daily("20261124"), str(keys.CAPTURE_LAG_CAP), "150.0", "") in ops
    stats = increments(ops, keys.capture_stats_daily("20261124"))
    assert sorted(stats) == sorted(["reviewed", f"reviewed:camera:{camera.id}", "reviewed:type:street_vending",
                                    "confirmed", f"confirmed:camera:{camera.id}", "confirmed:type:street_vending"])
    after = hash_after(ops, keys.capture_review("c1"), record)
    with pytest.raises(CommandRefused, match="already confirmed .* by 李值班\\(duty\\): case AI-c1"):
        project_capture_command(command("confirm", command_id="cmd-again"), after, ctx, received_at=SEEN)


def test_false_alarm_is_counted_once_per_camera_and_type_and_clears_its_alert(ctx, camera):
    record = queued(ctx, camera)
    out = project_capture_command(command("false_alarm"), record, ctx, received_at=SEEN)
    assert out.cases == []
    ops = out.effects.ops
    stats = increments(ops, keys.capture_stats_daily("20261124"))
    assert stats.count(f"false_alarm:camera:{camera.id}") == 1 and stats.count("false_alarm:type:street_vending") == 1
    assert stats.count("reviewed") == 1 and "confirmed" not in stats
    assert hash_after(ops, keys.alert(capture_alert_id("c1")))["state"] == "cleared"
    after = hash_after(ops, keys.capture_review("c1"), record)
    for again in ("false_alarm", "confirm"):
        with pytest.raises(CommandRefused, match="already discarded as a false alarm"):
            project_capture_command(command(again, command_id=f"x-{again}"), after, ctx, received_at=SEEN)


def test_commands_on_captures_that_do_not_wait_are_refused_with_why(ctx, camera):
    auto = hash_after(project_detection(det(camera.id, "illegal_parking"), [], ctx).effects.ops,
                      keys.capture_review("c1"))
    with pytest.raises(CommandRefused, match="dispatched without review"):
        project_capture_command(command("confirm"), auto, ctx, received_at=SEEN)
    with pytest.raises(CommandRefused, match="unknown capture nope"):
        project_capture_command(command("confirm", "nope"), {}, ctx, received_at=SEEN)
    with pytest.raises(CommandRefused, match="expired unreviewed"):
        project_capture_command(command("confirm", after_s=7300), queued(ctx, camera), ctx, received_at=SEEN)


@pytest.mark.parametrize(("text", "error"), [
    ("auto_dispatch: [illegal_parking, ufo]\n", "auto_dispatch names ufo"),
    ("auto_dispatch: illegal_parking\n", "must be a list"),
    ("trusted: [illegal_parking]\n", "unknown: trusted"),
    ("auto_dispatch: [\n", "not valid YAML"),
])
def test_a_bad_review_switch_file_names_what_is_wrong(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "capture_review.yml").write_text(text, encoding="utf-8")
    with pytest.raises(CityDataError, match=error):
        _capture_review(tmp_path, get_catalogue())


def test_the_review_switch_defaults_to_reviewing_every_type(tmp_path: Path) -> None:
    assert _capture_review(tmp_path, get_catalogue()) == frozenset()
    (tmp_path / "capture_review.yml").write_text("auto_dispatch: [illegal_parking]\n", encoding="utf-8")
    assert _capture_review(tmp_path, get_catalogue()) == {"illegal_parking"}
