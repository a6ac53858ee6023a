"""Export of a case search (案件查询) as CSV or Excel: one row per case, Chinese headers, times in local time.

Why here and not in the console: the console's download buttons and ``python -m cityops cases export`` must
give the same file for the same filter, so both call :func:`collect` and :func:`to_csv` / :func:`to_xlsx`.
The rows come from the read model's case search (``cityops/read/case_search.py``), every page of it, up to
:data:`MAX_EXPORT_ROWS` (a month of a city's cases); past that the export says it is cut, never silently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from redis import Redis

from cityops.case_states import STATE_ZH
from cityops.catalogue import Catalogue
from cityops.city import CityModel
from cityops.read.case_search import FINAL_STATES, MAX_LIMIT, CaseQuery, Cursor, search_cases
from cityops.schemas import CASE_ACTION_ZH, CASE_SOURCE_ZH

MAX_EXPORT_ROWS = 200_000
EXPORT_SCAN_BUDGET = 20_000  # index entries one page request may read (a page is 500 cases at most)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
STAGE_ZH = {action.value: name for action, name in CASE_ACTION_ZH.items()}  # a stage is named by its action
#: (field of an export row, its header). Times are local (the city's time zone), without the offset.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("case_id", "案件编号"), ("t_report", "上报时间"), ("state", "状态"), ("category_code", "类别编码"),
    ("category", "类别"), ("source", "来源"), ("district", "区"), ("street", "街道"), ("community", "社区"),
    ("grid", "网格"), ("address", "地址"), ("description", "描述"), ("department", "处置部门"), ("urgent", "紧急"),
    ("escalated", "督办"), ("overdue", "超期"), ("stage", "当前环节"), ("deadline", "环节时限"),
    ("t_close", "结案时间"), ("updated_at", "最后更新"),
)
HEADERS = tuple(h for _, h in COLUMNS)
TIME_FIELDS = frozenset({"t_report", "deadline", "t_close", "updated_at"})
TEXT_FIELDS = frozenset({"address", "description"})  # typed by citizens: may start like a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Cell = str | datetime
_SOURCE_ZH = {s.value: name for s, name in CASE_SOURCE_ZH.items()}


@dataclass
class Export:
    """The cases of one search, newest report first; ``truncated`` when more matched than :data:`MAX_EXPORT_ROWS`."""

    cases: list[dict[str, str]] = field(default_factory=list)
    truncated: bool = False


def collect(r: Redis, query: CaseQuery, city_code: str, tz: ZoneInfo, max_rows: int = MAX_EXPORT_ROWS,
            street_of: Callable[[str], str | None] | None = None) -> Export:
    """Every case of ``query`` (its own limit and cursor are ignored): the search, page after page."""
    out = Export()
    cursor: Cursor | None = None
    while True:
        page_query = CaseQuery(**{**_fields(query), "limit": MAX_LIMIT, "cursor": cursor})
        page = search_cases(r, page_query, city_code, tz, scan_budget=EXPORT_SCAN_BUDGET, street_of=street_of)
        out.cases.extend(page.cases)
        if len(out.cases) > max_rows:
            out.cases, out.truncated = out.cases[:max_rows], True
            return out
        if page.next_cursor is None:
            return out
        cursor = Cursor.decode(page.next_cursor)


def _fields(query: CaseQuery) -> dict[str, object]:
    return {name: getattr(query, name) for name in query.__dataclass_fields__}


def local(value: str, tz: ZoneInfo) -> datetime | str:
    """An ISO time of the read model as a naive local time (what a spreadsheet shows); '' stays ''."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).astimezone(tz).replace(tzinfo=None, microsecond=0)
    except ValueError:
        return value


def export_row(case: Mapping[str, str], city: CityModel, catalogue: Catalogue, tz: ZoneInfo) -> list[Cell]:
    """One case of the search (``case_id`` and the summary fields) as the export's cells, in :data:`COLUMNS` order."""
    code = case.get("category", "")
    state = case.get("state", "")
    source = case.get("source", "")
    department = city.departments.get(case.get("department", ""))
    values: dict[str, Cell] = {
        "case_id": case.get("case_id", ""),
        "state": STATE_ZH.get(state, state),
        "category_code": code,
        "category": catalogue.get(code).name("zh") if code in catalogue else code,
        "source": _SOURCE_ZH.get(source, source),
        "grid": case.get("grid", ""),
        "address": case.get("address", ""),
        "description": case.get("description", ""),
        "department": department.name_zh if department else case.get("department", ""),
        "urgent": _yes(case.get("urgent") == "1"),
        "escalated": _yes(case.get("escalated") == "1"),
        "overdue": _yes(case.get("overdue") == "1" and state not in FINAL_STATES),
        "stage": STAGE_ZH.get(case.get("stage", ""), case.get("stage", "")),
    }
    for area in ("district", "street", "community"):
        area_code = case.get(area, "")
        values[area] = city.area_name(area_code, "zh") if area_code and area_code != "unlocated" else (
            "未定位" if area_code == "unlocated" else "")
    for name in TIME_FIELDS:
        values[name] = local(case.get(name, ""), tz)
    return [values[name] for name, _ in COLUMNS]


def _yes(flag: bool) -> str:
    return "是" if flag else "否"


def export_rows(cases: Iterable[Mapping[str, str]], city: CityModel, catalogue: Catalogue,
                tz: ZoneInfo) -> list[list[Cell]]:
    return [export_row(case, city, catalogue, tz) for case in cases]


def csv_safe(name: str, value: Cell) -> str:
    """A cell as CSV text: times formatted; a citizen's text that starts like a formula gets a leading ``'``
    (Excel would otherwise run ``=HYPERLINK(...)`` typed into a complaint)."""
    if isinstance(value, datetime):
        return value.strftime(TIME_FORMAT)
    if name in TEXT_FIELDS and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: Sequence[Sequence[Cell]]) -> bytes:
    """UTF-8 with a byte-order mark, so Excel on a Chinese Windows opens the headers as Chinese, not mojibake."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(HEADERS)
    names = [name for name, _ in COLUMNS]
    for row in rows:
        writer.writerow([csv_safe(n, v) for n, v in zip(names, row, strict=True)])
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(rows: Sequence[Sequence[Cell]], title: str = "案件") -> bytes:
    """An Excel workbook: one sheet, bold frozen header, times as date cells, every text cell stored as text
    (a description starting with ``=`` is not a formula); characters XML cannot hold are dropped."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    wb = Workbook(write_only=False)
    ws = wb.active
    ws.title = title[:31]
    ws.append(list(HEADERS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row_no, row in enumerate(rows, start=2):
        for col_no, value in enumerate(row, start=1):
            cell = ws.cell(row=row_no, column=col_no)
            if isinstance(value, datetime):
                cell.value = value
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            else:
                cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
                cell.data_type = "s"
    ws.freeze_panes = "A2"
    widths = {"案件编号": 22, "上报时间": 20, "类别": 22, "地址": 30, "描述": 40, "处置部门": 20, "环节时限": 20,
              "结案时间": 20, "最后更新": 20}
    for col_no, header in enumerate(HEADERS, start=1):
        ws.column_dimensions[ws.cell(row=1, column=col_no).column_letter].width = widths.get(header, 12)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def file_name(query: CaseQuery, fmt: str) -> str:
    """``案件_20261101_20261130.xlsx``: the range in the name, so two exports of a department do not clash."""
    return f"案件_{query.start:%Y%m%d}_{query.end:%Y%m%d}.{fmt}"
