"""Performance metrics (绩效评价, GB/T 30428.4 and city rules): rates and scores of one scope over a period.

Shared by the readers (console, briefing, read API, snapshot), so every screen computes a rate the same way. The
definitions are docs/metrics.md's ("Case KPIs"): every rate counts **cases of the period's cohort** (registered in
it, as of its end: ``cityops/read/kpi_cohort.py`` reads them), never steps:

- 结案率 ``closure_rate`` = closed / due; 按期结案率 ``on_time_rate`` = on_time / due;
- 处置率 ``handling_rate`` = handled / due_handle; 按期处置率 ``on_time_handling_rate`` = handled_on_time / due_handle;
- 返工率 ``rework_rate`` = reworked / due; 自行处置率 = self_handled / reg; 延期率 = extended / reg.
- Weighted: only 结案率 and 按期结案率 (Xuzhou's 2×/3×/5×) unless ``CITYOPS_WEIGHTED_RATES`` names more.
- 综合指标值 ``score`` (0–100) = 100 × Σ wᵢ·rateᵢ (1 − 返工率 for rework); areas: ``CITYOPS_SCORE_WEIGHTS``
  (default closure 0.3, on_time 0.4, handling 0.2, rework 0.1); departments, ranked on their own stage:
  ``CITYOPS_DEPARTMENT_SCORE_WEIGHTS`` (default handling 0.3, on_time_handling 0.5, rework 0.2). A rate with no
  denominator counts as 1 (nothing was due, nothing was missed).

:class:`Metric` names the flow counters (steps per day and hour, the field names of ``co:kpi:d:…``), which stay
for the activity figures (受理数, cases per hour); :class:`Kpis` holds one scope's flow counters, its cohort
counts, the rates and the score.
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
    PARKED = "parked"  # 缓办/挂账 steps
    RESUMED = "resumed"
    RETURNED = "returned"  # 退回: cases a department gave back to the command centre
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
DEFAULT_DEPARTMENT_SCORE_WEIGHTS = {"handling": 0.3, "on_time_handling": 0.5, "rework": 0.2}
RATE_NAMES = ("closure", "on_time", "handling", "on_time_handling", "rework")
DEFAULT_WEIGHTED_RATES = frozenset({"closure", "on_time"})


def _weights_from(variable: str, defaults: Mapping[str, float]) -> dict[str, float]:
    raw = env_text(variable, "")
    if not raw:
        return dict(defaults)
    weights: dict[str, float] = {}
    for part in raw.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in RATE_NAMES:
            raise ValueError(f"{variable}: unknown rate {name!r} (use {', '.join(RATE_NAMES)})")
        try:
            weights[name] = float(value)
        except ValueError:
            raise ValueError(f"{variable}: weight of {name} {value!r} is not a number") from None
    if any(w < 0 for w in weights.values()) or abs(sum(weights.values()) - 1.0) > 1e-6:
        raise ValueError(f"{variable}: the weights must be at least 0 and sum to 1 (got {raw!r})")
    return weights


def score_weights() -> dict[str, float]:
    """Weights of the areas' composite score, from ``CITYOPS_SCORE_WEIGHTS`` or the defaults; they sum to 1."""
    return _weights_from("CITYOPS_SCORE_WEIGHTS", DEFAULT_SCORE_WEIGHTS)


def department_score_weights() -> dict[str, float]:
    """Weights of the departments' score (their own stage), ``CITYOPS_DEPARTMENT_SCORE_WEIGHTS`` or the defaults."""
    return _weights_from("CITYOPS_DEPARTMENT_SCORE_WEIGHTS", DEFAULT_DEPARTMENT_SCORE_WEIGHTS)


def weighted_rates() -> frozenset[str]:
    """The rates computed on category-weighted counts (``CITYOPS_WEIGHTED_RATES``, default closure,on_time)."""
    raw = env_text("CITYOPS_WEIGHTED_RATES", "")
    if not raw:
        return DEFAULT_WEIGHTED_RATES
    names = frozenset(n.strip() for n in raw.split(",") if n.strip())
    unknown = names - set(RATE_NAMES)
    if unknown:
        raise ValueError(f"CITYOPS_WEIGHTED_RATES: unknown rate {sorted(unknown)[0]!r} (use {', '.join(RATE_NAMES)})")
    return names


def _rate(num: float, den: float) -> float | None:
    return None if den <= 0 else min(1.0, max(0.0, num / den))


@dataclass(frozen=True)
class Rates:
    """The rates of one scope's cohort (docs/metrics.md); None where the denominator is 0."""

    due: float
    closure_rate: float | None
    on_time_rate: float | None
    handling_rate: float | None
    on_time_handling_rate: float | None
    rework_rate: float | None
    self_handling_rate: float | None = None
    extension_rate: float | None = None

    @classmethod
    def from_cases(cls, cases: Mapping[str, float], weighted: frozenset[str] = frozenset()) -> Rates:
        """The rates of cohort counts; a rate named in ``weighted`` uses the ``w_`` counts."""
        def get(name: str, rate: str = "") -> float:
            return float(cases.get((WEIGHTED_PREFIX if rate in weighted else "") + name, 0))

        return cls(
            due=get("due"),
            closure_rate=_rate(get("closed", "closure"), get("due", "closure")),
            on_time_rate=_rate(get("on_time", "on_time"), get("due", "on_time")),
            handling_rate=_rate(get("handled", "handling"), get("due_handle", "handling")),
            on_time_handling_rate=_rate(get("handled_on_time", "on_time_handling"),
                                        get("due_handle", "on_time_handling")),
            rework_rate=_rate(get("reworked", "rework"), get("due", "rework")),
            self_handling_rate=_rate(get("self_handled"), get("reg")),
            extension_rate=_rate(get("extended"), get("reg")),
        )

    def of(self, name: str) -> float | None:
        """The rate of a weight's name (``closure`` → ``closure_rate``)."""
        return getattr(self, f"{name}_rate")


def score(rates: Rates, weights: Mapping[str, float] | None = None) -> float:
    """综合指标值 on a 100-point scale (see the module docstring)."""
    w = weights or score_weights()
    total = 0.0
    for name, weight in w.items():
        value = rates.of(name)
        if value is None:  # nothing was due: nothing was missed
            total += weight
        else:
            total += weight * ((1.0 - value) if name == "rework" else value)
    return round(100.0 * total, 2)


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
    """One scope's figures over a period: the flow counters (overdue gauge included), the cohort's case counts,
    the rates plain and as weighted (``weighted``: the rates of ``CITYOPS_WEIGHTED_RATES`` on weighted counts, the
    others plain), the mean handling time and the 综合指标值."""

    counters: Counters
    cases: Counters
    rates: Rates
    weighted: Rates
    mean_handling_hours: float | None
    score: float

    @classmethod
    def of(cls, counters: Counters, cases: Mapping[str, float] | None = None,
           weights: Mapping[str, float] | None = None, department: bool = False) -> Kpis:
        """``department``: scored on the department's own stage (``department_score_weights``)."""
        case_counts = cases if isinstance(cases, Counters) else Counters(dict(cases or {}))
        weighted = Rates.from_cases(case_counts, weighted_rates())
        if weights is None:
            weights = department_score_weights() if department else score_weights()
        return cls(counters, case_counts, Rates.from_cases(case_counts), weighted, mean_handling_hours(counters),
                   score(weighted, weights))

    @property
    def counts(self) -> dict[str, int]:
        """The cohort's case counts as integers (absent ones left out)."""
        return {k: int(v) for k, v in self.cases.items()}

    @property
    def overdue(self) -> OverdueGauge:
        """The overdue gauge these figures were computed with (the open cases past their deadline now)."""
        c = self.counters
        return OverdueGauge(int(c.of(Metric.OVERDUE_OPEN)), float(c.of(Metric.OVERDUE_OPEN.weighted)))

    def as_dict(self) -> dict[str, object]:
        """The figures as JSON-ready data (``cityops snapshot --json``, the read API)."""
        rates = {f"{name}_rate": self.rates.of(name) for name in RATE_NAMES}
        return {"counters": dict(self.counters), "cases": self.counts, **rates,
                "self_handling_rate": self.rates.self_handling_rate, "extension_rate": self.rates.extension_rate,
                "weighted_closure_rate": self.weighted.closure_rate,
                "weighted_on_time_rate": self.weighted.on_time_rate,
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
