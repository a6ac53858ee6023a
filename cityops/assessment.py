"""考核: a city's assessment scheme (``assessment.yml`` of the city data folder) and the scores it gives. Pure.

The bureaus assess streets in classes A–E and departments in three classes, each unit ranked within its class
only (a central street is not ranked against a rural one): a base score, plus or minus points per indicator of the
period, no floor and no cap (上不封顶、下不封底), and the last ``interview_last`` of each class summoned (约谈).

Indicators, per unit and period, from the period's cohort (the cases registered in it, as of its end) and the
督办 the unit received in it (docs/assessment.md has the table):

| key | street | department | points |
|---|---|---|---|
| ``overdue`` 超期 | due − closed on time | due for handling − handled on time | ``points`` each |
| ``rework`` 返工 | cases sent back | cases sent back | ``points`` each |
| ``supervised`` 督办 | 督办 received | 督办 received | ``points`` each |
| ``on_time_rate`` 按期率 | 按期结案率 | 按期处置率 | ``points`` per percentage point above (+) or below (−) |
| ``findings`` 督查 | 督查发现 points entered | 督查发现 points entered | × ``points`` (1: as entered) |
| ``supervision_overdue`` 督办逾期 | — (0) | 督办单 whose reply deadline passed unanswered | ``points`` each |

(A rate's points count from its ``target``; a unit with nothing due gets none for it.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cityops.metrics import rank

UNIT_KINDS = ("street", "department")
COUNT_INDICATORS = ("overdue", "rework", "supervised", "findings", "supervision_overdue")
RATE_INDICATORS = ("on_time_rate",)
INDICATORS = COUNT_INDICATORS + RATE_INDICATORS
FILE = "assessment.yml"


class SchemeError(ValueError):
    """``assessment.yml`` is wrong; the message names the file, the place and the fault."""


@dataclass(frozen=True)
class Indicator:
    key: str
    points: float  # per count, or per percentage point away from ``target``
    target: float | None = None  # rates only, 0..1


@dataclass(frozen=True)
class UnitScheme:
    """How one kind of unit (streets or departments) is assessed."""

    kind: str
    classes: Mapping[str, tuple[str, ...]]  # class name → unit ids, in the file's order
    indicators: tuple[Indicator, ...]

    def class_of(self, unit_id: str) -> str | None:
        return next((name for name, ids in self.classes.items() if unit_id in ids), None)

    @property
    def units(self) -> list[str]:
        return [u for ids in self.classes.values() for u in ids]


@dataclass(frozen=True)
class Scheme:
    base: float
    interview_last: int
    units: Mapping[str, UnitScheme]  # "street" / "department" → its scheme


def indicator_values(kind: str, cases: Mapping[str, float], supervised: float,
                     findings: float = 0.0, supervision_overdue: float = 0.0) -> dict[str, float | None]:
    """The indicators of one unit from its period cohort's counts (``reg``, ``due``, ``on_time`` …, as the read
    API's ``kpis.cases`` gives them), the 督办 it received, the points of the 督查发现 against it and (departments)
    its 督办单 escalated for want of a reply; a rate with nothing due is None."""
    def n(name: str) -> float:
        return float(cases.get(name, 0) or 0)

    due, on_time = (n("due"), n("on_time")) if kind == "street" else (n("due_handle"), n("handled_on_time"))
    return {"overdue": max(0.0, due - on_time), "rework": n("reworked"), "supervised": float(supervised),
            "findings": float(findings), "supervision_overdue": float(supervision_overdue),
            "on_time_rate": on_time / due if due else None}


@dataclass(frozen=True)
class Item:
    """One indicator's line of a unit's score: its value and the points it added (+) or deducted (−)."""

    key: str
    value: float | None
    points: float


@dataclass(frozen=True)
class UnitScore:
    kind: str
    unit_id: str
    klass: str
    score: float
    items: tuple[Item, ...]
    rank: int  # within its class, 1 = best; ties share a rank
    class_size: int
    interview: bool  # 约谈: among the last ``interview_last`` of its class (ties with the first of them too)

    def item(self, key: str) -> Item | None:
        return next((i for i in self.items if i.key == key), None)


def points_of(indicator: Indicator, value: float | None) -> float:
    if value is None:
        return 0.0
    if indicator.target is None:
        return indicator.points * value
    return indicator.points * (value - indicator.target) * 100.0


def assess(scheme: Scheme, kind: str, values: Mapping[str, Mapping[str, float | None]]) -> list[UnitScore]:
    """Scores of every unit of ``kind`` in the scheme (``values``: unit id → :func:`indicator_values`; a unit with
    no figures scores the base), ranked within its class, classes in the file's order, best first."""
    unit_scheme = scheme.units[kind]
    out: list[UnitScore] = []
    for klass, ids in unit_scheme.classes.items():
        scored: dict[str, tuple[float, tuple[Item, ...]]] = {}
        for unit in ids:
            figures = values.get(unit, {})
            items = tuple(Item(i.key, figures.get(i.key), round(points_of(i, figures.get(i.key)), 4))
                          for i in unit_scheme.indicators)
            scored[unit] = (round(scheme.base + sum(i.points for i in items), 2), items)
        ranking = rank({u: s for u, (s, _) in scored.items()})
        # 约谈: the last ``interview_last`` places, and whoever ties with the first of them (a tie is no excuse);
        # nobody when that tie reaches the top of the class (a class all on one score has no bottom)
        last = len(ranking) - min(scheme.interview_last, len(ranking))
        cut = ranking[last][0] if scheme.interview_last and ranking else None
        cut = cut if cut is not None and cut > 1 else None
        for r, unit, score in ranking:
            out.append(UnitScore(kind, unit, klass, score, scored[unit][1], r, len(ids),
                                 interview=cut is not None and r >= cut))
    return out


# ----------------------------------------------------------------------------------------- the file


def load_scheme(path: Path, *, streets: set[str], departments: set[str]) -> Scheme | None:
    """``assessment.yml``, every unit checked against the city; None when the city has no such file."""
    import yaml

    if not path.is_file():
        return None
    where = path.name
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SchemeError(f"{where}: not valid YAML: {err}") from None
    doc = _mapping(doc, where, {"base", "interview_last", "street", "department"})
    base = _number(doc.get("base", 100), f"{where}: base")
    interview = doc.get("interview_last", 0)
    if not isinstance(interview, int) or isinstance(interview, bool) or interview < 0:
        raise SchemeError(f"{where}: interview_last must be a whole number ≥ 0, not {interview!r}")
    known = {"street": streets, "department": departments}
    units = {kind: _unit_scheme(doc[kind], kind, known[kind], f"{where}: {kind}") for kind in UNIT_KINDS
             if kind in doc}
    if not units:
        raise SchemeError(f"{where}: assesses nothing (give street: and/or department:)")
    return Scheme(base, interview, units)


def _unit_scheme(doc: Any, kind: str, known: set[str], where: str) -> UnitScheme:
    doc = _mapping(doc, where, {"classes", "indicators"})
    classes_doc = _mapping(doc.get("classes"), f"{where}.classes", None)
    if not classes_doc:
        raise SchemeError(f"{where}.classes: no class")
    classes: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for name, ids in classes_doc.items():
        here = f"{where}.classes.{name}"
        if not isinstance(ids, list) or not ids:
            raise SchemeError(f"{here}: must be a non-empty list of {kind} ids")
        for unit in map(str, ids):
            if unit not in known:
                raise SchemeError(f"{here}: {unit} is not a {kind} of the city data")
            if unit in seen:
                raise SchemeError(f"{here}: {unit} is also in class {seen[unit]} (a unit has one class)")
            seen[unit] = str(name)
        classes[str(name)] = tuple(map(str, ids))
    indicators_doc = _mapping(doc.get("indicators"), f"{where}.indicators", set(INDICATORS))
    indicators = []
    for key, spec in indicators_doc.items():
        here = f"{where}.indicators.{key}"
        if key in RATE_INDICATORS:
            spec = _mapping(spec, here, {"target", "points"})
            target = _number(spec.get("target"), f"{here}.target")
            if not 0 <= target <= 1:
                raise SchemeError(f"{here}.target: a rate between 0 and 1, not {target}")
            indicators.append(Indicator(key, _number(spec.get("points"), f"{here}.points"), target))
        else:
            indicators.append(Indicator(key, _number(spec, here)))
    return UnitScheme(kind, classes, tuple(indicators))


def _mapping(doc: Any, where: str, allowed: set[str] | None) -> dict:
    if not isinstance(doc, dict):
        raise SchemeError(f"{where}: must be a mapping")
    unknown = sorted(map(str, set(doc) - allowed)) if allowed is not None else []
    if unknown:
        raise SchemeError(f"{where}: unknown {', '.join(unknown)} (use {', '.join(sorted(allowed or ()))})")
    return doc


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemeError(f"{where}: must be a number, not {value!r}")
    return float(value)


def interview_list(scores: Sequence[UnitScore]) -> list[UnitScore]:
    """The units summoned (约谈), class by class, worst last."""
    return [s for s in scores if s.interview]
