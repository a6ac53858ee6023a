"""Refusals of the API: one exception, rendered in Open311's error format on its paths and as JSON elsewhere.

Why one type: every door must say which field was wrong and why, with the right HTTP status (400 bad field,
401 no or unknown key, 403 key without the scope, 404 unknown resource, 413 body too large, 415 wrong body
type, 429 over the rate limit, 503 broker did not confirm). Routers ``raise ApiError(status, field, reason)``
and the handlers below answer:

- under ``/open311/``: ``[{"code": 400, "description": "lat: must be a number", "field": "lat"}]`` (the
  GeoReport v2 error list; ``field`` is an extra element Open311 clients ignore);
- elsewhere: ``{"error": {"status": 400, "field": "lat", "reason": "must be a number"}}``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

OPEN311_PREFIX = "/open311/"


class ApiError(Exception):
    """A refusal naming the field (``""`` when it is the request as a whole) and the reason."""

    def __init__(self, status: int, field: str, reason: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.status = status
        self.field = field
        self.reason = reason
        self.headers = headers or {}


def error_body(path: str, status: int, field: str, reason: str) -> object:
    """The body of a refusal in the format of the path it answers."""
    if path.startswith(OPEN311_PREFIX):
        description = f"{field}: {reason}" if field else reason
        return [{"code": status, "description": description, "field": field or None}]
    return {"error": {"status": status, "field": field or None, "reason": reason}}


def _respond(request: Request, status: int, field: str, reason: str, headers: dict[str, str] | None = None
             ) -> JSONResponse:
    return JSONResponse(error_body(request.url.path, status, field, reason), status_code=status, headers=headers)


def _validation_field(err: dict) -> str:
    loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body", "header", "form")]
    return ".".join(loc)


def install_error_handlers(app: FastAPI) -> None:
    """Every refusal of the app, including FastAPI's own (validation, 404, 405), in the formats above."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _respond(request, exc.status, exc.field, exc.reason, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        return _respond(request, 400, _validation_field(first), str(first.get("msg", "invalid request")))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = exc.detail if isinstance(exc.detail, str) else "refused"
        return _respond(request, exc.status_code, "", reason, getattr(exc, "headers", None))
