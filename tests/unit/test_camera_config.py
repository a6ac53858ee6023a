"""cameras.yml: every field checked with an error naming camera and field, credentials refused, zones saved."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml

from cityops.settings import Settings
from detectors.camera_config import CameraConfigError, cameras_path, load_camera_file, save_zone_polygon
from detectors.sources import SourceError, expand_env

GOOD = """\
# Cameras of the test city.
cameras:
  CAM-0042:
    name: 湖里区大桥路段摄像头
    lon: 118.1330
    lat: 24.5050
    grid_code: "350206001001001"
    source: {url: "rtsp://${CAM42_USER}:${CAM42_PASSWORD}@10.0.0.7/stream1"}
    sample_fps: 5
    detector: coco
    min_object_size: 0.04
    masks:
      - [[0.0, 0.0], [1.0, 0.0], [1.0, 0.1], [0.0, 0.1]]
    zones:
      - id: no-stopping
        name: 桥面禁停区
        polygon: [[0.3, 0.45], [1.0, 0.4], [1.0, 1.0], [0.33, 1.0]]
        ai_types: [illegal_parking]
        min_dwell_s: 10
      - id: market
        name: 夜市
        polygon: [[0.0, 0.5], [0.3, 0.5], [0.3, 1.0]]
        ai_types: [street_vending, mobile_vendor]
        allowed: ["18:00-23:00"]
        min_object_size: 40px
    label_map: {person: [mobile_vendor]}
  CAM-FILE:
    name: 文件摄像头
    lon: 118.1
    lat: 24.5
    source: {path: clips/a.mp4}
    zones:
      - {id: z, polygon: [[0, 0], [1, 0], [1, 1]], ai_types: [ebike_parking]}
"""


def write(tmp_path: Path, text: str, name: str = "cameras.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(tmp_path: Path, text: str, **kw) -> list[str]:
    with pytest.raises(CameraConfigError) as info:
        load_camera_file(write(tmp_path, text), **kw)
    return info.value.errors


def test_good_file_loads_into_devices(tmp_path: Path) -> None:
    f = load_camera_file(write(tmp_path, GOOD))
    assert list(f.cameras) == ["CAM-0042", "CAM-FILE"]
    spec = f.cameras["CAM-0042"]
    assert spec.detector == "coco" and spec.sample_fps == 5.0
    assert spec.source == "rtsp://${CAM42_USER}:${CAM42_PASSWORD}@10.0.0.7/stream1"
    cams = {c.id: c for c in f.to_devices()}
    cam = cams["CAM-0042"]
    assert cam.name_zh == "湖里区大桥路段摄像头" and cam.grid_code == "350206001001001"
    assert cam.masks == (((0.0, 0.0), (1.0, 0.0), (1.0, 0.1), (0.0, 0.1)),)
    assert cam.min_height_frac == 0.04 and dict(cam.label_map) == {"person": ("mobile_vendor",)}
    stop, market = cam.zones
    assert stop.min_dwell_s == 10 and stop.min_height(1000) == 40.0  # the camera's 0.04 of 1000 px
    assert market.min_height(1000) == 40.0 and market.min_height_px == 40.0 and market.min_height_frac == 0.0
    assert str(market.allowed[0]) == "18:00-23:00"
    other = cams["CAM-FILE"]
    assert other.detector == "coco+classical" and other.source == "clips/a.mp4" and other.zones[0].min_dwell_s == 60
    assert other.grid_code == ""


BROKEN = [
    ("name: ''", "camera CAM-0042: name: must be a non-empty string"),
    ("lon: 200", "camera CAM-0042: lon: must be a longitude in -180..180"),
    ("lat: north", "camera CAM-0042: lat: must be a latitude"),
    ("sample_fps: 0", "camera CAM-0042: sample_fps: must be frames per second in (0, 120]"),
    ("detector: yolo", "camera CAM-0042: detector: must be one of coco, classical, coco+classical, not 'yolo'"),
    ("min_object_size: 3", "camera CAM-0042: min_object_size: must be a fraction of the frame height"),
    ("masks: [[[0, 0], [1, 0]]]", "camera CAM-0042: masks[0]: must be a list of at least 3 [x, y] points"),
    ("source: {url: 'ftp://x/y'}", "camera CAM-0042: source.url: scheme 'ftp' is not one of"),
    ("source: {url: 'rtsp://x/y', path: a.mp4}", "camera CAM-0042: source: give exactly one of url or path"),
    ("source: {url: 'rtsp://admin:secret@10.0.0.7/s'}", "camera CAM-0042: source.url: holds literal credentials"),
    ("source: {url: 'rtsp://admin@10.0.0.7/s'}", "camera CAM-0042: source.url: holds literal credentials"),
    ("label_map: {person: [dancing]}", "camera CAM-0042: label_map.person: 'dancing' is not a violation type"),
    ("zones: []", "camera CAM-0042: zones: must be a non-empty list of zones"),
    ("colour: red", "camera CAM-0042: colour: unknown field"),
    ("zones: [{id: z, polygon: [[0, 0], [1, 0], [1.2, 0.4]], ai_types: [illegal_parking]}]",
     "cameras.yml: camera CAM-0042: zones[0].polygon: point 3 (1.2, 0.4) is outside 0..1"),
    ("zones: [{id: z, polygon: [[0, 0], [0.5, 0.5], [1, 1]], ai_types: [illegal_parking]}]",
     "camera CAM-0042: zones[0].polygon: has no area"),
    ("zones: [{id: z, polygon: [[0, 0], [1, 0], [1, 1]], ai_types: [parking]}]",
     "camera CAM-0042: zones[0].ai_types: 'parking' is not a violation type"),
    ("zones: [{id: z, polygon: [[0, 0], [1, 0], [1, 1]], ai_types: [illegal_parking], min_dwell_s: -1}]",
     "camera CAM-0042: zones[0].min_dwell_s: must be seconds in 0..86400"),
    ("zones: [{id: z, polygon: [[0, 0], [1, 0], [1, 1]], ai_types: [illegal_parking], allowed: ['18-23']}]",
     "camera CAM-0042: zones[0].allowed[0]: '18-23' is not a window \"HH:MM-HH:MM\""),
    ("zones: [{id: z, polygon: [[0, 0], [1, 0], [1, 1]], ai_types: [illegal_parking], min_object_size: big}]",
     "camera CAM-0042: zones[0].min_object_size: must be a fraction"),
    ("zones: [{id: 'a b', polygon: [[0, 0], [1, 0], [1, 1]], ai_types: [illegal_parking]}]",
     "camera CAM-0042: zones[0].id: must be 1-64 letters"),
    ("zones: [{id: z, polygon: [[0, 0], [1, 0], [1, 1]], ai_types: [illegal_parking], depth: 3}]",
     "camera CAM-0042: zones[0].depth: unknown field"),
]


@pytest.mark.parametrize(("line", "message"), BROKEN, ids=[m.split(": ")[2] for _, m in BROKEN])
def test_each_field_error_names_camera_and_field(tmp_path: Path, line: str, message: str) -> None:
    key = line.split(":", 1)[0]
    data = yaml.safe_load(GOOD)
    data["cameras"]["CAM-0042"][key] = yaml.safe_load(line)[key]
    errors = errors_of(tmp_path, yaml.safe_dump(data, allow_unicode=True))
    assert any(message in e for e in errors), errors
    assert all(e.startswith("cameras.yml: ") for e in errors)


def test_all_errors_are_reported_not_just_the_first(tmp_path: Path) -> None:
    data = yaml.safe_load(GOOD)
    data["cameras"]["CAM-0042"]["lon"] = 500
    data["cameras"]["CAM-FILE"]["zones"][0]["polygon"] = [[0, 0], [2, 0], [1, 1]]
    errors = errors_of(tmp_path, yaml.safe_dump(data, allow_unicode=True))
    assert len(errors) == 2
    assert "camera CAM-0042: lon:" in errors[0] and "camera CAM-FILE: zones[0].polygon: point 2 (2, 0)" in errors[1]


def test_grid_is_checked_against_the_city(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(CameraConfigError) as info:
        load_camera_file(path, known_grids={"350206001001002"})
    assert info.value.errors == [
        "cameras.yml: camera CAM-0042: grid_code: '350206001001001' is not a grid of the city (grids.geojson)",
        "cameras.yml: camera CAM-FILE: grid_code: is missing (the city's grid the camera stands in)",
    ]


def test_unreadable_files(tmp_path: Path) -> None:
    assert errors_of(tmp_path, "cameras: [a, b")[0].startswith("cameras.yml: line 2, column 1: not valid YAML")
    assert "the file must hold a mapping 'cameras:'" in errors_of(tmp_path, "- a\n")[0]
    twice = "cameras:\n  A: {name: a}\n  A: {name: b}\n"
    assert "key 'A' is given twice" in errors_of(tmp_path, twice)[0]
    with pytest.raises(CameraConfigError, match="file is missing"):
        load_camera_file(tmp_path / "nope.yml")


def test_env_placeholders_expand_at_open_time(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "rtsp://${CAM42_USER}:${CAM42_PASSWORD}@10.0.0.7/stream1"
    monkeypatch.setenv("CAM42_USER", "admin")
    monkeypatch.setenv("CAM42_PASSWORD", "p@ss:w/rd")
    assert expand_env(url) == "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.7/stream1"
    monkeypatch.delenv("CAM42_PASSWORD")
    with pytest.raises(SourceError, match=r"environment variable CAM42_PASSWORD \(named in the camera's source\)"):
        expand_env(url)


def test_cameras_path_setting(tmp_path: Path) -> None:
    assert cameras_path(Settings(city_dir=tmp_path)) == tmp_path / "cameras.yml"
    assert cameras_path(Settings(city_dir=tmp_path, cameras_file=tmp_path / "x.yml")) == tmp_path / "x.yml"


def test_save_zone_polygon_round_trip_keeps_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    before = load_camera_file(path)
    save_zone_polygon(path, "CAM-0042", "market", [(0.1, 0.5), (0.35, 0.52), (0.3, 0.95), (0.05, 0.9)])
    after = load_camera_file(path)
    assert after.cameras["CAM-0042"].zones[1].polygon == ((0.1, 0.5), (0.35, 0.52), (0.3, 0.95), (0.05, 0.9))
    # everything else is the same data: other zone, other camera, placeholders, sizes, windows
    b, a = before.cameras["CAM-0042"], after.cameras["CAM-0042"]
    assert a.zones[0] == b.zones[0] and a.zones[1].allowed == b.zones[1].allowed
    assert a.source == b.source and a.masks == b.masks and a.label_map == b.label_map
    assert a.zones[1].min_object_size == b.zones[1].min_object_size
    assert after.cameras["CAM-FILE"] == before.cameras["CAM-FILE"]
    assert path.read_text(encoding="utf-8").startswith("# Cameras of the test city.\ncameras:\n")
    assert not list(tmp_path.glob(".cameras.yml.*.tmp"))


def test_save_zone_polygon_refuses_bad_polygons_and_names(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    text = path.read_text(encoding="utf-8")
    with pytest.raises(CameraConfigError, match=r"camera CAM-0042: zones\[1\]\.polygon: point 2 \(1.5, 0.5\) is out"):
        save_zone_polygon(path, "CAM-0042", "market", [(0.1, 0.5), (1.5, 0.5), (0.3, 0.9)])
    with pytest.raises(CameraConfigError, match="camera CAM-0042: zones: no zone 'nope'"):
        save_zone_polygon(path, "CAM-0042", "nope", [(0.1, 0.5), (0.5, 0.5), (0.3, 0.9)])
    with pytest.raises(CameraConfigError, match="camera CAM-9: no such camera"):
        save_zone_polygon(path, "CAM-9", "market", [(0.1, 0.5), (0.5, 0.5), (0.3, 0.9)])
    assert path.read_text(encoding="utf-8") == text  # a refused save changes nothing


def test_concurrent_saves_lose_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    polys = {"no-stopping": [(0.2, 0.4), (0.9, 0.4), (0.9, 0.9)], "market": [(0.0, 0.6), (0.2, 0.6), (0.2, 0.9)]}
    threads = [threading.Thread(target=save_zone_polygon, args=(path, "CAM-0042", z, p)) for z, p in polys.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    zones = {z.id: z.polygon for z in load_camera_file(path).cameras["CAM-0042"].zones}
    assert zones == {k: tuple(v) for k, v in polys.items()}
