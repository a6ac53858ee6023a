"""View model of 案件查询 (case search): the form's choices as a :class:`CaseQuery`, a page as table rows, labels.

Pure functions of the page's inputs, so the page script only lays out widgets (``dashboard/pages/case_search.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from zoneinfo import ZoneInfo

from cityops import case_export
from cityops.catalogue import Catalogue
from cityops.city import CityModel
from cityops.read.case_search import CaseQuery

ANY = "__any__"
PAGE_SIZES = (20, 50, 100)
TEXT = {
    "title": ("案件查询", "Case search"), "period": ("上报日期", "Reported"), "community": ("社区", "Community"),
    "grid": ("网格编码", "Grid code"), "source": ("来源", "Source"), "status": ("状态", "Status"),
    "overdue": ("超期", "Overdue"), "supervised": ("督办", "Supervised"), "text": ("地址或描述包含", "Address or text"),
    "search": ("查询", "Search"), "prev": ("上一页", "Previous"), "next": ("下一页", "Next"),
    "page": ("第 {n} 页", "Page {n}"), "page_size": ("每页", "Per page"), "yes": ("是", "yes"), "no": ("否", "no"),
    "none": ("没有符合条件的案件", "No case matches"), "pick": ("选择案件", "Choose a case"),
    "open": ("打开案件详情", "Open case"), "export_csv": ("导出 CSV", "Export CSV"),
    "export_xlsx": ("导出 Excel", "Export Excel"), "start_hint": ("设置条件后点“查询”", "Set filters, press Search"),
    "partial": ("本页已读 {n} 条索引, 未读完范围: 点“下一页”继续", "Read {n} index entries; press Next to go on"),
    "leader_no_detail": ("案件详情供值班员查看", "Case detail is for duty officers"),
    "period_needed": ("请选择开始和结束日期", "Choose a first and a last day"),
}


def text(key: str, lang: str = "zh") -> str:
    zh, en = TEXT[key]
    return en if lang == "en" else zh


def _opt(value: str | None) -> str | None:
    return None if value in (None, "", ANY) else value


def _flag(value: str | None) -> bool | None:
    return None if value in (None, "", ANY) else value == "yes"


def build_query(start: date, end: date, *, district: str | None = None, street: str | None = None,
                community: str | None = None, grid: str | None = None, category: str | None = None,
                source: str | None = None, states: Iterable[str] = (), overdue: str | None = None,
                supervised: str | None = None, search_text: str = "", limit: int = 50) -> CaseQuery:
    """The form's values (``ANY`` or '' for any) as a query; raises ``SearchError`` naming the field."""
    chosen = frozenset(states)
    return CaseQuery(start, end, district=_opt(district), street=_opt(street), community=_opt(community),
                     grid=_opt((grid or "").strip()), category=_opt(category), source=_opt(source),
                     states=chosen or None, overdue=_flag(overdue), escalated=_flag(supervised),
                     text=search_text.strip() or None, limit=limit)


SHOWN = ("case_id", "t_report", "state", "category", "district", "street", "community", "address", "description",
         "escalated", "overdue", "stage", "deadline")


def result_rows(cases: Iterable[Mapping[str, str]], city: CityModel, catalogue: Catalogue,
                tz: ZoneInfo) -> list[dict[str, str]]:
    """A page of cases as the table shows them: the export's cells (Chinese headers), a subset of its columns."""
    names = [name for name, _ in case_export.COLUMNS]
    wanted = [names.index(n) for n in SHOWN]
    out = []
    for case in cases:
        cells = case_export.export_row(case, city, catalogue, tz)
        out.append({case_export.HEADERS[i]: case_export.csv_safe("", cells[i]) for i in wanted})
    return out
