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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cityops.settings import env_text

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

        due = get("closed") + get("overdue_open")
        return cls(
            due=due,
            closure_rate=_rate(get("closed"), due),
            on_time_rate=_rate(get("closed_on_time"), due),
            handling_rate=_rate(get("handled"), get("dispatched")),
            rework_rate=_rate(get("reworked"), due),
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
    n = float(c.get("handled_n", 0))
    return None if n <= 0 else float(c.get("handling_s", 0)) / n / 3600.0


def rank(scores: Mapping[str, float]) -> list[tuple[int, str, float]]:
    """Competition ranking (1, 2, 2, 4) by score, best first; ties share a rank, then by id."""
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    out: list[tuple[int, str, float]] = []
    for i, (key, value) in enumerate(ordered):
        position = out[-1][0] if out and out[-1][2] == value else i + 1
        out.append((position, key, value))
    return out
