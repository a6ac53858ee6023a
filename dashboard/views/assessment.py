"""View model of the 考核 page: one period's scores of the city's scheme as one table per class, and the 约谈 list.

Pure apart from the read (``cityops.read.assessment``, the same call as the monthly 通报's), so the page script
only lays out widgets (``dashboard/pages/assessment.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from redis import Redis

from cityops.assessment import Scheme, UnitScore
from cityops.city import CityModel
from cityops.city_data import get_city_data
from cityops.periods import Period, PeriodKind, last_complete, parse_period
from cityops.read.assessment import unit_scores
from cityops.settings import get_settings
from dashboard.reports.compose import ITEM_LABELS, item_cell
from dashboard.reports.i18n import t


@dataclass(frozen=True)
class Row:
    rank: int
    unit_id: str
    name: str
    cells: tuple[str, ...]  # one per indicator: "value (+points)"
    score: float
    interview: bool


@dataclass(frozen=True)
class ClassTable:
    kind: str  # street | department
    klass: str
    title: str  # 街道 A 类
    headers: tuple[str, ...]  # 名次, 单位, indicators…, 得分, 约谈
    rows: tuple[Row, ...]

    def records(self) -> list[dict[str, object]]:
        """The rows as table records keyed by ``headers`` (what ``st.dataframe`` shows)."""
        return [dict(zip(self.headers, (r.rank, r.name, *r.cells, round(r.score, 2), "●" if r.interview else ""),
                         strict=True)) for r in self.rows]


@dataclass(frozen=True)
class AssessmentView:
    period: Period
    base: float
    interview_last: int
    tables: tuple[ClassTable, ...]
    interview: tuple[str, ...]  # names summoned, class by class


def default_period(kind: PeriodKind | str, today: date) -> str:
    """The label the page opens on: the last period of ``kind`` that is over."""
    return last_complete(kind, today).label


def assessment_tables(r: Redis, kind: PeriodKind | str, when: str, lang: str = "zh", *,
                      city: CityModel | None = None, scheme: Scheme | None = None) -> AssessmentView | None:
    """The 考核 of the period ``when`` (a label such as ``2026-10`` or a day in it); None when the city has no
    scheme. ``ValueError`` when ``when`` is no period of ``kind``."""
    period = parse_period(kind, when)
    data = get_city_data() if city is None or scheme is None else None
    city = city or data.city  # type: ignore[union-attr]
    scheme = scheme or data.assessment  # type: ignore[union-attr]
    if scheme is None:
        return None
    scores = unit_scores(r, scheme, period.start, period.end, get_settings().tz)
    tables = []
    for unit_kind, unit_scores_ in scores.items():
        for klass in scheme.units[unit_kind].classes:
            members = [s for s in unit_scores_ if s.klass == klass]
            tables.append(_table(unit_kind, klass, members, city, lang))
    summoned = tuple(f"{_name(city, s.kind, s.unit_id, lang)}（{s.score:.1f}）" for s in
                     (x for table in scores.values() for x in table) if s.interview)
    return AssessmentView(period, scheme.base, scheme.interview_last, tuple(tables), summoned)


def _table(kind: str, klass: str, scores: list[UnitScore], city: CityModel, lang: str) -> ClassTable:
    indicator_keys = [i.key for i in scores[0].items] if scores else []
    headers = (t("rank", lang), t("unit", lang), *(t(ITEM_LABELS.get(k, k), lang) for k in indicator_keys),
               t("score", lang), t("interview", lang))
    rows = tuple(Row(s.rank, s.unit_id, _name(city, kind, s.unit_id, lang),
                     tuple(item_cell(i.key, i.value, i.points, lang) for i in s.items), s.score, s.interview)
                 for s in scores)
    title = t("streets_in" if kind == "street" else "departments_in", lang, klass=klass)
    return ClassTable(kind, klass, title, headers, rows)


def _name(city: CityModel, kind: str, unit_id: str, lang: str) -> str:
    if kind == "department":
        d = city.departments.get(unit_id)
        return (d.name_zh if lang == "zh" else d.name_en) if d else unit_id
    return city.area_name(unit_id, lang)

