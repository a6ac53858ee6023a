"""The one-point lookup of irregular grids (``TreeIndex``'s bucket grid) against brute force: random points,
points on boundaries and at vertices, on bucket lines, and non-finite input, with the lowest code on shared
borders, on Lakeview and on random Voronoi cities whose codes run in no spatial order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.city import Grid, TreeIndex
from cityops.city_data import load_city_data
from cityops.settings import REPO_ROOT


def _grids(polygons: list, codes: list[str]) -> list[Grid]:
    return [Grid(code, code[:12], code[:9], code[:6], None, (p.centroid.x, p.centroid.y), p.area, p)
            for code, p in zip(codes, polygons, strict=True)]


def _voronoi_city(seed: int, n: int = 60) -> list[Grid]:
    """Irregular polygons that share edges and vertices, coded in a shuffled order (so code order ≠ space)."""
    rng = np.random.default_rng(seed)
    sites = shapely.multipoints(rng.uniform(0, 1, (n, 2)) * [0.05, 0.04] + [118.0, 24.4])
    frame = shapely.box(118.0, 24.4, 118.05, 24.44)
    cells = [c.intersection(frame) for c in shapely.get_parts(shapely.voronoi_polygons(sites, extend_to=frame))]
    cells = [c for c in cells if not c.is_empty]
    codes = [f"990101001{k:06d}" for k in rng.permutation(len(cells))]
    return _grids(cells, codes)


def _brute(grids: list[Grid]):
    codes = np.array([g.code for g in grids])
    geoms = np.array([g.geometry for g in grids], dtype=object)

    def lookup(lon: float, lat: float) -> str | None:
        hits = codes[shapely.intersects_xy(geoms, lon, lat)]
        return min(hits.tolist()) if len(hits) else None
    return lookup


def _boundary_points(grids: list[Grid], rng: np.random.Generator, per_edge: int = 2) -> list[tuple[float, float]]:
    """Every vertex, and points along every edge (as near the line as floats allow)."""
    out: list[tuple[float, float]] = []
    for g in grids:
        ring = shapely.get_coordinates(g.geometry.boundary)
        out += [tuple(xy) for xy in ring.tolist()]
        for (x0, y0), (x1, y1) in zip(ring[:-1].tolist(), ring[1:].tolist(), strict=True):
            for t in rng.uniform(0, 1, per_edge).tolist():
                out.append((x0 + t * (x1 - x0), y0 + t * (y1 - y0)))
    return out


@pytest.fixture(scope="module")
def lakeview_grids() -> list[Grid]:
    return list(load_city_data(REPO_ROOT / "cities" / "lakeview").city.grids.values())


@pytest.fixture(scope="module", params=[1, 2, 3])
def voronoi_grids(request) -> list[Grid]:
    return _voronoi_city(request.param)


def _check(grids: list[Grid], points: list[tuple[float, float]]) -> None:
    index, brute = TreeIndex(grids), _brute(grids)
    got = [index.lookup(x, y) for x, y in points]
    assert got == [brute(x, y) for x, y in points]
    assert got == index.lookup_many([x for x, _ in points], [y for _, y in points]), "one by one = batch"


def test_lakeview_boundaries_and_vertices_go_to_the_lowest_code(lakeview_grids):
    points = _boundary_points(lakeview_grids, np.random.default_rng(7))
    _check(lakeview_grids, points)
    shared = [p for p in points if sum(shapely.intersects_xy(g.geometry, *p) for g in lakeview_grids) > 1]
    assert len(shared) > 50, "many points lie on a border of several grids"


def test_voronoi_cities_boundaries_vertices_and_random_points(voronoi_grids):
    rng = np.random.default_rng(11)
    inside = list(zip(rng.uniform(117.995, 118.055, 3000).tolist(), rng.uniform(24.395, 24.445, 3000).tolist(),
                      strict=True))
    _check(voronoi_grids, _boundary_points(voronoi_grids, rng) + inside)


def test_points_on_bucket_lines_and_extent_edges(voronoi_grids):
    index = TreeIndex(voronoi_grids)
    b = index._buckets
    xs = [b._x0 + i * b._cell for i in range(b._nx + 1)]
    ys = [b._y0 + j * b._cell for j in range(b._ny + 1)]
    xs, ys = xs[:: max(1, len(xs) // 40)], ys[:: max(1, len(ys) // 40)]
    minx, miny, maxx, maxy = shapely.total_bounds([g.geometry for g in voronoi_grids]).tolist()
    points = [(x, y) for x in xs for y in ys]
    points += [(x, y) for x in (minx, maxx, math.nextafter(minx, -1), math.nextafter(maxx, 200)) for y in ys]
    points += [(x, y) for y in (miny, maxy, math.nextafter(miny, -1), math.nextafter(maxy, 100)) for x in xs]
    points += [(math.nextafter(x, -1), math.nextafter(y, 100)) for x, y in points[:400]]
    _check(voronoi_grids, points)


def test_non_finite_and_outside_points_and_an_empty_city(lakeview_grids):
    index = TreeIndex(lakeview_grids)
    for lon, lat in [(math.nan, 24.0), (0.0, math.nan), (math.inf, 24.0), (-math.inf, -math.inf), (0.0, 0.0),
                     (1e300, 1e300)]:
        assert index.lookup(lon, lat) is None
    assert TreeIndex([]).lookup(118.0, 24.4) is None


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 3), u=st.floats(-0.1, 1.1), v=st.floats(-0.1, 1.1))
def test_any_point_agrees_with_brute_force(seed, u, v):
    grids = _CITIES.setdefault(seed, _voronoi_city(seed, n=25))
    index = _INDEXES.setdefault(seed, TreeIndex(grids))
    lon, lat = 118.0 + u * 0.05, 24.4 + v * 0.04
    assert index.lookup(lon, lat) == _brute(grids)(lon, lat)


_CITIES: dict[int, list[Grid]] = {}
_INDEXES: dict[int, TreeIndex] = {}
