"""Readings of devices the registry does not know, counted per gateway for the admin page.

Why: a dead letter alone says a reading was refused; an operator needs to see *which* gateway keeps sending
readings of unregistered devices (a sensor swapped without registering it, a misconfigured gateway, or someone
probing), so each such reading is counted in the same effects as its dead letter: applied once with its envelope.

Bounds (an attacker may send any ids): per gateway the newest ``keys.UNKNOWN_DEVICE_IDS_CAP`` device ids by
arrival, with their counts; unregistered gateway ids the newest ``keys.UNKNOWN_GATEWAYS_CAP``, one dropped taking
its ids, its counts and its field in today's count with it; everything expires after
``keys.UNKNOWN_DEVICES_RETENTION_S`` without new readings. Registered gateways are never dropped (the registry
bounds them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from cityops import keys
from streams.effects import Effects


def count_unknown_devices(effects: Effects, readings: Iterable[tuple[str, str]], registered_gateways: Container[str],
                          now: float, tz: ZoneInfo) -> Effects:
    """Add to ``effects`` the counts of ``readings``, each (gateway id, device id) of a reading of an unknown device,
    as arrived at ``now`` (epoch seconds, wall clock: the day and "last seen" are when they arrived, like dead
    letters, so a forged reading time cannot pin an id or count on another day)."""
    per_gateway: dict[str, Counter[str]] = {}
    for gateway_id, device_id in readings:
        per_gateway.setdefault(gateway_id, Counter())[device_id] += 1
    if not per_gateway:
        return effects
    retention = keys.UNKNOWN_DEVICES_RETENTION_S
    daily = keys.unknown_devices_daily(keys.day_bucket(datetime.fromtimestamp(now, tz)))
    score = repr(float(now))
    for gateway_id, counts in per_gateway.items():
        ids_key, counts_key = keys.unknown_device_ids(gateway_id), keys.unknown_device_counts(gateway_id)
        effects.hincrby(daily, gateway_id, sum(counts.values()))
        for device_id, n in counts.items():
            effects.hincrby(counts_key, device_id, n)
        flat = [part for device_id in counts for part in (score, device_id)]
        effects.zadd_capped(ids_key, flat, keys.UNKNOWN_DEVICE_IDS_CAP, owned_fields=[counts_key])
        effects.expire(ids_key, retention).expire(counts_key, retention)
        # The index last: a gateway dropped at once (the cap full of newer ones) leaves nothing behind.
        if gateway_id in registered_gateways:
            effects.zadd(keys.unknown_device_gateways(), now, gateway_id)
        else:
            effects.zadd_capped(keys.unknown_device_strangers(), [score, gateway_id], keys.UNKNOWN_GATEWAYS_CAP,
                                owned_fields=[daily],
                                owned_key_prefixes=[keys.unknown_device_ids(""), keys.unknown_device_counts("")])
    effects.expire(daily, retention)
    return effects
