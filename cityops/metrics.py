"""Performance metrics (绩效评价, GB/T 30428.4 and city rules) computed from the read model's counters.

Shared by the stream processors (rankings) and the readers (console, briefing, snapshot), so every
screen computes a rate the same way.

Definitions (per area, department or category, over a period):

- 应结案数 ``due`` = cases that should be closed by now = ``closed + overdue_open``.
- 结案率 ``closure_rate`` = ``closed / due``.
- 按期结案率 ``on_time_rate`` = ``closed_on_time / due``.
- 处置率 ``handling_rate`` = ``handled / dispatched``.
- 返工率 ``rework_rate`` = ``reworked / due``.
- Weighted variants use the catalogue weights (Xuzhou counts 7 hard problems 2×, 3× or 5×): the
  counters prefixed ``w_`` hold weight-weighted counts and the same formulas apply to them.
- 综合指标值 ``score`` (0–100) = 100 × Σ wᵢ·mᵢ over the weighted rates, with ``1 − rework_rate``
  for rework, weights from ``CITYOPS_SCORE_WEIGHTS`` (default
  ``closure=0.3,on_time=0.4,handling=0.2,rework=0.1``). A rate with no denominator counts as 1
  (nothing was due, nothing was missed).

The names of the counters are :class:`Metric` (the field names of the KPI hashes, which the case
projection writes and the readers read); one scope's figures are :class:`Kpis` (counters, rates,
weighted rates, mean handling time and score), computed here once from its :class:`Counters`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from cityops.settings import env_text


class Metric(StrEnum):
    """A counter of the KPI hashes (``co:kpi:d:…``, ``co:kpi:h:…``): the value is the stored field name."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    REGISTERED = "registered"
    REJECTED = "rejected"
    DISPATCHED = "dispatched"
    HANDLED = "handled"
    VERIFIED = "verified"
    REWORKED = "reworked"
    EXTENDED = "extended"
    CLOSED = "closed"
    VOIDED = "voided"
    CLOSED_ON_TIME = "closed_on_time"  # closed, and handled before the handling deadline
    HANDLED_N = "handled_n"  # handled cases with a dispatch → handling time …
    HANDLING_S = "handling_s"  # … and the sum of those times, in seconds
    EXPIRED = "expired"  # stale open cases the stale-case timer expired
    CAPTURES = "captures"  # accepted AI captures (``captures:{ai_type}`` per kind)
    CAPTURES_SET_ASIDE = "captures_set_aside"
    OVERDUE_OPEN = "overdue_open"  # a gauge, not stored in the hashes: the size of the overdue set now

    @property
    def weighted(self) -> str:
        """The field of the weight-weighted count (``w_closed``)."""
        return WEIGHTED_PREFIX + self.value

    def per(self, kind: str) -> str:
        """The field of this counter for one kind (``captures:{ai_type}``); ``per("")`` is the fields' prefix."""
        return f"{self.value}:{kind}"


WEIGHTED_PREFIX = "w_"
# The counters the case projection also keeps weighted by the category's weight.
WEIGHTED = frozenset({Metric.RECEIVED, Metric.REGISTERED, Metric.DISPATCHED, Metric.HANDLED, Metric.REWORKED,
                      Metric.CLOSED, Metric.CLOSED_ON_TIME})

DEFAULT_SCORE_WEIGHTS = {"closure": 0.3, "on_time": 0.4, "handling": 0.2, "rework": 0.1}


def score_weights() -> dict[str, float]:
    """Weights of the composite score, from ``CITYOPS_SCORE_WEIGHTS`` or the defaults; they must sum to 1."""
    raw = env_text("CITYOPS_SCORE_WEIGHTS", "")
    if not raw:
        return dict(DEFAULT_SCORE_WEIGHTS)
    weights: dict[str, float] = {}
    for part in raw.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in DEFAULT_SCORE_WEIGHTS:
            raise ValueError(f"CITYOPS_SCORE_WEIGHTS: unknown metric {name!r} (use {', '.join(DEFAULT_SCORE_WEIGHTS)})")
        weights[name] = float(value)
    missing = set(DEFAULT_SCORE_WEIGHTS) - set(weights)
    if missing or abs(sum(weights.values()) - 1.0) > 1e-6:
        raise ValueError("CITYOPS_SCORE_WEIGHTS must give closure, on_time, handling and rework, summing to 1")
    return weights


def _rate(num: float, den: float) -> float | None:
    return None if den <= 0 else min(1.0, num / den)


@dataclass(frozen=True)
class Rates:
    due: float
    closure_rate: float | None
    on_time_rate: float | None
    handling_rate: float | None
    rework_rate: float | None

    @classmethod
    def from_counters(cls, c: Mapping[str, float], prefix: str = "") -> Rates:
        def get(name: str) -> float:
            return float(c.get(prefix + name, 0))

        due = get(Metric.CLOSED) + get(Metric.OVERDUE_OPEN)
        return cls(
            due=due,
            closure_rate=_rate(get(Metric.CLOSED), due),
            on_time_rate=_rate(get(Metric.CLOSED_ON_TIME), due),
            handling_rate=_rate(get(Metric.HANDLED), get(Metric.DISPATCHED)),
            rework_rate=_rate(get(Metric.REWORKED), due),
        )


def score(rates: Rates, weights: Mapping[str, float] | None = None) -> float:
    """综合指标值 on a 100-point scale (see the module docstring)."""
    w = weights or score_weights()
    parts = {
        "closure": 1.0 if rates.closure_rate is None else rates.closure_rate,
        "on_time": 1.0 if rates.on_time_rate is None else rates.on_time_rate,
        "handling": 1.0 if rates.handling_rate is None else rates.handling_rate,
        "rework": 1.0 if rates.rework_rate is None else 1.0 - rates.rework_rate,
    }
    return round(100.0 * sum(w[k] * parts[k] for k in parts), 2)


def mean_handling_hours(c: Mapping[str, float]) -> float | None:
    """平均处置时长: total handling seconds / handled cases, in hours."""
    n = float(c.get(Metric.HANDLED_N, 0))
    return None if n <= 0 else float(c.get(Metric.HANDLING_S, 0)) / n / 3600.0


def rank(scores: Mapping[str, float]) -> list[tuple[int, str, float]]:
    """Competition ranking (1, 2, 2, 4) by score, best first; ties share a rank, then by id."""
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    out: list[tuple[int, str, float]] = []
    for i, (key, value) in enumerate(ordered):
        position = out[-1][0] if out and out[-1][2] == value else i + 1
        out.append((position, key, value))
    return out


@dataclass(frozen=True)
class OverdueGauge:
    """Open cases past their deadline now in one scope: how many, and their summed category weights."""

    count: int = 0
    weight: float = 0.0


@dataclass(frozen=True, eq=False)  # equality is the Mapping's: equal to a dict of the same counters
class Counters(Mapping[str, float]):
    """One scope's counters over a period, by stored field name (:class:`Metric`, its ``w_`` variant, or
    ``captures:{ai_type}``), read-only; :meth:`of` is 0 for a counter nothing has incremented."""

    by_name: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", MappingProxyType({str(k): v for k, v in self.by_name.items()}))

    def __getitem__(self, name: str) -> float:
        return self.by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_name)

    def __len__(self) -> int:
        return len(self.by_name)

    def of(self, name: str) -> float:
        return self.by_name.get(name, 0)

    def with_gauge(self, gauge: OverdueGauge) -> Counters:
        """These counters with the overdue gauge as ``overdue_open`` / ``w_overdue_open``."""
        return Counters({**self.by_name, Metric.OVERDUE_OPEN.value: gauge.count,
                         Metric.OVERDUE_OPEN.weighted: gauge.weight})


@dataclass(frozen=True)
class Kpis:
    """One scope's figures over a period: the counters (overdue gauge included), the rates plain and
    weighted, the mean handling time and the 综合指标值."""

    counters: Counters
    rates: Rates
    weighted: Rates
    mean_handling_hours: float | None
    score: float

    @classmethod
    def of(cls, counters: Counters, weights: Mapping[str, float] | None = None) -> Kpis:
        weighted = Rates.from_counters(counters, prefix=WEIGHTED_PREFIX)
        return cls(counters, Rates.from_counters(counters), weighted, mean_handling_hours(counters),
                   score(weighted, weights))

    @property
    def overdue(self) -> OverdueGauge:
        """The overdue gauge these figures were computed with (the open cases past their deadline now)."""
        c = self.counters
        return OverdueGauge(int(c.of(Metric.OVERDUE_OPEN)), float(c.of(Metric.OVERDUE_OPEN.weighted)))

    def as_dict(self) -> dict[str, object]:
        """The figures as JSON-ready data (``cityops snapshot --json``)."""
        return {"counters": dict(self.counters),
                "closure_rate": self.rates.closure_rate, "on_time_rate": self.rates.on_time_rate,
                "handling_rate": self.rates.handling_rate, "rework_rate": self.rates.rework_rate,
                "weighted_closure_rate": self.weighted.closure_rate,
                "weighted_on_time_rate": self.weighted.on_time_rate,
                "weighted_rework_rate": self.weighted.rework_rate,
                "mean_handling_hours": self.mean_handling_hours, "score": self.score}


@dataclass(frozen=True)
class Ranked:
    """One scope's place in a ranking by 综合指标值 (ties share a rank)."""

    rank: int
    id: str
    kpis: Kpis

    def as_dict(self) -> dict[str, object]:
        figures = self.kpis.as_dict()
        return {"rank": self.rank, "id": self.id, "score": figures.pop("score"), **figures}


def ranked(table: Mapping[str, Kpis]) -> list[Ranked]:
    """The scopes of ``table`` ranked best score first (see :func:`rank`)."""
    return [Ranked(position, sid, table[sid]) for position, sid, _ in rank({s: k.score for s, k in table.items()})]
