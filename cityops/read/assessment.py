"""A period's 考核 scores: the read model's cohort counts, 督办 counts and 督查发现 points run through the city's scheme
(:mod:`cityops.assessment`). The 考核 page, the monthly 通报 and ``cityops report`` read here."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from redis import Redis

from cityops.assessment import Scheme, UnitScore, assess, indicator_values
from cityops.read.kpi_cohort import cohort_counts_many
from cityops.read.supervision import escalation_counts, finding_points, received_counts


def unit_scores(r: Redis, scheme: Scheme, first_day: date, last_day: date, tz: ZoneInfo) -> dict[str, list[UnitScore]]:
    """Per unit kind the scheme assesses (``street``, ``department``), every unit's score over
    ``first_day``…``last_day``, ranked within its class."""
    out: dict[str, list[UnitScore]] = {}
    for kind, unit_scheme in scheme.units.items():
        ids = unit_scheme.units
        cases = cohort_counts_many(r, first_day, last_day, kind, ids, tz)
        supervised = received_counts(r, first_day, last_day, kind, ids, tz)
        findings = finding_points(r, first_day, last_day, kind, ids, tz)
        overdue = escalation_counts(r, first_day, last_day, ids, tz) if kind == "department" else {}
        values = {u: indicator_values(kind, cases[u], supervised[u], findings[u], overdue.get(u, 0)) for u in ids}
        out[kind] = assess(scheme, kind, values)
    return out
