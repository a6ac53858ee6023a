"""The wall screen's sign-in cookie: user, role, issued-at, expiry and a session id, signed with HMAC-SHA256.

Why: the leader's big screen runs unattended and a reload (power cut, browser restart) must not leave it at the
sign-in form. The cookie proves only who signed in when; on every use the console also checks that the account
still exists with that role and that the session was not revoked (sign-out, password change, account change):
revocations live in ``<var>/console-revoked.json`` (session ids until their expiry, and per user a
"not before" time). The secret is made once in ``<var>/console-cookie-secret`` (0600).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

COOKIE_NAME = "cityops_session"
MAX_TOKEN_CHARS = 1_000


@dataclass(frozen=True)
class Claims:
    username: str
    role: str
    issued_at: int
    expires_at: int
    session_id: str


class CookieRefused(ValueError):
    """The cookie cannot sign anyone in; the message says why (for the audit trail)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(secret: bytes, username: str, role: str, lifetime_s: int, now: float | None = None) -> tuple[str, Claims]:
    """A new signed token and its claims (a fresh random session id)."""
    at = int(time.time() if now is None else now)
    claims = Claims(username, role, at, at + int(lifetime_s), secrets.token_urlsafe(16))
    body = _b64(json.dumps({"u": claims.username, "r": claims.role, "iat": claims.issued_at,
                            "exp": claims.expires_at, "sid": claims.session_id}, separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())}", claims


def verify(secret: bytes, token: str, now: float | None = None) -> Claims:
    """The claims of a token signed with ``secret`` and not expired; else :class:`CookieRefused`."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise CookieRefused("malformed")
    body, mac = token.split(".")
    expected = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        raise CookieRefused("bad signature")
    try:
        data = json.loads(_unb64(body))
        claims = Claims(str(data["u"]), str(data["r"]), int(data["iat"]), int(data["exp"]), str(data["sid"]))
    except (ValueError, KeyError, TypeError) as err:
        raise CookieRefused(f"malformed claims: {err}") from None
    if (time.time() if now is None else now) >= claims.expires_at:
        raise CookieRefused("expired")
    return claims


def load_secret(path: Path) -> bytes:
    """The signing secret, made once (0600); a file anyone else may read is refused."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    if path.stat().st_mode & 0o077:
        raise CookieRefused(f"{path} is readable by others; chmod 600 it")
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise CookieRefused(f"{path} holds too short a secret")
    return secret.encode()


class Revocations:
    """Revoked session ids (kept until they would have expired) and per-user "not before" times."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _locked(self) -> Iterator[dict]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._read()
            yield state
            now = time.time()
            state["sessions"] = {sid: exp for sid, exp in state["sessions"].items() if exp > now}
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
            return {"sessions": dict(data.get("sessions", {})), "users": dict(data.get("users", {}))}
        except FileNotFoundError:
            return {"sessions": {}, "users": {}}
        except (ValueError, AttributeError, TypeError) as err:  # a damaged file revokes nothing silently
            raise CookieRefused(f"{self.path} is unreadable: {err}") from None

    def revoke_session(self, claims: Claims) -> None:
        with self._locked() as state:
            state["sessions"][claims.session_id] = claims.expires_at

    def revoke_user(self, username: str, now: float | None = None) -> None:
        """Every cookie of ``username`` issued up to now stops working (password change, admin's revoke)."""
        with self._locked() as state:
            state["users"][username] = int(time.time() if now is None else now)

    def check(self, claims: Claims) -> None:
        state = self._read()
        if claims.session_id in state["sessions"]:
            raise CookieRefused("session revoked")
        if claims.issued_at <= int(state["users"].get(claims.username, -1)):
            raise CookieRefused("revoked for the user")
