"""City model: hierarchy sizes, point → grid lookup including polygon and lattice edges, responsibility."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from fixtures.xiamen import LATTICE, load_cameras, load_city, load_sensors


@pytest.fixture(scope="module")
def city():
    return load_city()


def test_hierarchy_sizes_and_codes(city):
    assert len(city.districts) == 6
    assert {d.name_zh for d in city.districts.values()} == {"思明区", "湖里区", "集美区", "海沧区", "同安区", "翔安区"}
    assert len(city.grids) >= 2000
    assert len(city.streets) >= 38
    assert len(city.communities) >= 300
    for code, g in list(city.grids.items())[:500]:
        assert len(code) == 15 and code.startswith(g.community_code) and g.community_code.startswith(g.street_code)
        assert g.street_code.startswith(g.district_code)
    # every grid lies inside its district
    for g in list(city.grids.values())[::50]:
        assert city.districts[g.district_code].geometry.buffer(1e-9).contains(g.geometry)


def test_generation_is_deterministic():
    from fixtures.xiamen import build_city

    a, b = build_city(), build_city()
    assert list(a.grids) == list(b.grids)
    assert [c.name_zh for c in a.communities.values()] == [c.name_zh for c in b.communities.values()]


def test_lookup_agrees_with_brute_force(city):
    rng = np.random.default_rng(3)
    lons, lats = rng.uniform(117.88, 118.42, 1500), rng.uniform(24.41, 24.91, 1500)
    codes = np.array(list(city.grids))
    geoms = np.array([city.grids[c].geometry for c in codes], dtype=object)
    for lon, lat in zip(lons, lats, strict=True):
        got = city.index.lookup(float(lon), float(lat))
        hits = set(codes[shapely.intersects_xy(geoms, lon, lat)])
        assert (got is None and not hits) or got in hits


def test_lattice_line_belongs_to_the_cell_east_and_north(city):
    whole = [g for g in city.grids.values()
             if abs(g.geometry.area - LATTICE.dlon * LATTICE.dlat) < 1e-12]
    g = whole[len(whole) // 2]
    i, j = g.cell
    x0, y0, x1, y1 = LATTICE.bounds(i, j)
    assert city.index.lookup(x0, y0) == g.code  # south-west corner is inside (half-open cell)
    assert city.index.lookup((x0 + x1) / 2, y0) == g.code  # south edge inside
    assert city.index.lookup(x1, (y0 + y1) / 2) != g.code  # east edge belongs to the next cell
    assert city.index.lookup((x0 + x1) / 2, y1) != g.code  # north edge belongs to the next cell
    assert city.index.lookup(x1 - 1e-9, y1 - 1e-9) == g.code


def test_points_on_district_borders_resolve_to_one_of_the_neighbours(city):
    siming, huli = city.districts["350203"].geometry, city.districts["350206"].geometry
    border = siming.intersection(huli)
    assert not border.is_empty
    for frac in np.linspace(0.05, 0.95, 15):
        p = border.interpolate(float(frac), normalized=True)
        code = city.index.lookup(p.x, p.y)
        assert code is not None
        assert city.grids[code].district_code in ("350203", "350206")
        assert shapely.intersects_xy(city.grids[code].geometry, p.x, p.y)


def test_sea_and_far_away_points_resolve_to_none(city):
    assert city.index.lookup(118.30, 24.40) is None  # the strait south of Xiamen
    assert city.index.lookup(116.40, 39.90) is None  # Beijing
    assert city.grid_at(118.0894, 24.4798) is not None  # Zhongshan Road, Siming


def test_lookup_many_matches_lookup(city):
    rng = np.random.default_rng(5)
    lons, lats = rng.uniform(117.9, 118.4, 3000), rng.uniform(24.42, 24.9, 3000)
    expected = [city.index.lookup(float(a), float(b)) for a, b in zip(lons, lats, strict=True)]
    assert city.index.lookup_many(lons, lats) == expected


def test_responsibility_map(city):
    grid = city.grid_at(118.0894, 24.4798)
    assert city.responsible_department("street_squad", grid.code) == f"SSQ-{grid.street_code}"
    assert city.responsible_department("district_squad", grid.code) == "DSQ-350203"
    assert city.responsible_department("district_sanitation", grid.code) == "DSAN-350203"
    assert city.responsible_department("traffic_police", grid.code) == "CITY-TRAFFIC"
    assert city.responsible_department("street_squad", None) == "CITY-ENFORCE"
    for dept in ("SSQ-" + grid.street_code, "DSQ-350203", "DSAN-350203", "CITY-TRAFFIC", "CITY-ENFORCE"):
        assert dept in city.departments
    with pytest.raises(KeyError):
        city.responsible_department("astronauts", grid.code)


def test_devices(city):
    sensors, cameras = load_sensors(), load_cameras()
    assert len(sensors) >= 500
    assert {s.kind for s in sensors} == {"noise", "dust", "smoke"}
    assert len({s.id for s in sensors}) == len(sensors)
    assert all(city.index.lookup(s.lon, s.lat) == s.grid_code for s in sensors)
    gateways: dict[str, int] = {}
    for s in sensors:
        gateways[s.gateway_id] = gateways.get(s.gateway_id, 0) + 1
    assert max(gateways.values()) <= 100
    assert len(cameras) >= 500
    assert all(cam.zones for cam in cameras)
