"""Sensor state as the sensor agent starts a batch from it: each sensor's hash and its newest buckets.

The window pointers (``win_m``, ``win_q``, ``win_h`` in ``co:sensor:{id}``) name the bucket of the
sensor's newest reading in each window; reading what those buckets hold along with the hash lets
the projection fold a batch's amounts itself (see :class:`streams.sensor_projection.Running`).
"""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from cityops import keys
from streams.sensor_projection import SensorState

# Each sensor's hash and, per window pointer in it (win_m, win_q, win_h: "key bucket"), the stored n, s
# and x of that bucket: one JSON array of [flat hash, {kind: [n, s, x]}], '' for what is not stored.
_READ_STATES = """
local out = {}
for i = 1, #KEYS do
  local flat = redis.call('HGETALL', KEYS[i])
  local buckets = {}
  for j = 1, #flat, 2 do
    local kind = string.match(flat[j], '^win_(%a)$')
    if kind then
      local key, bucket = string.match(flat[j + 1], '^(%S+) (%S+)$')
      local v = redis.call('HMGET', key, bucket .. ':n', bucket .. ':s', bucket .. ':x')
      buckets[kind] = {v[1] or '', v[2] or '', v[3] or ''}
    end
  end
  out[i] = {flat, buckets}
end
return cjson.encode(out)
"""


async def read_states(r: Redis, sensor_ids: list[str]) -> dict[str, SensorState]:
    """The sensors' stored state with the buckets of their newest readings, in one command.

    Why one script: a batch has readings of hundreds of sensors; as a pipeline of HGETALLs and HMGETs,
    redis-py's per-command packing, parsing and asyncio hops cost the worker more than the projection.
    """
    if not sensor_ids:
        return {}
    script = r.register_script(_READ_STATES)  # a handle only: loaded into Redis on first use, by its hash
    rows = orjson.loads(await script(keys=[keys.sensor(sid) for sid in sensor_ids]))
    states: dict[str, SensorState] = {}
    for sid, (flat, buckets) in zip(sensor_ids, rows, strict=True):  # cjson writes an empty table as {}
        data = dict(zip(flat[::2], flat[1::2], strict=True)) if flat else {}
        stored = {kind: [v if v != "" else None for v in nsx] for kind, nsx in buckets.items()} if buckets else {}
        states[sid] = SensorState.from_hash(sid, data, stored)
    return states
