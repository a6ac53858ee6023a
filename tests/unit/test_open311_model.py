"""Open311 ↔ platform mapping, pure: the form's checks name the field, WGS-84 becomes GCJ-02 inside a grid, the
case id is derived from the client's idempotency key, the source is the key's, and a case reads back as a
service request with its status."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from cityops.apikeys import ApiClient
from cityops.city_data import get_city_data
from cityops.schemas import CaseAction, CaseSource
from doors.api import open311_model as m
from doors.api.errors import ApiError, error_body
from doors.api.geo import gcj02_to_wgs84

GCJ = (118.089412, 24.479803)  # in grid 350203003001003 (Siming)
WGS = tuple(round(v, 6) for v in gcj02_to_wgs84(*GCJ))
CLIENT = ApiClient("hotline-12345", "12345热线", CaseSource.HOTLINE_12345, frozenset({"open311.report"}), 10.0, 20)


@pytest.fixture(scope="module")
def city():
    return get_city_data()


def form(**fields: str) -> dict[str, str]:
    return {"service_code": "E0102", "lat": str(WGS[1]), "long": str(WGS[0])} | fields


def refused(city, fields: dict[str, str]) -> ApiError:
    with pytest.raises(ApiError) as info:
        m.read_report(fields, city)
    assert info.value.status == 400
    return info.value


def test_a_valid_report_becomes_a_located_report_event(city) -> None:
    report = m.read_report(form(description="垃圾满溢", media_url="https://img.example/a.jpg",
                                **{"attribute[external_id]": "GD-1", "attribute[urgent]": "true",
                                   "email": "a@b.c", "phone": "13800000000"}), city)
    assert (report.lon, report.lat) == pytest.approx(GCJ, abs=2e-6)
    assert city.city.index.lookup(report.lon, report.lat) == "350203003001003"
    event = m.report_event(report, CLIENT, "hotline-12345-x", datetime(2026, 11, 24, 1, tzinfo=UTC))
    assert event.action is CaseAction.REPORT and event.source is CaseSource.HOTLINE_12345 and event.urgent
    assert event.category_code == "E0102" and event.event_id == "hotline-12345-x-report"
    assert "13800000000" not in event.model_dump_json()  # personal fields are not stored
    assert m.split_media(event.description) == ("垃圾满溢", "https://img.example/a.jpg")


def test_an_address_alone_is_an_unlocated_report(city) -> None:
    report = m.read_report({"service_code": "E0102", "address_string": "思明区中华街道"}, city)
    assert report.lon is None and report.address == "思明区中华街道"


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"service_code": ""}, "service_code", "required"),
    ({"service_code": "X9999"}, "service_code", "unknown"),
    ({"lat": "abc"}, "lat", "decimal"),
    ({"lat": "nan"}, "lat", "decimal"),
    ({"lat": "1e3"}, "lat", "decimal"),
    ({"long": "190.5"}, "long", "outside"),
    ({"long": ""}, "long", "together"),
    ({"lat": "24.0", "long": "118.0"}, "lat", "none of the unit grids"),
    ({"lat": "", "long": ""}, "lat", "location is required"),
    ({"description": "x" * 4001}, "description", "4000"),
    ({"description": "a\x00b"}, "description", "NUL"),
    ({"address_string": "y" * 501}, "address_string", "500"),
    ({"media_url": "javascript:alert(1)"}, "media_url", "http"),
    ({"attribute[colour]": "red"}, "attribute[colour]", "not an attribute"),
    ({"attribute[urgent]": "maybe"}, "attribute[urgent]", "true or false"),
    ({"attribute[external_id]": "z" * 129}, "attribute[external_id]", "128"),
    ({"jurisdiction_id": "beijing"}, "jurisdiction_id", "350200"),
    ({"colour": "red"}, "colour", "not a field"),
    ({"email": "e" * 201}, "email", "200"),
])
def test_bad_fields_are_refused_by_name(city, fields, field, reason) -> None:
    err = refused(city, form(**fields))
    assert err.field == field and reason in err.reason


def test_parse_form() -> None:
    assert m.parse_form(urlencode({"a": "厦门", "b": ""}).encode()) == {"a": "厦门", "b": ""}
    for body, field in ((b"a=1&a=2", "a"), (b"\xff=1", ""), (b"a=%ff", ""), (b"&".join([b"x%d=1" % i
                                                                                         for i in range(99)]), "")):
        with pytest.raises(ApiError) as info:
            m.parse_form(body)
        assert info.value.status == 400 and info.value.field == field


def test_case_ids_follow_the_idempotency_key() -> None:
    a = m.case_id_for("hotline-12345", "GD-1", None)
    assert a == m.case_id_for("hotline-12345", "GD-1", "ignored: external_id wins")
    assert a != m.case_id_for("citizen-app", "GD-1", None)  # namespaced by client
    assert m.case_id_for("hotline-12345", None, "k1") == m.case_id_for("hotline-12345", None, "k1") != a
    assert m.case_id_for("hotline-12345", None, None) != m.case_id_for("hotline-12345", None, None)
    assert len(m.case_id_for("a" * 32, "x" * 128, None)) <= 128


def test_a_case_reads_back_as_a_service_request(city) -> None:
    case = {"state": "dispatched", "category": "E0102", "department": "CITY-SANITATION", "t_report":
            "2026-11-24T09:30:00+08:00", "updated_at": "2026-11-24T10:00:00+08:00", "deadline":
            "2026-11-24T15:00:00+08:00", "lon": repr(GCJ[0]), "lat": repr(GCJ[1]), "address": "中华街道",
            "description": "满了\n[media_url] https://img.example/a.jpg", "overdue": "1"}
    view = m.request_view("C1", case, city)
    assert view["status"] == "open" and view["status_notes"] == "已派遣 (dispatched) 已超时 (overdue)"
    assert view["service_code"] == "E0102" and "(" in view["service_name"]
    assert (view["long"], view["lat"]) == pytest.approx(WGS, abs=2e-6)  # WGS-84 back, as the spec has it
    assert view["media_url"] == "https://img.example/a.jpg" and view["description"] == "满了"
    assert view["agency_responsible"] and view["expected_datetime"] == case["deadline"]
    for state in ("closed", "voided", "rejected"):
        assert m.request_view("C1", case | {"state": state}, city)["status"] == "closed"
    assert m.request_view("C2", {"state": "reported", "category": "E0102"}, city)["lat"] is None


def test_services_name_chinese_with_english(city) -> None:
    services = m.service_list(city.catalogue)
    assert len(services) == len(city.catalogue)
    first = services[0]
    assert first["service_code"] == "C0101" and first["metadata"] is True and first["type"] == "realtime"
    assert "上水井盖" in first["service_name"] and "Water supply manhole cover" in first["service_name"]
    codes = [a["code"] for a in m.service_definition(city.catalogue.get("E0102"))["attributes"]]
    assert codes == ["external_id", "urgent"]


def test_error_formats() -> None:
    assert error_body("/open311/v2/requests.json", 400, "lat", "bad") == [
        {"code": 400, "description": "lat: bad", "field": "lat"}]
    assert error_body("/api/v1/cases", 401, "api_key", "no") == {
        "error": {"status": 401, "field": "api_key", "reason": "no"}}
