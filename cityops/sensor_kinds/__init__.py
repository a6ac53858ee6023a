"""Sensor kinds as data: one TOML file per kind in this folder, read once into typed, frozen specs.

Why: what a kind *is* (its metrics, units and bounds, how its windows aggregate, its limits by zone class and
time of day, sustain and hysteresis, the case category and severity an episode opens, its labels and map
colour) is needed by the contract, the decoder, the projection, the rules, the simulator and the console;
every one of them reads it from :func:`kinds`, with no string names joining them, so adding a kind is adding a
file here (``docs/architecture.md`` "Adding a sensor kind"). Kinds are platform knowledge, not city data: a city's
own limits (a stricter site limit, a network's pressure class) are meant to override a spec's defaults from the
city's data folder, which the spec's limits already name by ``site_kind`` and ``zone_class``.

Limits: a kind's ``[[limits]]`` are tried in order and the first whose ``metric``, ``site_kind`` and
``zone_class`` (each optional) all match applies; ``above`` and ``below`` are a number or ``[day, night]``
(night is the spec's ``night`` window, local time). A reading is outside when it is above ``above`` or below
``below``; it is back inside once it is within both, less the hysteresis. ``setting`` names an environment
variable that, when set, replaces ``above`` (read when the limit is worked out, once per sensor and hour).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from cityops.settings import env_number

SPEC_DIR = Path(__file__).resolve().parent
INF = math.inf

Aggregation = Literal["energy", "mean", "max"]
Judged = Literal["reading", "quarter_mean"]
Severity = Literal["critical", "major", "minor"]


class SpecError(ValueError):
    """A kind's file breaks the spec format; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric of a kind: the units a reading may give it in and the values it may take."""

    name: str
    units: tuple[str, ...]
    lo: float
    hi: float
    label_zh: str
    label_en: str


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit rule: where it applies (None: anywhere) and its (day, night) bounds (None: no such bound)."""

    metric: str | None
    site_kind: str | None
    zone_class: str | None
    above: tuple[float, float] | None
    below: tuple[float, float] | None
    setting: str | None = None

    def matches(self, metric: str, site_kind: str, zone_class: str) -> bool:
        return ((self.metric is None or self.metric == metric)
                and (self.site_kind is None or self.site_kind == site_kind)
                and (self.zone_class is None or self.zone_class == zone_class))


@dataclass(frozen=True, slots=True)
class Episode:
    """A simulator episode: the share of a kind's sensors that have one a day, what it adds, how long."""

    rate: float
    delta: tuple[float, float]
    minutes: tuple[float, float]


@dataclass(frozen=True, slots=True)
class SimProfile:
    """How the simulator draws a kind's sensors and values (``[simulator]`` of the kind's file)."""

    count: int
    id_prefix: str
    site_kind: str
    zone_class: str
    name_zh: str
    metric: str
    unit: str
    base: float
    jitter: float
    daily: tuple[tuple[float, float, float], ...]  # (hour, width in hours, amplitude) bumps over the base
    episodes: tuple[Episode, ...]
    clip: tuple[float, float]
    decimals: int = 1


@dataclass(frozen=True, slots=True)
class KindSpec:
    """Everything the platform knows about one sensor kind."""

    kind: str
    order: int
    label_zh: str
    label_en: str
    alert_zh: str
    alert_en: str
    colour: tuple[int, int, int, int]
    metrics: Mapping[str, Metric]
    default_metric: str
    states: Mapping[float, str] | None  # a discrete kind's only values and their names (smoke: 0 normal, 1 alarm)
    aggregation: Aggregation  # how a window summarises: energy mean (dB), arithmetic mean, maximum
    judged: Judged  # what the rule judges: each reading, or the mean of the current 15-minute window
    night: tuple[time, time]
    limits: tuple[Limit, ...]
    hysteresis: float
    sustain_s: float | None  # None: CITYOPS_RULE_SUSTAIN_S
    clear_s: float | None  # None: CITYOPS_RULE_CLEAR_S
    case_category: str
    severity: Severity
    urgent: bool
    simulator: SimProfile | None = None

    @property
    def units(self) -> tuple[str, ...]:
        """Every unit any metric of the kind accepts, in file order (the contract's error names the first)."""
        return tuple(dict.fromkeys(u for m in self.metrics.values() for u in m.units))

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en

    def alert_label(self, lang: str) -> str:
        return self.alert_zh if lang == "zh" else self.alert_en

    def is_night(self, t: time) -> bool:
        start, end = self.night
        return t >= start or t < end if start > end else start <= t < end

    def band(self, metric: str, site_kind: str, zone_class: str, local: datetime) -> tuple[float, float]:
        """(low, high) limits at local time ``local``: ``-inf``/``inf`` where there is no such bound."""
        for rule in self.limits:
            if rule.matches(metric, site_kind, zone_class):
                k = 1 if self.is_night(local.time()) else 0
                high = rule.above[k] if rule.above is not None else INF
                if rule.setting is not None and rule.above is not None:
                    high = env_number(rule.setting, high)
                return (rule.below[k] if rule.below is not None else -INF), high
        return -INF, INF

    def timing(self) -> tuple[float, float, float]:
        """(sustain, clear, hysteresis) as the rule takes them; the settings are read now."""
        sustain = env_number("CITYOPS_RULE_SUSTAIN_S", 300) if self.sustain_s is None else self.sustain_s
        clear = env_number("CITYOPS_RULE_CLEAR_S", 300) if self.clear_s is None else self.clear_s
        return sustain, clear, self.hysteresis


# ------------------------------------------------------------------------------------------- loading


def _pair(value: Any, where: str) -> tuple[float, float]:  # noqa: ANN401 - TOML value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), float(value)
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return float(value[0]), float(value[1])
    raise SpecError(f"{where}: expected a number or [day, night], got {value!r}")


def _range(value: Any, where: str) -> tuple[float, float]:  # noqa: ANN401 - TOML value
    lo, hi = _pair(value, where)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise SpecError(f"{where}: expected finite [low, high] with low ≤ high, got {value!r}")
    return lo, hi


def _clock(text: str, where: str) -> tuple[time, time]:
    try:
        a, b = text.split("-")
        return time.fromisoformat(a.strip()), time.fromisoformat(b.strip())
    except ValueError as exc:
        raise SpecError(f"{where}: {text!r} is not 'HH:MM-HH:MM'") from exc


def _simulator(data: Mapping[str, Any], where: str) -> SimProfile:
    try:
        return SimProfile(
            count=int(data["count"]), id_prefix=str(data["id_prefix"]), site_kind=str(data["site_kind"]),
            zone_class=str(data.get("zone_class", "")), name_zh=str(data["name_zh"]), metric=str(data["metric"]),
            unit=str(data["unit"]), base=float(data["base"]), jitter=float(data["jitter"]),
            daily=tuple((float(h), float(w), float(a)) for h, w, a in data.get("daily", ())),
            episodes=tuple(Episode(float(e["rate"]), _range(e["delta"], f"{where} episodes.delta"),
                                   _range(e["minutes"], f"{where} episodes.minutes"))
                           for e in data.get("episodes", ())),
            clip=_range(data["clip"], f"{where} clip"), decimals=int(data.get("decimals", 1)))
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"{where}: {exc}") from exc


def parse_spec(data: Mapping[str, Any], where: str) -> KindSpec:
    """One kind from its file's parsed TOML; a clear :class:`SpecError` for anything missing or inconsistent."""
    try:
        kind = str(data["kind"])
        metrics = {name: Metric(name, tuple(str(u) for u in m["units"]), *_range(m["range"], f"{where} {name}.range"),
                                str(m.get("label", {}).get("zh", name)), str(m.get("label", {}).get("en", name)))
                   for name, m in data["metrics"].items()}
        default_metric = str(data["default_metric"])
        states = data.get("states")
        limits = tuple(Limit(r.get("metric"), r.get("site_kind"), r.get("zone_class"),
                             _pair(r["above"], f"{where} limits.above") if "above" in r else None,
                             _pair(r["below"], f"{where} limits.below") if "below" in r else None, r.get("setting"))
                       for r in data.get("limits", ()))
        spec = KindSpec(
            kind=kind, order=int(data["order"]), label_zh=str(data["label"]["zh"]), label_en=str(data["label"]["en"]),
            alert_zh=str(data["alert"]["zh"]), alert_en=str(data["alert"]["en"]),
            colour=tuple(int(c) for c in data["colour"]),  # type: ignore[arg-type]
            metrics=metrics, default_metric=default_metric,
            states=None if states is None else {float(k): str(v) for k, v in states.items()},
            aggregation=data["aggregation"], judged=data.get("judged", "reading"),
            night=_clock(str(data.get("night", "22:00-06:00")), f"{where} night"), limits=limits,
            hysteresis=float(data["hysteresis"]),
            sustain_s=None if "sustain_s" not in data else float(data["sustain_s"]),
            clear_s=None if "clear_s" not in data else float(data["clear_s"]),
            case_category=str(data["case_category"]), severity=data["severity"], urgent=bool(data.get("urgent", False)),
            simulator=_simulator(data["simulator"], f"{where} simulator") if "simulator" in data else None)
    except (KeyError, TypeError, AttributeError) as exc:
        raise SpecError(f"{where}: missing or malformed {exc}") from exc
    _check(spec, where)
    return spec


def _check(spec: KindSpec, where: str) -> None:
    if spec.default_metric not in spec.metrics:
        raise SpecError(f"{where}: default_metric {spec.default_metric!r} is not one of its metrics")
    if spec.aggregation not in ("energy", "mean", "max"):
        raise SpecError(f"{where}: aggregation must be energy, mean or max, not {spec.aggregation!r}")
    if spec.judged not in ("reading", "quarter_mean"):
        raise SpecError(f"{where}: judged must be reading or quarter_mean, not {spec.judged!r}")
    if spec.severity not in ("critical", "major", "minor"):
        raise SpecError(f"{where}: severity must be critical, major or minor, not {spec.severity!r}")
    if len(spec.colour) != 4 or not all(0 <= c <= 255 for c in spec.colour):
        raise SpecError(f"{where}: colour must be [r, g, b, a] in 0..255")
    if spec.hysteresis < 0:
        raise SpecError(f"{where}: hysteresis must not be negative")
    for rule in spec.limits:
        if rule.metric is not None and rule.metric not in spec.metrics:
            raise SpecError(f"{where}: a limit names metric {rule.metric!r}, which the kind does not have")
        if rule.above is None and rule.below is None:
            raise SpecError(f"{where}: a limit needs above, below or both")
        if rule.above is not None and rule.below is not None and any(
                lo + 2 * spec.hysteresis >= hi for lo, hi in zip(rule.below, rule.above, strict=True)):
            raise SpecError(f"{where}: below + 2 × hysteresis must stay under above, or a reading could never clear")
    sim = spec.simulator
    if sim is not None and (sim.metric not in spec.metrics or sim.unit not in spec.metrics[sim.metric].units):
        raise SpecError(f"{where}: the simulator's metric and unit must be one of the kind's")


def load_dir(folder: Path) -> dict[str, KindSpec]:
    """Every ``*.toml`` kind in ``folder``, by kind name, in their ``order``; kind names must be unique."""
    specs: dict[str, KindSpec] = {}
    for path in sorted(folder.glob("*.toml")):
        with path.open("rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as exc:
                raise SpecError(f"{path.name}: not valid TOML: {exc}") from exc
        spec = parse_spec(data, path.name)
        if spec.kind in specs:
            raise SpecError(f"{path.name}: kind {spec.kind!r} is defined twice")
        specs[spec.kind] = spec
    if not specs:
        raise SpecError(f"no sensor kinds in {folder}")
    return dict(sorted(specs.items(), key=lambda kv: (kv[1].order, kv[0])))


@lru_cache(maxsize=1)
def kinds() -> dict[str, KindSpec]:
    """The platform's sensor kinds, read once per process."""
    return load_dir(SPEC_DIR)


def spec(kind: str) -> KindSpec:
    """One kind's spec; KeyError for a kind the platform does not know."""
    return kinds()[kind]
