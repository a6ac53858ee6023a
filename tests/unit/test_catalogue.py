"""Catalogue and companion data: contents, validation of bad files, and the LA-311 mappings."""

from __future__ import annotations

import csv
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from cityops.catalogue import (
    AI_TYPES,
    CATALOGUE_COLUMNS,
    LOCAL_ROLES,
    ROLES,
    STAGES,
    Catalogue,
    WorkDuration,
    get_catalogue,
    load_department_rows,
    load_la311_maps,
)
from cityops.settings import REPO_ROOT

DATA_DIR = REPO_ROOT / "fixtures" / "data"  # the Xiamen fixture's sources, copied into cities/xiamen

DATASETS = REPO_ROOT.parent / "shared" / "datasets"
LA_FILES = [("la311_2020_requests_seed.csv", "requesttype", "owner"),
            ("MyLA311_Service_Request_Data_2017_Subset.csv", "RequestType", "Owner")]

WEIGHTED = {"店外经营": 2, "占道摊点": 2, "占道广告牌": 2, "新增户外广告": 2, "大规模暴露垃圾": 3, "大规模积存渣土": 3,
            "新增违法建设": 5}


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return Catalogue.load()


# ------------------------------------------------------------------------------------------ contents


def test_major_classes_of_both_families(cat):
    majors = cat.majors()
    assert Counter(f for f, *_ in majors) == {"component": 6, "event": 6}
    names = {(f, zh) for f, _, zh, _ in majors}
    for zh in ("公用设施", "道路交通", "市容环境", "园林绿化", "房屋土地", "其他设施"):
        assert ("component", zh) in names
    for zh in ("市容环境", "宣传广告", "施工管理", "街面秩序", "突发事件", "其他事件"):
        assert ("event", zh) in names
    assert all(en for *_, en in majors)


def test_minor_classes(cat):
    assert len(cat) >= 70
    minors = [c.minor_zh for c in cat]
    assert len(set(minors)) == len(minors), "a minor class name appears twice"
    for zh in ("上水井盖", "污水井盖", "雨水箅子", "路灯", "消防栓", "公交站亭", "交通标志牌", "垃圾箱", "公共厕所",
               "行道树", "绿地", "私搭乱建", "暴露垃圾", "积存垃圾渣土", "道路不洁", "违规设置广告", "非法小广告",
               "施工扰民", "施工占道", "道路扬尘", "店外经营", "占道经营", "占道摊点", "无照经营游商", "机动车乱停放",
               "非机动车乱停放", "噪声扰民", "火灾", "动物尸体", "大件垃圾", "乱倒垃圾", "乱涂写"):
        assert zh in minors, zh
    for c in cat:
        assert re.fullmatch(r"[CE]\d{4}", c.code) and c.code[1:3] == c.major_code
        assert c.family == ("component" if c.code[0] == "C" else "event")
        assert c.minor_en and c.minor_en.isascii() and c.major_en.isascii()
        assert c.owner_role in ROLES


def test_the_seven_weighted_hard_problems(cat):
    assert {c.minor_zh: c.weight for c in cat if c.weight > 1} == WEIGHTED


def test_ai_types_each_used_once(cat):
    assert len(AI_TYPES) == 14 == len(set(AI_TYPES))
    assert cat.ai_types() == list(AI_TYPES)
    assert Counter(c.ai_type for c in cat if c.ai_type) == Counter(AI_TYPES)
    assert cat.by_ai_type("manhole_missing").family == "component"
    assert cat.by_ai_type("street_vending").minor_zh == "占道经营"
    assert cat.by_ai_type("shop_overflow").minor_zh == "店外经营"
    assert cat.by_ai_type("illegal_ads").minor_zh == "违规设置广告"
    parking = cat.by_ai_type("illegal_parking")
    assert parking.family == "event" and parking.name() == "街面秩序/机动车乱停放"
    assert parking.name("en") == "Street order / Illegal car parking"
    with pytest.raises(KeyError, match="teleporting"):
        cat.by_ai_type("teleporting")


def test_sensor_raised_classes_exist(cat):
    by_name = {c.minor_zh: c for c in cat}
    for zh in ("施工噪声", "扬尘污染", "烟感报警"):
        assert by_name[zh].family == "event" and by_name[zh].ai_type is None
    assert by_name["施工噪声"].owner_role == "eco_env"
    assert by_name["烟感报警"].owner_role == "fire"


def test_time_limits(cat):
    for c in cat:
        assert set(c.sla) == set(STAGES)
        assert str(c.sla["register"]) in ("10m", "30m") and c.sla["register"] == c.sla["dispatch"], c.code
        assert str(c.sla["verify"]) in ("1h", "2h"), c.code
        assert c.sla["handle"].unit in ("h", "d")
    urgent = {c.code for c in cat if str(c.sla["register"]) == "10m"}
    assert {c.code for c in cat if c.major_zh == "突发事件"} <= urgent
    assert cat.by_ai_type("manhole_missing").code in urgent
    assert cat.get("C0108").sla["register"] == WorkDuration(10, "m")  # missing manhole cover is urgent
    by_name = {c.minor_zh: c for c in cat}
    assert str(by_name["新增违法建设"].sla["handle"]) == "4h"  # stop within 4 working hours
    assert str(by_name["违法建设拆除"].sla["handle"]) in ("15d", "16d", "17d", "18d", "19d", "20d")
    assert str(cat.get("E0308").sla["handle"]) == "15d"
    assert str(by_name["道路不洁"].sla["handle"]) == "2h"
    assert by_name["暴露垃圾"].sla["handle"] in {WorkDuration(n, "h") for n in (1, 2, 3, 4)}


def test_lookup_errors_and_protocol(cat):
    with pytest.raises(KeyError, match="unknown category code 'X9999'"):
        cat.get("X9999")
    assert "E0102" in cat and "X9999" not in cat and 42 not in cat
    assert len(list(cat)) == len(cat)
    assert cat.get("E0102").name("en") == "City appearance / Exposed garbage"
    assert get_catalogue() is get_catalogue()
    assert len(get_catalogue()) == len(cat)


def test_work_duration_parse():
    assert WorkDuration.parse("30m") == WorkDuration(30, "m")
    assert WorkDuration.parse(" 15d ") == WorkDuration(15, "d")
    for text in ("30m", "4h", "15d", "120m"):
        assert str(WorkDuration.parse(text)) == text
    for bad in ("", "0h", "4x", "h4", "-1d", "4.5h", "4 h", "4H", "04h"):
        with pytest.raises(ValueError, match="must look like"):
            WorkDuration.parse(bad)
    with pytest.raises(ValueError):
        WorkDuration(-1, "h")
    with pytest.raises(ValueError):
        WorkDuration(1, "s")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ bad files


def _write(tmp_path: Path, rows: list[dict], header: tuple[str, ...] = CATALOGUE_COLUMNS) -> Path:
    path = tmp_path / "catalogue.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, header)
        w.writeheader()
        w.writerows(rows)
    return path


GOOD = {"code": "E0101", "family": "event", "major_code": "01", "major_zh": "市容环境", "major_en": "City",
        "minor_zh": "私搭乱建", "minor_en": "Shacks", "weight": "1", "ai_type": "", "owner_role": "street_squad",
        "sla_register": "30m", "sla_dispatch": "30m", "sla_handle": "4h", "sla_verify": "1h", "clock": "working"}


def test_a_good_temp_file_loads(tmp_path):
    cat = Catalogue.load(_write(tmp_path, [GOOD, GOOD | {"code": "C0101", "family": "component"}]))
    assert len(cat) == 2 and cat.get("E0101").sla["handle"] == WorkDuration(4, "h")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([GOOD, GOOD], "line 3: duplicate code E0101 (first on line 2)"),
        ([GOOD | {"sla_handle": "4 hours"}], "line 2: sla_handle: working duration '4 hours'"),
        ([GOOD | {"sla_verify": ""}], "line 2: sla_verify: working duration ''"),
        ([GOOD, GOOD | {"code": "E0102", "owner_role": "wizards"}], "line 3: unknown owner_role 'wizards'"),
        ([GOOD | {"weight": "4"}], "line 2: weight 4 must be 1, 2, 3 or 5"),
        ([GOOD | {"weight": "two"}], "line 2: weight two must be"),
        ([GOOD | {"code": "E101"}], "must be C or E followed by 4 digits"),
        ([GOOD | {"family": "component"}], "does not fit code"),
        ([GOOD | {"major_code": "02"}], "major_code '02' does not fit code E0101"),
        ([GOOD | {"minor_zh": " "}], "minor_zh is empty"),
        ([GOOD | {"ai_type": "teleporting"}], "unknown ai_type 'teleporting'"),
        ([GOOD | {"ai_type": "street_vending"}, GOOD | {"code": "E0102", "ai_type": "street_vending"}],
         "line 3: ai_type street_vending used twice"),
        ([GOOD, GOOD | {"code": "E0102", "major_zh": "市容"}], "line 3: major class event 01 is named"),
        ([], "no categories"),
    ],
)
def test_bad_catalogue_files_are_refused_with_the_row_named(tmp_path, rows, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Catalogue.load(_write(tmp_path, rows))


def test_bad_header_and_ragged_rows_are_refused(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text(",".join(CATALOGUE_COLUMNS[:-1] + ("sla_check",)) + "\n" + ",".join(GOOD.values()) + "\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: header must be"):
        Catalogue.load(path)
    path.write_text(",".join(CATALOGUE_COLUMNS) + "\nE0101,event,01,市容环境,City,私搭乱建\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: column .* is missing"):
        Catalogue.load(path)
    path.write_text(",".join(CATALOGUE_COLUMNS) + "\n" + ",".join(GOOD.values()) + ",extra\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: too many fields"):
        Catalogue.load(path)


def test_the_real_file_has_the_exact_header():
    with (DATA_DIR / "catalogue.csv").open(encoding="utf-8", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == CATALOGUE_COLUMNS


# ---------------------------------------------------------------------------------------- departments


def test_departments():
    rows = load_department_rows(DATA_DIR / "departments.csv")
    ids = {r["id"]: r for r in rows}
    assert len(ids) == len(rows)
    assert {r["role"] for r in rows} == set(ROLES) - LOCAL_ROLES
    assert Counter(r["role"] for r in rows).most_common(1)[0][1] == 1, "one city department per role"
    assert all(r["level"] == "city" and r["name_zh"] and r["name_en"].isascii() for r in rows)
    expected = {"CITY-MUNI": "municipal_garden", "CITY-TRAFFIC": "traffic_police", "CITY-ECO": "eco_env",
                "CITY-BUILD": "construction", "CITY-WATER": "water", "CITY-POWER": "power", "CITY-GAS": "gas",
                "CITY-TELECOM": "telecom", "CITY-PLAN": "planning", "CITY-MARKET": "market",
                "CITY-TRANSPORT": "transport", "CITY-FIRE": "fire", "CITY-ENFORCE": "city_enforcement",
                "CITY-SANITATION": "sanitation", "CITY-COMMAND": "command"}
    assert {i: r["role"] for i, r in ids.items()} == expected
    assert ids["CITY-COMMAND"]["name_zh"] == "厦门市智慧城市管理监督指挥中心"
    used = {c.owner_role for c in get_catalogue()} - LOCAL_ROLES
    assert used <= {r["role"] for r in rows}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("CITY-MUNI,重复,Duplicate,municipal_garden,city", "duplicate department id CITY-MUNI"),
        ("CITY-X,某,Some,wizards,city", "unknown role 'wizards'"),
        ("CITY-X,某,Some,street_squad,city", "generated per district/street"),
        ("CITY-X,某,Some,market,district", "level must be 'city'"),
        ("CITY-X,,Some,market,city", "must not be empty"),
        ("CITY-X,某,Some", "expected 5 fields"),
    ],
)
def test_bad_department_files_are_refused(tmp_path, extra, message):
    path = tmp_path / "departments.csv"
    path.write_text((DATA_DIR / "departments.csv").read_text(encoding="utf-8").rstrip("\n") + "\n" + extra + "\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_department_rows(path)


# ------------------------------------------------------------------------------------------- LA 311


def _la_values() -> tuple[set[str], set[str]]:
    if not DATASETS.is_dir():
        pytest.skip(f"shared datasets folder {DATASETS} is absent")
    types: set[str] = set()
    owners: set[str] = set()
    for name, rt, ow in LA_FILES:
        with (DATASETS / "la-311" / name).open(encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                types.add(row[rt])
                owners.add(row[ow])
    return types, owners


def test_every_la311_request_type_and_owner_is_mapped():
    types, owners = _la_values()
    assert len(types) >= 12 and len(owners) >= 7
    categories, owner_map = load_la311_maps(DATA_DIR)
    assert types <= set(categories), types - set(categories)
    assert owners <= set(owner_map), owners - set(owner_map)
    cat = get_catalogue()
    assert all(code in cat for code in categories.values())
    assert set(owner_map.values()) <= {r["id"] for r in load_department_rows(DATA_DIR / "departments.csv")}


def test_la311_mappings_mean_what_they_say():
    categories, owners = load_la311_maps(DATA_DIR)
    cat = get_catalogue()
    name = {rt: cat.get(code).minor_zh for rt, code in categories.items()}
    assert name["Dead Animal Removal"] == "动物尸体"
    assert name["Bulky Items"] == "大件垃圾" and name["Illegal Dumping Pickup"] == "乱倒垃圾"
    assert name["Graffiti Removal"] == "乱涂写"
    assert cat.get(categories["Homeless Encampment"]).major_zh == "街面秩序"
    for rt in ("Single Streetlight Issue", "Multiple Streetlight Issue"):
        assert cat.get(categories[rt]).minor_zh == "路灯" and cat.get(categories[rt]).family == "component"
    assert cat.get(categories["Other"]).major_zh == "其他事件"
    assert owners["BOS"] == owners["LASAN"] == "CITY-SANITATION"
    assert (owners["OCB"], owners["BSL"], owners["LADWP"], owners["ITA"]) == (
        "CITY-ENFORCE", "CITY-MUNI", "CITY-WATER", "CITY-COMMAND")


def _map_dir(tmp_path: Path) -> Path:
    for name in ("departments.csv", "la311_category_map.csv", "la311_owner_map.csv"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize(
    ("file", "extra", "message"),
    [
        ("la311_category_map.csv", "Pothole,E9999,nope", "'Pothole' maps to unknown catalogue code 'E9999'"),
        ("la311_category_map.csv", "Other,E0601,again", "requesttype 'Other' mapped twice"),
        ("la311_owner_map.csv", "PD,CITY-POLICE,nope", "'PD' maps to unknown department id 'CITY-POLICE'"),
    ],
)
def test_bad_la311_maps_are_refused(tmp_path, file, extra, message):
    data = _map_dir(tmp_path)
    with (data / file).open("a", encoding="utf-8") as fh:
        fh.write(extra + "\n")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_la311_maps(data)
