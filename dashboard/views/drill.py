"""View models of the drill-down: an area's children and their KPIs, best score first."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import date, timedelta

import pandas as pd

from cityops.city import CityModel
from cityops.metrics import Kpis, Metric
from dashboard.i18n import t
from dashboard.views.common import pct

LEVELS = ("city", "district", "street", "community", "grid")


def children_of(city: CityModel, level: str, code: str) -> tuple[str, list[str]]:
    """(child level, child codes) of an area; a grid has none."""
    if level == "city":
        return "district", sorted(city.districts)
    if level == "district":
        return "street", sorted(s.code for s in city.streets_of(code))
    if level == "street":
        return "community", sorted(c.code for c in city.communities_of(code))
    if level == "community":
        return "grid", sorted(g.code for g in city.grids_of(code))
    return "", []


def drill_frame(table: Mapping[str, Kpis], city: CityModel, lang: str = "zh", period: bool = False) -> pd.DataFrame:
    """One row per sub-area with the same KPIs as the tiles, best score first (``period``: the counts are a
    chosen period's, not today's, and the headers say so)."""
    flow = "period" if period else "kpi"
    rows = []
    for code, k in table.items():
        c = k.counters
        rows.append({"code": code, t("district", lang): city.area_name(code, lang),
                     t(f"{flow}_received", lang): int(c.of(Metric.RECEIVED)),
                     t(f"{flow}_registered", lang): int(c.of(Metric.REGISTERED)),
                     t(f"{flow}_closed", lang): int(c.of(Metric.CLOSED)),
                     t("kpi_closure_rate", lang): pct(k.rates.closure_rate),
                     t("kpi_on_time_rate", lang): pct(k.rates.on_time_rate),
                     t("kpi_overdue_open", lang): k.overdue.count,
                     t("score", lang): round(k.score, 1)})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values([t("score", lang), "code"], ascending=[False, True]).reset_index(drop=True)


CHOOSERS = ("drill_district", "drill_street", "drill_community", "drill_grid")


def clicked_area(city: CityModel, selection: Mapping | None) -> tuple[str, str] | None:
    """(level, code) of the grid or district clicked on the drill-down map, or ``None`` (nothing, or a code the
    city does not know: the selection comes from the browser)."""
    from dashboard.map_layers import picked

    for layer_id, level, known in (("grids", "grid", city.grids), ("districts", "district", city.districts)):
        props = picked(selection, layer_id)
        code = str(props.get("code", "")) if props else ""
        if code in known:
            return level, code
    return None


def choose(state: MutableMapping, city: CityModel, level: str, code: str) -> None:
    """Set the page's four choosers (session-state keys :data:`CHOOSERS`) to the area ``code`` and its parents;
    those below it go back to 全部."""
    if level == "grid":
        g = city.grids[code]
        path = [g.district_code, g.street_code, g.community_code, code]
    elif level == "district":
        path = [code]
    else:
        raise ValueError(f"no chooser path for level {level!r}")
    for key in CHOOSERS:
        state.pop(key, None)
    for key, value in zip(CHOOSERS, path, strict=False):
        state[key] = value


def chosen_period(value: object, today: date, max_days: int) -> tuple[date, date] | None:
    """The (first, last) day a ``st.date_input`` range stands for, or ``None`` for today alone (the live view).

    A range still being picked (one day chosen) counts as that day; days after today are cut to today, and a
    range longer than ``max_days`` (what the read model keeps) is cut to its last ``max_days`` days.
    """
    days = [d for d in (value if isinstance(value, list | tuple) else [value]) if isinstance(d, date)]
    if not days:
        return None
    first, last = min(days[0], today), min(days[-1], today)
    first = min(first, last)
    first = max(first, last - timedelta(days=max_days - 1))
    return None if first == last == today else (first, last)


def previous_period(first: date, last: date) -> tuple[date, date]:
    """The period of the same length that ends the day before ``first`` (what a period's tiles compare with)."""
    length = (last - first).days + 1
    return first - timedelta(days=length), first - timedelta(days=1)
