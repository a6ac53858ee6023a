"""Open311 GeoReport v2 ↔ the platform, as pure functions: the service catalogue, a POSTed form → a case's 上报
event, a case of the read model → a service request.

Mapping (docs/api.md): ``service_code`` is the catalogue's category code; ``lat``/``long`` are WGS-84 and
become GCJ-02 (doors/api/geo.py) and must fall in one of the city's unit grids; ``address_string`` alone gives
an unlocated case; ``description`` and ``address_string`` are kept as text; ``media_url`` is kept at the end of
the description (the case event has no media field) and given back separately; ``attribute[external_id]`` (or
an ``Idempotency-Key`` header) makes the case id, so the same client request sent twice is one case;
``attribute[urgent]`` marks an urgent case. Personal fields (email, phone, names, device and account ids) are
accepted as the specification allows and not stored. The source channel is the API key's, never the form's.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from cityops.apikeys import ApiClient
from cityops.case_states import FINAL_STATES, STATE_ZH
from cityops.catalogue import Catalogue, Category
from cityops.city_data import CityData
from cityops.schemas import CaseAction, CaseEvent, derived_id
from doors.api.errors import ApiError
from doors.api.geo import gcj02_to_wgs84, wgs84_to_gcj02

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 64
MAX_DESCRIPTION = 4000
MAX_ADDRESS = 500
MAX_MEDIA_URL = 500
MAX_EXTERNAL_ID = 128
MAX_PERSONAL = 200
MEDIA_MARK = "[media_url] "
SPEC_FIELDS = frozenset({"api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string",
                         "address_id", "email", "device_id", "account_id", "first_name", "last_name", "phone",
                         "description", "media_url"})
PERSONAL_FIELDS = ("address_id", "email", "device_id", "account_id", "first_name", "last_name", "phone")
_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_]{1,64})\]$")
_DECIMAL = re.compile(r"^-?\d{1,3}(\.\d{1,15})?$")
_MEDIA_AT_END = re.compile(r"(?:^|\n)" + re.escape(MEDIA_MARK) + r"(\S+)$")
_URGENT = {"true": True, "1": True, "false": False, "0": False}

ATTRIBUTES: tuple[dict, ...] = (
    {"variable": True, "code": "external_id", "datatype": "string", "required": False, "order": 1,
     "datatype_description": f"up to {MAX_EXTERNAL_ID} characters",
     "description": "您系统中的工单号 / your system's id of this report: sending it again gives the same "
                    "service_request_id, never a second case"},
    {"variable": True, "code": "urgent", "datatype": "singlevaluelist", "required": False, "order": 2,
     "datatype_description": "true or false",
     "description": "紧急案件 / urgent: the 10-minute register and dispatch limits apply",
     "values": [{"key": "false", "name": "一般 normal"}, {"key": "true", "name": "紧急 urgent"}]},
)


# ------------------------------------------------------------------------------------------------ services


def service_name(category: Category) -> str:
    return f"{category.name('zh')} ({category.name('en')})"


def service_list(catalogue: Catalogue) -> list[dict]:
    """GET services.json: one service per category, Chinese names with English."""
    return [{"service_code": c.code, "service_name": service_name(c),
             "description": f"{'部件' if c.is_component else '事件'} {c.family}: {service_name(c)}",
             "metadata": True, "type": "realtime", "keywords": f"{c.minor_zh}, {c.minor_en}",
             "group": f"{c.major_zh} {c.major_en}"} for c in catalogue]


def service_definition(category: Category) -> dict:
    """GET services/{code}.json: the attributes a report of this service may carry."""
    return {"service_code": category.code, "attributes": [dict(a) for a in ATTRIBUTES]}


# ------------------------------------------------------------------------------------------------ reports


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body → its fields; every field at most once."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ApiError(400, "", f"the body is not UTF-8 (byte {err.start})") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "", "a percent-encoded field is not UTF-8") from None
    except ValueError:
        raise ApiError(400, "", f"more than {MAX_FIELDS} fields") from None
    out: dict[str, str] = {}
    for name, value in pairs:
        if name in out:
            raise ApiError(400, name, "given more than once")
        out[name] = value
    return out


@dataclass(frozen=True)
class Report:
    """A valid report, in the platform's terms (GCJ-02 point, text fields checked)."""

    service_code: str
    lon: float | None
    lat: float | None
    address: str | None
    description: str | None
    external_id: str | None
    urgent: bool


def _text(form: dict[str, str], name: str, limit: int) -> str | None:
    value = form.get(name, "").strip()
    if not value:
        return None
    if len(value) > limit:
        raise ApiError(400, name, f"at most {limit} characters, not {len(value)}")
    if "\x00" in value:
        raise ApiError(400, name, "contains a NUL character")
    return value


def _coordinate(form: dict[str, str], name: str, bound: float) -> float | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    if not _DECIMAL.match(raw):
        raise ApiError(400, name, f"{raw[:40]!r} is not a decimal number of degrees (WGS-84), e.g. 24.479803")
    value = float(raw)
    if abs(value) > bound:
        raise ApiError(400, name, f"{value} is outside -{bound:g}..{bound:g}")
    return value


def _media_url(form: dict[str, str]) -> str | None:
    url = _text(form, "media_url", MAX_MEDIA_URL)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise ApiError(400, "media_url", "must be an http(s) URL without spaces")
    return url


def read_report(form: dict[str, str], city: CityData) -> Report:
    """The checked report of a form, or an :class:`ApiError` 400 naming the first wrong field."""
    for name in form:
        if name not in SPEC_FIELDS and not _ATTRIBUTE.match(name):
            raise ApiError(400, name, "not a field of Open311 POST requests (attributes are attribute[code])")
    jurisdiction = form.get("jurisdiction_id", "").strip()
    if jurisdiction and jurisdiction != city.city.code:
        raise ApiError(400, "jurisdiction_id", f"this endpoint serves jurisdiction {city.city.code} "
                       f"({city.city.name_en}), not {jurisdiction[:40]!r}")
    code = form.get("service_code", "").strip()
    if not code:
        raise ApiError(400, "service_code", "required (GET services.json lists the codes)")
    if code not in city.catalogue:
        raise ApiError(400, "service_code", f"unknown service code {code[:20]!r} (GET services.json lists them)")
    lat, lon = _coordinate(form, "lat", 90.0), _coordinate(form, "long", 180.0)
    if (lat is None) != (lon is None):
        raise ApiError(400, "long" if lon is None else "lat", "lat and long come together")
    address = _text(form, "address_string", MAX_ADDRESS)
    gcj: tuple[float, float] | None = None
    if lat is not None and lon is not None:
        gcj = wgs84_to_gcj02(lon, lat)
        gcj = (round(gcj[0], 6), round(gcj[1], 6))
        if city.city.index.lookup(*gcj) is None:
            raise ApiError(400, "lat", f"{lat},{lon} (WGS-84) lies in none of the unit grids of "
                           f"{city.city.name_zh} {city.city.name_en}")
    elif address is None:
        raise ApiError(400, "lat", "a location is required: lat and long (WGS-84), or address_string")
    for name in PERSONAL_FIELDS:
        _text(form, name, MAX_PERSONAL)  # accepted and checked, never stored
    description = _text(form, "description", MAX_DESCRIPTION)
    media = _media_url(form)
    if media is not None:
        joined = f"{description}\n{MEDIA_MARK}{media}" if description else f"{MEDIA_MARK}{media}"
        if len(joined) > MAX_DESCRIPTION:
            raise ApiError(400, "description", f"with media_url at most {MAX_DESCRIPTION - len(media) - 13} "
                           "characters")
        description = joined
    attributes: dict[str, str] = {}
    for name, value in form.items():
        match = _ATTRIBUTE.match(name)
        if match:
            if match.group(1) not in {a["code"] for a in ATTRIBUTES}:
                raise ApiError(400, name, f"not an attribute of service {code} (GET services/{code}.json)")
            attributes[match.group(1)] = value.strip()
    external_id = attributes.get("external_id") or None
    if external_id is not None and (len(external_id) > MAX_EXTERNAL_ID or "\x00" in external_id):
        raise ApiError(400, "attribute[external_id]", f"at most {MAX_EXTERNAL_ID} characters, no NUL")
    urgent_text = attributes.get("urgent", "false").lower() or "false"
    if urgent_text not in _URGENT:
        raise ApiError(400, "attribute[urgent]", "must be true or false")
    return Report(code, gcj[0] if gcj else None, gcj[1] if gcj else None, address, description, external_id,
                  _URGENT[urgent_text])


def case_id_for(client_id: str, external_id: str | None, idempotency_key: str | None) -> str:
    """The case id: derived from (client, external id or Idempotency-Key), so a re-sent request, even after an
    API restart, is the same event and the worker's exactly-once apply drops the copy; random otherwise."""
    if external_id is not None:
        token = "ext:" + external_id
    elif idempotency_key is not None:
        token = "idem:" + idempotency_key
    else:
        return f"{client_id}-{uuid.uuid4().hex[:20]}"
    digest = hashlib.sha256(f"{client_id}\x00{token}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"{client_id}-{digest[:20]}"


def report_event(report: Report, client: ApiClient, case_id: str, now: datetime) -> CaseEvent:
    """The case's 上报 event; the source channel is the key's."""
    return CaseEvent(event_id=derived_id(case_id, "report"), case_id=case_id, action=CaseAction.REPORT,
                     event_time=now, source=client.source, category_code=report.service_code, lon=report.lon,
                     lat=report.lat, actor=client.name[:64], address=report.address,
                     description=report.description, urgent=report.urgent)


# --------------------------------------------------------------------------------------------- requests


def _wgs(case: dict[str, str]) -> tuple[float | None, float | None]:
    try:
        lon, lat = float(case["lon"]), float(case["lat"])
    except (KeyError, ValueError):
        return None, None
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    return round(wlon, 6), round(wlat, 6)


def split_media(text: str | None) -> tuple[str | None, str | None]:
    """``(description, media_url)`` of a stored description (the inverse of :func:`read_report`'s join)."""
    if not text:
        return None, None
    match = _MEDIA_AT_END.search(text)
    if match is None:
        return text, None
    return text[:match.start()] or None, match.group(1)


def request_view(case_id: str, case: dict[str, str], city: CityData) -> dict:
    """One service request (GET requests/{id}.json) from the case's hash in the read model."""
    state = case.get("state", "")
    category = city.catalogue.get(case["category"]) if case.get("category") in city.catalogue else None
    department = city.city.departments.get(case.get("department", ""))
    notes = f"{STATE_ZH.get(state, state)} ({state})" if state else None
    if notes and case.get("overdue") == "1":
        notes += " 已超时 (overdue)"
    description, media = split_media(case.get("description"))
    lon, lat = _wgs(case)
    return {"service_request_id": case_id, "status": "closed" if state in FINAL_STATES else "open",
            "status_notes": notes, "service_name": service_name(category) if category else None,
            "service_code": case.get("category") or None, "description": description,
            "agency_responsible": f"{department.name_zh} ({department.name_en})" if department else None,
            "service_notice": None, "requested_datetime": case.get("t_report") or None,
            "updated_datetime": case.get("updated_at") or None, "expected_datetime": case.get("deadline") or None,
            "address": case.get("address") or None, "address_id": None, "zipcode": None, "lat": lat, "long": lon,
            "media_url": media}
