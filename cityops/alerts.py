"""The one alert model: what every writer puts in the duty feed (``co:alerts``) and an alert's hash, and how
every reader reads it back.

Why one module: five writers raise alerts and several readers read them; with one constructor, one id builder
and one stored form per kind, and one raised time (``at``), no reader has to guess which field holds it.
:meth:`Alert.from_json` / :meth:`Alert.from_hash` read every form a running city's read model holds (older ones
included), and are the only place old field names are mapped.

| kind | raised by | id | ``at`` (the raised time) stored as | hash ``co:alert:{id}`` |
|---|---|---|---|---|
| ``sla_overdue`` | SLA timer | ``sla:{case}:{stage}:{deadline}`` | epoch s (wall clock) | the case's clock |
| ``{kind}_exceedance`` | sensor projection | ``sensor:{sensor}:{episode}`` | ISO (the reading's) | the entry |
| ``device_offline`` | offline timer | ``offline:{sensor}:{last seen}`` | epoch s (wall clock) | the sensor |
| ``ai_capture`` | detection projection | ``capture:{capture event}`` | ISO (last_seen) | none (its case) |
| ``command`` | command projection | ``command:{command}`` | ISO (issued_at) | none (an echo) |
| ``supervision`` | supervision timer | ``sup:{case}:{level}:{step}:{reply due}`` | epoch s (wall clock) | the order |

Each hash starts with id, type, severity, state, ``acknowledged: 0`` and what the table says (``_HASH_FIELDS``:
case_id, stage, deadline; every field of the entry; sensor_id, silent_since); commands change it later.

Clearing entries (``{kind}_cleared`` when an episode ends, ``device_online`` when a silent sensor speaks again)
carry the id of the alert they clear, ``state: cleared`` and ``at`` (ISO text: when it cleared); the alert's hash
gets :func:`cleared_fields`. Before this model, an exceedance kept its raised time as ``since`` (feed and hash) and
an offline alert's hash kept the silent-since time as ``since``; both still read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import orjson


class AlertKind(StrEnum):
    """What a feed entry is. Exceedances and their clearings are one kind each whatever the sensor kind
    (``sensor_kind`` says which): the stored ``type`` is ``{sensor_kind}_exceedance`` / ``{sensor_kind}_cleared``."""

    SLA_OVERDUE = "sla_overdue"
    SENSOR_EXCEEDANCE = "exceedance"
    SENSOR_CLEARED = "cleared"
    DEVICE_OFFLINE = "device_offline"
    DEVICE_ONLINE = "device_online"
    AI_CAPTURE = "ai_capture"
    COMMAND = "command"
    SUPERVISION = "supervision"  # a 督办单's reminder, escalation or overdue (``stage``: which; ``deadline``: due)

    @property
    def clears(self) -> bool:
        """Whether an entry of this kind ends another alert (it names that alert's id) rather than raising one."""
        return self in (AlertKind.SENSOR_CLEARED, AlertKind.DEVICE_ONLINE)


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    INFO = "info"


class AlertState(StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    DONE = "done"  # a command echo: nothing to act on


# ------------------------------------------------------------------------------------------------ ids

_ID_PREFIX = {AlertKind.SLA_OVERDUE: "sla:", AlertKind.SENSOR_EXCEEDANCE: "sensor:",
              AlertKind.DEVICE_OFFLINE: "offline:", AlertKind.AI_CAPTURE: "capture:", AlertKind.COMMAND: "command:",
              AlertKind.SUPERVISION: "sup:"}


def sla_alert_id(case_id: str, stage: str, deadline_ts: float) -> str:
    """The overdue alert of one stage's clock (the SLA timer raises it, the next step or expiry clears it)."""
    return f"sla:{case_id}:{stage}:{int(deadline_ts)}"


def sensor_alert_id(sensor_id: str, episode: int) -> str:
    """One exceedance episode of a sensor (raised and cleared by the sensor projection)."""
    return f"sensor:{sensor_id}:{episode}"


def offline_alert_id(sensor_id: str, silent_since: float) -> str:
    """A sensor's offline alert, by when its data last arrived (so a second silence is a second alert)."""
    return f"offline:{sensor_id}:{int(silent_since)}"


def supervision_alert_id(case_id: str, level: int, step: str, reply_due_ts: float) -> str:
    """One step of one 督办单 at one level (the reply deadline tells one order of a case from the next)."""
    return f"sup:{case_id}:{level}:{step}:{int(reply_due_ts)}"


def capture_alert_id(capture_event_id: str) -> str:
    return f"capture:{capture_event_id}"


def command_alert_id(command_id: str) -> str:
    return f"command:{command_id}"


def id_prefix(kind: AlertKind) -> str:
    """What every id of ``kind`` built here starts with, for a reader that picks a kind's ids out of many at once
    (KeyError for kinds whose entries name another alert's id: clearings)."""
    return _ID_PREFIX[kind]


def kind_of_id(alert_id: str) -> AlertKind | None:
    """The kind of alert an id built here names (None for any other id), for readers that must choose among
    the ids of ``co:alerts:active`` before reading their hashes."""
    for kind, prefix in _ID_PREFIX.items():
        if alert_id.startswith(prefix):
            return kind
    return None


# ------------------------------------------------------------------------------------------ the model


@dataclass(frozen=True, slots=True)
class Alert:
    """One entry of the alert feed. ``at`` is when it was raised (a clearing entry: when it cleared); None only
    for an entry that carries no time (read from a hash alone, or written by hand)."""

    id: str
    kind: AlertKind
    severity: Severity
    state: AlertState
    at: datetime | None
    case_id: str | None = None
    # where
    district: str | None = None
    street: str | None = None
    grid: str | None = None
    lon: float | None = None
    lat: float | None = None
    # sensors
    sensor_id: str | None = None
    sensor_kind: str | None = None
    name_zh: str | None = None
    metric: str | None = None
    value: float | None = None
    limit: float | None = None
    unit: str | None = None
    silent_since: float | None = None  # offline: when the sensor's data last arrived (epoch seconds)
    # SLA
    stage: str | None = None
    deadline: str | None = None  # ISO text, as on the case
    category: str | None = None
    department: str | None = None
    # captures
    camera_id: str | None = None
    ai_type: str | None = None
    evidence_ref: str | None = None
    # command echoes
    target_kind: str | None = None
    target_id: str | None = None
    action: str | None = None
    user: str | None = None

    # --------------------------------------------------------------------------------- constructors

    @classmethod
    def sla_overdue(cls, *, case_id: str, stage: str, deadline_ts: float, deadline: str, urgent: bool,
                    at: datetime, district: str, street: str, grid: str, category: str, department: str,
                    lon: float | None, lat: float | None) -> Alert:
        """A case's running clock ran out (``deadline_ts``: the clock's score; ``deadline``: the case's text)."""
        return cls(sla_alert_id(case_id, stage, deadline_ts), AlertKind.SLA_OVERDUE,
                   Severity.CRITICAL if urgent else Severity.MAJOR, AlertState.ACTIVE, at, case_id=case_id,
                   stage=stage, deadline=deadline, district=district, street=street, grid=grid, category=category,
                   department=department, lon=lon, lat=lat)

    @classmethod
    def sensor_exceedance(cls, *, sensor_id: str, sensor_kind: str, episode: int, severity: Severity, metric: str,
                          value: float, limit: float, unit: str, at: datetime, case_id: str, grid: str,
                          district: str, lon: float | None, lat: float | None, name_zh: str) -> Alert:
        """An exceedance lasted its sustain time: episode ``episode`` of the sensor fired (``value`` rounded to
        0.1 as shown)."""
        return cls(sensor_alert_id(sensor_id, episode), AlertKind.SENSOR_EXCEEDANCE, severity, AlertState.ACTIVE, at,
                   case_id=case_id, sensor_id=sensor_id, sensor_kind=sensor_kind, metric=metric,
                   value=round(value, 1), limit=limit, unit=unit, grid=grid, district=district, lon=lon, lat=lat,
                   name_zh=name_zh)

    @classmethod
    def sensor_cleared(cls, *, sensor_id: str, sensor_kind: str, episode: int, case_id: str, at: datetime) -> Alert:
        """The episode's exceedance ended (below the limit less the hysteresis for the clear time)."""
        return cls(sensor_alert_id(sensor_id, episode), AlertKind.SENSOR_CLEARED, Severity.INFO, AlertState.CLEARED,
                   at, case_id=case_id, sensor_id=sensor_id, sensor_kind=sensor_kind)

    @classmethod
    def device_offline(cls, *, sensor_id: str, silent_since: float, at: datetime, name_zh: str, grid: str,
                       lon: float | None, lat: float | None) -> Alert:
        """No data from the sensor since ``silent_since`` (epoch seconds, its arrival score), found at ``at``."""
        return cls(offline_alert_id(sensor_id, silent_since), AlertKind.DEVICE_OFFLINE, Severity.MINOR,
                   AlertState.ACTIVE, at, sensor_id=sensor_id, silent_since=silent_since, name_zh=name_zh,
                   grid=grid, lon=lon, lat=lat)

    @classmethod
    def device_online(cls, *, alert_id: str, sensor_id: str, at: datetime) -> Alert:
        """A silent sensor spoke again: its offline alert ``alert_id`` (kept on the sensor's hash) clears."""
        return cls(alert_id, AlertKind.DEVICE_ONLINE, Severity.INFO, AlertState.CLEARED, at, sensor_id=sensor_id)

    @classmethod
    def ai_capture(cls, *, capture_event_id: str, case_id: str, camera_id: str, ai_type: str,
                   evidence_ref: str | None, grid: str, lon: float, lat: float, at: datetime) -> Alert:
        """An accepted capture (``at``: its last_seen) and the case it opened."""
        return cls(capture_alert_id(capture_event_id), AlertKind.AI_CAPTURE, Severity.MINOR, AlertState.ACTIVE, at,
                   case_id=case_id, camera_id=camera_id, ai_type=ai_type, evidence_ref=evidence_ref, grid=grid,
                   lon=lon, lat=lat)

    @classmethod
    def supervision(cls, *, case_id: str, level: int, step: str, reply_due: str, department: str, district: str,
                    street: str, at: datetime) -> Alert:
        """A 督办单 reminded (``stage: remind``), escalated to ``level`` (``escalate``) or overdue at the top
        level (``overdue``); ``reply_due``: the deadline that came near or passed (ISO)."""
        severity = Severity.MAJOR if step == "remind" else Severity.CRITICAL
        due_ts = datetime.fromisoformat(reply_due).timestamp()
        return cls(supervision_alert_id(case_id, level, step, due_ts), AlertKind.SUPERVISION, severity,
                   AlertState.ACTIVE, at, case_id=case_id, stage=step, deadline=reply_due, department=department,
                   district=district, street=street, action=str(level))

    @classmethod
    def command_record(cls, *, command_id: str, target_kind: str, target_id: str, action: str, user: str,
                       at: datetime) -> Alert:
        """The feed's echo of a duty officer's command (``at``: when it was issued)."""
        return cls(command_alert_id(command_id), AlertKind.COMMAND, Severity.INFO, AlertState.DONE, at,
                   target_kind=target_kind, target_id=target_id, action=action, user=user)

    # ----------------------------------------------------------------------------------- stored forms

    @property
    def type(self) -> str:
        """The stored ``type``: the kind, or for exceedances and their clearing ``{sensor_kind}_{kind}``."""
        if self.kind in (AlertKind.SENSOR_EXCEEDANCE, AlertKind.SENSOR_CLEARED):
            return f"{self.sensor_kind}_{self.kind.value}"
        return self.kind.value

    @property
    def raised_ts(self) -> float | None:
        """``at`` in epoch seconds."""
        return None if self.at is None else self.at.timestamp()

    def to_dict(self) -> dict[str, object]:
        """The feed entry as a JSON object, fields in their stored order."""
        epoch, text_coords = self.kind in _EPOCH_TIME, self.kind is AlertKind.SLA_OVERDUE
        out: dict[str, object] = {}
        for name in _JSON_FIELDS[self.kind]:
            if name == "type":
                out[name] = self.type
            elif name == "at":
                out[name] = _stamp(self.at, epoch)
            elif text_coords and name in ("lon", "lat"):
                value = getattr(self, name)
                out[name] = "" if value is None else repr(value)
            else:
                out[name] = getattr(self, name)
        return out

    def to_json(self) -> str:
        """The ``json`` field of the alert's feed entry."""
        return orjson.dumps(self.to_dict()).decode()

    def to_hash(self) -> dict[str, str]:
        """The fields the alert's hash starts with (``co:alert:{id}``; commands change state, severity and
        acknowledgement later). Kinds without a hash (captures, commands, clearings) raise ValueError."""
        names = _HASH_FIELDS.get(self.kind)
        if names is None:
            raise ValueError(f"a {self.kind.value} alert has no hash")
        stored = self.to_dict()
        out = {}
        for name in names:
            value = "0" if name == "acknowledged" else stored[name] if name in stored else getattr(self, name)
            if value is not None:
                out[name] = str(value)
        return out

    def hash_flat(self) -> list[str]:
        """:meth:`to_hash` as [field, value, …], for a Lua script's arguments."""
        return [part for item in self.to_hash().items() for part in item]

    @classmethod
    def from_json(cls, data: Mapping[str, object] | str | bytes) -> Alert:
        """An alert from its feed entry, in any form a writer has stored (ValueError when it is none)."""
        if isinstance(data, str | bytes):
            data = orjson.loads(data)
            if not isinstance(data, dict):
                raise ValueError(f"an alert is a JSON object, not a {type(data).__name__}")
        return cls._read(data)

    @classmethod
    def from_hash(cls, data: Mapping[str, str], alert_id: str = "", raised: float | None = None) -> Alert:
        """An alert from its hash alone (fields as text); ``raised`` (epoch seconds, e.g. its score in
        ``co:alerts:active``) stands in when the hash keeps no raised time (SLA, offline)."""
        fields = dict(data)
        if alert_id and not fields.get("id"):
            fields["id"] = alert_id
        keeps_time = fields.get("at") or (fields.get("since") and fields.get("type") != AlertKind.DEVICE_OFFLINE)
        if raised is not None and not keeps_time:
            fields["at"] = raised
        return cls._read(fields)

    @classmethod
    def _read(cls, data: Mapping[str, object]) -> Alert:
        """The one place stored forms are mapped onto the model (old time fields included)."""
        alert_id, type_ = data.get("id"), data.get("type")
        if not isinstance(alert_id, str) or not alert_id:
            raise ValueError("an alert has a text id")
        if not isinstance(type_, str):
            raise ValueError(f"alert {alert_id!r} has no type")
        kind, sensor_kind = kind_of_type(type_)
        silent_since = _number(data.get("silent_since"))
        at_value = data.get("at")
        if kind is AlertKind.DEVICE_OFFLINE and silent_since is None:  # its hash kept the silent-since time as since
            silent_since = _number(data.get("since"))
        elif at_value in (None, "") and "since" in data:  # an exceedance kept its raised time as since
            at_value = data["since"]
        default_state = AlertState.CLEARED if kind.clears else AlertState.DONE if kind is AlertKind.COMMAND \
            else AlertState.ACTIVE
        return cls(alert_id, kind, Severity(data.get("severity") or Severity.MINOR),
                   AlertState(data.get("state") or default_state), parse_time(at_value), sensor_kind=sensor_kind,
                   silent_since=silent_since, lon=_number(data.get("lon")), lat=_number(data.get("lat")),
                   value=_number(data.get("value")), limit=_number(data.get("limit")),
                   **{name: _text(data.get(name)) for name in _TEXT_FIELDS})


# The timers stamp their alerts with the wall clock as epoch seconds; the projections with the event's own time
# as ISO text. Kept as stored, so that a running city's feed keeps one form per kind.
_EPOCH_TIME = frozenset({AlertKind.SLA_OVERDUE, AlertKind.DEVICE_OFFLINE, AlertKind.SUPERVISION})

_JSON_FIELDS: dict[AlertKind, tuple[str, ...]] = {
    AlertKind.SLA_OVERDUE: ("id", "type", "severity", "case_id", "stage", "deadline", "district", "street", "grid",
                            "category", "department", "lon", "lat", "at"),
    AlertKind.SENSOR_EXCEEDANCE: ("id", "type", "severity", "state", "sensor_id", "metric", "value", "limit", "unit",
                                  "at", "case_id", "grid", "district", "lon", "lat", "name_zh"),
    AlertKind.SENSOR_CLEARED: ("id", "severity", "state", "at", "type", "sensor_id", "case_id"),
    AlertKind.DEVICE_OFFLINE: ("id", "type", "severity", "state", "sensor_id", "silent_since", "name_zh", "grid",
                               "lon", "lat", "at"),
    AlertKind.DEVICE_ONLINE: ("id", "severity", "state", "at", "type", "sensor_id"),
    AlertKind.AI_CAPTURE: ("id", "type", "severity", "state", "case_id", "camera_id", "ai_type", "evidence_ref",
                           "grid", "lon", "lat", "at"),
    AlertKind.COMMAND: ("id", "type", "severity", "state", "target_kind", "target_id", "action", "user", "at"),
    AlertKind.SUPERVISION: ("id", "type", "severity", "state", "case_id", "stage", "action", "deadline", "department",
                            "district", "street", "at"),
}
_HASH_FIELDS: dict[AlertKind, tuple[str, ...]] = {
    AlertKind.SLA_OVERDUE: ("id", "type", "severity", "state", "case_id", "stage", "deadline", "acknowledged"),
    AlertKind.SENSOR_EXCEEDANCE: (*_JSON_FIELDS[AlertKind.SENSOR_EXCEEDANCE], "acknowledged"),
    AlertKind.DEVICE_OFFLINE: ("id", "type", "severity", "state", "sensor_id", "silent_since", "acknowledged"),
    AlertKind.SUPERVISION: ("id", "type", "severity", "state", "case_id", "stage", "action", "deadline", "department",
                            "acknowledged"),
}
_TEXT_FIELDS = ("case_id", "district", "street", "grid", "sensor_id", "name_zh", "metric", "unit", "stage",
                "deadline", "category", "department", "camera_id", "ai_type", "evidence_ref", "target_kind",
                "target_id", "action", "user")
_BY_TYPE = {k.value: k for k in AlertKind if k not in (AlertKind.SENSOR_EXCEEDANCE, AlertKind.SENSOR_CLEARED)}


def cleared_fields(at: str) -> dict[str, str]:
    """What an alert's hash gets when the alert clears (``at``: ISO text)."""
    return {"state": AlertState.CLEARED.value, "cleared_at": at}


def exceedance_type(sensor_kind: str) -> str:
    """The stored ``type`` of a sensor kind's exceedance alerts."""
    return f"{sensor_kind}_{AlertKind.SENSOR_EXCEEDANCE.value}"


def kind_of_type(type_: str) -> tuple[AlertKind, str | None]:
    """(kind, sensor kind or None) of a stored ``type``; ValueError for a type no writer stores."""
    kind = _BY_TYPE.get(type_)
    if kind is not None:
        return kind, None
    for kind in (AlertKind.SENSOR_EXCEEDANCE, AlertKind.SENSOR_CLEARED):
        sensor_kind = type_.removesuffix(f"_{kind.value}")
        if sensor_kind != type_ and sensor_kind:
            return kind, sensor_kind
    raise ValueError(f"unknown alert type {type_!r}")


def _stamp(at: datetime | None, epoch: bool) -> float | str | None:
    if at is None:
        return None
    return at.timestamp() if epoch else at.isoformat()


def parse_time(value: object) -> datetime | None:
    """A stored time: epoch seconds (a number, or a number as text) or ISO text; None when there is none."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            try:
                return datetime.fromtimestamp(float(value), UTC)
            except ValueError:
                pass
    raise ValueError(f"alert time {value!r} is no time")


def _number(value: object) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is no number")
    return float(value)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
