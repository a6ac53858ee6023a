"""Camera health → each camera's latest status in Redis, for the console's 摄像头 page.

Only the newest status of a camera counts: one arriving after a newer one (by ``at``, a redelivery or a
restarted detector's backlog) is ignored. Statuses are keyed by camera id, so one camera's statuses reach one
agent in order and reading the stored ``at`` before writing is safe. A status of a camera the city data does
not list, or sent from a clock far ahead (it would hide every later status), is dead-lettered with its reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping, Sequence

from faust.types import EventT

from cityops import keys
from cityops.schemas import CameraStatus, encode
from streams import runtime
from streams.agents.batch import Origin, apply_or_dead_letter, decode_batch, drop_repeats
from streams.agents.redis_outage import until_applied
from streams.app import app
from streams.deadletter import refuse
from streams.effects import Effects
from streams.topics import CAMERA_STATUS

log = logging.getLogger("cityops.camera_status")

MAX_AHEAD_S = 300.0  # a status stamped further ahead of the worker's clock is refused (clock skew, bad sender)
SEEN_TTL_S = 3_600  # statuses are superseded every few seconds: their ids need remembering only for redeliveries


def status_effects(status: CameraStatus) -> Effects:
    """The writes of one accepted status: the whole status replaces the stored one (no field of an older one,
    such as a cleared ``error``, survives), kept :data:`keys.CAMERA_STATUS_RETENTION_S` after the last."""
    eff = Effects(status.event_id, ttl=SEEN_TTL_S)
    eff.hset_flat(keys.camera_status(status.camera_id),
                  ["at", repr(status.at.timestamp()), "json", encode(status).decode()],
                  keys.CAMERA_STATUS_RETENTION_S)
    return eff


def refusal(status: CameraStatus, cameras: Collection[str], now: float) -> str | None:
    """Why a decoded status cannot be taken (naming the field), or None."""
    if status.camera_id not in cameras:
        return f"camera_id: unknown camera {status.camera_id!r} (not in the city data's cameras)"
    ahead = status.at.timestamp() - now
    if ahead > MAX_AHEAD_S:
        return f"at: {ahead:.0f} s ahead of the worker's clock (more than {MAX_AHEAD_S:.0f} s)"
    return None


def newest_per_camera(items: Sequence[tuple[EventT, CameraStatus]],
                      stored_at: Mapping[str, float | None]) -> list[tuple[EventT, CameraStatus]]:
    """Per camera, the batch's newest status if it is newer than the stored one; older ones are left out."""
    best: dict[str, tuple[EventT, CameraStatus]] = {}
    for event, status in items:
        kept = best.get(status.camera_id)
        if kept is None or status.at > kept[1].at:
            best[status.camera_id] = (event, status)
    out = []
    for cam, (event, status) in best.items():
        before = stored_at.get(cam)
        if before is not None and status.at.timestamp() <= before:
            log.debug("status %s of camera %s is not newer than the stored one: ignored", status.event_id, cam)
            continue
        out.append((event, status))
    return out


async def _stored_at(cameras: Sequence[str]) -> dict[str, float | None]:
    """The ``at`` of each camera's stored status (None: none, or unreadable: the apply then refuses the write)."""
    out: dict[str, float | None] = {}
    if not cameras:
        return out
    async with runtime.redis().pipeline(transaction=False) as pipe:
        for cam in cameras:
            pipe.hget(keys.camera_status(cam), "at")
        for cam, value in zip(cameras, await pipe.execute(raise_on_error=False), strict=True):
            try:
                out[cam] = None if value is None or isinstance(value, Exception) else float(value)
            except ValueError:
                log.warning("stored status of camera %s has an unreadable at %.40r: overwritten", cam, value)
                out[cam] = None
    return out


async def process(events: Sequence[EventT]) -> None:
    """One batch: decoded, refused with a reason or reduced to each camera's newest status, applied once."""
    topic = CAMERA_STATUS.name
    effects: list[Effects] = []
    decoded = await drop_repeats(await decode_batch(events, CAMERA_STATUS, effects), lambda m: m.event_id)
    origins: list[Origin | None] = [None] * len(effects)
    cameras = runtime.detection_context().cameras
    now = time.time()
    accepted: list[tuple[EventT, CameraStatus]] = []
    for event, status in decoded:
        reason = refusal(status, cameras, now)
        if reason is not None:
            effects.append(await refuse(event, topic, event.message.value, reason, "validate", status.event_id))
            origins.append(None)
        else:
            accepted.append((event, status))
    stored = await _stored_at(sorted({s.camera_id for _, s in accepted}))
    for event, status in newest_per_camera(accepted, stored):
        effects.append(status_effects(status))
        origins.append(Origin(event, status.event_id))
    await apply_or_dead_letter(effects, origins, topic)


@app.agent(CAMERA_STATUS.channel())
async def camera_status_agent(stream):  # noqa: ANN001
    async for events in stream.take_events(200, within=0.5):
        await until_applied(process, events)
