"""Sensor state as the sensor agent starts a batch from it: each sensor's hash and its newest buckets.

The window pointers (``win_m``, ``win_q``, ``win_h`` in ``co:sensor:{id}``) name the bucket of the
sensor's newest reading in each window; reading what those buckets hold along with the hash lets
the projection fold a batch's amounts itself (see :class:`streams.sensor_projection.Running`).
"""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from cityops import bad_member, keys
from streams.lua import source
from streams.sensor_projection import POINTER_FIELDS, SensorState

# The fields the projection starts from (SensorState.from_hash, and what a write leaves out when unchanged);
# the window pointers come last.
# A hash written before rolling windows holds quarter, quarter_n and quarter_s instead of roll and mx_*: they
# are not read, and it loads as a state whose window fills again (SensorState.from_hash).
FIELDS = ("time", "phase", "since", "episode", "peak", "roll", "mx_phase", "mx_since", "mx_episode", "mx_peak",
          "offline_alert", "kind", "metric", "unit", "offline", *POINTER_FIELDS.values())

# Per sensor (KEYS), its FIELDS (ARGV) and then, for each pointer ("key bucket"), the n, s and x stored in
# that bucket: one JSON array of arrays, false for what is not stored. Positions, not names, keep it small.
# A sensor whose hash or pointed-to bucket is a key of another type (or whose pointer does not parse) is
# returned as the reason, a string: the others are read all the same. pcall, and TYPE only on that path,
# keep the normal read at the commands it always had (the hot path reads hundreds of sensors per batch).
_READ_STATES = source("read_sensor_states")


async def read_states(r: Redis, sensor_ids: list[str]) -> dict[str, SensorState]:
    """The sensors' stored state (an unreadable sensor's as none: see :func:`read_states_checked`)."""
    return (await read_states_checked(r, sensor_ids))[0]


async def read_states_checked(r: Redis, sensor_ids: list[str]) -> tuple[dict[str, SensorState], dict[str, str]]:
    """The sensors' stored state with the buckets of their newest readings, in one command; and, per sensor
    that could not be read (a key of the wrong type, a stored field that does not parse), the reason.

    Why one script: a batch has readings of hundreds of sensors; as a pipeline of HGETALLs and HMGETs,
    redis-py's per-command packing, parsing and asyncio hops cost the worker more than the projection.
    Why the reasons: one bad sensor must cost its own readings, not the batch (the caller refuses them);
    its state reads as none.
    """
    if not sensor_ids:
        return {}, {}
    script = r.register_script(_READ_STATES)  # a handle only: loaded into Redis on first use, by its hash
    rows = orjson.loads(await script(keys=[keys.sensor(sid) for sid in sensor_ids], args=FIELDS))
    nf = len(FIELDS)
    states: dict[str, SensorState] = {}
    unreadable: dict[str, str] = {}
    for sid, row in zip(sensor_ids, rows, strict=True):
        if isinstance(row, str):
            unreadable[sid] = row
            states[sid] = SensorState.from_hash(sid, {})
            continue
        data = {name: value for name, value in zip(FIELDS, row, strict=False) if value is not False}
        buckets = {kind: [None if v is False else v for v in row[nf + 3 * k:nf + 3 * k + 3]]
                   for k, kind in enumerate(POINTER_FIELDS)}
        try:
            states[sid] = SensorState.from_hash(sid, data, buckets)
        except (TypeError, ValueError) as err:  # a stored field that is not what the projection writes
            unreadable[sid] = f"{keys.sensor(sid)} unreadable: {err}"
            states[sid] = SensorState.from_hash(sid, {})
    for sid, reason in unreadable.items():
        bad_member.skip("sensor state", sid, reason)
    return states, unreadable
