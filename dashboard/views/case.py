"""View models of the case page: the case's facts and its timeline, as tables (text stays text)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from cityops.catalogue import Catalogue
from cityops.city import CityModel
from dashboard.i18n import CASE_STATE, label, t
from dashboard.views.common import local_time


def timeline_rows(timeline: Iterable[Mapping], tz, lang: str = "zh",  # noqa: ANN001
                  city: CityModel | None = None) -> pd.DataFrame:
    """The case's steps; with ``city`` a department (as the step's department or its actor) reads by its name, not
    its id."""
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
                     t("actor", lang): actor_name(city, str(step.get("actor", "") or ""), lang),
                     t("department", lang): department_name(city, str(step.get("department_id", "") or ""), lang),
                     t("description", lang): str(step.get("description", "") or "")})
    return pd.DataFrame(rows, columns=[t(k, lang) for k in ("time", "action", "actor", "department", "description")])


def case_fields(case: Mapping[str, str], city: CityModel, catalogue: Catalogue, lang: str = "zh") -> pd.DataFrame:
    """The case's facts as a two-column table (text stays text)."""
    category = case.get("category", "")
    facts = [
        ("state", label(CASE_STATE, case.get("state", ""), lang)),
        ("category", catalogue.get(category).name(lang) if category in catalogue else category),
        ("source", source_name(case.get("source", ""), lang)),
        ("district", city.area_name(case.get("district", ""), lang) if case.get("district") else ""),
        ("street", city.area_name(case.get("street", ""), lang) if case.get("street") else ""),
        ("grid", case.get("grid", "")),
        ("department", department_name(city, case.get("department", ""), lang)),
        ("deadline", case.get("deadline", "")),
        ("address", case.get("address", "")),
        ("description", case.get("description", "")),
    ]
    return pd.DataFrame([{t("detail", lang): t(k, lang), "": v} for k, v in facts])


def source_name(source: str, lang: str = "zh") -> str:
    """A case source code (``hotline_12345``) by its Chinese name; English mode and unknown codes show the code."""
    from cityops.schemas import CASE_SOURCE_ZH

    names = {k.value: v for k, v in CASE_SOURCE_ZH.items()}
    return names.get(source, source) if lang == "zh" else source


def department_name(city: CityModel | None, department: str, lang: str = "zh") -> str:
    """A department id by its name in ``lang``; unknown ids (or no city) show as themselves."""
    d = city.departments.get(department) if city is not None and department else None
    if d is None:
        return department
    return d.name_zh if lang == "zh" else d.name_en


def actor_name(city: CityModel | None, actor: str, lang: str = "zh") -> str:
    """Who took a step, readable: a department acting (停办, 延期, 处置) by its name, a channel reporting on its
    own (``iot_sensor``, ``hotline_12345``) by the channel's name; a person's name or user id as it is."""
    if city is not None and actor in city.departments:
        return department_name(city, actor, lang)
    return source_name(actor, lang)
