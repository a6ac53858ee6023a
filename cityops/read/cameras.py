"""Camera reads for the console's 摄像头 page: each camera's latest health, and today's accepted captures.

A camera's status is what its detector process last sent (``streams/agents/camera_status.py``). A detector
that stopped sending (killed, host down, network cut) leaves its last status behind, saying ``ok``: a status
older than :data:`STALE_AFTER_INTERVALS` send intervals is therefore shown as offline (离线), whatever it says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import Redis

from cityops import bad_member, keys
from cityops.read.replies import json_entries, replies
from cityops.schemas import CameraStatus, ContractError, decode
from cityops.settings import env_number

STALE_AFTER_INTERVALS = 3.0
OFFLINE = "offline"  # the shown state of a camera whose status is stale (the sender's states: CameraState)
NO_STATUS = "unknown"  # a camera that never sent a status (or not for a week: it expired)


def status_interval_s() -> float:
    """Seconds between a camera's health messages: ``CITYOPS_STATUS_INTERVAL_S``, the detectors' own setting."""
    return env_number("CITYOPS_STATUS_INTERVAL_S", 5.0)


def is_stale(at: datetime, now: datetime, interval_s: float) -> bool:
    """Whether a status sent at ``at`` is too old to trust at ``now`` (its sender has likely gone)."""
    return (now - at).total_seconds() > STALE_AFTER_INTERVALS * interval_s


@dataclass(frozen=True)
class CameraHealth:
    """One camera as the page shows it: its latest status (None: none) and the state to show."""

    camera_id: str
    status: CameraStatus | None
    state: str  # a CameraState value, OFFLINE or NO_STATUS

    @property
    def stale(self) -> bool:
        return self.state == OFFLINE


def health_of(camera_id: str, status: CameraStatus | None, now: datetime, interval_s: float) -> CameraHealth:
    """The shown state: the sender's while its status is fresh, offline once stale, unknown without one."""
    if status is None:
        return CameraHealth(camera_id, None, NO_STATUS)
    state = OFFLINE if is_stale(status.at, now, interval_s) else status.state.value
    return CameraHealth(camera_id, status, state)


def camera_health(r: Redis, camera_ids: Sequence[str], now: datetime,
                  interval_s: float | None = None) -> dict[str, CameraHealth]:
    """Every listed camera's health, in one round trip; a stored status that does not decode counts as none."""
    interval = status_interval_s() if interval_s is None else interval_s
    pipe = r.pipeline(transaction=False)
    for cam in camera_ids:
        pipe.hget(keys.camera_status(cam), "json")
    out: dict[str, CameraHealth] = {}
    for cam, raw in zip(camera_ids, replies(pipe, camera_ids, "camera status"), strict=True):
        status = None
        if raw is not None:
            try:
                status = decode(CameraStatus, raw)
            except ContractError as err:
                bad_member.skip("camera status", cam, err.reason)
        out[cam] = health_of(cam, status, now, interval)
    return out


def day_start(now: datetime) -> datetime:
    """Midnight of ``now``'s day, in ``now``'s time zone (the city's)."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def captures_today(r: Redis, now: datetime, camera_id: str | None = None,
                   limit: int = keys.CAPTURES_MAXLEN) -> list[dict]:
    """Accepted captures seen today (city time), newest first; only ``camera_id``'s when given.

    The captures stream is read back to the first entry added since midnight (entry ids are the time they were
    added), and each capture is kept by when it was last seen, so a capture added just after midnight about an
    object seen before it is not today's.
    """
    start = day_start(now)
    first_id = f"{int((start - timedelta(minutes=5)).timestamp() * 1000)}-0"  # a little slack for late adds
    entries = json_entries(r.xrevrange(keys.captures(), max="+", min=first_id, count=limit), "captures")
    out = []
    for _, cap in entries:
        if camera_id is not None and cap.get("camera_id") != camera_id:
            continue
        seen = _time(cap.get("last_seen"))
        if seen is None or seen.astimezone(now.tzinfo) < start:
            continue
        out.append(cap)
    return out


def capture_counts(captures: Iterable[Mapping]) -> dict[str, Counter[str]]:
    """Per camera, today's captures counted by AI type."""
    out: dict[str, Counter[str]] = {}
    for cap in captures:
        out.setdefault(str(cap.get("camera_id", "")), Counter())[str(cap.get("ai_type", ""))] += 1
    return out


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None
