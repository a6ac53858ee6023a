"""KPI tiles (the big screen's eight, the drill-down's first five): value and change against yesterday, or, over a
chosen period, against the period of the same length just before it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cityops.metrics import Kpis, Metric
from dashboard.i18n import t
from dashboard.views.common import fmt_int, pct


@dataclass(frozen=True)
class Tile:
    """One KPI tile: ``delta`` is ``None`` when no comparison exists (gauges without history)."""

    key: str
    label: str
    value: str
    delta: str | None
    delta_color: str  # normal (up is good) | inverse (up is bad) | off
    help: str


def _delta_count(now: float, before: float) -> str:
    return f"{now - before:+,.0f}"


def _delta_rate(now: float | None, before: float | None) -> str | None:
    if now is None or before is None:
        return None
    return f"{(now - before) * 100:+.1f} pp"


def sensors_in_alarm(states: Mapping[str, Mapping[str, str]]) -> int:
    """Sensors whose sustained rule has fired and not yet cleared (phase active or clearing)."""
    return sum(1 for s in states.values() if s.get("phase") in ("active", "clearing"))


def _case_tiles(now: Kpis, before: Kpis, count_prefix: str, vs: str, lang: str) -> list[Tile]:
    """The six case tiles both boards share: three flows and two rates against ``before`` (help ``vs``), and the
    overdue gauge of now; the flows' labels are ``{count_prefix}_received`` and so on."""
    c, prev = now.counters, before.counters

    def count(metric: Metric) -> Tile:
        key = f"{count_prefix}_{metric.value}"
        value = float(c.of(metric))
        return Tile(key, t(key, lang), fmt_int(value), _delta_count(value, prev.of(metric)), "normal", vs)

    def rate(key: str, field: str) -> Tile:
        value, was = getattr(now.rates, field), getattr(before.rates, field)
        return Tile(key, t(key, lang), pct(value), _delta_rate(value, was), "normal", vs)

    return [count(Metric.RECEIVED), count(Metric.REGISTERED), count(Metric.CLOSED),
            rate("kpi_closure_rate", "closure_rate"), rate("kpi_on_time_rate", "on_time_rate"),
            Tile("kpi_overdue_open", t("kpi_overdue_open", lang), fmt_int(now.overdue.count), None, "inverse",
                 t("gauge_no_history", lang))]


def kpi_tiles(today: Kpis, yesterday_until: Kpis, sensors_alarm: int, captures_today: int,
              captures_delta: float | None, lang: str = "zh") -> list[Tile]:
    """The eight tiles of the big screen.

    ``today`` is :func:`cityops.read.kpis` of today; ``yesterday_until`` the figures of yesterday
    (:func:`cityops.read.kpis_until`): its counts up to the same time, its rates those of yesterday's cohort
    (the cases registered yesterday, as of yesterday's end: docs/metrics.md). The overdue tile is the gauge
    of now, the only one the read model keeps; the help text says so.
    """
    vs = t("vs_yesterday", lang)
    return _case_tiles(today, yesterday_until, "kpi", vs, lang) + [
        Tile("kpi_sensors_alarm", t("kpi_sensors_alarm", lang), fmt_int(sensors_alarm), None, "inverse",
             t("gauge_no_history", lang)),
        Tile("kpi_captures", t("kpi_captures", lang), fmt_int(captures_today),
             None if captures_delta is None else f"{captures_delta:+,.0f}", "off", vs),
    ]


def period_tiles(this: Kpis, before: Kpis, lang: str = "zh") -> list[Tile]:
    """The drill-down's tiles over a chosen period (:func:`cityops.read.kpi_cohort.period_kpis`): flows summed
    over its days, rates of its cohort, each against the period of the same length before it; the overdue tile
    is the gauge of now, as on the big screen."""
    return _case_tiles(this, before, "period", t("vs_previous_period", lang), lang)
