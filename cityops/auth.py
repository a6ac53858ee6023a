"""Console users, roles and password hashes: pure logic, no Streamlit.

Why a file and not a database: a bureau's command centre has a handful of console accounts and no
identity provider on the intranet; a JSON file (``CITYOPS_USERS_FILE``) that an admin edits from the
console or with ``python -m cityops users``, with scrypt hashes only, is auditable and has nothing to
run. Passwords are never stored or logged in clear. The file is always written 0600, atomically.

Hashes use the standard library's ``hashlib.scrypt`` (memory-hard, no extra wheel) with a random
16-byte salt per password: n = 2^17, r = 8, p = 1 (128 MiB), the parameters travelling
with the hash. A hash with weaker parameters is upgraded at the user's next successful sign-in
(:func:`needs_rehash`). A stored hash whose parameters exceed sane caps (a tampered file) is refused
without running scrypt, so the file cannot make a sign-in allocate gigabytes. Sign-in inputs longer
than :data:`MAX_USERNAME_LEN` / :data:`MAX_PASSWORD_LEN` are refused before any hashing, and at
most :data:`SCRYPT_CONCURRENCY` hashes run at once per process.

Roles are ordered: ``leader`` (big screen, briefing, drill-down) < ``duty`` (+ the duty console and
its actions) < ``admin`` (+ user management). A higher role can do everything a lower one can.
``department`` stands beside that ladder: a department's user (``department`` names which) sees the department's
own queue and acts on its cases (处置, 退回, 督办回复), and nothing of the command centre's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from cityops.private_files import file_lock, write_private_json

ROLES = ("leader", "duty", "admin")  # the command centre's ladder, cumulative
DEPARTMENT = "department"  # a department's user: beside the ladder, bound to one department
ALL_ROLES = (*ROLES, DEPARTMENT)
ROLE_ZH = {"leader": "领导", "duty": "值班员", "admin": "管理员", DEPARTMENT: "部门用户"}

# scrypt cost for new hashes: n=2^17, r=8, p=1 needs 128 MiB (128·r·n bytes), costly to guess at scale.
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
SCHEME = "scrypt"
# Caps on what a stored hash may ask for; beyond them the hash is refused without running scrypt.
MAX_N = 2**20
MAX_R = 16
MAX_P = 4
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024  # 128·r·n bytes; n=2^20 with r=16 would be 2 GiB
SALT_BYTES = (16, 64)  # inclusive range of salt and digest lengths accepted from the file
SCRYPT_CONCURRENCY = 2  # hashes running at once in this process (each holds 128 MiB)

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{2,32}$")
MAX_USERNAME_LEN = 32
MAX_PASSWORD_LEN = 256
MIN_PASSWORD_LEN = 8

FIRST_ADMIN_HELP = (
    "no users file at {path}: the console does not create demo accounts when it is reachable from other "
    "machines. Create the first admin with\n"
    "    python -m cityops users add <name> --role admin\n"
    "(or bind the console to 127.0.0.1, or set CITYOPS_DEMO=1 for a demonstration)")

_SCRYPT_SLOTS = threading.BoundedSemaphore(SCRYPT_CONCURRENCY)


class AuthError(ValueError):
    """A user-file problem or an invalid change (bad name, weak password, unknown role)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _maxmem(n: int, r: int, p: int) -> int:
    """OpenSSL's limit for one scrypt call: its 128·r·(n + p + 2) bytes plus slack."""
    return 128 * r * (n + p + 2) + 1024 * 1024


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    with _SCRYPT_SLOTS:
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_maxmem(n, r, p),
                              dklen=dklen)


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64): parameters travel with the hash so they can be raised later.

    Only tests pass a lower ``n``; everything that stores a hash uses the defaults."""
    salt = secrets.token_bytes(16)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(_scrypt(password, salt, n, r, p, 32))}"


@dataclass(frozen=True)
class HashParams:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def parse_hash(stored: str) -> HashParams | None:
    """The parameters of a stored hash, or None when it is malformed or asks for more than the caps."""
    try:
        scheme, n_text, r_text, p_text, salt_text, digest_text = stored.split("$")
        if scheme != SCHEME or not all(x.isdigit() for x in (n_text, r_text, p_text)):
            return None
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt = base64.b64decode(salt_text, validate=True)
        digest = base64.b64decode(digest_text, validate=True)
    except (ValueError, TypeError, binascii.Error, AttributeError):
        return None
    if not (2 <= n <= MAX_N and n & (n - 1) == 0 and 1 <= r <= MAX_R and 1 <= p <= MAX_P):
        return None
    if 128 * r * n > MAX_SCRYPT_MEMORY:
        return None
    if not (SALT_BYTES[0] <= len(salt) <= SALT_BYTES[1] and SALT_BYTES[0] <= len(digest) <= SALT_BYTES[1]):
        return None
    return HashParams(n, r, p, salt, digest)


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; a malformed or over-cap hash is a mismatch, never an
    exception, and costs no scrypt run."""
    params = parse_hash(stored)
    if params is None or len(password) > MAX_PASSWORD_LEN:
        return False
    try:
        actual = _scrypt(password, params.salt, params.n, params.r, params.p, len(params.digest))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, params.digest)


def needs_rehash(stored: str) -> bool:
    """True when a hash is weaker than today's parameters (upgraded at the next successful sign-in)."""
    params = parse_hash(stored)
    return params is None or params.n < SCRYPT_N or params.r < SCRYPT_R


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so that a wrong name costs as long as a
    wrong password (made on first use: importing this module must not cost a scrypt run)."""
    return hash_password(secrets.token_hex(8))


@dataclass(frozen=True)
class User:
    username: str
    role: str
    display_name: str
    password_hash: str
    department: str = ""  # the department a ``department`` user belongs to ('' for every other role)

    @property
    def public(self) -> dict[str, str]:
        """What the console keeps in the session: never the hash."""
        return {"username": self.username, "role": self.role, "display_name": self.display_name,
                "department": self.department}


def role_at_least(role: str, needed: str) -> bool:
    """``role_at_least("admin", "duty")`` is True: roles are cumulative."""
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def may_open(role: str, needed: str) -> bool:
    """Whether a user of ``role`` may open a page that needs ``needed``: a ``department`` page only a department
    user, a page of the ladder only a ladder role high enough (never a department user)."""
    if DEPARTMENT in (role, needed):
        return role == needed
    return role_at_least(role, needed)


def load_users(path: Path) -> dict[str, User]:
    """Read the users file; a missing or malformed file is an :class:`AuthError` (fail closed)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuthError(f"users file {path} does not exist") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AuthError(f"users file {path} cannot be read: {err}") from None
    users: dict[str, User] = {}
    for item in data.get("users", []) if isinstance(data, dict) else []:
        try:
            user = User(str(item["username"]), str(item["role"]), str(item.get("display_name") or item["username"]),
                        str(item["password_hash"]), str(item.get("department") or ""))
        except (KeyError, TypeError):
            continue
        if user.role in ALL_ROLES and USERNAME_RE.match(user.username) and (
                (user.role == DEPARTMENT) == bool(user.department)):
            users[user.username] = user
    return users


def save_users(path: Path, users: dict[str, User]) -> None:
    """Written whole and 0600 (``cityops.private_files``): never half a users file, never readable by others."""
    write_private_json(path, {"users": [asdict(u) for u in sorted(users.values(), key=lambda u: u.username)]})


def update_users(path: Path, change: Callable[[dict[str, User]], dict[str, User]], *,
                 create: bool = False) -> dict[str, User]:
    """Load, apply ``change`` and save under a lock; ``create`` starts from no users when the file is missing."""
    with file_lock(path):
        if create and not path.exists():
            users: dict[str, User] = {}
        else:
            users = load_users(path)
        changed = change(users)
        save_users(path, changed)
        return changed


def is_loopback(address: str | None) -> bool:
    """True for addresses only this machine can reach (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def demo_allowed(bind_address: str | None, demo_flag: bool) -> bool:
    """Demo accounts (published passwords) only on a console nobody else can reach, or when asked for."""
    return demo_flag or is_loopback(bind_address)


def ensure_users_file(path: Path, demo: Path, *, allow_demo: bool) -> None:
    """First start: copy the demo accounts when ``allow_demo``; else a missing file is an
    :class:`AuthError` saying how to create the first admin. An existing file is kept."""
    if path.exists():
        return
    if not allow_demo:
        raise AuthError(FIRST_ADMIN_HELP.format(path=path))
    with file_lock(path):
        if not path.exists():
            save_users(path, load_users(demo))


def sign_in_input_ok(username: str, password: str) -> bool:
    """Lengths checked before anything is hashed or counted: a 1 MB "password" costs nothing."""
    return 0 < len(username) <= MAX_USERNAME_LEN and len(password) <= MAX_PASSWORD_LEN


def authenticate(users: dict[str, User], username: str, password: str) -> User | None:
    """The user when name and password match, else None (same work either way; over-long input: none)."""
    if not sign_in_input_ok(username, password):
        return None
    user = users.get(username.strip())
    ok = verify_password(password, user.password_hash if user else _dummy_hash())
    return user if (user is not None and ok) else None


def upgrade_hash(path: Path, username: str, password: str) -> bool:
    """After a successful sign-in: rewrite the user's hash at today's parameters if it is weaker.
    Returns whether it was rewritten. The password is checked again under the lock, so a concurrent
    password change by an admin is never overwritten with the old password."""
    with file_lock(path):
        users = load_users(path)
        user = users.get(username)
        if user is None or not needs_rehash(user.password_hash) or not verify_password(password, user.password_hash):
            return False
        users[username] = User(user.username, user.role, user.display_name, hash_password(password),
                               user.department)
        save_users(path, users)
        return True


def validate_new_user(username: str, role: str, password: str, department: str = "") -> None:
    if not USERNAME_RE.match(username):
        raise AuthError("用户名须为 2–32 位字母、数字、_ . - / username: 2–32 letters, digits, _ . -")
    if role not in ALL_ROLES:
        raise AuthError(f"unknown role {role!r}")
    if (role == DEPARTMENT) != bool(department):
        raise AuthError("部门用户须指定所属部门，其他角色不指定 / a department user needs its department, "
                        "other roles none")
    if len(password) < MIN_PASSWORD_LEN:
        raise AuthError(f"密码至少 {MIN_PASSWORD_LEN} 位 / password needs at least {MIN_PASSWORD_LEN} characters")
    if len(password) > MAX_PASSWORD_LEN:
        raise AuthError(f"密码至多 {MAX_PASSWORD_LEN} 位 / password has at most {MAX_PASSWORD_LEN} characters")


def upsert_user(users: dict[str, User], username: str, role: str, display_name: str,
                password: str | None, department: str = "") -> dict[str, User]:
    """A new mapping with the user added or changed; ``password=None`` keeps an existing user's hash;
    ``department``: a department user's department (the caller checks it is one of the city's)."""
    existing = users.get(username)
    if password is None:
        if existing is None:
            raise AuthError("a new user needs a password")
        validate_new_user(username, role, "x" * MIN_PASSWORD_LEN, department)
        new_hash = existing.password_hash
    else:
        validate_new_user(username, role, password, department)
        new_hash = hash_password(password)
    out = dict(users)
    out[username] = User(username, role, display_name.strip() or username, new_hash, department)
    _keep_an_admin(out)
    return out


def remove_user(users: dict[str, User], username: str) -> dict[str, User]:
    if username not in users:
        raise AuthError(f"no user {username!r}")
    out = {k: v for k, v in users.items() if k != username}
    _keep_an_admin(out)
    return out


def _keep_an_admin(users: dict[str, User]) -> None:
    """Refuse changes that would lock every admin out of user management."""
    if not any(u.role == "admin" for u in users.values()):
        raise AuthError("至少保留一个管理员 / at least one admin must remain")
