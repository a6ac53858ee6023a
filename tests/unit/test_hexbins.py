"""Hotspot hexagons binned on the server: every position counted once, in the hexagon that holds it."""

from __future__ import annotations

import math

import numpy as np
import shapely.geometry

from cityops.city import area_m2
from dashboard.hexbins import colour_of, hex_cells

COLOURS = [[1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 0, 0], [5, 0, 0], [6, 0, 0]]


def test_each_position_is_counted_once_in_the_hexagon_that_holds_it():
    rng = np.random.default_rng(3)
    points = np.column_stack([rng.uniform(117.9, 118.4, 3000), rng.uniform(24.4, 24.8, 3000)])
    cells = hex_cells(points, 900)
    assert sum(c.count for c in cells) == 3000
    shapes = [shapely.geometry.Polygon(c.polygon) for c in cells]
    tree = shapely.STRtree(shapely.points(points))
    inside = [len(tree.query(shape, predicate="contains")) for shape in shapes]
    # each hexagon counts the positions inside it (corners are rounded to 1 m: a point that close to an edge may
    # fall inside the neighbour's outline instead)
    off = sum(abs(a - c.count) for a, c in zip(inside, cells, strict=True))
    assert off <= 10, off
    # hexagons of 900 m: 3√3/2 · r² ≈ 2.1 km² each, and they do not overlap
    area = area_m2(shapes[0])
    assert abs(area - 1.5 * math.sqrt(3) * 900**2) < 0.02 * area
    assert shapes[0].intersection(shapes[1]).area < 1e-9


def test_one_place_is_one_hexagon_and_far_places_are_apart():
    assert [c.count for c in hex_cells([(118.1, 24.5)] * 50, 900)] == [50]
    assert sorted(c.count for c in hex_cells([(118.1, 24.5)] * 3 + [(118.2, 24.6)], 900)) == [1, 3]
    assert hex_cells([], 900) == [] and hex_cells([(float("nan"), 24.5)], 900) == []
    smaller = hex_cells([(118.1, 24.5)], 900, coverage=0.5)[0]
    assert shapely.geometry.Polygon(smaller.polygon).contains(shapely.geometry.Point(118.1, 24.5))


def test_counts_are_coloured_in_equal_steps_from_the_lowest_to_the_highest():
    assert colour_of(1, 1, 61, COLOURS) == [1, 0, 0]
    assert colour_of(61, 1, 61, COLOURS) == [6, 0, 0]
    assert colour_of(31, 1, 61, COLOURS) == [4, 0, 0]  # (31-1)/60 · 6 = 3: the fourth step
    assert colour_of(5, 5, 5, COLOURS) == [1, 0, 0]
