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
A limit may also say which ``case_category`` its episodes open (a road-side zone's 交通噪声, not the kind's
施工噪声) and over how many minutes its rolling window runs (``window_min``).

Judgement (``judged``): ``reading`` judges each reading; ``window`` judges the rolling mean of the last
``window_min`` minutes (per-minute buckets, so exact at one-minute resolution: see
:mod:`streams.sensor_rules`), where ``window_setting`` names an environment variable that replaces the
length, ``min_coverage`` is the share of the window that must hold data before its mean counts, and
``window_in_period`` keeps the window inside the current day or night period. ``[night_max]`` is a rule of
its own on the night maximum (GB 12523-2011 表1 注1, GB 3096-2008 5.4): a reading above the night limit of
``limit_metric`` plus ``above_night_limit``. See docs/metrics.md "Sensor rules".
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from cityops.settings import env_number

SPEC_DIR = Path(__file__).resolve().parent
INF = math.inf

Aggregation = Literal["energy", "mean", "max"]
Judged = Literal["reading", "window"]
MAX_WINDOW_MIN = 60  # the longest rolling window: its per-minute buckets are kept in the sensor's hash
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
    case_category: str | None = None  # None: the kind's
    window_min: int | None = None  # None: the kind's

    def matches(self, metric: str, site_kind: str, zone_class: str) -> bool:
        return ((self.metric is None or self.metric == metric)
                and (self.site_kind is None or self.site_kind == site_kind)
                and (self.zone_class is None or self.zone_class == zone_class))


@dataclass(frozen=True, slots=True)
class NightMax:
    """The night-maximum rule: a reading above the night limit of ``limit_metric`` plus ``above_night_limit``.

    Why its own rule: GB 12523-2011 (表1 注1) and GB 3096-2008 (5.4) bound the night maximum separately from
    the LAeq, so one loud event at night is a violation even when the 20-minute LAeq is within its limit.
    """

    above_night_limit: float
    limit_metric: str
    sustain_s: float
    clear_s: float
    metric_label: str = "lamax"


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
    judged: Judged  # what the rule judges: each reading, or the rolling mean of the last window_min minutes
    night: tuple[time, time]
    limits: tuple[Limit, ...]
    hysteresis: float
    sustain_s: float | None  # None: CITYOPS_RULE_SUSTAIN_S
    clear_s: float | None  # None: CITYOPS_RULE_CLEAR_S
    case_category: str
    severity: Severity
    urgent: bool
    simulator: SimProfile | None = None
    window_min: int = 0  # judged = "window": the rolling window's length in minutes (a limit may say its own)
    window_setting: str | None = None  # an environment variable that, when set, replaces every window length
    min_coverage: float = 0.75  # share of the window that must hold data before its mean is judged
    window_in_period: bool = False  # the window starts no earlier than the current day or night period
    night_max: NightMax | None = None

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

    def rule(self, metric: str, site_kind: str, zone_class: str) -> Limit | None:
        """The first limit that applies to a sensor of this metric, site kind and zone class (None: none)."""
        return next((r for r in self.limits if r.matches(metric, site_kind, zone_class)), None)

    def band(self, metric: str, site_kind: str, zone_class: str, local: datetime) -> tuple[float, float]:
        """(low, high) limits at local time ``local``: ``-inf``/``inf`` where there is no such bound."""
        return self.band_of(self.rule(metric, site_kind, zone_class), local)

    def band_of(self, rule: Limit | None, local: datetime) -> tuple[float, float]:
        """(low, high) of one limit rule at local time ``local`` (``rule`` None: no bounds)."""
        if rule is None:
            return -INF, INF
        k = 1 if self.is_night(local.time()) else 0
        high = rule.above[k] if rule.above is not None else INF
        if rule.setting is not None and rule.above is not None:
            high = env_number(rule.setting, high)
        return (rule.below[k] if rule.below is not None else -INF), high

    def category_of(self, rule: Limit | None) -> str:
        """The case category an episode under ``rule`` opens: the limit's own, else the kind's."""
        return rule.case_category if rule is not None and rule.case_category else self.case_category

    def window_of(self, rule: Limit | None) -> int:
        """Minutes of the rolling window under ``rule`` (0: the kind judges each reading); ``window_setting``,
        when set, replaces it (a city's rule: 15 minutes or an hour) and must be 1..MAX_WINDOW_MIN."""
        if self.judged != "window":
            return 0
        minutes = rule.window_min if rule is not None and rule.window_min else self.window_min
        if self.window_setting is not None:
            minutes = env_number(self.window_setting, minutes)
            if minutes != int(minutes) or not 1 <= minutes <= MAX_WINDOW_MIN:
                raise ValueError(f"{self.window_setting} must be a whole number of minutes in 1..{MAX_WINDOW_MIN}, "
                                 f"not {minutes:g}")
        return int(minutes)

    def night_max_limit(self, site_kind: str, zone_class: str, local: datetime) -> float:
        """The night-maximum rule's limit at ``local``: the night limit plus its margin; ``inf`` by day or
        where the kind has no such rule."""
        nm = self.night_max
        if nm is None or not self.is_night(local.time()):
            return INF
        high = self.band(nm.limit_metric, site_kind, zone_class, local)[1]
        return high + nm.above_night_limit if high != INF else INF

    def period_start(self, local: datetime) -> datetime:
        """When the day or night period that ``local`` falls in began (local time): a window kept inside its
        period (``window_in_period``) starts no earlier."""
        day = local.date()
        candidates = [datetime.combine(d, t, tzinfo=local.tzinfo) for d in (day, day - timedelta(days=1))
                      for t in self.night]
        return max(c for c in candidates if c <= local)

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


def _minutes(value: Any, where: str) -> int:  # noqa: ANN401 - TOML value
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_WINDOW_MIN:
        raise SpecError(f"{where}: expected whole minutes in 1..{MAX_WINDOW_MIN}, got {value!r}")
    return value


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
                             _pair(r["below"], f"{where} limits.below") if "below" in r else None, r.get("setting"),
                             r.get("case_category"), _minutes(r["window_min"], f"{where} limits.window_min")
                             if "window_min" in r else None)
                       for r in data.get("limits", ()))
        night_max = data.get("night_max")
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
            simulator=_simulator(data["simulator"], f"{where} simulator") if "simulator" in data else None,
            window_min=_minutes(data["window_min"], f"{where} window_min") if "window_min" in data else 0,
            window_setting=data.get("window_setting"), min_coverage=float(data.get("min_coverage", 0.75)),
            window_in_period=bool(data.get("window_in_period", False)),
            night_max=None if night_max is None else NightMax(
                float(night_max["above_night_limit"]), str(night_max["limit_metric"]),
                float(night_max.get("sustain_s", 0)), float(night_max.get("clear_s", 300)),
                str(night_max.get("metric_label", "lamax"))))
    except (KeyError, TypeError, AttributeError) as exc:
        raise SpecError(f"{where}: missing or malformed {exc}") from exc
    _check(spec, where)
    return spec


def _check(spec: KindSpec, where: str) -> None:
    if spec.default_metric not in spec.metrics:
        raise SpecError(f"{where}: default_metric {spec.default_metric!r} is not one of its metrics")
    if spec.aggregation not in ("energy", "mean", "max"):
        raise SpecError(f"{where}: aggregation must be energy, mean or max, not {spec.aggregation!r}")
    if spec.judged not in ("reading", "window"):
        raise SpecError(f"{where}: judged must be reading or window, not {spec.judged!r}")
    if spec.judged == "window" and not spec.window_min:
        raise SpecError(f"{where}: judged = \"window\" needs window_min")
    if not 0.0 < spec.min_coverage <= 1.0:
        raise SpecError(f"{where}: min_coverage must be in (0, 1], not {spec.min_coverage!r}")
    if spec.night_max is not None and spec.night_max.limit_metric not in spec.metrics:
        raise SpecError(f"{where}: night_max.limit_metric {spec.night_max.limit_metric!r} is not one of its metrics")
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
