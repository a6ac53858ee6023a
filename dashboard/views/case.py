"""View models of the case page: the case's facts and its timeline, as tables (text stays text)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from cityops.catalogue import Catalogue
from cityops.city import CityModel
from dashboard.i18n import CASE_STATE, label, t
from dashboard.views.common import local_time


def timeline_rows(timeline: Iterable[Mapping], tz, lang: str = "zh") -> pd.DataFrame:  # noqa: ANN001
    from cityops.schemas import CASE_ACTION_ZH, CaseAction

    rows = []
    for step in timeline:
        action = str(step.get("action", ""))
        try:
            name = CASE_ACTION_ZH[CaseAction(action)] if lang == "zh" else action
        except ValueError:
            name = action
        rows.append({t("time", lang): local_time(step.get("event_time"), tz, "%Y-%m-%d %H:%M:%S"),
                     t("action", lang): name,
                     t("actor", lang): str(step.get("actor", "") or ""),
                     t("department", lang): str(step.get("department_id", "") or ""),
                     t("description", lang): str(step.get("description", "") or "")})
    return pd.DataFrame(rows, columns=[t(k, lang) for k in ("time", "action", "actor", "department", "description")])


def case_fields(case: Mapping[str, str], city: CityModel, catalogue: Catalogue, lang: str = "zh") -> pd.DataFrame:
    """The case's facts as a two-column table (text stays text)."""
    category = case.get("category", "")
    facts = [
        ("state", label(CASE_STATE, case.get("state", ""), lang)),
        ("category", catalogue.get(category).name(lang) if category in catalogue else category),
        ("source", case.get("source", "")),
        ("district", city.area_name(case.get("district", ""), lang) if case.get("district") else ""),
        ("street", city.area_name(case.get("street", ""), lang) if case.get("street") else ""),
        ("grid", case.get("grid", "")),
        ("department", case.get("department", "")),
        ("deadline", case.get("deadline", "")),
        ("address", case.get("address", "")),
        ("description", case.get("description", "")),
    ]
    return pd.DataFrame([{t("detail", lang): t(k, lang), "": v} for k, v in facts])
