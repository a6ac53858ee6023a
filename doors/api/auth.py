"""Who is calling: the API key check, the client's scopes and its rate limit, as one FastAPI dependency.

``require_scope("read")`` is a dependency that returns the calling :class:`~cityops.apikeys.ApiClient` or
refuses: 401 when the key is missing or not a current key, 403 when the client may not call this scope,
429 (with ``Retry-After``) when it is over its rate. The key travels in the ``X-Api-Key`` header, or, as
Open311 has it, in the ``api_key`` query (GET) or form field (POST; the Open311 router reads the form itself
and calls :func:`authenticate`). Keys are checked against the keys file on every request, so a revoke takes
effect at once (cityops/apikeys.py). The rate limit is per API process (doors/api/ratelimit.py).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from cityops.apikeys import ApiClient
from doors.api.errors import ApiError
from doors.api.ratelimit import retry_after
from doors.api.state import ApiState, state_of

KEY_HEADER = "X-Api-Key"
KEY_FIELD = "api_key"


def key_of(request: Request) -> str | None:
    """The key from the header, else from the ``api_key`` query parameter."""
    return request.headers.get(KEY_HEADER) or request.query_params.get(KEY_FIELD)


def authenticate(state: ApiState, key: str | None, scope: str | None) -> ApiClient:
    """The client of ``key`` if it may call ``scope`` (None: any) now; an :class:`ApiError` (401/403/429) otherwise."""
    if not key:
        raise ApiError(401, KEY_FIELD, f"an API key is required (the {KEY_FIELD} field or the {KEY_HEADER} header)")
    client = state.clients.authenticate(key)
    if client is None:
        raise ApiError(401, KEY_FIELD, "not a current API key (revoked, rotated or mistyped)")
    if scope is not None and not client.may(scope):
        raise ApiError(403, KEY_FIELD, f"the key of {client.id} may not call {scope} "
                       f"(it may call {', '.join(sorted(client.scopes))})")
    wait = state.limiter.check(client.id, client.rate_per_s, client.burst)
    if wait > 0:
        raise ApiError(429, KEY_FIELD, f"{client.id} is over its rate of {client.rate_per_s:g} requests/s "
                       f"(burst {client.burst}); retry in {wait:.1f} s", headers={"Retry-After": retry_after(wait)})
    return client


def require_scope(scope: str | None) -> Callable[[Request], ApiClient]:
    """A FastAPI dependency: ``client: ApiClient = Depends(require_scope("read"))``."""

    def dependency(request: Request) -> ApiClient:
        return authenticate(state_of(request), key_of(request), scope)

    dependency.__name__ = f"require_scope_{(scope or 'any').replace('.', '_')}"
    return dependency
