"""Console sign-ins and account changes in the audit trail (``keys.audit()``), beside operator commands.

Why the same stream: whoever reviews the audit trail (the duty console's 最近操作, the admin page)
sees who signed in, who failed, and who changed which account, in the same order as the commands
those people then sent. The record has the command records' ``user``, ``at`` and ``action`` fields,
``kind`` = ``signin`` or ``account`` (commands have none), ``address`` (the client address, or
``local``), and for account changes ``target_kind`` = ``user`` and ``target_id`` = the account.

The stream is capped by count (``keys.AUDIT_MAXLEN``, ``MAXLEN ~``) and by age
(``keys.AUDIT_RETENTION_S``, ``MINID ~``), so a flood of failed sign-ins cannot grow it without
bound. When Redis is unreachable the record goes to this process's log instead (level WARNING),
so it is not silently dropped and the sign-in itself does not fail.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from redis import Redis
from redis.exceptions import RedisError

from cityops import keys

log = logging.getLogger(__name__)

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_IN_REFUSED = "sign_in_refused"  # not checked: the account's delay or the address's lock was running
SIGN_OUT = "sign_out"
SESSION_ENDED = "session_ended"  # idle timeout, or the account was deleted or demoted
USER_ADD = "user_add"
USER_CHANGE = "user_change"
USER_REMOVE = "user_remove"
USER_PASSWORD = "user_password"


def record(redis: Redis | None, kind: str, action: str, user: str, address: str | None, **fields: Any) -> dict:
    """Append one record (and return it); never raises for Redis trouble."""
    entry = {"kind": kind, "user": user[:64], "at": datetime.now(UTC).isoformat(), "action": action,
             "address": address or "local", **fields}
    payload = orjson.dumps(entry).decode()
    if redis is None:
        log.warning("audit (no Redis): %s", payload)
        return entry
    try:
        pipe = redis.pipeline(transaction=True)
        pipe.xadd(keys.audit(), {"json": payload}, maxlen=keys.AUDIT_MAXLEN, approximate=True)
        min_ms = int((datetime.now(UTC).timestamp() - keys.AUDIT_RETENTION_S) * 1000)
        pipe.xtrim(keys.audit(), minid=f"{max(min_ms, 0)}-0", approximate=True)
        pipe.execute()
    except RedisError as err:
        log.warning("audit: Redis unavailable (%s); record: %s", err, payload)
    return entry


def account_change(redis: Redis | None, action: str, admin: str, address: str | None, target: str,
                   **fields: Any) -> dict:
    """An admin's change to an account (never a password or a hash: only what changed about whom)."""
    return record(redis, "account", action, admin, address, target_kind="user", target_id=target, **fields)
