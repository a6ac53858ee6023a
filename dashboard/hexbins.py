"""Open-case hotspots binned into hexagons here, not in the browser: the map then draws a few hundred coloured
polygons with the program the district polygons already compiled, instead of sending every open case's position
to deck.gl's HexagonLayer and compiling its column shaders (software WebGL in the wall screen's browser).

Hexagons are pointy-top, ``radius_m`` from centre to corner, on a local flat projection around the points'
middle (metres; at a city's size the error is far under a hexagon). Counts are coloured the way HexagonLayer
does by default: the range from the smallest to the largest count split into equal steps, one colour each.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cityops.city import M_PER_DEG_LAT, M_PER_DEG_LON_EQUATOR

SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True)
class HexCell:
    """One hexagon: its open cases and its corners (lon, lat), drawn ``coverage`` of the full size."""

    count: int
    polygon: list[list[float]]


def _cube_round(q: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fractional axial coordinates to the hexagon that holds them (rounding in cube coordinates)."""
    s = -q - r
    rq, rr, rs = np.round(q), np.round(r), np.round(s)
    dq, dr, ds = np.abs(rq - q), np.abs(rr - r), np.abs(rs - s)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    rq = np.where(fix_q, -rr - rs, rq)
    rr = np.where(fix_r, -rq - rs, rr)
    return rq.astype(np.int64), rr.astype(np.int64)


def hex_cells(positions: Sequence[Sequence[float]] | np.ndarray, radius_m: float,
              coverage: float = 1.0) -> list[HexCell]:
    """The hexagons of ``radius_m`` that hold any of the (lon, lat) ``positions``, with how many each holds."""
    pts = np.asarray(positions, dtype=float).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return []
    lon0, lat0 = (pts.min(axis=0) + pts.max(axis=0)) / 2
    m_per_lon = M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat0))
    x, y = (pts[:, 0] - lon0) * m_per_lon, (pts[:, 1] - lat0) * M_PER_DEG_LAT
    q, r = _cube_round((SQRT3 / 3 * x - y / 3) / radius_m, (2 / 3 * y) / radius_m)
    corners = [(math.cos(math.radians(60 * i - 30)), math.sin(math.radians(60 * i - 30))) for i in range(6)]
    size = radius_m * coverage
    cells = []
    for (cq, cr), n in sorted(Counter(zip(q.tolist(), r.tolist(), strict=True)).items()):
        cx, cy = radius_m * SQRT3 * (cq + cr / 2), radius_m * 1.5 * cr
        ring = [[round(lon0 + (cx + size * c) / m_per_lon, 5), round(lat0 + (cy + size * s) / M_PER_DEG_LAT, 5)]
                for c, s in corners]
        cells.append(HexCell(n, ring))
    return cells


def colour_of(count: int, low: int, high: int, colours: Sequence[Sequence[int]]) -> list[int]:
    """The colour of ``count`` when ``low``..``high`` is cut into ``len(colours)`` equal steps (the top step
    holds ``high``; one count alone takes the first colour)."""
    if high <= low:
        return list(colours[0])
    step = min(len(colours) - 1, int((count - low) / (high - low) * len(colours)))
    return list(colours[step])
