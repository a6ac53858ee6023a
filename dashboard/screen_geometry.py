"""Polygons thinned for a screen: Douglas–Peucker at a tolerance in screen pixels, coordinates rounded.

Why: the map only needs the outline a pixel can show. A district drawn 880 px wide does not need its
surveyed vertices, nor 15 significant digits per coordinate; every vertex saved is bytes on the websocket
and work in the browser's tessellator. Pure functions (no shapely), so the rule is tested on its own:
``tests/unit/test_screen_geometry.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Point = tuple[float, float]

# deck.gl's world is 512 px wide at zoom 0 (see ``map_layers.view_of``).
WORLD_PX = 512.0


def degrees_per_pixel(zoom: float) -> float:
    """Degrees of longitude one screen pixel spans at ``zoom`` (Web Mercator, as deck.gl draws)."""
    return 360.0 / (WORLD_PX * 2.0 ** zoom)


def _segment_distance(p: Point, a: Point, b: Point) -> float:
    """Distance from ``p`` to the segment ``a``–``b`` (planar: fine over a city)."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    if dx == 0 and dy == 0:
        return math.hypot(p[0] - ax, p[1] - ay)
    u = max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(p[0] - (ax + u * dx), p[1] - (ay + u * dy))


def douglas_peucker(points: Sequence[Sequence[float]], tolerance: float) -> list[Point]:
    """The vertices of the open line ``points`` that keep it within ``tolerance`` of the original.

    Iterative (a stack, not recursion): a surveyed boundary can hold tens of thousands of vertices.
    The first and last points are always kept.
    """
    pts = [(float(p[0]), float(p[1])) for p in points]
    if len(pts) < 3 or tolerance <= 0:
        return pts
    keep = [False] * len(pts)
    keep[0] = keep[-1] = True
    stack = [(0, len(pts) - 1)]
    while stack:
        first, last = stack.pop()
        worst, index = -1.0, -1
        for i in range(first + 1, last):
            d = _segment_distance(pts[i], pts[first], pts[last])
            if d > worst:
                worst, index = d, i
        if index >= 0 and worst > tolerance:
            keep[index] = True
            stack.append((first, index))
            stack.append((index, last))
    return [p for p, k in zip(pts, keep, strict=True) if k]


def simplify_ring(ring: Sequence[Sequence[float]], tolerance: float, decimals: int = 5) -> list[list[float]] | None:
    """A closed ring (first point == last) thinned and rounded, still closed; ``None`` when what is left
    is thinner than the tolerance (fewer than three distinct corners: it would draw as nothing).

    The ring is split at its vertex farthest from the start, so both halves are open lines and the
    start is not a fixed corner that Douglas–Peucker can never drop the neighbourhood of.
    """
    pts = [(float(p[0]), float(p[1])) for p in ring]
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts = pts[:-1]
    if len(pts) < 3:
        return None
    far = max(range(len(pts)), key=lambda i: math.hypot(pts[i][0] - pts[0][0], pts[i][1] - pts[0][1]))
    half1 = douglas_peucker(pts[:far + 1], tolerance)
    half2 = douglas_peucker([*pts[far:], pts[0]], tolerance)
    out: list[list[float]] = []
    for x, y in [*half1, *half2[1:]]:
        q = [round(x, decimals), round(y, decimals)]
        if not out or out[-1] != q:
            out.append(q)
    if len(out) > 1 and out[0] == out[-1]:
        out.pop()
    if len(out) < 3:
        return None
    return [*out, out[0]]


def simplify_geojson(geometry: Mapping, tolerance: float, decimals: int = 5) -> dict | None:
    """A GeoJSON Polygon or MultiPolygon thinned for the screen: rings simplified and rounded, holes and
    parts that shrink below the tolerance dropped; ``None`` when nothing visible is left."""
    kind = geometry.get("type")
    if kind == "Polygon":
        polygons = [geometry["coordinates"]]
    elif kind == "MultiPolygon":
        polygons = list(geometry["coordinates"])
    else:
        raise ValueError(f"not a polygon: {kind!r}")
    parts = []
    for rings in polygons:
        if not rings:
            continue
        shell = simplify_ring(rings[0], tolerance, decimals)
        if shell is None:
            continue
        holes = [h for h in (simplify_ring(r, tolerance, decimals) for r in rings[1:]) if h is not None]
        parts.append([shell, *holes])
    if not parts:
        return None
    if len(parts) == 1:
        return {"type": "Polygon", "coordinates": parts[0]}
    return {"type": "MultiPolygon", "coordinates": parts}


def vertex_count(geometry: Mapping) -> int:
    """Vertices of a GeoJSON Polygon / MultiPolygon (what the browser tessellates)."""
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return sum(len(ring) for rings in polygons for ring in rings)
