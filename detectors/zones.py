"""Zones in pixels: is an object inside a camera zone? Judged by the bottom-centre of its box.

Why the bottom-centre: a box's centre floats above the ground for tall objects (a person's chest, a
truck's cab), so a person standing next to a roadside zone would count as inside. The point where the
object meets the ground is what a zone drawn on the road surface is about (Frigate does the same).
Points exactly on an edge or a vertex count as inside, so a zone drawn to the frame border includes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cityops.devices import Zone
from detectors.base import Box

Point = tuple[float, float]


def _on_segment(p: Point, a: Point, b: Point, eps: float = 1e-9) -> bool:
    (px, py), (ax, ay), (bx, by) = p, a, b
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    if abs(cross) > eps * max(1.0, abs(bx - ax) + abs(by - ay)):
        return False
    return min(ax, bx) - eps <= px <= max(ax, bx) + eps and min(ay, by) - eps <= py <= max(ay, by) + eps


def point_in_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting; a point on the boundary is inside."""
    n = len(polygon)
    if n < 3:
        return False
    x, y = point
    inside = False
    for i in range(n):
        a, b = polygon[i], polygon[(i + 1) % n]
        if _on_segment(point, a, b):
            return True
        (ax, ay), (bx, by) = a, b
        if (ay > y) != (by > y):
            x_cross = ax + (y - ay) * (bx - ax) / (by - ay)
            if x < x_cross:
                inside = not inside
    return inside


@dataclass(frozen=True)
class PixelZone:
    """A camera zone with its polygon scaled to one frame size."""

    zone: Zone
    polygon: tuple[Point, ...]

    @classmethod
    def from_zone(cls, zone: Zone, width: int, height: int) -> PixelZone:
        return cls(zone, tuple((x * width, y * height) for x, y in zone.polygon))

    @property
    def id(self) -> str:
        return self.zone.id

    def contains_point(self, point: Point) -> bool:
        return point_in_polygon(point, self.polygon)

    def contains_box(self, box: Box) -> bool:
        return self.contains_point(box.bottom_centre)


def pixel_zones(zones: Sequence[Zone], width: int, height: int) -> list[PixelZone]:
    return [PixelZone.from_zone(z, width, height) for z in zones]
