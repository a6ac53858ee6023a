"""The wall screen's sign-in cookie: signed, expiring, tamper-evident and revocable."""

from __future__ import annotations

import os
import time

import pytest

from cityops import session_cookie as sc

SECRET = b"k" * 64


def test_a_token_verifies_with_its_claims():
    token, claims = sc.issue(SECRET, "leader1", "leader", 3600, now=1_000)
    assert sc.verify(SECRET, token, now=1_500) == claims
    assert (claims.username, claims.role, claims.issued_at, claims.expires_at) == ("leader1", "leader", 1_000, 4_600)


def test_an_expired_token_is_refused():
    token, _ = sc.issue(SECRET, "leader1", "leader", 3600, now=1_000)
    with pytest.raises(sc.CookieRefused, match="expired"):
        sc.verify(SECRET, token, now=4_600)


@pytest.mark.parametrize("tamper", [
    lambda t: t.replace(t.split(".")[0], sc._b64(b'{"u":"admin","r":"admin","iat":1000,"exp":9999999999,"sid":"x"}')),
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
    lambda t: t.split(".")[0],
    lambda t: "",
    lambda t: t + "." + t,
])
def test_a_tampered_or_malformed_token_is_refused(tamper):
    token, _ = sc.issue(SECRET, "leader1", "leader", 3600)
    with pytest.raises(sc.CookieRefused):
        sc.verify(SECRET, tamper(token))


def test_another_secret_does_not_verify():
    token, _ = sc.issue(SECRET, "leader1", "leader", 3600)
    with pytest.raises(sc.CookieRefused, match="signature"):
        sc.verify(b"z" * 64, token)


def test_revoked_session_and_user_are_refused(tmp_path):
    store = sc.Revocations(tmp_path / "revoked.json")
    t0 = time.time()
    _, c1 = sc.issue(SECRET, "leader1", "leader", 3600, now=t0)
    _, c2 = sc.issue(SECRET, "leader1", "leader", 3600, now=t0)
    store.check(c1)
    store.revoke_session(c1)
    with pytest.raises(sc.CookieRefused, match="session revoked"):
        store.check(c1)
    store.check(c2)  # another session of the same user still works
    store.revoke_user("leader1", now=t0 + 1)  # e.g. a password change
    with pytest.raises(sc.CookieRefused, match="user"):
        store.check(c2)
    _, later = sc.issue(SECRET, "leader1", "leader", 3600, now=t0 + 2)
    store.check(later)  # signing in again afterwards works


def test_the_secret_is_made_once_private_and_a_readable_one_refused(tmp_path):
    path = tmp_path / "var" / "console-cookie-secret"
    first = sc.load_secret(path)
    assert sc.load_secret(path) == first and oct(path.stat().st_mode & 0o777) == "0o600"
    os.chmod(path, 0o644)
    with pytest.raises(sc.CookieRefused, match="readable"):
        sc.load_secret(path)
