"""Console users, roles and password hashes: pure logic, no Streamlit.

Why a file and not a database: a bureau's command centre has a handful of console accounts and no
identity provider on the intranet; a JSON file (``CITYOPS_USERS_FILE``) that an admin edits from the
console, with scrypt hashes only, is auditable and has nothing to run. Passwords are never stored or
logged in clear. Hashes use the standard library's ``hashlib.scrypt`` (memory-hard, no extra wheel)
with a random 16-byte salt per password; verification is constant-time.

Roles are ordered: ``leader`` (big screen, briefing, drill-down) < ``duty`` (+ the duty console and
its actions) < ``admin`` (+ user management). A higher role can do everything a lower one can.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROLES = ("leader", "duty", "admin")
ROLE_ZH = {"leader": "领导", "duty": "值班员", "admin": "管理员"}

# scrypt cost: n=2^14, r=8, p=1 takes ≈ 30–60 ms and 16 MiB, the interactive-login figure of RFC 7914.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCHEME = "scrypt"
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{2,32}$")
MIN_PASSWORD_LEN = 8


class AuthError(ValueError):
    """A user-file problem or an invalid change (bad name, weak password, unknown role)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64): parameters travel with the hash so they can be raised later."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; any malformed hash is a mismatch, never an exception."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt, validate=True), n=int(n),
                                r=int(r), p=int(p), maxmem=64 * 1024 * 1024, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# A hash to verify against when the user does not exist, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


@dataclass(frozen=True)
class User:
    username: str
    role: str
    display_name: str
    password_hash: str

    @property
    def public(self) -> dict[str, str]:
        """What the console keeps in the session: never the hash."""
        return {"username": self.username, "role": self.role, "display_name": self.display_name}


def role_at_least(role: str, needed: str) -> bool:
    """``role_at_least("admin", "duty")`` is True: roles are cumulative."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def load_users(path: Path) -> dict[str, User]:
    """Read the users file; a missing or malformed file is an :class:`AuthError` (fail closed)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuthError(f"users file {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as err:
        raise AuthError(f"users file {path} cannot be read: {err}") from None
    users: dict[str, User] = {}
    for item in data.get("users", []) if isinstance(data, dict) else []:
        try:
            user = User(str(item["username"]), str(item["role"]), str(item.get("display_name") or item["username"]),
                        str(item["password_hash"]))
        except (KeyError, TypeError):
            continue
        if user.role in ROLES and USERNAME_RE.match(user.username):
            users[user.username] = user
    return users


def save_users(path: Path, users: dict[str, User]) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a users file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"users": [asdict(u) for u in sorted(users.values(), key=lambda u: u.username)]}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_users_file(path: Path, demo: Path) -> None:
    """First start: copy the demo accounts so the console can be signed into; an existing file is kept."""
    if not path.exists() and demo.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(demo, path)


def authenticate(users: dict[str, User], username: str, password: str) -> User | None:
    """The user when name and password match, else None (same work either way)."""
    user = users.get(username.strip())
    ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    return user if (user is not None and ok) else None


def validate_new_user(username: str, role: str, password: str) -> None:
    if not USERNAME_RE.match(username):
        raise AuthError("用户名须为 2–32 位字母、数字、_ . - / username: 2–32 letters, digits, _ . -")
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}")
    if len(password) < MIN_PASSWORD_LEN:
        raise AuthError(f"密码至少 {MIN_PASSWORD_LEN} 位 / password needs at least {MIN_PASSWORD_LEN} characters")


def upsert_user(users: dict[str, User], username: str, role: str, display_name: str,
                password: str | None) -> dict[str, User]:
    """A new mapping with the user added or changed; ``password=None`` keeps an existing user's hash."""
    existing = users.get(username)
    if password is None:
        if existing is None:
            raise AuthError("a new user needs a password")
        validate_new_user(username, role, "x" * MIN_PASSWORD_LEN)
        new_hash = existing.password_hash
    else:
        validate_new_user(username, role, password)
        new_hash = hash_password(password)
    out = dict(users)
    out[username] = User(username, role, display_name.strip() or username, new_hash)
    _keep_an_admin(out)
    return out


def remove_user(users: dict[str, User], username: str) -> dict[str, User]:
    out = {k: v for k, v in users.items() if k != username}
    _keep_an_admin(out)
    return out


def _keep_an_admin(users: dict[str, User]) -> None:
    """Refuse changes that would lock every admin out of user management."""
    if not any(u.role == "admin" for u in users.values()):
        raise AuthError("至少保留一个管理员 / at least one admin must remain")
