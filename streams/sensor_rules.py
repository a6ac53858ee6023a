"""Sensor judgement, as pure functions and a small state machine: averaging, limits, sustained rules.

- Noise is averaged as energy: LAeq = 10·log10(mean(10^(L/10))) — never the arithmetic mean of dB.
- Limits: construction noise (GB 12523-2011) 70 dB(A) by day, 55 at night (22:00–06:00); roads and
  other sites by their GB 3096-2008 acoustic class; PM10 against a site limit (default 80 µg/m³ over
  15 minutes, ``CITYOPS_PM10_LIMIT``); PM2.5 against 75 µg/m³ (GB 3095 grade 2, 24 h); smoke alarm = 1.
- A rule fires only when the exceedance is sustained for ``sustain_s`` and clears only after the value
  has stayed below ``limit − hysteresis`` for ``clear_s`` (no flapping around the limit).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time

from cityops.settings import env_number

NIGHT_START, NIGHT_END = time(22, 0), time(6, 0)

# GB 3096-2008 ambient noise limits by acoustic zone class: (day, night) dB(A).
GB3096_LIMITS: dict[str, tuple[float, float]] = {
    "0": (50.0, 40.0), "1": (55.0, 45.0), "2": (60.0, 50.0), "3": (65.0, 55.0), "4a": (70.0, 55.0), "4b": (70.0, 60.0),
}
CONSTRUCTION_LIMITS = (70.0, 55.0)  # GB 12523-2011
PM25_LIMIT = 75.0


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


def is_night(t: time) -> bool:
    return t >= NIGHT_START or t < NIGHT_END


def pm10_limit() -> float:
    return env_number("CITYOPS_PM10_LIMIT", 80)


def limit_for(kind: str, metric: str, site_kind: str, zone_class: str, local: datetime) -> float | None:
    """The applicable limit at local time ``local``; None when the metric has no limit."""
    night = is_night(local.time())
    if kind == "noise" and metric == "laeq":
        day_limit, night_limit = CONSTRUCTION_LIMITS if site_kind == "construction" else \
            GB3096_LIMITS.get(zone_class, GB3096_LIMITS["2"])
        return night_limit if night else day_limit
    if kind == "dust":
        return pm10_limit() if metric == "pm10" else PM25_LIMIT
    if kind == "smoke":
        return 0.5  # 1 = alarm
    return None


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
         hysteresis: float) -> RuleChange | None:
    """Advance the rule by one reading at epoch ``t``; mutate ``state``; return a change, if any."""
    above = value > limit
    below = value < limit - hysteresis
    if state.phase == NORMAL:
        if above:
            state.phase, state.since, state.peak = PENDING, t, value
            if sustain_s <= 0:
                return _fire(state, t, value)
        return None
    if state.phase == PENDING:
        if not above:
            state.phase, state.since = NORMAL, t
            return None
        state.peak = max(state.peak, value)
        if t - state.since >= sustain_s:
            return _fire(state, t, value)
        return None
    if state.phase == ACTIVE:
        state.peak = max(state.peak, value)
        if below:
            state.phase, state.since = CLEARING, t
            if clear_s <= 0:
                return _clear(state, t, value)
        return None
    # CLEARING
    if not below:
        state.phase = ACTIVE
        state.peak = max(state.peak, value)
        return None
    if t - state.since >= clear_s:
        return _clear(state, t, value)
    return None


def _fire(state: RuleState, t: float, value: float) -> RuleChange:
    state.phase, state.episode = ACTIVE, state.episode + 1
    return RuleChange("fired", t, value, state.episode)


def _clear(state: RuleState, t: float, value: float) -> RuleChange:
    state.phase, state.since = NORMAL, t
    return RuleChange("cleared", t, value, state.episode)
