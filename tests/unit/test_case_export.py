"""Export rows of a case search: Chinese headers and labels, local times, CSV Excel can open, xlsx that keeps text."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from cityops import case_export
from cityops.catalogue import get_catalogue
from fixtures.xiamen import load_city

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def city():
    return load_city()


def _case(city, **kw) -> dict[str, str]:  # noqa: ANN001
    grid = next(iter(city.grids.values()))
    return {"case_id": "C1", "state": "dispatched", "category": "E0102", "source": "hotline_12345",
            "district": grid.district_code, "street": grid.street_code, "community": grid.community_code,
            "grid": grid.code, "department": "", "urgent": "1", "overdue": "1", "escalated": "1",
            "stage": "handle", "t_report": "2026-11-23T17:30:00+00:00", "deadline": "2026-11-25T09:00:00+08:00",
            "updated_at": "2026-11-24T02:00:05.123+00:00", "address": "湖滨南路88号", "description": "占道经营"} | kw


def test_a_row_has_chinese_labels_and_local_times(city):
    row = dict(zip(case_export.HEADERS, case_export.export_row(_case(city), city, get_catalogue(), TZ), strict=True))
    assert row["案件编号"] == "C1" and row["状态"] == "已派遣" and row["来源"] == "12345热线"
    assert row["上报时间"] == datetime(2026, 11, 24, 1, 30)  # 17:30 UTC is half past one the next day in Xiamen
    assert row["最后更新"] == datetime(2026, 11, 24, 10, 0, 5)
    assert row["结案时间"] == ""
    assert row["类别编码"] == "E0102" and "/" in row["类别"]
    assert row["区"] == city.area_name(_case(city)["district"]) and row["社区"] == city.area_name(
        _case(city)["community"])
    assert (row["紧急"], row["督办"], row["超期"], row["当前环节"]) == ("是", "是", "是", "处置")
    closed = dict(zip(case_export.HEADERS, case_export.export_row(
        _case(city, state="closed", escalated=""), city, get_catalogue(), TZ), strict=True))
    assert (closed["超期"], closed["督办"]) == ("否", "否")  # a closed case is overdue no more
    unlocated = case_export.export_row({"case_id": "U", "state": "reported", "district": "unlocated"}, city,
                                       get_catalogue(), TZ)
    assert unlocated[case_export.HEADERS.index("区")] == "未定位"


def test_csv_has_a_bom_chinese_headers_and_defuses_formulas(city):
    rows = case_export.export_rows([_case(city, description="=HYPERLINK(\"http://x\")")], city, get_catalogue(), TZ)
    body = case_export.to_csv(rows)
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig").splitlines()
    assert text[0].split(",")[:3] == ["案件编号", "上报时间", "状态"]
    assert "2026-11-24 01:30:00" in text[1]
    assert "'=HYPERLINK" in text[1]


def test_xlsx_holds_the_rows_and_keeps_a_formula_like_text_as_text(city):
    rows = case_export.export_rows([_case(city, description="=1+1", address="a\x01b"), _case(city, case_id="C2")],
                                   city, get_catalogue(), TZ)
    wb = load_workbook(io.BytesIO(case_export.to_xlsx(rows)))
    values = [list(r) for r in wb.active.iter_rows(values_only=True)]
    assert tuple(values[0]) == case_export.HEADERS
    got = [[v if v is not None else "" for v in r] for r in values[1:]]
    rows[0][case_export.HEADERS.index("地址")] = "ab"  # a control character XML cannot hold is dropped
    assert got == rows
    assert wb.active.cell(row=2, column=case_export.HEADERS.index("描述") + 1).data_type == "s"
