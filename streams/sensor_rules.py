"""Sensor judgement, as pure functions and a small state machine: averaging, limits, sustained rules.

- Noise is averaged as energy: LAeq = 10·log10(mean(10^(L/10))) — never the arithmetic mean of dB.
- Limits come from each kind's spec (:mod:`cityops.sensor_kinds`, one TOML file per kind, with the
  standards they come from): by metric, site kind, zone class and day or night, as an upper limit, a
  lower limit or both (a band: gas pressure must stay between its two).
- A kind judged on a window (noise, dust) judges the rolling mean of its last ``window_min`` minutes
  (:class:`Rolling`: per-minute count and sum, so exact at one-minute resolution and small), never one
  reading: one quiet reading cannot bring a 20-minute LAeq under its limit, and a 5-minute spike is not a
  15-minute mean. See docs/metrics.md "Sensor rules".
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


class Rolling:
    """A sensor's rolling window: per epoch minute, the count and the sum of its readings' amounts (noise: the
    energy 10^(L/10), anything else the value), for the minutes of the last window only.

    Why per minute: a reading folds into its minute's bucket (late ones too, while their minute is still in
    the window), the window's mean is exact at one-minute resolution, and the state stays at most one bucket
    per minute of the window (60 for an hour), kept as one text field of the sensor's hash. Each minute
    counts for its duration (the mean of the minutes' means), so a minute of six readings weighs no more than a
    minute of one. A bucket's sum is a left fold in reading order, as the windows' are, and the minutes' means
    are added exactly rounded (``math.fsum``): the same bits however readings were batched.

    ``hi`` and ``lo`` bound every minute's mean in the window (they may be looser, never tighter): while both
    are within the band the window's mean is too, and the projection's hot path skips working it out.
    """

    __slots__ = ("buckets", "ordered", "hi", "lo")

    def __init__(self, buckets: dict[int, list] | None = None) -> None:
        self.buckets: dict[int, list] = {}  # minute → [count, sum, mean, its text as stored or None]
        self.ordered = True  # the buckets are in time order (a late reading's new minute can break it)
        self.hi, self.lo = -INF, INF
        for minute, (n, s, *_) in sorted((buckets or {}).items()):
            self.buckets[minute] = [n, s, s / n, None]
            self.hi, self.lo = max(self.hi, s / n), min(self.lo, s / n)

    def add(self, minute: int, amount: float, newest: int, width: int) -> None:
        """Fold one reading of epoch minute ``minute`` into the window ending at minute ``newest``."""
        if minute <= newest - width:
            return  # older than the window: it counts in the stored windows, not in the rule
        buckets = self.buckets
        bucket = buckets.get(minute)
        if bucket is None:
            if buckets and minute < next(reversed(buckets)):
                self.ordered = False
            buckets[minute] = [1, amount, amount, None]
            mean = amount
        else:
            bucket[0] += 1
            bucket[1] += amount
            mean = bucket[2] = bucket[1] / bucket[0]
            bucket[3] = None
        if mean > self.hi:
            self.hi = mean
        if mean < self.lo:
            self.lo = mean

    def trim(self, newest: int, width: int) -> None:
        """Forget the minutes that left the window ending at minute ``newest`` (they never come back: the
        newest minute only moves on), and put the rest back in time order."""
        if not self.ordered:
            self.buckets = dict(sorted(self.buckets.items()))
            self.ordered = True
        buckets, edge = self.buckets, newest - width
        while buckets:
            first = next(iter(buckets))
            if first > edge:
                break
            del buckets[first]

    def level(self, newest: int, width: int, start: int, need: float, span: float,
              energy_mean: bool) -> tuple[float, bool] | None:
        """The window's mean as the rule judges it, and whether the window is complete; None: no data.

        The window is the minutes ``newest − width < m ≤ newest`` from ``start`` on (a period's first minute). It
        is complete when its minutes with data, each standing for ``span`` minutes (a sensor reporting less
        often than once a minute), make up at least ``need`` minutes; then the value is the mean of its
        minutes. An incomplete window gives a lower bound of the full window's mean instead (the minutes
        without data taken as zero, which a level or a concentration cannot be below): over an upper limit,
        the full window is surely over it. ``energy_mean``: sums are energies and the value is in dB (LAeq).
        ``newest`` must be the newest minute the window has seen.
        """
        self.trim(newest, width)
        buckets = self.buckets
        if not buckets:
            return None
        if next(iter(buckets)) >= start:  # the common case: every bucket is in the window
            means = [b[2] for b in buckets.values()]
        else:
            means = [b[2] for m, b in buckets.items() if m >= start]
        covered = len(means)
        if covered == 0:
            return None
        self.hi, self.lo = max(means), min(means)  # tight again: the minutes before start never come back
        total = math.fsum(means)
        complete = covered * span >= need
        mean = total / covered if complete else total * span / width
        if energy_mean:
            return (10.0 * math.log10(mean) if mean > 0 else -INF), complete
        return mean, complete

    def to_text(self) -> str:
        """As stored in the sensor's hash (``roll``): "minute:count:sum" per bucket, ";"-separated, in time order."""
        if not self.ordered:
            self.buckets = dict(sorted(self.buckets.items()))
            self.ordered = True
        parts = []
        for m, b in self.buckets.items():  # a bucket's text is made once, until it changes
            if b[3] is None:
                b[3] = f"{m}:{b[0]}:{b[1]!r}"
            parts.append(b[3])
        return ";".join(parts)

    @classmethod
    def from_text(cls, text: str) -> Rolling:
        """From :meth:`to_text`'s form; ValueError naming the part that does not parse."""
        buckets: dict[int, list] = {}
        for part in filter(None, text.split(";")):
            try:
                m, n, s = part.split(":")
                count = int(n)
                if count <= 0:
                    raise ValueError(part)
                buckets[int(m)] = [count, float(s)]
            except ValueError as exc:
                raise ValueError(f"roll bucket {part!r} is not minute:count:sum") from exc
        return cls(buckets)


def shared_episode(rules: Iterable[RuleState]) -> int:
    """The last episode number any of a sensor's rules used: a rule that fires next takes the number after it,
    so the LAeq rule's and the night-maximum rule's episodes (alert and case ids) never collide."""
    return max((r.episode for r in rules), default=0)
