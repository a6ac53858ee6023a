"""Gather one week's, month's or quarter's 通报 from the read model into a :class:`PeriodReport`, then lay it out
as a :class:`~dashboard.reports.document.Document`.

The figures are those of the read API for the same days (``/api/v1/kpis?from=&to=``: the period's cohort as of
its last day, with its flow counters), so a report, the 考核 page and an outside tool reading the API agree. The
only I/O is reads through :mod:`cityops.read`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from redis import Redis

from cityops import keys
from cityops.assessment import Scheme, UnitScore
from cityops.catalogue import Catalogue
from cityops.city import CityModel
from cityops.metrics import Kpis, Metric, ranked
from cityops.periods import Period, PeriodKind, recent
from cityops.read.assessment import unit_scores
from cityops.read.kpi_cohort import local_day_bucket, period_days, period_kpis, period_kpis_many
from cityops.read.supervision import received_counts
from cityops.settings import Settings
from dashboard.briefing.compose import LOWER_IS_BETTER, RATE_KEYS, meets_target, parse_targets
from dashboard.briefing.i18n import pct
from dashboard.reports.document import Document
from dashboard.reports.i18n import t

TREND_PERIODS = {PeriodKind.WEEK: 8, PeriodKind.MONTH: 6, PeriodKind.QUARTER: 4}
TOP = 8
PEAK_FIELD = "received_h{hour:02d}"  # the daily hash's received count per hour of day (streams/case_projection.py)


@dataclass(frozen=True)
class RateRow:
    key: str
    value: float | None
    previous: float | None
    target: float

    @property
    def met(self) -> bool | None:
        return meets_target(self.key, self.value, self.target)


@dataclass(frozen=True)
class TrendPoint:
    label: str
    received: int
    closure_rate: float | None
    on_time_rate: float | None


@dataclass(frozen=True)
class Placed:
    """A unit at the top or bottom of its class (红黑榜)."""

    kind: str
    klass: str
    best: str
    best_score: float
    worst: str
    worst_score: float


@dataclass
class PeriodReport:
    period: Period
    lang: str
    city: str
    generated_at: datetime
    totals: list[tuple[str, int, int]]  # (key, this period, previous period)
    rates: list[RateRow]
    trend: list[TrendPoint]  # oldest first, ending with this period
    category_trend: list[tuple[str, list[int]]]  # (category name, received per trend period)
    district_trend: list[tuple[str, list[int]]]
    peak_hours: list[int]  # received per hour of day, summed over the period
    repeats: int
    repeats_previous: int
    repeat_places: list[tuple[str, str, str, int]]  # (grid, area, category, count)
    supervised: int
    supervised_previous: int
    supervised_by_district: list[tuple[str, int]]
    supervised_by_department: list[tuple[str, int]]
    red_black: list[Placed]
    assessment: dict[str, list[UnitScore]] | None  # None: the city has no scheme
    scheme_base: float | None
    interview_last: int
    names: dict[str, str] = field(default_factory=dict)  # unit id → name in ``lang``

    def name(self, unit_id: str) -> str:
        return self.names.get(unit_id, unit_id)

    def to_json(self) -> dict[str, Any]:
        """The figures as plain JSON (kept beside the rendered files, for tools and tests)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["period"] = {"kind": self.period.kind.value, "label": self.period.label,
                         "start": self.period.start.isoformat(), "end": self.period.end.isoformat()}
        out["generated_at"] = self.generated_at.isoformat()
        for key in ("rates", "trend", "red_black"):
            out[key] = [dataclasses.asdict(x) for x in out[key]]
        if self.assessment is not None:
            out["assessment"] = {kind: [dataclasses.asdict(s) for s in scores]
                                 for kind, scores in self.assessment.items()}
        return out


def compose_period(r: Redis, period: Period, city: CityModel, catalogue: Catalogue, scheme: Scheme | None,
                   settings: Settings, lang: str = "zh", now: datetime | None = None) -> PeriodReport:
    tz = settings.tz
    now = (now or datetime.now(tz)).astimezone(tz)
    prev = period.previous()
    this_kpi = period_kpis(r, period.start, period.end, "city", city.code, tz)
    prev_kpi = period_kpis(r, prev.start, prev.end, "city", city.code, tz)
    targets = parse_targets(settings.briefing_targets)

    def total(k: Kpis) -> dict[str, int]:
        c = k.cases
        return {"received": int(k.counters.of(Metric.RECEIVED)), "registered": int(c.of("reg")),
                "due": int(c.of("due")), "closed": int(c.of("closed")), "on_time_n": int(c.of("on_time")),
                "overdue_n": max(0, int(c.of("due") - c.of("on_time"))), "reworked": int(c.of("reworked"))}

    this_t, prev_t = total(this_kpi), total(prev_kpi)
    districts = list(city.districts)
    sup_now = received_counts(r, period.start, period.end, "district", districts, tz)
    sup_prev = received_counts(r, prev.start, prev.end, "district", districts, tz)
    totals = [(k, this_t[k], prev_t[k]) for k in this_t]
    totals.append(("supervised", sum(sup_now.values()), sum(sup_prev.values())))
    rates = [RateRow(k, _rate(this_kpi, k), _rate(prev_kpi, k), targets[k]) for k in RATE_KEYS]

    trend_periods = recent(period, TREND_PERIODS[period.kind])
    trend = []
    for p in trend_periods:
        k = this_kpi if p == period else period_kpis(r, p.start, p.end, "city", city.code, tz)
        trend.append(TrendPoint(p.label, int(k.counters.of(Metric.RECEIVED)), k.rates.closure_rate,
                                k.rates.on_time_rate))
    codes = [c.code for c in catalogue]
    per_category = _received_per_period(r, trend_periods, "category", codes, tz)
    top_codes = sorted((c for c in codes if per_category[c][-1]), key=lambda c: (-per_category[c][-1], c))[:TOP]
    per_district = _received_per_period(r, trend_periods, "district", districts, tz)

    names = {code: city.area_name(code, lang) for code in (*city.districts, *city.streets)}
    names |= {d.id: d.name_zh if lang == "zh" else d.name_en for d in city.departments.values()}
    departments = [d for d in city.departments]
    sup_dept = received_counts(r, period.start, period.end, "department", departments, tz)

    assessment = unit_scores(r, scheme, period.start, period.end, tz) if scheme else None
    repeats, places = _repeats(r, period, city, catalogue, lang, tz)
    return PeriodReport(
        period=period, lang=lang, city=city.name_zh if lang == "zh" else city.name_en,
        generated_at=now.replace(microsecond=0), totals=totals, rates=rates, trend=trend,
        category_trend=[(catalogue.get(c).name(lang), per_category[c]) for c in top_codes],
        district_trend=[(names[d], per_district[d]) for d in districts],
        peak_hours=_peak_hours(r, period, city.code, tz),
        repeats=repeats, repeats_previous=_repeats(r, prev, city, catalogue, lang, tz, count_only=True)[0],
        repeat_places=places,
        supervised=sum(sup_now.values()), supervised_previous=sum(sup_prev.values()),
        supervised_by_district=sorted(((names[d], n) for d, n in sup_now.items() if n), key=lambda x: (-x[1], x[0])),
        supervised_by_department=sorted(((names.get(d, d), n) for d, n in sup_dept.items() if n),
                                        key=lambda x: (-x[1], x[0]))[:TOP],
        red_black=_red_black(assessment) if assessment else _district_extremes(r, period, city, names, tz),
        assessment=assessment, scheme_base=scheme.base if scheme else None,
        interview_last=scheme.interview_last if scheme else 0, names=names)


def _rate(k: Kpis, key: str) -> float | None:
    return k.score if key == "score" else k.weighted.of(key)


def _received_per_period(r: Redis, periods: Sequence[Period], scope: str, ids: Sequence[str],
                         tz: ZoneInfo) -> dict[str, list[int]]:
    """Per scope id, the received count of each period (daily hashes, ``HGET`` of the one field)."""
    pipe = r.pipeline(transaction=False)
    spans = []
    for sid in ids:
        for p in periods:
            days = period_days(p.start, p.end)
            spans.append(len(days))
            for d in days:
                pipe.hget(keys.kpi_daily(local_day_bucket(d, tz), scope, sid), Metric.RECEIVED.value)
    replies = iter(pipe.execute())
    spans_iter = iter(spans)
    return {sid: [sum(int(next(replies) or 0) for _ in range(next(spans_iter))) for _ in periods] for sid in ids}


def _peak_hours(r: Redis, period: Period, city_code: str, tz: ZoneInfo) -> list[int]:
    fields = [PEAK_FIELD.format(hour=h) for h in range(24)]
    pipe = r.pipeline(transaction=False)
    for d in period_days(period.start, period.end):
        pipe.hmget(keys.kpi_daily(local_day_bucket(d, tz), "city", city_code), fields)
    hours = [0] * 24
    for row in pipe.execute():
        for h, v in enumerate(row):
            hours[h] += int(v or 0)
    return hours


def _repeats(r: Redis, period: Period, city: CityModel, catalogue: Catalogue, lang: str, tz: ZoneInfo,
             count_only: bool = False) -> tuple[int, list[tuple[str, str, str, int]]]:
    """Repeated problems reported in the period (the repeat finder's day sets), and the grids with most of them."""
    day_keys = [keys.repeats_daily(local_day_bucket(d, tz), "city", city.code)
                for d in period_days(period.start, period.end)]
    pipe = r.pipeline(transaction=False)
    for key in day_keys:
        pipe.zcard(key) if count_only else pipe.zrange(key, 0, -1)
    replies = pipe.execute()
    if count_only:
        return sum(replies), []
    members = [m for day in replies for m in day]
    pipe = r.pipeline(transaction=False)
    for cid in members:
        pipe.hmget(keys.case(cid), ("grid", "category"))
    by_place = Counter((g, c) for g, c in pipe.execute() if g and c)
    places = []
    for (grid, code), n in sorted(by_place.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]:
        g = city.grids.get(grid)
        area = " · ".join(city.area_name(x, lang) for x in (g.district_code, g.street_code)) if g else ""
        places.append((grid, area, catalogue.get(code).name(lang) if code in catalogue else code, n))
    return len(members), places


def _red_black(assessment: dict[str, list[UnitScore]]) -> list[Placed]:
    out = []
    for kind, scores in assessment.items():
        for klass in dict.fromkeys(s.klass for s in scores):
            members = [s for s in scores if s.klass == klass]
            out.append(Placed(kind, klass, members[0].unit_id, members[0].score, members[-1].unit_id,
                              members[-1].score))
    return out


def _district_extremes(r: Redis, period: Period, city: CityModel, names: dict[str, str], tz: ZoneInfo) -> list[Placed]:
    """Without a scheme: the best and worst district by composite score, as one class."""
    table = period_kpis_many(r, period.start, period.end, "district", list(city.districts), tz)
    order = ranked(table)
    if not order:
        return []
    return [Placed("district", "", order[0].id, order[0].kpis.score, order[-1].id, order[-1].kpis.score)]


# ----------------------------------------------------------------------------------------- layout


def document(rep: PeriodReport, charts: dict[str, bytes]) -> Document:
    """The report's text, tables and ``charts`` (from :mod:`dashboard.reports.charts`) in reading order."""
    lang, p = rep.lang, rep.period
    title = t(f"title_{p.kind.value}", lang)
    doc = Document(title=title, heading=t("heading", lang, city=rep.city),
                   subtitle=f"{t('period', lang)} {p.title(lang)}    {t('generated', lang)} "
                            f"{rep.generated_at:%Y-%m-%d %H:%M}",
                   footer=t("footer", lang, city=rep.city, title=title, period=p.label), lang=lang)

    doc.section(t("s_totals", lang))
    doc.table([t("indicator", lang), t("this_period", lang), t("previous", lang), t("change", lang)],
              [[t(k, lang), f"{v:,}", f"{pv:,}", _change(v, pv)] for k, v, pv in rep.totals], [3, 2, 2, 2],
              [False, True, True, True])

    doc.section(t("s_rates", lang))
    rows, tones = [], []
    for row in rep.rates:
        fmt = (lambda v: "—" if v is None else f"{v:.1f}") if row.key == "score" else (lambda v: pct(v, lang))
        rows.append([t(row.key, lang), fmt(row.value), fmt(row.previous), _points_change(row, lang),
                     ("≤ " if row.key in LOWER_IS_BETTER else "≥ ") + fmt(row.target),
                     "—" if row.met is None else t("met" if row.met else "missed", lang)])
        tones.append([None] * 5 + [None if row.met is None else ("good" if row.met else "bad")])
    doc.table([t("indicator", lang), t("this_period", lang), t("previous", lang), t("change", lang),
               t("target", lang), t("status", lang)], rows, [3, 2, 2, 2, 2, 2], [False, True, True, True, True, False],
              tones)
    doc.chart("trend", t("trend_received", lang), charts.get("trend"))

    doc.section(t("s_red_black", lang))
    if rep.assessment is None:
        doc.note(t("no_scheme", lang))
    doc.table([t("class", lang), t("red", lang), t("score", lang), t("black", lang), t("score", lang)],
              [[_class_label(x.kind, x.klass, lang), rep.name(x.best), f"{x.best_score:.1f}", rep.name(x.worst),
                f"{x.worst_score:.1f}"] for x in rep.red_black], [3, 4, 1.5, 4, 1.5],
              [False, False, True, False, True],
              [[None, "good", "good", "bad", "bad"] for _ in rep.red_black])

    if rep.assessment is not None and p.kind is not PeriodKind.WEEK:
        doc.section(t("s_assessment", lang))
        doc.note(t("scheme_note", lang, base=f"{rep.scheme_base:g}"))
        for kind, scores in rep.assessment.items():
            for klass in dict.fromkeys(s.klass for s in scores):
                _assessment_table(doc, rep, [s for s in scores if s.klass == klass], kind, klass)
        summoned = [s for scores in rep.assessment.values() for s in scores if s.interview]
        doc.note(t("interview_list", lang, n=rep.interview_last, names="、".join(
            f"{rep.name(s.unit_id)}（{s.score:.1f}）" for s in summoned)) if summoned else t("interview_none", lang))

    doc.section(t("s_trends", lang))
    labels = [x.label for x in rep.trend]
    if rep.category_trend:
        doc.table([t("category", lang), *labels], [[name, *counts] for name, counts in rep.category_trend],
                  [4, *[1.2] * len(labels)], [False, *[True] * len(labels)], caption=t("trend_categories", lang))
    doc.table([t("district", lang), *labels], [[name, *counts] for name, counts in rep.district_trend],
              [3, *[1.2] * len(labels)], [False, *[True] * len(labels)], caption=t("trend_districts", lang))
    doc.chart("hours", t("peak_hours", lang), charts.get("hours"))
    peak = sorted(range(24), key=lambda h: (-rep.peak_hours[h], h))[:3]
    if any(rep.peak_hours):
        doc.note(t("peak_note", lang, hours="、".join(f"{h:02d}:00–{h + 1:02d}:00" for h in sorted(peak))))

    doc.section(t("s_repeats", lang))
    doc.note(t("repeats_n", lang, n=rep.repeats, prev=rep.repeats_previous))
    if rep.repeat_places:
        doc.table([t("grid", lang), t("area", lang), t("category", lang), t("count", lang)],
                  [list(x) for x in rep.repeat_places], [3, 4, 4, 1.5], [False, False, False, True],
                  caption=t("repeat_places", lang))

    doc.section(t("s_supervision", lang))
    doc.note(t("supervision_n", lang, n=rep.supervised, prev=rep.supervised_previous))
    if rep.supervised_by_district:
        doc.table([t("district", lang), t("count", lang)], rep.supervised_by_district, [4, 1.5], [False, True])
    if rep.supervised_by_department:
        doc.table([t("department", lang), t("count", lang)], rep.supervised_by_department, [6, 1.5], [False, True])
    return doc


def _assessment_table(doc: Document, rep: PeriodReport, scores: list[UnitScore], kind: str, klass: str) -> None:
    lang = rep.lang
    keys_ = [i.key for i in scores[0].items] if scores else []
    headers = [t("rank", lang), t("unit", lang), *(t(ITEM_LABELS.get(k, k), lang) for k in keys_),
               t("score", lang), t("interview", lang)]
    rows, tones = [], []
    for s in scores:
        cells = [item_cell(i.key, i.value, i.points, lang) for i in s.items]
        rows.append([s.rank, rep.name(s.unit_id), *cells, f"{s.score:.1f}", "●" if s.interview else ""])
        tones.append([None] * (len(cells) + 2) + ["bad" if s.interview else None] * 2)
    widths = [3.2 if k == "on_time_rate" else 2.2 for k in keys_]
    doc.table(headers, rows, [1, 4, *widths, 1.5, 1], [True, False, *[True] * len(keys_), True, False],
              tones, caption=_class_label(kind, klass, lang))


# The 考核 indicators' column labels (keys of dashboard/reports/i18n.py), shared with the 考核 page.
ITEM_LABELS = {"overdue": "overdue_n", "rework": "reworked", "supervised": "supervised", "findings": "findings",
               "supervision_overdue": "supervision_overdue", "on_time_rate": "on_time_rate"}


def item_cell(key: str, value: float | None, points: float, lang: str) -> str:
    """One indicator of a unit's score as printed: its value and, in brackets, the points it gave."""
    shown = "—" if value is None else pct(value, lang) if key == "on_time_rate" else f"{round(value, 2):g}"
    return f"{shown} ({signed(points)})"


def _class_label(kind: str, klass: str, lang: str) -> str:
    if kind == "street":
        return t("streets_in", lang, klass=klass)
    if kind == "department":
        return t("departments_in", lang, klass=klass)
    return t("district", lang)


def _change(value: int, previous: int) -> str:
    if not previous:
        return "—"
    return f"{(value - previous) / previous * 100:+.1f}%"


def _points_change(row: RateRow, lang: str) -> str:
    if row.value is None or row.previous is None:
        return "—"
    delta = row.value - row.previous
    return signed(delta) if row.key == "score" else signed(delta * 100) + ("个百分点" if lang == "zh" else " pp")


def signed(value: float) -> str:
    """``+1.5`` / ``-2.0`` / ``0.0`` (no ``-0.0`` for a change that rounds to nothing)."""
    return "0.0" if round(value, 1) == 0 else f"{value:+.1f}"

