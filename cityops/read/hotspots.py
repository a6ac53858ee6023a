"""Hotspot reads: where the open cases are, for the map's hotspot layer."""

from __future__ import annotations

import numpy as np
from redis import Redis

from cityops import keys
from cityops.lua import source


def open_case_positions(r: Redis, limit: int = 20000) -> list[tuple[str, float, float]]:
    """(case id, lon, lat) of open located cases, for the hotspot map."""
    members = r.zrange(keys.open_cases(), 0, limit - 1)
    if not members:
        return []
    positions = r.geopos(keys.open_cases(), *members)
    return [(m, p[0], p[1]) for m, p in zip(members, positions, strict=True) if p is not None]


OPEN_SCORES = source("open_scores")


MAX_HOTSPOT_POSITIONS = 20000
GEO_STEP = 26  # Redis geohash precision: 26 bits per coordinate, interleaved into a 52-bit score
GEO_LAT_LIMIT = 85.05112878


def _even_bits(x: np.ndarray) -> np.ndarray:
    """The even-position bits of each 64-bit value packed together (de-interleaving a geohash)."""
    x = x & np.uint64(0x5555555555555555)
    for shift, mask in ((1, 0x3333333333333333), (2, 0x0F0F0F0F0F0F0F0F), (4, 0x00FF00FF00FF00FF),
                        (8, 0x0000FFFF0000FFFF), (16, 0x00000000FFFFFFFF)):
        x = (x | (x >> np.uint64(shift))) & np.uint64(mask)
    return x


def open_case_lonlat(r: Redis, limit: int = 20000) -> np.ndarray:
    """(n, 2) array of lon, lat of open located cases, for the hotspot layer (no ids needed there).

    Why not GEOPOS: for thousands of members its reply costs tens of ms to build and parse. The geo
    set's scores *are* the positions (Redis' 52-bit interleaved geohash), so one string of scores is
    read and decoded with numpy to the centre of each cell, exactly as GEOPOS would (tested).

    Why a snapshot: with many open cases even building that string takes Redis a large part of the big
    screen's budget, on every refresh of every screen. The workers rebuild it every few seconds
    (``keys.open_cases_snapshot``), so the screens only read it; when it is missing (no worker running),
    it is built here.
    """
    raw = r.get(keys.open_cases_snapshot())
    if raw is None:
        raw = r.eval(OPEN_SCORES, 1, keys.open_cases(), min(limit, MAX_HOTSPOT_POSITIONS))
    if not raw:
        return np.zeros((0, 2))
    bits = np.fromstring(raw, dtype=np.float64, sep=",")[:limit].astype(np.uint64)  # 52 bits: exact in a double
    lat_i, lon_i = _even_bits(bits), _even_bits(bits >> np.uint64(1))
    cells = float(1 << GEO_STEP)
    lon = -180.0 + (lon_i.astype(np.float64) + 0.5) * (360.0 / cells)
    lat = -GEO_LAT_LIMIT + (lat_i.astype(np.float64) + 0.5) * (2 * GEO_LAT_LIMIT / cells)
    return np.column_stack([lon, lat])
