"""Sensor judgement, as pure functions and a small state machine: averaging, limits, sustained rules.

- Noise is averaged as energy: LAeq = 10·log10(mean(10^(L/10))) — never the arithmetic mean of dB.
- Limits come from each kind's spec (:mod:`cityops.sensor_kinds`, one TOML file per kind, with the
  standards they come from): by metric, site kind, zone class and day or night, as an upper limit, a
  lower limit or both (a band: gas pressure must stay between its two).
- A rule fires only when the value has been outside its band for ``sustain_s`` and clears only after it has
  stayed inside the band narrowed by the hysteresis (below ``high − hysteresis`` and above
  ``low + hysteresis``) for ``clear_s`` (no flapping around a limit).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cityops import sensor_kinds

INF = math.inf


def energy(level_db: float) -> float:
    return 10.0 ** (level_db / 10.0)


def laeq(levels: Iterable[float]) -> float:
    """Energy average of sound levels in dB(A)."""
    values = list(levels)
    if not values:
        raise ValueError("LAeq of no readings")
    return 10.0 * math.log10(sum(energy(v) for v in values) / len(values))


def laeq_from_energy(energy_sum: float, count: int) -> float:
    """LAeq from a stored energy sum (what the read model keeps per window, so windows add up)."""
    if count <= 0 or energy_sum <= 0:
        raise ValueError("LAeq of an empty window")
    return 10.0 * math.log10(energy_sum / count)


def band_for(kind: str, metric: str, site_kind: str, zone_class: str, local: datetime) -> tuple[float, float]:
    """(low, high) limits at local time ``local``: ``-inf`` / ``inf`` where the kind has no such bound."""
    specs = sensor_kinds.kinds()
    return specs[kind].band(metric, site_kind, zone_class, local) if kind in specs else (-INF, INF)


def limit_for(kind: str, metric: str, site_kind: str, zone_class: str, local: datetime) -> float | None:
    """The applicable upper limit at local time ``local``; None when the metric has none."""
    high = band_for(kind, metric, site_kind, zone_class, local)[1]
    return None if high == INF else high


NORMAL, PENDING, ACTIVE, CLEARING = "normal", "pending", "active", "clearing"


@dataclass
class RuleState:
    """One sensor's rule state, kept between readings (persisted as a small Redis hash)."""

    phase: str = NORMAL
    since: float = 0.0  # epoch seconds the current phase began
    episode: int = 0  # increments each time the rule fires; one case per episode
    peak: float = 0.0


@dataclass(frozen=True)
class RuleChange:
    """What a reading did to the rule: ``fired`` (became active) or ``cleared``."""

    kind: str
    at: float
    value: float
    episode: int


def step(state: RuleState, t: float, value: float, limit: float, sustain_s: float, clear_s: float,
         hysteresis: float, low: float = -INF) -> RuleChange | None:
    """Advance the rule by one reading at epoch ``t``; mutate ``state``; return a change, if any.

    ``limit`` is the upper limit and ``low`` the lower one (``-inf``: none). An episode's ``peak`` is its worst
    value: the highest when it began above the band, the lowest when it began below (``is_low``).
    """
    outside = value > limit or value < low
    inside = low + hysteresis < value < limit - hysteresis
    if state.phase == NORMAL:
        if outside:
            state.phase, state.since, state.peak = PENDING, t, value
            if sustain_s <= 0:
                return _fire(state, t, value)
        return None
    if state.phase == PENDING:
        if not outside:
            state.phase, state.since = NORMAL, t
            return None
        state.peak = _worse(state.peak, value, low)
        if t - state.since >= sustain_s:
            return _fire(state, t, value)
        return None
    if state.phase == ACTIVE:
        state.peak = _worse(state.peak, value, low)
        if inside:
            state.phase, state.since = CLEARING, t
            if clear_s <= 0:
                return _clear(state, t, value)
        return None
    # CLEARING
    if not inside:
        state.phase = ACTIVE
        state.peak = _worse(state.peak, value, low)
        return None
    if t - state.since >= clear_s:
        return _clear(state, t, value)
    return None


def is_low(state: RuleState, low: float) -> bool:
    """Whether the state's episode began below the lower limit (its peak is then a minimum)."""
    return state.peak < low


def _worse(peak: float, value: float, low: float) -> float:
    return min(peak, value) if peak < low else max(peak, value)


def _fire(state: RuleState, t: float, value: float) -> RuleChange:
    state.phase, state.episode = ACTIVE, state.episode + 1
    return RuleChange("fired", t, value, state.episode)


def _clear(state: RuleState, t: float, value: float) -> RuleChange:
    state.phase, state.since = NORMAL, t
    return RuleChange("cleared", t, value, state.episode)
