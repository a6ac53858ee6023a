"""Open311 GeoReport v2 (JSON) under ``/open311/v2/``: the services, reports in, their status out.

A POSTed report is checked here (field by field, doors/api/open311_model.py), becomes the case's 上报 event
on the cases topic, and is answered once the broker acknowledged it: its ``service_request_id`` is the case
id, known at once (type ``realtime``), and GET requests/{id}.json shows it, with status and notes from the
read model, as soon as a worker has applied it (404 until then). Every refusal is Open311's error list.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from cityops import read
from cityops.apikeys import ApiClient
from cityops.schemas import encode, format_errors
from doors.api import open311_model as model
from doors.api.auth import KEY_FIELD, KEY_HEADER, authenticate, require_scope
from doors.api.errors import ApiError
from doors.api.state import ApiState, publish_acked, state_of

PREFIX = "/open311/v2"
MAX_IDS = 200
MAX_RESULTS = 1000  # GeoReport v2's default: 90 days or the first 1,000 requests
DEFAULT_DAYS = 90
MAX_IDEMPOTENCY_KEY = 128
FORM_TYPE = "application/x-www-form-urlencoded"

router = APIRouter(prefix=PREFIX, tags=["Open311 GeoReport v2"])


# the services are for every client with a current key, whatever its scopes
AnyClient = Annotated[ApiClient, Depends(require_scope(None))]
Reader = Annotated[ApiClient, Depends(require_scope("open311.read"))]


@router.get("/services.json", summary="the service catalogue (the city's categories)")
def services(request: Request, _client: AnyClient) -> list[dict]:
    return model.service_list(state_of(request).city.catalogue)


@router.get("/services/{service_code}.json", summary="the attributes of one service")
def service(service_code: str, request: Request, _client: AnyClient) -> dict:
    catalogue = state_of(request).city.catalogue
    if service_code not in catalogue:
        raise ApiError(404, "service_code", f"unknown service code {service_code[:20]!r}")
    return model.service_definition(catalogue.get(service_code))


async def _read_body(request: Request) -> bytes:
    """The body, refused with 413 once it passes the limit (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > model.MAX_BODY_BYTES):
        raise ApiError(413, "", f"the body may have at most {model.MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > model.MAX_BODY_BYTES:
            raise ApiError(413, "", f"the body may have at most {model.MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/requests.json", status_code=201, summary="report a problem (becomes a case's 上报)",
             openapi_extra={"requestBody": {"content": {FORM_TYPE: {"schema": {"type": "object", "properties": {
                 f: {"type": "string"} for f in sorted(model.SPEC_FIELDS)}}}}}})
async def create_request(request: Request) -> JSONResponse:
    state: ApiState = state_of(request)
    body = await _read_body(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != FORM_TYPE:
        raise ApiError(415, "Content-Type", f"must be {FORM_TYPE}, as GeoReport v2 says, not {ctype[:60]!r}")
    form = model.parse_form(body)
    client = authenticate(state, form.get(KEY_FIELD) or request.headers.get(KEY_HEADER), "open311.report")
    report = model.read_report(form, state.city)
    idem = request.headers.get("idempotency-key")
    if idem is not None and not (0 < len(idem) <= MAX_IDEMPOTENCY_KEY):
        raise ApiError(400, "Idempotency-Key", f"1-{MAX_IDEMPOTENCY_KEY} characters")
    case_id = model.case_id_for(client.id, report.external_id, idem)
    try:
        event = model.report_event(report, client, case_id, datetime.now(state.city.timezone))
    except ValidationError as err:  # the checks above should have caught it; the contract has the last word
        raise ApiError(400, "", format_errors(err)) from None
    await publish_acked(state, state.settings.topics.cases, case_id, encode(event))
    return JSONResponse([{"service_request_id": case_id, "token": case_id,
                          "service_notice": "已上报 reported; status at GET requests/{id}.json"}], status_code=201)


def _case(state: ApiState, case_id: str) -> dict | None:
    data = read.case(state.redis, case_id)
    return model.request_view(case_id, data, state.city) if data.get("state") else None


@router.get("/requests/{service_request_id}.json", summary="one service request, with its status")
def get_request(service_request_id: str, request: Request, _client: Reader) -> list[dict]:
    view = _case(state_of(request), service_request_id)
    if view is None:
        raise ApiError(404, "service_request_id", f"no service request {service_request_id[:128]!r} (yet: a report "
                       "just accepted appears once the platform has applied it, usually within a second)")
    return [view]


@router.get("/tokens/{token}.json", summary="the service request of a token")
def get_token(token: str, request: Request, _client: Reader) -> list[dict]:
    if _case(state_of(request), token) is None:
        raise ApiError(404, "token", "no service request for this token yet")
    return [{"token": token, "service_request_id": token}]


def _time(name: str, text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, name, "must be ISO 8601 with a UTC offset, e.g. 2026-11-24T09:30:00+08:00") from None
    if value.tzinfo is None:
        raise ApiError(400, name, "needs a UTC offset (Z or +08:00)")
    return value


@router.get("/requests.json", summary="service requests by ids, or by service, dates and status")
def list_requests(request: Request, _client: Reader,
                  service_request_id: Annotated[str | None, Query(max_length=MAX_IDS * 130)] = None,
                  service_code: Annotated[str | None, Query(max_length=20)] = None,
                  start_date: Annotated[str | None, Query(max_length=40)] = None,
                  end_date: Annotated[str | None, Query(max_length=40)] = None,
                  status: Annotated[str | None, Query(max_length=20)] = None) -> list[dict]:
    state = state_of(request)
    if service_request_id:
        ids = [i.strip() for i in service_request_id.split(",") if i.strip()]
        if len(ids) > MAX_IDS:
            raise ApiError(400, "service_request_id", f"at most {MAX_IDS} ids")
        return [v for v in (_case(state, i) for i in ids) if v is not None]
    if status is not None and {s.strip() for s in status.split(",")} - {"open", "closed"}:
        raise ApiError(400, "status", "open, closed or both (comma-separated)")
    wanted = {s.strip() for s in (status or "open,closed").split(",")}
    if service_code is not None and service_code not in state.city.catalogue:
        raise ApiError(400, "service_code", f"unknown service code {service_code[:20]!r} (GET services.json)")
    end = _time("end_date", end_date) or datetime.now(UTC)
    start = _time("start_date", start_date) or end - timedelta(days=DEFAULT_DAYS)
    if start > end:
        raise ApiError(400, "start_date", "is after end_date")
    if end - start > timedelta(days=DEFAULT_DAYS):
        raise ApiError(400, "start_date", f"a query spans at most {DEFAULT_DAYS} days")
    return _search(state, start, end, service_code, wanted)


def _search(state: ApiState, start: datetime, end: datetime, code: str | None, wanted: set[str]) -> list[dict]:
    """Newest first, at most :data:`MAX_RESULTS` (the spec's default limit), through the read model's case search."""
    from cityops.read.case_search import MAX_LIMIT, CaseQuery, Cursor, SearchError, parse_states, search_cases

    tz = state.city.timezone
    states = None if wanted == {"open", "closed"} else parse_states("open" if "open" in wanted else "final")
    out: list[dict] = []
    cursor = None
    while len(out) < MAX_RESULTS:
        try:
            query = CaseQuery(start.astimezone(tz).date(), end.astimezone(tz).date(), category=code, states=states,
                              limit=min(MAX_LIMIT, MAX_RESULTS - len(out)), cursor=cursor)
        except SearchError as err:
            raise ApiError(400, err.field, err.reason) from None
        page = search_cases(state.redis, query, state.city.city.code, tz)
        for row in page.cases:
            view = _case(state, row["case_id"])  # the whole hash: the page has the summary fields only
            reported = view["requested_datetime"] if view else None
            if reported and start <= datetime.fromisoformat(reported) <= end:
                out.append(view)
        if not page.next_cursor:
            break
        cursor = Cursor.decode(page.next_cursor)
    return out[:MAX_RESULTS]

