"""Polygons thinned for the screen (``dashboard/screen_geometry.py``): Douglas–Peucker, rounding, closure."""

from __future__ import annotations

import math

import pytest
import shapely.geometry

from dashboard import screen_geometry as sg


def test_points_within_the_tolerance_of_a_straight_line_go():
    line = [(0.0, 0.0), (1.0, 0.0004), (2.0, -0.0004), (3.0, 0.0)]
    assert sg.douglas_peucker(line, 0.001) == [(0.0, 0.0), (3.0, 0.0)]
    assert sg.douglas_peucker(line, 0.0001) == line, "below the tolerance nothing is dropped"


def test_a_corner_beyond_the_tolerance_stays():
    assert sg.douglas_peucker([(0, 0), (1, 0.05), (2, 1), (3, 0.05), (4, 0)], 0.5) == [(0, 0), (2, 1), (4, 0)]


def test_a_ring_stays_closed_rounded_and_within_the_tolerance_of_the_original():
    # a circle of 2,000 vertices, 0.05° across: the screen needs a few dozen
    circle = [(118.1 + 0.05 * math.cos(a), 24.5 + 0.05 * math.sin(a))
              for a in (2 * math.pi * i / 2000 for i in range(2000))]
    ring = [*circle, circle[0]]
    tol = 0.0003
    out = sg.simplify_ring(ring, tol)
    assert out is not None and out[0] == out[-1]
    assert 10 < len(out) < 100, len(out)
    assert all(len(str(x).split(".")[-1]) <= 5 for p in out for x in p), "rounded to 5 decimals"
    original, thinned = shapely.geometry.Polygon(ring), shapely.geometry.Polygon(out)
    assert thinned.is_valid
    assert original.hausdorff_distance(thinned) <= tol + 1e-5


def test_a_sliver_or_a_hole_below_the_tolerance_is_dropped():
    assert sg.simplify_ring([(0, 0), (1, 0), (1, 0.00001), (0, 0.00001), (0, 0)], 0.001) is None
    square = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    speck = [[0.5, 0.5], [0.5001, 0.5], [0.5001, 0.5001], [0.5, 0.5]]
    out = sg.simplify_geojson({"type": "Polygon", "coordinates": [square, speck]}, 0.001)
    assert out == {"type": "Polygon", "coordinates": [square]}


def test_a_multipolygon_keeps_its_visible_parts_only():
    big = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    islet = [[5, 5], [5.00001, 5], [5.00001, 5.00001], [5, 5]]
    both = {"type": "MultiPolygon", "coordinates": [[big], [[[3, 3], [4, 3], [4, 4], [3, 3]]], [islet]]}
    out = sg.simplify_geojson(both, 0.001)
    assert out["type"] == "MultiPolygon" and len(out["coordinates"]) == 2
    assert sg.simplify_geojson({"type": "MultiPolygon", "coordinates": [[islet]]}, 0.001) is None
    with pytest.raises(ValueError):
        sg.simplify_geojson({"type": "Point", "coordinates": [0, 0]}, 0.001)


def test_one_pixel_is_the_degrees_deck_gl_draws_per_pixel():
    assert sg.degrees_per_pixel(0) == pytest.approx(360 / 512)
    assert sg.degrees_per_pixel(10) == pytest.approx(360 / 512 / 1024)


def test_the_city_s_districts_shrink_on_the_big_screen_but_keep_their_shape():
    from dashboard import map_layers
    from fixtures.xiamen import load_city

    city = load_city()
    features = map_layers.district_features(city, tolerance=sg.degrees_per_pixel(10) / 2)
    assert len(features) == len(city.districts)
    for f in features:
        district = city.districts[f["properties"]["code"]]
        assert sg.vertex_count(f["geometry"]) < shapely.get_num_coordinates(district.geometry)
        drawn = shapely.geometry.shape(f["geometry"])
        assert abs(drawn.area - district.geometry.area) / district.geometry.area < 0.02
