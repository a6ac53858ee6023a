"""Per-gateway credentials: tokens that let one IoT gateway publish readings under its own id (MQTT, HTTP).

A token is ``<key id>.<secret>`` with a 256-bit random secret, shown once when it is made; the file
``cities/<city>/gateway_keys.json`` (0600, written atomically under a lock) keeps only its SHA-256. Why not
scrypt as for console passwords: a 256-bit random secret cannot be guessed, so a slow hash buys nothing and
would cost every HTTP request or MQTT connect 128 MiB. A gateway may hold several keys at once, so a new
key can be rolled out (``add-key``) before the old one is revoked; ``rotate`` replaces all at once.

``python -m cityops gateways add-key|rotate|revoke|list GATEWAY_ID`` manages the file; only gateways of the
city's registry (``gateways.csv``) get keys.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cityops.private_files import FollowedFile, file_lock, write_private_json

FILE_NAME = "gateway_keys.json"
MAX_TOKEN_LEN = 256  # longer "tokens" are refused before any hashing
MAX_KEYS_PER_GATEWAY = 8
_KEY_ID = re.compile(r"^[0-9a-f]{8}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class GatewayCredentialsError(ValueError):
    """The keys file is malformed, or a change to it is not allowed (names what and where)."""


@dataclass(frozen=True)
class GatewayKey:
    key_id: str
    sha256: str  # hex digest of the whole token
    created_at: str  # ISO time, for ``list`` and audits


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class GatewayCredentials:
    """The keys of every gateway, as loaded from one file at one moment."""

    keys: Mapping[str, tuple[GatewayKey, ...]]

    def verify(self, gateway_id: str, token: str) -> bool:
        """True when ``token`` is a current key of ``gateway_id``; any malformed input is simply False."""
        if not isinstance(gateway_id, str) or not isinstance(token, str) or len(token) > MAX_TOKEN_LEN:
            return False
        candidates = self.keys.get(gateway_id, ())
        actual = _digest(token)
        # compare against every key of the gateway, constant-time, so the answer's timing says nothing
        ok = False
        for key in candidates:
            ok |= hmac.compare_digest(actual, key.sha256)
        return ok

    def gateways(self) -> list[str]:
        return sorted(g for g, ks in self.keys.items() if ks)


def keys_path(city_dir: Path) -> Path:
    return Path(city_dir) / FILE_NAME


def _parse(payload: object, where: str) -> dict[str, tuple[GatewayKey, ...]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("gateways"), dict):
        raise GatewayCredentialsError(f"{where}: expected {{\"gateways\": {{gateway id: [keys]}}}}")
    out: dict[str, tuple[GatewayKey, ...]] = {}
    for gateway_id, items in payload["gateways"].items():
        if not isinstance(items, list):
            raise GatewayCredentialsError(f"{where}: gateways.{gateway_id} must be a list of keys")
        keys = []
        for i, item in enumerate(items):
            field = f"{where}: gateways.{gateway_id}[{i}]"
            if not isinstance(item, dict):
                raise GatewayCredentialsError(f"{field} must be an object")
            key_id, digest, created = item.get("key_id"), item.get("sha256"), item.get("created_at", "")
            if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
                raise GatewayCredentialsError(f"{field}.key_id must be 8 lowercase hex digits")
            if not isinstance(digest, str) or not _HEX64.match(digest):
                raise GatewayCredentialsError(f"{field}.sha256 must be 64 lowercase hex digits")
            keys.append(GatewayKey(key_id, digest, str(created)))
        out[str(gateway_id)] = tuple(keys)
    return out


def load_gateway_credentials(city_dir: Path) -> GatewayCredentials:
    """The credentials of ``<city_dir>/gateway_keys.json``; a missing file means no gateway may publish."""
    path = keys_path(city_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return GatewayCredentials({})
    try:
        payload = json.loads(text)
    except ValueError as err:
        raise GatewayCredentialsError(f"{path}: not JSON: {err}") from err
    return GatewayCredentials(_parse(payload, str(path)))


class ReloadingGatewayCredentials:
    """Credentials that follow the file: a ``rotate`` or ``revoke`` takes effect at the next verify without a
    restart; a file broken while running keeps the last good keys rather than locking every gateway out."""

    def __init__(self, city_dir: Path) -> None:
        self._file = FollowedFile(keys_path(city_dir), lambda path: load_gateway_credentials(path.parent),
                                  GatewayCredentials({}), (GatewayCredentialsError,))

    def verify(self, gateway_id: str, token: str) -> bool:
        return self._file.current().verify(gateway_id, token)


def _payload(keys: Mapping[str, tuple[GatewayKey, ...]]) -> dict:
    return {"gateways": {g: [k.__dict__ for k in ks] for g, ks in sorted(keys.items()) if ks}}


def save_gateway_credentials(city_dir: Path, credentials: GatewayCredentials) -> None:
    write_private_json(keys_path(city_dir), _payload(credentials.keys))


def update_gateway_credentials(city_dir: Path,
                               change: Callable[[dict[str, tuple[GatewayKey, ...]]], dict[str, tuple[GatewayKey, ...]]]
                               ) -> GatewayCredentials:
    """Load, apply ``change``, save, under the lock."""
    with file_lock(keys_path(city_dir)):
        keys = dict(load_gateway_credentials(city_dir).keys)
        fresh = GatewayCredentials(change(keys))
        save_gateway_credentials(city_dir, fresh)
        return fresh


def new_key(now: datetime | None = None) -> tuple[str, GatewayKey]:
    """A fresh token and its stored form."""
    key_id = secrets.token_hex(4)
    token = f"{key_id}.{secrets.token_urlsafe(32)}"
    created = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    return token, GatewayKey(key_id, _digest(token), created)


def add_key(city_dir: Path, gateway_id: str, *, replace: bool = False) -> str:
    """Give ``gateway_id`` a new key (``replace``: instead of all its keys) and return the token."""
    token, key = new_key()

    def change(keys: dict[str, tuple[GatewayKey, ...]]) -> dict[str, tuple[GatewayKey, ...]]:
        old = () if replace else keys.get(gateway_id, ())
        if len(old) >= MAX_KEYS_PER_GATEWAY:
            raise GatewayCredentialsError(f"gateway {gateway_id} already has {len(old)} keys; revoke one first")
        keys[gateway_id] = (*old, key)
        return keys

    update_gateway_credentials(city_dir, change)
    return token


def revoke(city_dir: Path, gateway_id: str, key_id: str | None = None) -> int:
    """Remove one key (``key_id``) or all keys of ``gateway_id``; returns how many were removed."""
    removed = 0

    def change(keys: dict[str, tuple[GatewayKey, ...]]) -> dict[str, tuple[GatewayKey, ...]]:
        nonlocal removed
        old = keys.get(gateway_id, ())
        kept = tuple(k for k in old if key_id is not None and k.key_id != key_id)
        removed = len(old) - len(kept)
        if removed == 0:
            raise GatewayCredentialsError(f"gateway {gateway_id} has no key {key_id or '(any)'}")
        keys[gateway_id] = kept
        return keys

    update_gateway_credentials(city_dir, change)
    return removed


# --- python -m cityops gateways -------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["add-key", "rotate", "revoke", "list"])
    p.add_argument("gateway_id", nargs="?", help="gateway of the city's gateways.csv (add-key, rotate, revoke)")
    p.add_argument("--key-id", default=None, help="revoke: only this key (default: every key of the gateway)")


def _registry(city_dir: Path) -> set[str]:
    from cityops.city_data import load_city_data

    return {g.id for g in load_city_data(city_dir).gateways}


def run_from_args(args: argparse.Namespace) -> int:
    from cityops.settings import get_settings

    city_dir = get_settings().city_dir
    try:
        if args.action == "list":
            for gateway_id, keys in sorted(load_gateway_credentials(city_dir).keys.items()):
                for key in keys:
                    print(f"{gateway_id}\t{key.key_id}\t{key.created_at}")
            return 0
        if not args.gateway_id:
            raise GatewayCredentialsError(f"gateways {args.action}: name the gateway")
        if args.action in ("add-key", "rotate"):
            if args.gateway_id not in _registry(city_dir):
                raise GatewayCredentialsError(f"gateway {args.gateway_id!r} is not in {city_dir / 'gateways.csv'}")
            token = add_key(city_dir, args.gateway_id, replace=args.action == "rotate")
            print(f"cityops gateways: {args.action} {args.gateway_id}: token (shown once, give it to the gateway):",
                  file=sys.stderr)
            print(token)
            return 0
        n = revoke(city_dir, args.gateway_id, args.key_id)
        print(f"cityops gateways: revoked {n} key(s) of {args.gateway_id}", file=sys.stderr)
        return 0
    except GatewayCredentialsError as err:
        print(f"cityops gateways: {err}", file=sys.stderr)
        return 2
