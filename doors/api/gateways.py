"""Gateways over HTTP: ``POST /api/v1/gateways/{gateway_id}/readings`` with the gateway's token.

The body is one sensor envelope of docs/events.md, checked exactly as the sensor agent checks the sensors
topic (the fast canonical decoder, else the contract models), and published as sent, keyed by the gateway
like the simulator and the replayers, to ``settings.topics.sensors``. The answer (202) comes only once Kafka
acknowledged the envelope, so a gateway that got 202 may forget it; any other answer means "not taken",
and re-sending the same ``envelope_id`` is always safe (the worker applies an envelope once).

Refusals, in this order: 413 a declared body over :data:`MAX_BODY_BYTES`; 401 no bearer token, or not a
current token of this gateway (``python -m cityops gateways add-key``); 413 a streamed body over the limit;
400 an envelope the contract refuses, naming the field; 403 the envelope's ``gateway_id`` is not the path's
(a gateway publishes only under its own id); 503 the broker did not acknowledge in time. Inside a valid
envelope a bad reading does not refuse the others, as on the topic: the envelope is published, the answer
lists the refused readings (``rejected``) and the worker dead-letters each (stage ``reading``); an envelope
whose readings are all bad is a 400.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from cityops.bus import BufferFull
from cityops.fast_envelope import decode_columns
from cityops.gateway_credentials import GatewayCredentialsError, ReloadingGatewayCredentials
from cityops.schemas import MAX_MESSAGE_BYTES, ContractError, SensorEnvelope, decode_sensor_envelope
from doors.api.errors import ApiError, error_body
from doors.api.state import ApiState, state_of, wait_acked

router = APIRouter(prefix="/api/v1/gateways", tags=["gateways"])

MAX_BODY_BYTES = MAX_MESSAGE_BYTES  # the contract's limit for any message
_BEARER = "bearer "


@dataclass
class Verdict:
    """What the contract says of an envelope the path's gateway sent."""

    envelope_id: str
    gateway_id: str
    accepted: int
    rejected: list[dict[str, str]] = field(default_factory=list)


def _field(loc: tuple[object, ...]) -> str:
    return ".".join(str(p) for p in loc if p != "function-after") or "body"


def check_envelope(raw: bytes) -> Verdict:
    """The verdict of the sensors topic's validation on ``raw``; :class:`ApiError` 400 naming the field when the
    envelope is refused whole or every one of its readings is."""
    decoded = decode_columns(raw)
    if decoded is not None:  # the canonical form, fully valid: the hot path
        envelope, columns = decoded
        return Verdict(envelope.envelope_id, envelope.gateway_id, len(columns))
    try:
        SensorEnvelope.model_validate_json(raw)
    except ValidationError as err:
        whole = [e for e in err.errors(include_url=False) if not _reading_error(e.get("loc", ()))]
        if whole:
            first = whole[0]
            reason = "not valid JSON" if first.get("type") == "json_invalid" else str(first.get("msg", "invalid"))
            raise ApiError(400, _field(tuple(first.get("loc", ()))), reason.removeprefix("Value error, ")) from None
    try:
        envelope, good, bad = decode_sensor_envelope(raw)  # the per-reading verdicts, as the agent finds them
    except ContractError as err:
        raise ApiError(400, "body", err.reason) from None
    rejected = [{"field": f"readings.{i}", "reason": reason.split(": ", 1)[-1]} for i, _, reason in bad]
    if not good:
        raise ApiError(400, rejected[0]["field"] if rejected else "readings",
                       f"no valid reading: {rejected[0]['reason'] if rejected else 'none sent'}")
    return Verdict(envelope.envelope_id, envelope.gateway_id, len(good), rejected)


def _reading_error(loc: tuple[object, ...]) -> bool:
    """An error inside one reading (``readings.3.value``), not of the envelope or of the list as a whole."""
    return len(loc) >= 2 and loc[0] == "readings" and isinstance(loc[1], int)


def _credentials(state: ApiState) -> ReloadingGatewayCredentials:
    """The gateways' tokens of the city data folder, loaded at the first request and followed after that."""
    creds = state.gateway_credentials
    if creds is None:
        try:
            creds = ReloadingGatewayCredentials(state.settings.city_dir)
        except (GatewayCredentialsError, OSError) as err:
            raise ApiError(503, "", f"the gateway keys file cannot be read: {err}") from None
        state.gateway_credentials = creds
    return creds


def _authorise(state: ApiState, gateway_id: str, header: str) -> None:
    challenge = {"WWW-Authenticate": 'Bearer realm="cityops-gateways"'}
    if not header[:len(_BEARER)].lower() == _BEARER or not header[len(_BEARER):].strip():
        raise ApiError(401, "Authorization", "a gateway token is required: Authorization: Bearer <token>",
                       headers=challenge)
    if not _credentials(state).verify(gateway_id, header[len(_BEARER):].strip()):
        raise ApiError(401, "Authorization", f"not a current token of gateway {gateway_id!r} (revoked, rotated, "
                       "or for another gateway)", headers=challenge)


def _too_big() -> ApiError:
    return ApiError(413, "body", f"an envelope is at most {MAX_BODY_BYTES} bytes")


class ClientGone(Exception):
    """The client disconnected before its body arrived: nobody is left to answer."""


async def _body(receive: Receive) -> bytes:
    """The body, refused with 413 as soon as it passes the limit while it streams (a chunked upload declares none)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_big()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _publish_acked(state: ApiState, gateway_id: str, raw: bytes) -> None:
    """Publish the envelope as sent and wait for the broker's acknowledgement; 503 when it does not come in time
    (the envelope then stays buffered and is delivered later: re-sending its envelope_id is safe).

    The send does not wait per message: concurrent requests land in the publisher's buffer and share its batches,
    and each request waits for its own message's ack only."""
    timeout = state.settings.api_ack_timeout_s
    if state.publisher.degraded:  # the broker is away: answer soon instead of holding every gateway's request
        timeout = min(timeout, 1.0)
    retry = {"Retry-After": "5"}
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    try:
        await state.publisher.send(state.settings.topics.sensors, gateway_id, raw, wait=False, done=done)
    except BufferFull:
        raise ApiError(503, "", "the API's send buffer is full (the broker is slow or away); send again later",
                       headers=retry) from None
    except ConnectionError as err:
        raise ApiError(503, "", f"the message broker is unreachable: {err}", headers=retry) from None
    if not await wait_acked(done, timeout):
        raise ApiError(503, "", f"the message broker did not acknowledge the envelope within {timeout:g} s; it may "
                       "still arrive: send it again with the same envelope_id", headers=retry)


async def accept_readings(state: ApiState, gateway_id: str, authorization: str, content_length: str | None,
                          receive: Receive) -> bytes:
    """The whole door for one request: the JSON body of its 202, or :class:`ApiError` (refusals in the module
    docstring's order). Plain arguments, no framework objects, so the fast path and the route share it."""
    if content_length is not None and content_length.isdigit() and int(content_length) > MAX_BODY_BYTES:
        raise _too_big()
    _authorise(state, gateway_id, authorization)
    raw = await _body(receive)
    verdict = check_envelope(raw)
    if verdict.gateway_id != gateway_id:
        raise ApiError(403, "gateway_id", f"the envelope is from gateway {verdict.gateway_id!r}, but this token "
                       f"publishes for {gateway_id!r} only")
    await _publish_acked(state, gateway_id, raw)
    return orjson.dumps({"envelope_id": verdict.envelope_id, "gateway_id": gateway_id, "accepted": verdict.accepted,
                         "rejected": verdict.rejected})


@router.post("/{gateway_id}/readings", status_code=202)
async def post_readings(gateway_id: str, request: Request) -> Response:
    """One envelope of readings from ``gateway_id``; 202 once Kafka has it (see the module docstring).

    Declared for the OpenAPI schema and for an app built without :class:`ReadingsFastPath`; the API process
    answers these requests in the fast path, with the same :func:`accept_readings`."""
    body = await accept_readings(state_of(request), gateway_id, request.headers.get("authorization", ""),
                                 request.headers.get("content-length"), request.receive)
    return Response(body, status_code=202, media_type="application/json")


_JSON = (b"content-type", b"application/json")


class ReadingsFastPath:
    """ASGI entry that answers ``POST /api/v1/gateways/{id}/readings`` itself, ahead of FastAPI.

    Why: gateways post thousands of envelopes a second, and FastAPI's per-request telemetry check, its route
    matching over every route of the app, its dependency solving and Request objects cost more than the check
    and the publish; here a request is a string match, one pass over the headers, :func:`accept_readings` and
    two ``send`` calls. Everything else goes on to ``app`` unchanged. ``owner`` is the FastAPI app whose
    ``state.doors`` (set by its lifespan) the requests use."""

    def __init__(self, app: ASGIApp, owner: Starlette) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway_id = _gateway_of(scope)
        if gateway_id is None:
            await self.app(scope, receive, send)
            return
        authorization, content_length = "", None
        for name, value in scope["headers"]:
            if name == b"authorization" and not authorization:
                authorization = value.decode("latin-1")
            elif name == b"content-length" and content_length is None:
                content_length = value.decode("latin-1")
        headers = [_JSON]
        try:
            body = await accept_readings(self.owner.state.doors, gateway_id, authorization, content_length, receive)
            status = 202
        except ClientGone:
            return
        except ApiError as err:
            status = err.status
            body = orjson.dumps(error_body(scope["path"], err.status, err.field, err.reason))
            headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in err.headers.items()]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


FAST_PATHS = (ReadingsFastPath,)  # the app puts these in front of itself (doors/api/app.py)
_PREFIX, _SUFFIX = router.prefix + "/", "/readings"


def _gateway_of(scope: Scope) -> str | None:
    """The gateway id when ``scope`` is a POST of readings (the route's path, one non-empty segment), else None."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
        return None
    gateway_id = path[len(_PREFIX):-len(_SUFFIX)]
    return gateway_id if gateway_id and "/" not in gateway_id else None
