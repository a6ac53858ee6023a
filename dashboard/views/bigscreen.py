"""View models of the big screen: the hourly chart, the ranking, the top categories, the capture cards."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from cityops.catalogue import Catalogue
from cityops.city import CityModel
from cityops.metrics import Ranked
from dashboard.i18n import t
from dashboard.views.common import local_time, pct


def hourly_frame(today: Sequence[int], yesterday: Sequence[int], now: datetime, lang: str = "zh") -> pd.DataFrame:
    """Cases per hour (24 counts a day): today (hours still to come left empty) against the whole of yesterday."""
    rows = []
    for h in range(24):
        rows.append({t("hour", lang): f"{h:02d}",
                     t("today", lang): float(today[h]) if h <= now.hour else math.nan,
                     t("yesterday", lang): float(yesterday[h])})
    return pd.DataFrame(rows).set_index(t("hour", lang))


def ranking_frame(ranking: Sequence[Ranked], city: CityModel, lang: str = "zh") -> pd.DataFrame:
    rows = [{t("rank", lang): r.rank,
             t("district", lang): city.area_name(r.id, lang),
             t("score", lang): round(r.kpis.score, 1),
             t("kpi_closure_rate", lang): pct(r.kpis.rates.closure_rate),
             t("kpi_on_time_rate", lang): pct(r.kpis.rates.on_time_rate)} for r in ranking]
    return pd.DataFrame(rows, columns=[t(k, lang) for k in ("rank", "district", "score", "kpi_closure_rate",
                                                            "kpi_on_time_rate")])


def top_categories(per_category: Mapping[str, int], catalogue: Catalogue, lang: str = "zh",
                   n: int = 8) -> pd.DataFrame:
    """The ``n`` categories with most cases (``per_category``: a count by category code), most first."""
    items = sorted(((count, code) for code, count in per_category.items() if count > 0),
                   key=lambda x: (-x[0], x[1]))[:n]
    rows = []
    for value, code in items:
        name = catalogue.get(code).name(lang) if code in catalogue else code
        rows.append({t("category", lang): name, t("count", lang): int(value)})
    return pd.DataFrame(rows, columns=[t("category", lang), t("count", lang)])


@dataclass(frozen=True)
class CaptureCard:
    camera: str
    kind: str
    at: str
    case_id: str
    evidence_ref: str
    box: tuple[float, float, float, float] | None
    frame: tuple[int, int] | None


def capture_cards(captures: Iterable[Mapping], catalogue: Catalogue, tz, lang: str = "zh",  # noqa: ANN001
                  n: int = 4) -> list[CaptureCard]:
    """The newest captures with what a thumbnail needs (box scaled from the frame size)."""
    out = []
    for cap in captures:
        ai_type = str(cap.get("ai_type", ""))
        try:
            kind = catalogue.by_ai_type(ai_type).name(lang)
        except (KeyError, ValueError):
            kind = ai_type
        at = local_time(cap.get("last_seen"), tz)
        box = cap.get("box")
        frame = (cap.get("frame_width"), cap.get("frame_height"))
        out.append(CaptureCard(str(cap.get("camera_name") or cap.get("camera_id", "")), kind, at,
                               str(cap.get("case_id", "")), str(cap.get("evidence_ref", "")),
                               tuple(box) if isinstance(box, list) and len(box) == 4 else None,
                               frame if all(isinstance(x, int) for x in frame) else None))
        if len(out) >= n:
            break
    return out
