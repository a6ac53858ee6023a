"""City data folders: the committed Xiamen folder is the generated city exactly, the hand-written Lakeview
folder (irregular grids) loads onto the R-tree index, and a bad file is refused with file, feature and fault."""

from __future__ import annotations

import filecmp
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import shapely

from cityops.city import GridIndex, TreeIndex
from cityops.city_data import CityDataError, load_city_data
from cityops.settings import REPO_ROOT, get_settings

XIAMEN = REPO_ROOT / "cities" / "xiamen"
LAKEVIEW = REPO_ROOT / "cities" / "lakeview"


@pytest.fixture(scope="module")
def lakeview():
    return load_city_data(LAKEVIEW)


def test_the_committed_xiamen_folder_is_what_the_generator_writes(tmp_path):
    from fixtures.xiamen import build_folder

    written = build_folder(tmp_path / "xiamen")
    names = sorted(p.name for p in written)
    assert names == sorted(p.name for p in XIAMEN.iterdir())
    match, mismatch, errors = filecmp.cmpfiles(XIAMEN, tmp_path / "xiamen", names, shallow=False)
    assert not mismatch and not errors, f"cities/xiamen is stale: run python -m fixtures.xiamen build ({mismatch})"
    assert sum(p.stat().st_size for p in written) < 4_000_000


def test_the_loaded_xiamen_folder_is_the_generated_city_exactly():
    from fixtures.xiamen import build_cameras, build_city, build_sensors

    data, built = load_city_data(XIAMEN), build_city()
    city = data.city
    assert (city.code, city.name_zh, city.name_en, city.lattice) == (built.code, built.name_zh, built.name_en,
                                                                     built.lattice)
    assert list(city.grids) == list(built.grids) and city.grids == built.grids  # codes, cells, centroids, areas
    assert all(shapely.equals_exact(city.grids[c].geometry, g.geometry, 0) for c, g in built.grids.items())
    assert all(shapely.equals_exact(city.districts[c].geometry, d.geometry, 0) for c, d in built.districts.items())
    assert city.districts == built.districts and city.streets == built.streets
    assert city.communities == built.communities
    assert list(city.departments.items()) == list(built.departments.items())
    assert data.sensors == tuple(build_sensors(built, 600))
    assert data.cameras == tuple(build_cameras(built, 500))
    assert isinstance(city.index, GridIndex)
    rng = np.random.default_rng(11)
    lons, lats = rng.uniform(117.88, 118.42, 50_000), rng.uniform(24.41, 24.91, 50_000)
    assert city.index.lookup_many(lons, lats) == built.index.lookup_many(lons, lats)
    for role in ("street_squad", "district_squad", "district_sanitation", "traffic_police", "command"):
        for code in list(built.grids)[::97] + [None]:
            assert city.responsible_department(role, code) == built.responsible_department(role, code)


def test_lakeview_is_irregular_and_uses_the_rtree(lakeview):
    city = lakeview.city
    assert city.code == "990100" and city.lattice is None and isinstance(city.index, TreeIndex)
    assert len(city.districts) == 2 and 10 <= len(city.grids) <= 20
    areas = {round(g.area_m2, -2) for g in city.grids.values()}
    assert len(areas) > 5, "grids of many shapes and sizes, not a lattice"
    assert len(lakeview.sensors) >= 4 and len(lakeview.cameras) == 1
    assert {s.grid_code for s in lakeview.sensors} <= set(city.grids)


def test_rtree_lookup_agrees_with_brute_force_and_breaks_ties_by_lowest_code(lakeview):
    city = lakeview.city
    codes = np.array(sorted(city.grids))
    geoms = np.array([city.grids[c].geometry for c in codes], dtype=object)
    rng = np.random.default_rng(4)
    minx, miny, maxx, maxy = shapely.union_all(geoms).bounds
    lons, lats = rng.uniform(minx - 0.002, maxx + 0.002, 4000), rng.uniform(miny - 0.002, maxy + 0.002, 4000)
    many = city.index.lookup_many(lons, lats)
    for lon, lat, got in zip(lons, lats, many, strict=True):
        hits = codes[shapely.intersects_xy(geoms, lon, lat)]
        assert got == (min(hits.tolist()) if len(hits) else None)
        assert city.index.lookup(float(lon), float(lat)) == got
    # a shared vertex of several grids goes to the lowest of their codes
    a, b = city.grids["990101001001001"].geometry, city.grids["990101001001002"].geometry
    shared = shapely.get_coordinates(a.intersection(b))[0]
    assert city.index.lookup(*shared) == "990101001001001"


def test_lakeview_responsibility(lakeview):
    city = lakeview.city
    grid = city.grid_at(120.1076, 30.2076)
    assert grid is not None and grid.district_code == "990101" and grid.street_code == "990101001"
    assert city.responsible_department("street_squad", grid.code) == "HB-SQUAD"
    assert city.responsible_department("district_sanitation", grid.code) == "CJ-SAN"
    assert city.responsible_department("district_squad", None) == "LV-ENFORCE"
    assert city.responsible_department("district_sanitation", None) == "LV-SANITATION"
    assert city.responsible_department("traffic_police", grid.code) == "LV-TRAFFIC"
    assert lakeview.camera("LV-CAM-01").grid_code == "990102001001002"
    with pytest.raises(KeyError, match="unknown camera"):
        lakeview.camera("CAM-0001")


def test_settings_take_the_folder_and_its_time_zone(tmp_path, monkeypatch):
    folder = tmp_path / "city"
    shutil.copytree(LAKEVIEW, folder)
    meta = json.loads((folder / "city.json").read_text(encoding="utf-8"))
    (folder / "city.json").write_text(json.dumps(meta | {"timezone": "Europe/Lisbon"}), encoding="utf-8")
    monkeypatch.setenv("CITYOPS_CITY_DIR", str(folder))
    monkeypatch.delenv("CITYOPS_TZ", raising=False)
    get_settings.cache_clear()
    try:
        assert get_settings().city_dir == folder.resolve() and get_settings().tz.key == "Europe/Lisbon"
        monkeypatch.setenv("CITYOPS_TZ", "Asia/Shanghai")
        get_settings.cache_clear()
        assert get_settings().tz.key == "Asia/Shanghai"
        monkeypatch.setenv("CITYOPS_CITY_DIR", str(tmp_path / "nowhere"))
        monkeypatch.delenv("CITYOPS_TZ")
        get_settings.cache_clear()
        with pytest.raises(ValueError, match="city.json: file is missing"):
            get_settings()
    finally:
        get_settings.cache_clear()


def _geojson_edit(folder: Path, name: str, index: int, change) -> None:  # noqa: ANN001
    path = folder / name
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data["features"][index])
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _append(folder: Path, name: str, line: str) -> None:
    with (folder / name).open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def _replace(folder: Path, name: str, old: str, new: str) -> None:
    text = (folder / name).read_text(encoding="utf-8")
    assert old in text
    (folder / name).write_text(text.replace(old, new, 1), encoding="utf-8")


BAD = [
    (lambda f: (f / "sensors.csv").unlink(), "sensors.csv: file is missing"),
    (lambda f: _replace(f, "city.json", '"Asia/Shanghai"', '"Mars/Olympus"'),
     "city.json: timezone 'Mars/Olympus' is not an IANA time zone"),
    (lambda f: _geojson_edit(f, "grids.geojson", 3, lambda x: x["properties"].update(code="99010100100201")),
     "grids.geojson feature 3 (code 99010100100201): grid code '99010100100201' must be 990101001002 followed by 3"),
    (lambda f: _geojson_edit(f, "grids.geojson", 0, lambda x: x["properties"].update(community="990101009001")),
     "grids.geojson feature 0 (code 990101001001001): community '990101009001' is not in communities.geojson"),
    (lambda f: _geojson_edit(f, "grids.geojson", 1, lambda x: x.update(geometry={"type": "Point",
                                                                               "coordinates": [120.1, 30.2]})),
     "grids.geojson feature 1 (code 990101001001002): geometry must be a non-empty Polygon or MultiPolygon"),
    (lambda f: _geojson_edit(f, "grids.geojson", 2, lambda x: x["geometry"].update(coordinates=[[
        [120.10, 30.20], [120.11, 30.21], [120.11, 30.20], [120.10, 30.21], [120.10, 30.20]]])),
     "grids.geojson feature 2 (code 990101001001003): geometry is invalid (Self-intersection"),
    (lambda f: _replace(f, "departments.csv", "HB-SQUAD,湖滨街道城管中队,Hubin Street Squad,street_squad,street,"
                        "990101,990101001\n", ""),
     "departments.csv: no street_squad department for street 990101001"),
    (lambda f: _append(f, "departments.csv", "LV-X,某,Some,wizards,city,,"), "departments.csv line 18: LV-X has "
     "unknown role 'wizards'"),
    (lambda f: _append(f, "departments.csv", "LV-Y,某,Some,street_squad,street,990102,990101001"),
     "departments.csv line 18: street_code '990101001' is not a street of district 990102"),
    (lambda f: _append(f, "sensors.csv", "LV-NS-09,noise,laeq,dB(A),S,construction,2,120.2,30.3,990101001001001,"
                       "LV-GW-01,60,x"), "sensors.csv line 7: 120.2,30.3 lies outside its grid 990101001001001"),
    (lambda f: _append(f, "sensors.csv", "LV-NS-09,noise,laeq,dB(A),S,construction,2,abc,30.3,990101001001001,"
                       "LV-GW-01,60,x"), "sensors.csv line 7: lon 'abc' is not a number"),
    (lambda f: _append(f, "sensors.csv", "LV-NS-09,noise,laeq,dB(A),S,construction,2,120.104205,30.2023,"
                       "990101001001001,LV-GW-09,60,x"), "sensors.csv line 7: gateway 'LV-GW-09' is not in gateways"),
    (lambda f: _replace(f, "cameras.yml", 'grid_code: "990102001001002"', 'grid_code: "990101001001001"'),
     "cameras.yml: camera LV-CAM-01: 120.117807,30.2024 lies outside its grid 990101001001001"),
    (lambda f: _replace(f, "cameras.yml", 'grid_code: "990102001001002"', 'grid_code: "990109001001001"'),
     "cameras.yml: camera LV-CAM-01: grid_code: '990109001001001' is not a grid of the city"),
    (lambda f: _replace(f, "cameras.yml", "[1.0, 0.3], [1.0, 0.9]", "[1.0, 0.3], [1.4, 0.9]"),
     "cameras.yml: camera LV-CAM-01: zones[1].polygon: point 3 (1.4, 0.9) is outside 0..1"),
    (lambda f: _replace(f, "catalogue.csv", "code,family", "kode,family"), "catalogue.csv line 1: header must be"),
    (lambda f: _append(f, "holidays.csv", "2026-13-01,holiday,x,x"), "holidays.csv line 179: date '2026-13-01'"),
]


@pytest.mark.parametrize(("breakage", "message"), BAD, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BAD)])
def test_a_bad_folder_is_refused_naming_file_feature_and_fault(tmp_path, breakage, message):
    folder = tmp_path / "city"
    shutil.copytree(LAKEVIEW, folder)
    breakage(folder)
    with pytest.raises(CityDataError, match=re.escape(message)):
        load_city_data(folder)


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(CityDataError, match="city data folder does not exist"):
        load_city_data(tmp_path / "absent")


def test_sensor_columns_with_defaults_may_be_left_out_but_unknown_ones_are_refused(tmp_path):
    folder = tmp_path / "city"
    shutil.copytree(LAKEVIEW, folder)
    lines = (folder / "sensors.csv").read_text(encoding="utf-8").splitlines()
    (folder / "sensors.csv").write_text("\n".join(line.rsplit(",", 2)[0] for line in lines) + "\n", encoding="utf-8")
    sensors = load_city_data(folder).sensors
    assert [(s.interval_s, s.name_zh) for s in sensors] == [(60, "")] * len(sensors)
    _replace(folder, "sensors.csv", "gateway_id", "gateway")
    with pytest.raises(CityDataError, match=r"sensors.csv line 1: header needs .*unknown: \['gateway'\]"):
        load_city_data(folder)
