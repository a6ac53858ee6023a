"""The notification routes of a city (``notify.yml`` in the city data folder): which alerts and reports go to which
chat group or mailbox. Read by ``python -m cityops notify`` (package ``notify``), checked on load with the city.

Why a file and not settings: a bureau changes who is told what (a new district group, the leaders' DingTalk) without
a release, and the same checks as every city file apply: a fault names the file, the route or channel and the field.
Secrets never live in the file: a channel names the environment variables that hold its webhook URL and signing
secret (or SMTP URL), read when a message is sent.

Format (``docs/city-data.md``)::

    channels:
      duty_wecom: {type: wecom, url_env: CITYOPS_NOTIFY_DUTY_WECOM_URL}
      leaders_dingtalk: {type: dingtalk, url_env: CITYOPS_NOTIFY_LEADERS_DINGTALK_URL,
                         secret_env: CITYOPS_NOTIFY_LEADERS_DINGTALK_SECRET}
      leaders_feishu: {type: feishu, url_env: ..., secret_env: ...}   # secret optional (signature check off)
      ops_webhook: {type: webhook, url_env: CITYOPS_NOTIFY_OPS_WEBHOOK_URL}
      duty_email: {type: email, url_env: CITYOPS_NOTIFY_SMTP_URL, from: cityops@example.gov.cn,
                   to: [duty@example.gov.cn]}
    flood: {window_s: 60, max_per_window: 5}    # per route: more than this in a window → one summary
    routes:
      - id: critical
        send: alerts                 # alerts | sla_due | briefing
        match: {severity: [critical], kind: [sla_overdue], district: ["350203"], department: [...], category: [...]}
        channels: [duty_wecom, duty_email]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cityops.alerts import AlertKind, Severity

FILE_NAME = "notify.yml"
CHANNEL_TYPES = ("wecom", "dingtalk", "feishu", "webhook", "email")
SENDS = ("alerts", "sla_due", "briefing")
MATCH_FIELDS = ("kind", "severity", "district", "department", "category")
SLA_DUE_KIND = "sla_due"  # the kind a route's match names for an SLA clock about to run out
KINDS = tuple(k.value for k in AlertKind if not k.clears and k is not AlertKind.COMMAND) + (SLA_DUE_KIND,)
_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")  # route and channel ids: no ':' (they start a message id)
_ENV = re.compile(r"[A-Z][A-Z0-9_]{0,99}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class RoutesError(ValueError):
    """The routes file is wrong; the message names the file, the route or channel and the field."""


@dataclass(frozen=True)
class Channel:
    id: str
    type: str
    url_env: str
    secret_env: str = ""
    sender: str = ""  # email: From
    to: tuple[str, ...] = ()  # email: recipients


@dataclass(frozen=True)
class Route:
    id: str
    send: str
    channels: tuple[str, ...]
    match: dict[str, frozenset[str]] = field(default_factory=dict)  # field → allowed values; absent: any
    lang: str = "zh"  # briefing: which language's PNG


@dataclass(frozen=True)
class Routes:
    channels: dict[str, Channel]
    routes: tuple[Route, ...]
    flood_window_s: float = 60.0
    flood_max: int = 5

    def of(self, send: str) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.send == send)


NO_ROUTES = Routes({}, ())


def _names(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str | int) for v in value):
        raise RoutesError(f"{where} must be a non-empty list of names, not {value!r}")
    return tuple(str(v) for v in value)


def _channel(cid: object, raw: object, where: str) -> Channel:
    if not isinstance(cid, str) or not _NAME.fullmatch(cid):
        raise RoutesError(f"{where}: channel id {cid!r} must be 1-40 letters, digits, _ or -")
    where = f"{where}: channel {cid}"
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: must be a mapping")
    unknown = sorted(set(map(str, raw)) - {"type", "url_env", "secret_env", "from", "to"})
    if unknown:
        raise RoutesError(f"{where}: unknown field(s) {', '.join(unknown)}")
    kind = raw.get("type")
    if kind not in CHANNEL_TYPES:
        raise RoutesError(f"{where}: type must be one of {', '.join(CHANNEL_TYPES)}, not {kind!r}")
    for name in ("url_env", "secret_env"):
        value = raw.get(name, "")
        if (name == "url_env" or value) and (not isinstance(value, str) or not _ENV.fullmatch(value)):
            raise RoutesError(f"{where}: {name} must name an environment variable (A-Z, 0-9, _), not {value!r}"
                              " - the URL or secret itself never goes in the file")
    if kind == "dingtalk" and not raw.get("secret_env"):
        raise RoutesError(f"{where}: secret_env is required (DingTalk robots are signed)")
    sender, to = "", ()
    if kind == "email":
        sender = raw.get("from")
        to = _names(raw.get("to"), f"{where}: to")
        if not isinstance(sender, str) or not _EMAIL.fullmatch(sender):
            raise RoutesError(f"{where}: from must be an email address, not {sender!r}")
        bad = [t for t in to if not _EMAIL.fullmatch(t)]
        if bad:
            raise RoutesError(f"{where}: to holds {bad[0]!r}, not an email address")
    elif "from" in raw or "to" in raw:
        raise RoutesError(f"{where}: from and to are for email channels only")
    return Channel(cid, kind, raw["url_env"], raw.get("secret_env", ""), sender, to)


def _route(n: int, raw: object, channels: dict[str, Channel], known: dict[str, set[str]], where: str) -> Route:
    where = f"{where}: routes[{n}]"
    if not isinstance(raw, dict):
        raise RoutesError(f"{where}: must be a mapping")
    rid = raw.get("id")
    if not isinstance(rid, str) or not _NAME.fullmatch(rid):
        raise RoutesError(f"{where}: id {rid!r} must be 1-40 letters, digits, _ or -")
    where = f"{where} ({rid})"
    unknown = sorted(set(map(str, raw)) - {"id", "send", "match", "channels", "lang"})
    if unknown:
        raise RoutesError(f"{where}: unknown field(s) {', '.join(unknown)}")
    send = raw.get("send")
    if send not in SENDS:
        raise RoutesError(f"{where}: send must be one of {', '.join(SENDS)}, not {send!r}")
    names = _names(raw.get("channels"), f"{where}: channels")
    missing = [c for c in names if c not in channels]
    if missing:
        raise RoutesError(f"{where}: channels names {missing[0]!r}, not a channel of the file")
    match_raw = raw.get("match") or {}
    if not isinstance(match_raw, dict):
        raise RoutesError(f"{where}: match must be a mapping of {', '.join(MATCH_FIELDS)}")
    if send == "briefing" and match_raw:
        raise RoutesError(f"{where}: a briefing route has no match (the briefing is the whole city's)")
    match: dict[str, frozenset[str]] = {}
    for key, values in match_raw.items():
        if key not in MATCH_FIELDS:
            raise RoutesError(f"{where}: match.{key} is not one of {', '.join(MATCH_FIELDS)}")
        allowed = _names(values, f"{where}: match.{key}")
        bad = [v for v in allowed if known.get(key) is not None and v not in known[key]]
        if bad:
            hint = ", ".join(sorted(known[key])[:12])
            raise RoutesError(f"{where}: match.{key} names {bad[0]!r}, unknown (known: {hint}…)")
        match[key] = frozenset(allowed)
    lang = raw.get("lang", "zh")
    if lang not in ("zh", "en"):
        raise RoutesError(f"{where}: lang must be zh or en, not {lang!r}")
    return Route(rid, send, names, match, lang)


def parse_routes(doc: object, where: str, *, districts: set[str] | None = None, departments: set[str] | None = None,
                 categories: set[str] | None = None) -> Routes:
    """The routes of a loaded YAML document, every name checked against the city when its sets are given."""
    if doc is None:
        return NO_ROUTES
    if not isinstance(doc, dict) or set(map(str, doc)) - {"channels", "routes", "flood"}:
        raise RoutesError(f"{where}: must be a mapping of channels, routes and flood")
    raw_channels = doc.get("channels") or {}
    if not isinstance(raw_channels, dict):
        raise RoutesError(f"{where}: channels must be a mapping of channel id → channel")
    channels = {str(cid): _channel(cid, raw, where) for cid, raw in raw_channels.items()}
    flood = doc.get("flood") or {}
    if not isinstance(flood, dict) or set(flood) - {"window_s", "max_per_window"}:
        raise RoutesError(f"{where}: flood must be a mapping of window_s and max_per_window")
    window, most = flood.get("window_s", 60), flood.get("max_per_window", 5)
    if isinstance(window, bool) or not isinstance(window, int | float) or not 1 <= window <= 86_400:
        raise RoutesError(f"{where}: flood.window_s must be a number of seconds in 1..86400, not {window!r}")
    if isinstance(most, bool) or not isinstance(most, int) or most < 1:
        raise RoutesError(f"{where}: flood.max_per_window must be a positive integer, not {most!r}")
    known = {"kind": set(KINDS), "severity": {s.value for s in Severity}, "district": districts,
             "department": departments, "category": categories}
    raw_routes = doc.get("routes") or []
    if not isinstance(raw_routes, list):
        raise RoutesError(f"{where}: routes must be a list")
    routes = tuple(_route(n, raw, channels, known, where) for n, raw in enumerate(raw_routes))  # type: ignore[arg-type]
    ids = [r.id for r in routes]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise RoutesError(f"{where}: route id {twice[0]!r} is used twice")
    return Routes(channels, routes, float(window), most)


def load_routes(path: Path, **known: set[str] | None) -> Routes:
    """``notify.yml`` at ``path``; no file: no routes (nothing is sent)."""
    import yaml

    if not path.is_file():
        return NO_ROUTES
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise RoutesError(f"{path.name}: not valid YAML: {err}") from None
    return parse_routes(doc, path.name, **known)
