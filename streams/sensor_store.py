"""Sensor state as the sensor agent starts a batch from it: each sensor's hash and its newest buckets.

The window pointers (``win_m``, ``win_q``, ``win_h`` in ``co:sensor:{id}``) name the bucket of the
sensor's newest reading in each window; reading what those buckets hold along with the hash lets
the projection fold a batch's amounts itself (see :class:`streams.sensor_projection.Running`).
"""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from cityops import keys
from streams.sensor_projection import POINTER_FIELDS, SensorState

# The fields the projection starts from (SensorState.from_hash, and what a write leaves out when unchanged);
# the window pointers come last.
FIELDS = ("time", "phase", "since", "episode", "peak", "quarter", "quarter_n", "quarter_s", "offline_alert",
          "kind", "metric", "unit", "offline", *POINTER_FIELDS.values())

# Per sensor (KEYS), its FIELDS (ARGV) and then, for each pointer ("key bucket"), the n, s and x stored in
# that bucket: one JSON array of arrays, false for what is not stored. Positions, not names, keep it small.
_READ_STATES = """
local nf = #ARGV
local out = {}
for i = 1, #KEYS do
  local row = redis.call('HMGET', KEYS[i], unpack(ARGV))
  for j = nf - 2, nf do
    local pointer, n = row[j], #row
    local v = {false, false, false}
    if pointer then
      local key, bucket = string.match(pointer, '^(%S+) (%S+)$')
      v = redis.call('HMGET', key, bucket .. ':n', bucket .. ':s', bucket .. ':x')
    end
    row[n + 1] = v[1]
    row[n + 2] = v[2]
    row[n + 3] = v[3]
  end
  out[i] = row
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
    rows = orjson.loads(await script(keys=[keys.sensor(sid) for sid in sensor_ids], args=FIELDS))
    nf = len(FIELDS)
    states: dict[str, SensorState] = {}
    for sid, row in zip(sensor_ids, rows, strict=True):
        data = {name: value for name, value in zip(FIELDS, row, strict=False) if value is not False}
        buckets = {kind: [None if v is False else v for v in row[nf + 3 * k:nf + 3 * k + 3]]
                   for k, kind in enumerate(POINTER_FIELDS)}
        states[sid] = SensorState.from_hash(sid, data, buckets)
    return states
