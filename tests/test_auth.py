"""Console accounts: scrypt hashes, roles, the users file and the demo accounts."""

from __future__ import annotations

import json
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


def test_demo_accounts_sign_in_with_documented_passwords():
    users = auth.load_users(DEMO)
    assert {u.role for u in users.values()} == set(auth.ROLES)
    for name, password in (("leader", "leader-demo"), ("duty", "duty-demo"), ("admin", "admin-demo")):
        user = auth.authenticate(users, name, password)
        assert user is not None and user.username == name
        assert auth.authenticate(users, name, password + "x") is None
    assert auth.authenticate(users, "nobody", "leader-demo") is None
    raw = DEMO.read_text()
    assert "leader-demo" not in raw and "duty-demo" not in raw, "only hashes are stored"


def test_users_file_save_load_and_first_start(tmp_path: Path):
    target = tmp_path / "var" / "users.json"
    auth.ensure_users_file(target, DEMO)
    assert auth.load_users(target).keys() == auth.load_users(DEMO).keys()
    users = auth.upsert_user(auth.load_users(target), "zhang.san", "duty", "张三", "s3cret-pass")
    auth.save_users(target, users)
    again = auth.load_users(target)
    assert again["zhang.san"].display_name == "张三"
    assert auth.authenticate(again, "zhang.san", "s3cret-pass") is not None
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    auth.ensure_users_file(target, DEMO)  # an existing file is kept
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
