"""Catalogue and companion data: contents, validation of bad files, and the LA-311 mappings."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from cityops.catalogue import AI_TYPES, Catalogue, WorkDuration, get_catalogue, load_department_rows, load_la311_maps
from cityops.settings import REPO_ROOT

LA_DIR = REPO_ROOT.parent / "shared" / "datasets" / "la-311"


def test_contents():
    cat = get_catalogue()
    majors = cat.majors()
    assert Counter(f for f, *_ in majors) == {"component": 6, "event": 6}
    assert len(cat) >= 70
    assert cat.ai_types() == list(AI_TYPES) and len(AI_TYPES) == 14
    weighted = {c.minor_zh: c.weight for c in cat if c.weight > 1}
    assert weighted == {"店外经营": 2, "占道摊点": 2, "占道广告牌": 2, "新增户外广告": 2, "大规模暴露垃圾": 3,
                        "大规模积存渣土": 3, "新增违法建设": 5}
    parking = cat.by_ai_type("illegal_parking")
    assert parking.family == "event" and parking.name() == "街面秩序/机动车乱停放"
    assert parking.name("en") == "Street order / Illegal car parking"
    assert cat.get("C0108").sla["register"] == WorkDuration(10, "m")  # missing manhole cover is urgent
    assert str(cat.get("E0308").sla["handle"]) == "15d"
    with pytest.raises(KeyError, match="unknown category code 'X9999'"):
        cat.get("X9999")


def test_work_duration_parse():
    assert WorkDuration.parse("30m") == WorkDuration(30, "m")
    assert str(WorkDuration.parse("4h")) == "4h"
    for bad in ("", "0h", "4x", "h4", "-1d", "4.5h"):
        with pytest.raises(ValueError, match="must look like"):
            WorkDuration.parse(bad)


def _write(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "catalogue.csv"
    with (REPO_ROOT / "fixtures" / "data" / "catalogue.csv").open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, header)
        w.writeheader()
        w.writerows(rows)
    return path


GOOD = {"code": "E0101", "family": "event", "major_code": "01", "major_zh": "市容环境", "major_en": "City",
        "minor_zh": "私搭乱建", "minor_en": "Shacks", "weight": "1", "ai_type": "", "owner_role": "street_squad",
        "sla_register": "30m", "sla_dispatch": "30m", "sla_handle": "4h", "sla_verify": "1h"}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([GOOD, GOOD], "line 3: duplicate code E0101"),
        ([GOOD | {"sla_handle": "4 hours"}], "line 2: working duration '4 hours'"),
        ([GOOD | {"owner_role": "wizards"}], "unknown owner_role 'wizards'"),
        ([GOOD | {"weight": "4"}], "weight 4 must be 1, 2, 3 or 5"),
        ([GOOD | {"code": "E101"}], "must be C or E followed by 4 digits"),
        ([GOOD | {"family": "component"}], "does not fit code"),
        ([GOOD | {"ai_type": "teleporting"}], "unknown ai_type"),
        ([GOOD | {"ai_type": "street_vending"}, GOOD | {"code": "E0102", "ai_type": "street_vending"}], "used twice"),
        ([], "no categories"),
    ],
)
def test_bad_catalogue_files_are_refused_with_the_row_named(tmp_path, rows, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Catalogue.load(_write(tmp_path, rows))


def test_departments_cover_every_city_level_role_used():
    roles = {r["role"] for r in load_department_rows()}
    used = {c.owner_role for c in get_catalogue()} - {"street_squad", "district_squad", "district_sanitation"}
    assert used <= roles


@pytest.mark.skipif(not LA_DIR.is_dir(), reason="shared datasets not present")
def test_every_la311_request_type_and_owner_is_mapped():
    categories, owners = load_la311_maps()
    depts = {r["id"] for r in load_department_rows()}
    for name, rt, ow in [("la311_2020_requests_seed.csv", "requesttype", "owner"),
                         ("MyLA311_Service_Request_Data_2017_Subset.csv", "RequestType", "Owner")]:
        with (LA_DIR / name).open(encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
        assert {r[rt] for r in rows} <= set(categories)
        assert {r[ow] for r in rows} <= set(owners)
    assert set(owners.values()) <= depts
