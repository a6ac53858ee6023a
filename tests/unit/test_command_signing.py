"""Command signing, verification, freshness and the role table: pure logic (cityops/command_signing.py,
cityops/permissions.py), plus the console refusing locally what the role table forbids."""

from __future__ import annotations

import multiprocessing
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from cityops.command_signing import (
    SIGNED_FIELDS,
    CommandAuthError,
    CommandKeyError,
    canonical,
    check_allowed,
    check_fresh,
    check_signature,
    ensure_key_file,
    load_keys,
    parse_keys,
    sign,
    verify,
)
from cityops.permissions import COMMAND_ROLES, allowed_actions, command_refusal, required_role
from cityops.schemas import CommandAction, OperatorCommand, decode, encode
from cityops.settings import Settings, get_settings

SECRET_A = "a" * 16 + "-secret-for-tests-only-0001"
SECRET_B = "b" * 16 + "-secret-for-tests-only-0002"
RING = parse_keys(f"k2026:{SECRET_A}")
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def command(**kw: object) -> OperatorCommand:
    body = {"command_id": "cmd-1", "action": "acknowledge", "target_kind": "case", "target_id": "XM-1",
            "user": "李值班(duty)", "role": "duty", "issued_at": NOW.isoformat(), "note": "现场 <b>核实</b>"} | kw
    return decode(OperatorCommand, orjson.dumps(body))


def over_the_wire(cmd: OperatorCommand) -> OperatorCommand:
    return decode(OperatorCommand, encode(cmd))


# ------------------------------------------------------------------------------------------ keys


def test_keys_parse_first_signs_all_verify():
    ring = parse_keys(f" new:{SECRET_B} ,old:{SECRET_A}")
    assert ring.signing_kid == "new" and set(ring.secrets) == {"new", "old"}
    assert SECRET_A not in repr(ring), "secrets never show in a repr"
    assert parse_keys(f"# comment\nnew:{SECRET_B}\nold:{SECRET_A}\n").signing_kid == "new"


@pytest.mark.parametrize("text, problem", [
    ("", "no key"), ("k1", "kid:secret"), (f"bad kid:{SECRET_A}", "kid:secret"), ("k1:short", "shorter than 32"),
    (f"k1:{SECRET_A},k1:{SECRET_B}", "appears twice"),
])
def test_bad_key_settings_are_refused_with_a_reason(text, problem):
    with pytest.raises(CommandKeyError, match=problem):
        parse_keys(text)


def test_the_key_file_is_made_once_with_mode_0600_and_shared(tmp_path: Path):
    path = tmp_path / "var" / "command-keys"
    first = ensure_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_key_file(path) == first, "made once, then read"
    ring = parse_keys(first)
    assert ring.signing_kid.startswith("local-") and len(ring.secrets[ring.signing_kid]) >= 32
    assert [p.name for p in path.parent.iterdir()] == ["command-keys"], "no temporary file left behind"


def _make(path: str, out: multiprocessing.Queue) -> None:  # a separate process, as the console and worker are
    out.put(ensure_key_file(Path(path)))


def test_processes_starting_together_end_up_with_one_key(tmp_path: Path):
    path = tmp_path / "command-keys"
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_make, args=(str(path), out)) for _ in range(4)]
    for p in procs:
        p.start()
    texts = {out.get(timeout=30) for _ in procs}
    for p in procs:
        p.join(30)
    assert texts == {path.read_text()}


def test_a_key_file_others_may_read_is_refused(tmp_path: Path):
    path = tmp_path / "command-keys"
    ensure_key_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(CommandKeyError, match="chmod 600"):
        ensure_key_file(path)


def test_settings_name_the_keys_or_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CITYOPS_VAR", str(tmp_path))
    monkeypatch.delenv("CITYOPS_COMMAND_KEYS", raising=False)
    get_settings.cache_clear()
    try:
        s = get_settings()
        assert s.command_key_path == tmp_path / "command-keys" and s.command_max_age_s == 120
        assert load_keys(s).signing_kid.startswith("local-") and s.command_key_path.is_file()
        monkeypatch.setenv("CITYOPS_COMMAND_KEYS", f"env1:{SECRET_A}")
        get_settings.cache_clear()
        assert load_keys(get_settings()).signing_kid == "env1"
        assert SECRET_A not in repr(get_settings())
    finally:
        get_settings.cache_clear()


# ------------------------------------------------------------------------------------- signatures


def test_a_signed_command_verifies_after_the_wire():
    signed = sign(command(department_id="DSQ-350203", action="dispatch"), RING)
    assert signed.kid == "k2026" and signed.sig and len(signed.sig) == 43
    received = over_the_wire(signed)
    check_signature(received, RING)
    verify(received, RING, NOW + timedelta(seconds=5), 120, 30)
    # the same fields in another key order and spacing, with a field this version does not know: same bytes
    body = orjson.loads(encode(signed))
    shuffled = b"{ " + b", ".join(orjson.dumps(k) + b": " + orjson.dumps(v) for k, v in reversed(body.items())) \
        + b', "x_future": 1}'
    check_signature(decode(OperatorCommand, shuffled), RING)


def test_every_field_is_signed():
    assert set(SIGNED_FIELDS) == set(OperatorCommand.model_fields) - {"sig"}
    assert {"role", "kid", "user", "issued_at", "v"} <= set(SIGNED_FIELDS)
    signed = sign(command(department_id="DSQ-350203"), RING)
    changes = {"command_id": "cmd-2", "action": "escalate", "target_kind": "alert", "target_id": "XM-2",
               "user": "王管理(admin)", "role": "admin", "issued_at": (NOW + timedelta(seconds=1)).isoformat(),
               "department_id": "DSQ-350206", "note": "changed", "kid": "k2027"}
    # points: a finding's; level, reply_due: a 督办's; evidence_ref: a 处置's; each checked below
    assert set(changes) == set(SIGNED_FIELDS) - {"v", "points", "level", "reply_due", "evidence_ref"}
    two_keys = parse_keys(f"k2026:{SECRET_A},k2027:{SECRET_B}")
    for name, value in changes.items():
        tampered = decode(OperatorCommand, orjson.dumps(orjson.loads(encode(signed)) | {name: value}))
        with pytest.raises(CommandAuthError, match="bad signature"):
            check_signature(tampered, two_keys)
    for name in ("department_id", "note"):  # removing an optional field is a change too
        body = orjson.loads(encode(signed))
        del body[name]
        with pytest.raises(CommandAuthError, match="bad signature"):
            check_signature(decode(OperatorCommand, orjson.dumps(body)), RING)


def test_canonical_bytes_are_tagged_and_leave_the_signature_out():
    signed = sign(command(), RING)
    data = canonical(signed)
    assert data.startswith(b"cityops-command-v1\n") and signed.sig.encode() not in data
    assert orjson.loads(data.split(b"\n", 1)[1])["role"] == "duty"


def test_unsigned_unknown_key_and_other_secret_are_refused():
    with pytest.raises(CommandAuthError, match="not signed"):
        check_signature(command(), RING)
    with pytest.raises(CommandAuthError, match="unknown signing key id 'k1999'"):
        check_signature(sign(command(), parse_keys(f"k1999:{SECRET_A}")), RING)
    with pytest.raises(CommandAuthError, match="bad signature"):
        check_signature(sign(command(), parse_keys(f"k2026:{SECRET_B}")), RING)
    only_sig = orjson.loads(encode(sign(command(), RING)))
    del only_sig["kid"]
    with pytest.raises(CommandAuthError, match="not signed"):
        check_signature(decode(OperatorCommand, orjson.dumps(only_sig)), RING)


def test_rotation_old_key_verifies_while_the_new_one_signs():
    old = parse_keys(f"k2026:{SECRET_A}")
    rotated = parse_keys(f"k2027:{SECRET_B},k2026:{SECRET_A}")
    check_signature(over_the_wire(sign(command(), old)), rotated)  # in flight during the roll-out
    new = sign(command(), rotated)
    assert new.kid == "k2027"
    check_signature(over_the_wire(new), rotated)
    with pytest.raises(CommandAuthError, match="unknown signing key id 'k2027'"):
        check_signature(over_the_wire(new), old)  # a worker not yet given the new key refuses, never guesses


# -------------------------------------------------------------------------------------- freshness


@pytest.mark.parametrize("offset_s, ok", [(0, True), (119, True), (120, True), (121, False), (3600, False),
                                          (-30, True), (-31, False)])
def test_freshness_window(offset_s, ok):
    cmd = command()
    arrived = NOW + timedelta(seconds=offset_s)
    if ok:
        check_fresh(cmd, arrived, 120, 30)
    else:
        with pytest.raises(CommandAuthError, match="stale" if offset_s > 0 else "in the future"):
            check_fresh(cmd, arrived, 120, 30)


# ------------------------------------------------------------------------------------- role table


def test_a_finding_s_points_are_signed():
    finding = command(action="finding", target_kind="street", target_id="350203001", points=-3.0, note="x")
    signed = sign(finding, RING)
    check_signature(signed, RING)
    tampered = decode(OperatorCommand, orjson.dumps(orjson.loads(encode(signed)) | {"points": 3.0}))
    with pytest.raises(CommandAuthError, match="bad signature"):
        check_signature(tampered, RING)


@pytest.mark.parametrize("kind, change", [
    ({"action": "escalate", "level": 2, "reply_due": (NOW + timedelta(hours=4)).isoformat()}, {"level": 3}),
    ({"action": "escalate", "level": 2, "reply_due": (NOW + timedelta(hours=4)).isoformat()},
     {"reply_due": (NOW + timedelta(hours=40)).isoformat()}),
    ({"action": "handle", "role": "department", "department_id": "D01", "evidence_ref": "uploads/a.jpg"},
     {"evidence_ref": "uploads/b.jpg"}),
])
def test_a_supervision_order_s_and_a_handling_s_fields_are_signed(kind: dict, change: dict):
    signed = sign(command(**kind), RING)
    check_signature(signed, RING)
    tampered = decode(OperatorCommand, orjson.dumps(orjson.loads(encode(signed)) | change))
    with pytest.raises(CommandAuthError, match="bad signature"):
        check_signature(tampered, RING)


def test_the_role_table():
    department = [CommandAction.REPLY, CommandAction.HANDLE, CommandAction.RETURN]
    on_alerts = [a for a in CommandAction if a not in (CommandAction.CONFIRM, CommandAction.FINDING, *department)]
    on_captures = {(CommandAction.CONFIRM, "capture"), (CommandAction.FALSE_ALARM, "capture")}
    on_units = {(CommandAction.FINDING, "street"), (CommandAction.FINDING, "department")}
    assert set(COMMAND_ROLES) == {(a, k) for a in on_alerts for k in ("alert", "case")} | on_captures | on_units \
        | {(a, "case") for a in department}
    # a department user sends its three on its cases and nothing else; nobody else sends those three
    assert allowed_actions("department", "case") == department
    assert allowed_actions("department", "alert") == allowed_actions("department", "capture") == []
    for role in ("leader", "duty", "admin"):
        assert not set(allowed_actions(role, "case")) & set(department)
    assert command_refusal("admin", CommandAction.HANDLE, "case") == \
        "role admin may not send handle on a case (needs department)"
    duty = [CommandAction.ACKNOWLEDGE, CommandAction.DISPATCH, CommandAction.ESCALATE, CommandAction.FALSE_ALARM]
    for kind in ("alert", "case"):
        assert allowed_actions("leader", kind) == []
        assert allowed_actions("duty", kind) == duty
        assert allowed_actions("admin", kind) == on_alerts
        assert required_role(CommandAction.CLOSE, kind) == "admin"
    assert command_refusal("duty", CommandAction.CLOSE, "case") == \
        "role duty may not send close on a case (needs admin)"
    assert "unknown role" in command_refusal("root", CommandAction.ACKNOWLEDGE, "case")
    assert "no role may send" in command_refusal("admin", CommandAction.ACKNOWLEDGE, "camera")
    review = [CommandAction.FALSE_ALARM, CommandAction.CONFIRM]  # 误报 and 确认立案 on a queued capture: duty
    assert allowed_actions("leader", "capture") == [] and allowed_actions("duty", "capture") == review
    assert allowed_actions("admin", "capture") == review
    assert "no role may send confirm on a case" in command_refusal("admin", CommandAction.CONFIRM, "case")


def test_the_agent_checks_the_signed_role():
    check_allowed(command())
    check_allowed(command(action="close", role="admin"))
    for cmd in (command(action="close"), command(role="leader")):
        with pytest.raises(CommandAuthError, match="may not send"):
            check_allowed(cmd)
    with pytest.raises(CommandAuthError, match="may not send"):  # verify checks it too, after a good signature
        verify(sign(command(role="leader"), RING), RING, NOW, 120, 30)


# --------------------------------------------------------------------------------- the console side


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    def publish(self, topic: str, key: str, value: bytes) -> bool:
        self.sent.append((topic, key, value))
        return True


@pytest.fixture
def console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import dashboard.common as common

    monkeypatch.setenv("CITYOPS_VAR", str(tmp_path))
    monkeypatch.delenv("CITYOPS_COMMAND_KEYS", raising=False)
    get_settings.cache_clear()
    recorder = _Recorder()
    monkeypatch.setattr(common, "publisher", lambda: recorder)
    yield common, recorder
    get_settings.cache_clear()


def _as(common, monkeypatch: pytest.MonkeyPatch, role: str) -> None:  # noqa: ANN001
    monkeypatch.setattr(common, "user", lambda: {"username": role, "role": role, "display_name": f"{role} 用户"})


def test_the_console_signs_what_the_role_may_send(console, monkeypatch):
    common, recorder = console
    _as(common, monkeypatch, "duty")
    assert common.send_command(CommandAction.DISPATCH, "alert", "sensor:NS-1:1", department_id="DSQ-350203")
    topic, key, value = recorder.sent[-1]
    cmd = decode(OperatorCommand, value)
    assert (topic, key, cmd.role, cmd.user) == (get_settings().topics.commands, "sensor:NS-1:1", "duty",
                                                "duty 用户(duty)")
    ring = load_keys(get_settings())  # the key file the console made in the var folder, as the worker reads it
    verify(cmd, ring, datetime.now(UTC), 120, 30)
    assert stat.S_IMODE(Settings(var_dir=get_settings().var_dir).command_key_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("role, action, kind", [("duty", CommandAction.CLOSE, "case"),
                                                ("duty", CommandAction.CLOSE, "alert"),
                                                ("leader", CommandAction.ACKNOWLEDGE, "alert")])
def test_the_console_refuses_locally_what_the_role_may_not_send(console, monkeypatch, role, action, kind):
    common, recorder = console
    _as(common, monkeypatch, role)
    with pytest.raises(PermissionError, match=f"role {role} may not send {action.value}"):
        common.send_command(action, kind, "XM-1")
    assert recorder.sent == []


def test_an_admin_may_close(console, monkeypatch):
    common, recorder = console
    _as(common, monkeypatch, "admin")
    assert common.send_command(CommandAction.CLOSE, "case", "XM-1")
    assert decode(OperatorCommand, recorder.sent[-1][2]).action is CommandAction.CLOSE
