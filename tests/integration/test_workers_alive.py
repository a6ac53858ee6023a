"""The console counts worker processes that beat lately; a process gone quiet stops counting."""

from __future__ import annotations

from redis import Redis

from cityops import keys, read


def test_only_recent_beats_count(redis_url):
    r = Redis.from_url(redis_url, decode_responses=True)
    key = keys.heartbeats("alive-test")
    r.delete(key)
    assert read.workers_alive(r, group="alive-test") == read.WorkersAlive(0, None)
    r.hset(key, mapping={"host-a:11": "1000.0", "host-b:22": "1026.0", "host-c:33": "900.0"})
    got = read.workers_alive(r, within_s=30, group="alive-test", now=1030.0)
    assert got == read.WorkersAlive(alive=2, newest=1026.0)
    assert read.workers_alive(r, within_s=30, group="alive-test", now=2000.0).alive == 0
    r.delete(key)
