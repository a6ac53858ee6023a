"""Operator commands signed by the console and verified by the command agent: pure logic, no Kafka.

Why: anyone who can write to the commands topic could otherwise act as any officer. The console signs each
command with HMAC-SHA256 over a canonical encoding of every field (the user, the user's role, the key id
``kid`` included); the command agent applies a command only when its key is known, its signature matches
(constant-time compare), it is fresh (``issued_at`` at most ``CITYOPS_COMMAND_MAX_AGE_S`` before it arrived
and ``CITYOPS_COMMAND_MAX_AHEAD_S`` after) and the role may send it (:mod:`cityops.permissions`).

Keys: ``CITYOPS_COMMAND_KEYS`` = ``kid:secret,kid2:secret2`` (secrets of at least 32 characters); the first
key signs, every key verifies, so a key is rotated by adding the new one second on the workers, then first
on the consoles, then removing the old one. When the variable is empty the key file
``CITYOPS_COMMAND_KEY_FILE`` (``<var>/command-keys``, same format) is read, and created once with a random
key and mode 0600 if missing: console and worker on one machine then share it, so ``make demo`` works on a
fresh machine. A key file that others may read is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from functools import lru_cache
from pathlib import Path

import orjson

from cityops.permissions import command_refusal
from cityops.schemas import OperatorCommand
from cityops.settings import Settings

DOMAIN = b"cityops-command-v1\n"  # what is signed is a CityOps command, never another message with equal bytes
KID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
MIN_SECRET_LENGTH = 32
SIGNED_FIELDS = tuple(name for name in OperatorCommand.model_fields if name != "sig")  # every field but the MAC


class CommandAuthError(ValueError):
    """A command the agent must not apply; ``str(err)`` is the dead letter's reason (stage ``auth``)."""


class CommandKeyError(ValueError):
    """Signing keys missing or malformed: nothing can be signed or verified until an operator fixes them."""


@dataclass(frozen=True)
class CommandKeys:
    """The key ring: ``signing_kid`` signs, every key in ``secrets`` verifies."""

    signing_kid: str
    secrets: Mapping[str, bytes] = field(repr=False)


def parse_keys(text: str, *, source: str = "CITYOPS_COMMAND_KEYS") -> CommandKeys:
    """``kid:secret,kid2:secret2`` (commas or new lines; ``#`` starts a comment line) → the key ring."""
    ring: dict[str, bytes] = {}
    order: list[str] = []
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    for item in ",".join(lines).split(","):
        item = item.strip()
        if not item:
            continue
        kid, sep, secret = item.partition(":")
        kid, secret = kid.strip(), secret.strip()
        if not sep or not KID_RE.match(kid):
            raise CommandKeyError(f"{source}: each key is kid:secret, kid of 1-32 letters, digits, '_', '.', '-'")
        if len(secret) < MIN_SECRET_LENGTH:
            raise CommandKeyError(f"{source}: the secret of key {kid!r} is shorter than {MIN_SECRET_LENGTH} characters "
                                  "(make one: python -c 'import secrets; print(secrets.token_urlsafe(32))')")
        if kid in ring:
            raise CommandKeyError(f"{source}: key id {kid!r} appears twice")
        ring[kid] = secret.encode()
        order.append(kid)
    if not order:
        raise CommandKeyError(f"{source}: no key")
    return CommandKeys(order[0], ring)


def ensure_key_file(path: Path) -> str:
    """The key file's text, creating it once with one random key (mode 0600, atomically: two processes
    starting together end up with the same key). A file that group or others may read is refused."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        body = f"# CityOps command signing keys (kid:secret); the first signs, all verify\n" \
               f"local-{secrets.token_hex(3)}:{secrets.token_urlsafe(32)}\n"
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".command-keys.")  # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)  # fails if another process created it first: then theirs is the key
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CommandKeyError(f"command key file {path} may be read by others (mode {stat.filemode(mode)}): "
                              f"chmod 600 {path}")
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=8)
def _ring(env_text: str, path: Path) -> CommandKeys:
    if env_text.strip():
        return parse_keys(env_text)
    return parse_keys(ensure_key_file(path), source=str(path))


def load_keys(settings: Settings) -> CommandKeys:
    """The process's key ring from ``CITYOPS_COMMAND_KEYS``, else the key file (read once per process)."""
    return _ring(settings.command_keys, settings.command_key_path)


def _plain(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def canonical(cmd: OperatorCommand) -> bytes:
    """The bytes signed: a domain tag, then every field but ``sig`` as JSON with sorted keys, absent = null.

    Built from the decoded model, not the received bytes, so a consumer computes the same bytes whatever
    whitespace, key order or unknown extra fields the sender's JSON had; a field added to the model later
    is signed without anyone remembering to.
    """
    body = {name: _plain(getattr(cmd, name)) for name in SIGNED_FIELDS}
    return DOMAIN + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _mac(secret: bytes, cmd: OperatorCommand) -> str:
    digest = hmac.new(secret, canonical(cmd), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(cmd: OperatorCommand, ring: CommandKeys) -> OperatorCommand:
    """The command with ``kid`` set to the signing key and ``sig`` over every field (``kid`` included)."""
    keyed = cmd.model_copy(update={"kid": ring.signing_kid, "sig": None})
    return keyed.model_copy(update={"sig": _mac(ring.secrets[ring.signing_kid], keyed)})


def check_signature(cmd: OperatorCommand, ring: CommandKeys) -> None:
    """Raise :class:`CommandAuthError` unless the command is signed by a key of the ring and unchanged since."""
    if cmd.sig is None or cmd.kid is None:
        raise CommandAuthError("command is not signed (no kid or sig): only commands signed by the console apply")
    secret = ring.secrets.get(cmd.kid)
    if secret is None:
        raise CommandAuthError(f"unknown signing key id {cmd.kid!r} (this worker knows "
                               f"{', '.join(sorted(ring.secrets))})")
    if not hmac.compare_digest(_mac(secret, cmd).encode("ascii"), cmd.sig.encode("ascii")):
        raise CommandAuthError(f"bad signature: the command was not signed with key {cmd.kid!r} as it reads now "
                               "(forged, or changed after signing)")


def check_fresh(cmd: OperatorCommand, arrived: datetime, max_age_s: float, max_ahead_s: float) -> None:
    """Raise :class:`CommandAuthError` when ``issued_at`` lies more than ``max_age_s`` before ``arrived`` (a
    replay, or a command that waited too long) or more than ``max_ahead_s`` after it (a sender's clock ahead)."""
    age = (arrived - cmd.issued_at).total_seconds()
    if age > max_age_s:
        raise CommandAuthError(f"stale command: issued {age:.0f} s before it arrived (limit {max_age_s:g} s); "
                               "replayed, or held up: send it again from the console")
    if -age > max_ahead_s:
        raise CommandAuthError(f"command issued {-age:.0f} s in the future (limit {max_ahead_s:g} s): "
                               "the sender's clock is wrong")


def check_allowed(cmd: OperatorCommand) -> None:
    """Raise :class:`CommandAuthError` when the command's (signed) role may not send its action."""
    reason = command_refusal(cmd.role, cmd.action, cmd.target_kind)
    if reason is not None:
        raise CommandAuthError(reason)


def verify(cmd: OperatorCommand, ring: CommandKeys, arrived: datetime, max_age_s: float,
           max_ahead_s: float) -> None:
    """Every check the command agent makes, in its order: signature, freshness, role."""
    check_signature(cmd, ring)
    check_fresh(cmd, arrived, max_age_s, max_ahead_s)
    check_allowed(cmd)
