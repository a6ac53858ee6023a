"""Console accounts: scrypt hashes (strength, caps, upgrade), roles, the users file and the demo accounts."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from cityops import auth
from cityops.settings import REPO_ROOT

DEMO = REPO_ROOT / "config" / "users.demo.json"
FAST = {"n": 2**10}  # cheap parameters keep these tests quick; the format carries them


def test_hash_round_trip_and_salt():
    h1 = auth.hash_password("correct horse", **FAST)
    h2 = auth.hash_password("correct horse", **FAST)
    assert h1 != h2, "each hash has its own salt"
    assert "correct horse" not in h1
    assert auth.verify_password("correct horse", h1)
    assert not auth.verify_password("correct hors", h1)
    assert not auth.verify_password("", h1)


@pytest.mark.parametrize("bad", ["", "plain", "scrypt$x$8$1$AA==$AA==", "bcrypt$1$2$3$4$5", "scrypt$16384$8$1$!!$AA=="])
def test_malformed_hashes_never_match(bad):
    assert auth.verify_password("anything", bad) is False


def test_roles_are_cumulative():
    assert auth.role_at_least("admin", "duty") and auth.role_at_least("admin", "leader")
    assert auth.role_at_least("duty", "leader") and not auth.role_at_least("duty", "admin")
    assert not auth.role_at_least("leader", "duty")
    assert not auth.role_at_least("root", "leader")


def test_a_department_page_admits_only_department_users_and_ladder_pages_never_do():
    assert auth.may_open("department", "department")
    for role in auth.ROLES:
        assert not auth.may_open(role, "department"), f"{role} must not open the department's page"
        assert not auth.may_open("department", role), f"a department user must not open a {role} page"
    assert auth.may_open("admin", "duty") and auth.may_open("duty", "leader") and not auth.may_open("leader", "duty")
    assert not auth.may_open("root", "department") and not auth.may_open("department", "root")


def test_demo_accounts_sign_in_with_documented_passwords():
    users = auth.load_users(DEMO)
    assert {u.role for u in users.values()} == set(auth.ALL_ROLES)
    assert users["dept"].department == "DSAN-350203" and users["dept"].role == auth.DEPARTMENT
    assert all(auth.parse_hash(u.password_hash).n == 2**14 for u in users.values()), "cheap demo hashes"
    for name, password in (("leader", "leader-demo"), ("duty", "duty-demo"), ("admin", "admin-demo"),
                           ("dept", "dept-demo")):
        user = auth.authenticate(users, name, password)
        assert user is not None and user.username == name
        assert auth.authenticate(users, name, password + "x") is None
    assert auth.authenticate(users, "nobody", "leader-demo") is None
    raw = DEMO.read_text()
    assert "leader-demo" not in raw and "duty-demo" not in raw, "only hashes are stored"


def test_users_file_save_load_and_first_start(tmp_path: Path):
    target = tmp_path / "var" / "users.json"
    auth.ensure_users_file(target, DEMO, allow_demo=True)
    assert oct(target.stat().st_mode & 0o777) == "0o600", "0600 from the first write on"
    assert auth.load_users(target).keys() == auth.load_users(DEMO).keys()
    users = auth.upsert_user(auth.load_users(target), "zhang.san", "duty", "张三", "s3cret-pass")
    auth.save_users(target, users)
    again = auth.load_users(target)
    assert again["zhang.san"].display_name == "张三"
    assert auth.authenticate(again, "zhang.san", "s3cret-pass") is not None
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    auth.ensure_users_file(target, DEMO, allow_demo=False)  # an existing file is kept
    assert "zhang.san" in auth.load_users(target)
    kept = auth.upsert_user(again, "zhang.san", "leader", "张三", None)  # role change keeps the password
    assert kept["zhang.san"].password_hash == again["zhang.san"].password_hash


def test_invalid_changes_are_refused():
    users = auth.load_users(DEMO)
    with pytest.raises(auth.AuthError):
        auth.upsert_user(users, "a b", "duty", "", "long-enough")
    with pytest.raises(auth.AuthError):
        auth.upsert_user(users, "newbie", "duty", "", "short")
    with pytest.raises(auth.AuthError):
        auth.upsert_user(users, "newbie", "superuser", "", "long-enough")
    with pytest.raises(auth.AuthError):
        auth.upsert_user(users, "newbie", "duty", "", None)
    with pytest.raises(auth.AuthError):
        auth.remove_user(users, "admin")  # the only admin
    with pytest.raises(auth.AuthError):
        auth.upsert_user(users, "admin", "duty", "", None)  # demoting the only admin


def test_broken_or_missing_file_fails_closed(tmp_path: Path):
    with pytest.raises(auth.AuthError):
        auth.load_users(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(auth.AuthError):
        auth.load_users(bad)
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"users": [{"username": "x y", "role": "admin", "password_hash": "h"},
                                         {"username": "ok", "role": "god", "password_hash": "h"},
                                         {"role": "duty"}]}))
    assert auth.load_users(odd) == {}


@pytest.fixture
def scrypt_calls(monkeypatch):
    """Records every scrypt run (pure-logic unit tests: what must be refused never reaches scrypt)."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(kwargs.get("n", 0))
        return real(*args, **kwargs)

    monkeypatch.setattr(auth.hashlib, "scrypt", counting)
    return calls


def test_new_hashes_are_scrypt_2_17_within_its_memory():
    stored = auth.hash_password("a-long-password")  # the one full-cost hash of this module
    assert stored.startswith("scrypt$131072$8$1$")
    assert auth.verify_password("a-long-password", stored) and not auth.needs_rehash(stored)
    users = auth.upsert_user(auth.load_users(DEMO), "new.one", "duty", "", "another-password")
    assert users["new.one"].password_hash.startswith(f"scrypt${2**17}$"), "what is stored uses the defaults"


@pytest.mark.parametrize("params", [f"{2**21}$8$1", f"{2**20}$16$1", "131072$32$1", "131072$8$8", "1000$8$1",
                                    "0$8$1", "-16384$8$1", "16384$0$1"])
def test_hashes_beyond_the_caps_are_refused_without_running_scrypt(params, scrypt_calls):
    salt, digest = "S+W5um6HpKjCd4Ilj2U6Hg==", "L6bju7DFAMXNaMV8m8Egqa+Kh9L8y0C5X/sTrmIlQ9E="
    started = time.perf_counter()
    assert auth.verify_password("admin-demo", f"scrypt${params}${salt}${digest}") is False
    assert scrypt_calls == [] and time.perf_counter() - started < 0.05


@pytest.mark.parametrize("salt_digest", ["S+W5um6HpKjCd4Ilj2U6Hg=$AAAA", "AAAA$AAAA", "QUJD$" + "A" * 200,
                                         "S+W5um6HpKjCd4Ilj2U6Hg==$L6bju7DFAMXNaMV8m8Egqa+Kh9L8y0C5X/sTrmIlQ9E"])
def test_odd_or_short_salts_and_digests_are_refused_without_running_scrypt(salt_digest, scrypt_calls):
    assert auth.verify_password("admin-demo", f"scrypt$16384$8$1${salt_digest}") is False
    assert scrypt_calls == []


def test_sign_in_inputs_have_a_maximum_length_checked_before_hashing(scrypt_calls):
    users = auth.load_users(DEMO)
    assert auth.authenticate(users, "a" * 33, "whatever") is None
    assert auth.authenticate(users, "admin", "x" * 257) is None
    assert auth.authenticate(users, "admin", "admin-demo" + " " * 300) is None
    assert scrypt_calls == [], "refused before any hashing"
    with pytest.raises(auth.AuthError):
        auth.validate_new_user("long.pass", "duty", "p" * 257)


def test_an_old_hash_is_upgraded_at_the_next_successful_sign_in(tmp_path: Path):
    target = tmp_path / "users.json"
    old = auth.User("old.timer", "admin", "老", auth.hash_password("old-password", n=2**10))
    auth.save_users(target, {"old.timer": old})
    assert auth.needs_rehash(old.password_hash)
    assert not auth.upgrade_hash(target, "old.timer", "wrong-password"), "only with the right password"
    assert auth.upgrade_hash(target, "old.timer", "old-password")
    stored = auth.load_users(target)["old.timer"].password_hash
    assert stored.startswith("scrypt$131072$") and auth.verify_password("old-password", stored)
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert not auth.upgrade_hash(target, "old.timer", "old-password"), "done once"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".users-")] == [], "no temp file left"


def test_demo_accounts_only_on_loopback_or_when_asked(tmp_path: Path):
    assert auth.demo_allowed("127.0.0.1", False) and auth.demo_allowed("::1", False)
    assert auth.demo_allowed("localhost", False) and auth.demo_allowed("127.0.1.1", False)
    assert not auth.demo_allowed("0.0.0.0", False) and not auth.demo_allowed("10.1.2.3", False)
    assert not auth.demo_allowed("", False) and not auth.demo_allowed("::", False)
    assert auth.demo_allowed("0.0.0.0", True)
    target = tmp_path / "users.json"
    with pytest.raises(auth.AuthError, match="python -m cityops users add"):
        auth.ensure_users_file(target, DEMO, allow_demo=False)
    assert not target.exists()
