"""API keys of the city's client systems (a 12345 hotline system, the citizen app, the grid app ...).

Each client system has one entry in ``cities/<city>/apikeys.json`` (``CITYOPS_APIKEYS_FILE`` overrides the
path): its id, a display name, the SHA-256 of each of its current keys (never a key), the source channel its
reports carry into the case (``CaseSource``), the scopes it may call, and its rate limit. ``python -m cityops
apikeys`` manages the file (docs/api.md).

A key is ``co.<client id>.<secret>`` with a 256-bit random secret, shown once. Why SHA-256 and not scrypt as
for console passwords: a 256-bit random secret cannot be guessed, so a slow hash buys nothing, and it would
cost every API request 128 MiB and a tenth of a second (the API takes hundreds of reports a second). Why the
client id in the key: the entry is found without trying every hash, and a leaked key names its owner.

The file is written atomically (0600 temp file, fsync, rename) under a lock; a revoked client keeps its entry
(without keys) so its id, which namespaces its idempotency keys, is never given to another system.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from cityops.private_files import FollowedFile, file_lock, write_private_json
from cityops.schemas import CaseSource

FILE_NAME = "apikeys.json"
KEY_PREFIX = "co"
MAX_KEY_LEN = 200  # longer "keys" are refused before any hashing
MAX_KEYS_PER_CLIENT = 4  # a rotation with --keep-old leaves the old key working until it is revoked
CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
_SCOPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

#: The scopes the platform's doors check (an unknown one is refused at ``add``, so a typo cannot pass).
SCOPES: dict[str, str] = {
    "open311.report": "POST /open311/v2/requests.json: report problems (each becomes a case's 上报)",
    "open311.read": "GET /open311/v2/requests…, tokens…: the status of service requests",
    "read": "the read API (/api/v1/…): cases, KPIs, alerts, sensors",
}
DEFAULT_SCOPES = ("open311.report", "open311.read")
DEFAULT_RATE_PER_S = 10.0
DEFAULT_BURST = 20


class ApiKeysError(ValueError):
    """The keys file is malformed, or a change to it is not allowed (names the client and the field)."""


@dataclass(frozen=True)
class StoredKey:
    sha256: str  # hex digest of the whole key
    created_at: str


@dataclass(frozen=True)
class ApiClient:
    """One client system as the API sees it after its key was checked."""

    id: str
    name: str
    source: CaseSource
    scopes: frozenset[str]
    rate_per_s: float
    burst: int
    keys: tuple[StoredKey, ...] = ()
    created_at: str = ""
    revoked_at: str = ""

    @property
    def active(self) -> bool:
        return not self.revoked_at and bool(self.keys)

    def may(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True)
class ApiClients:
    """Every client of one keys file, as loaded at one moment."""

    clients: Mapping[str, ApiClient] = field(default_factory=dict)

    def authenticate(self, key: object) -> ApiClient | None:
        """The active client whose key this is, or None; malformed input is simply None."""
        client_id = client_id_of(key)
        if client_id is None:
            return None
        client = self.clients.get(client_id)
        if client is None or not client.active:
            return None
        actual = digest(key)  # type: ignore[arg-type]
        ok = False
        for stored in client.keys:  # every key, constant time: the answer's timing says nothing
            ok |= hmac.compare_digest(actual, stored.sha256)
        return client if ok else None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def client_id_of(key: object) -> str | None:
    """``co.hotline-12345.xxxx`` → ``hotline-12345``; None for anything that is not shaped like a key."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LEN:
        return None
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not CLIENT_ID.match(parts[1]) or len(parts[2]) < 32:
        return None
    return parts[1]


def new_key(client_id: str, now: datetime | None = None) -> tuple[str, StoredKey]:
    """A fresh key (shown once) and what the file keeps of it."""
    key = f"{KEY_PREFIX}.{client_id}.{secrets.token_urlsafe(32)}"
    return key, StoredKey(digest(key), (now or datetime.now(UTC)).isoformat(timespec="seconds"))


def check_client_fields(client_id: str, source: str, scopes: list[str] | tuple[str, ...], rate_per_s: float,
                        burst: int) -> None:
    """Refuse a client that the API could not serve as asked; the message names the field."""
    if not CLIENT_ID.match(client_id):
        raise ApiKeysError(f"client id {client_id!r}: 2-32 characters of a-z, 0-9 and '-', starting with a letter "
                           "or digit")
    if source not in {s.value for s in CaseSource}:
        raise ApiKeysError(f"{client_id}: source {source!r} is not a channel "
                           f"(one of {', '.join(s.value for s in CaseSource)})")
    if not scopes:
        raise ApiKeysError(f"{client_id}: scopes: give at least one")
    for scope in scopes:
        if not _SCOPE.match(scope) or scope not in SCOPES:
            raise ApiKeysError(f"{client_id}: scope {scope!r} is unknown (one of {', '.join(SCOPES)})")
    if isinstance(rate_per_s, bool) or not isinstance(rate_per_s, int | float) or not math.isfinite(rate_per_s) \
            or not 0 < rate_per_s <= 100_000:
        raise ApiKeysError(f"{client_id}: rate_per_s must be a number in (0, 100000], not {rate_per_s!r}")
    if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= 1_000_000:
        raise ApiKeysError(f"{client_id}: burst must be an integer in 1..1000000, not {burst!r}")


# ----------------------------------------------------------------------------------------------- the file


def keys_path(city_dir: Path, override: Path | None = None) -> Path:
    """``CITYOPS_APIKEYS_FILE`` when set, else ``<city_dir>/apikeys.json``."""
    return Path(override) if override is not None else Path(city_dir) / FILE_NAME


def _parse_client(client_id: str, item: object, where: str) -> ApiClient:
    at = f"{where}: clients.{client_id}"
    if not isinstance(item, dict):
        raise ApiKeysError(f"{at} must be an object")
    stored = []
    for i, k in enumerate(item.get("keys", [])):
        if not isinstance(k, dict) or not isinstance(k.get("sha256"), str) or not _HEX64.match(k["sha256"]):
            raise ApiKeysError(f"{at}.keys[{i}].sha256 must be 64 lowercase hex digits")
        stored.append(StoredKey(k["sha256"], str(k.get("created_at", ""))))
    scopes = item.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ApiKeysError(f"{at}.scopes must be a list of scope names")
    name, source = item.get("name"), item.get("source")
    if not isinstance(name, str) or not name.strip():
        raise ApiKeysError(f"{at}.name must be a non-empty string")
    try:
        check_client_fields(client_id, str(source), scopes, item.get("rate_per_s"), item.get("burst"))
    except ApiKeysError as err:
        raise ApiKeysError(f"{where}: {err}") from None
    return ApiClient(client_id, name.strip(), CaseSource(source), frozenset(scopes), float(item["rate_per_s"]),
                     int(item["burst"]), tuple(stored), str(item.get("created_at", "")),
                     str(item.get("revoked_at", "")))


def load_api_clients(path: Path) -> ApiClients:
    """The clients of the keys file; a missing file means no client may call (fail closed)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return ApiClients({})
    try:
        payload = json.loads(text)
    except ValueError as err:
        raise ApiKeysError(f"{path}: not JSON: {err}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("clients"), dict):
        raise ApiKeysError(f"{path}: expected {{\"clients\": {{client id: {{...}}}}}}")
    return ApiClients({cid: _parse_client(cid, item, str(path)) for cid, item in payload["clients"].items()})


def _payload(clients: Mapping[str, ApiClient]) -> dict:
    out = {}
    for cid, c in sorted(clients.items()):
        out[cid] = {"name": c.name, "source": c.source.value, "scopes": sorted(c.scopes), "rate_per_s": c.rate_per_s,
                    "burst": c.burst, "keys": [k.__dict__ for k in c.keys], "created_at": c.created_at}
        if c.revoked_at:
            out[cid]["revoked_at"] = c.revoked_at
    return {"clients": out}


def save_api_clients(path: Path, clients: Mapping[str, ApiClient]) -> None:
    write_private_json(path, _payload(clients))


def update_api_clients(path: Path, change: Callable[[dict[str, ApiClient]], dict[str, ApiClient]]) -> ApiClients:
    """Load, apply ``change``, save, under the lock."""
    with file_lock(Path(path)):
        clients = dict(load_api_clients(path).clients)
        fresh = change(clients)
        save_api_clients(path, fresh)
        return ApiClients(fresh)


# ------------------------------------------------------------------------------------------- the changes


def add_client(clients: dict[str, ApiClient], client_id: str, *, name: str, source: str,
               scopes: tuple[str, ...] = DEFAULT_SCOPES, rate_per_s: float = DEFAULT_RATE_PER_S,
               burst: int = DEFAULT_BURST, now: datetime | None = None) -> tuple[dict[str, ApiClient], str]:
    """The clients with a new one, and its key (to show once)."""
    check_client_fields(client_id, source, scopes, rate_per_s, burst)
    if client_id in clients:
        state = "revoked; its id stays reserved" if clients[client_id].revoked_at else "exists; use rotate"
        raise ApiKeysError(f"client {client_id!r} {state}")
    key, stored = new_key(client_id, now)
    client = ApiClient(client_id, name.strip() or client_id, CaseSource(source), frozenset(scopes), float(rate_per_s),
                       int(burst), (stored,), stored.created_at)
    return {**clients, client_id: client}, key


def rotate_client(clients: dict[str, ApiClient], client_id: str, *, keep_old: bool = False,
                  now: datetime | None = None) -> tuple[dict[str, ApiClient], str]:
    """A new key for the client; the old ones stop working unless ``keep_old`` (then revoke them later)."""
    client = _active(clients, client_id)
    key, stored = new_key(client_id, now)
    kept = client.keys if keep_old else ()
    if len(kept) + 1 > MAX_KEYS_PER_CLIENT:
        raise ApiKeysError(f"client {client_id!r} already has {len(kept)} keys; rotate without --keep-old")
    return {**clients, client_id: replace(client, keys=(*kept, stored))}, key


def revoke_client(clients: dict[str, ApiClient], client_id: str, now: datetime | None = None) -> dict[str, ApiClient]:
    """Every key of the client stops working; the entry stays, so its id is never reused."""
    client = _active(clients, client_id)
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    return {**clients, client_id: replace(client, keys=(), revoked_at=stamp)}


def _active(clients: Mapping[str, ApiClient], client_id: str) -> ApiClient:
    client = clients.get(client_id)
    if client is None:
        raise ApiKeysError(f"no client {client_id!r}")
    if client.revoked_at:
        raise ApiKeysError(f"client {client_id!r} was revoked at {client.revoked_at}")
    return client


class ReloadingApiClients:
    """Clients that follow the file: an ``add``, ``rotate`` or ``revoke`` takes effect at the next request without
    a restart. A file broken while the API runs keeps the last good keys rather than locking every client out;
    at start a broken file is an error."""

    def __init__(self, path: Path) -> None:
        self._file = FollowedFile(Path(path), load_api_clients, ApiClients({}), (ApiKeysError,))

    @property
    def path(self) -> Path:
        return self._file.path

    def authenticate(self, key: object) -> ApiClient | None:
        return self._file.current().authenticate(key)
