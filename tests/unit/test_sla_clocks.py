"""SLA clocks in natural or working time: per catalogue category, urgent cases, and the ``clock`` column.

Issue 16 point 2: an emergency does not wait for Monday. 突发事件 classes (and urgent cases of any class)
count wall-clock time; the other classes count office hours on the working calendar.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cityops.catalogue import CATALOGUE_COLUMNS, Catalogue, Category, Clock, default_clock
from cityops.workcalendar import WorkCalendar
from streams import lifecycle as lc
from streams import sla

TZ = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
FRIDAY_19 = datetime(2026, 3, 13, 19, 0, tzinfo=TZ)  # a Friday; no holiday near it


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return Catalogue.load()


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar.load(tz=TZ)  # default office hours 08:30-12:00, 14:30-18:00


def _by_name(cat: Catalogue, minor_zh: str) -> Category:
    return next(c for c in cat if c.minor_zh == minor_zh)


# ------------------------------------------------------------------------------------ deadlines


def test_the_friday_19_gas_leak_is_due_at_21(cat, cal):
    gas = _by_name(cat, "燃气泄漏")
    assert gas.clock is Clock.NATURAL and str(gas.sla["handle"]) == "2h"
    assert FRIDAY_19.weekday() == 4
    assert sla.deadline_for(lc.DISPATCHED, gas, FRIDAY_19, cal) == ("handle", datetime(2026, 3, 13, 21, 0, tzinfo=TZ))


def test_the_same_limit_in_working_time_is_due_on_monday_1030(cat, cal):
    road = _by_name(cat, "道路不洁")  # 2 h handling, working time
    assert road.clock is Clock.WORKING and str(road.sla["handle"]) == "2h"
    stage, due = sla.deadline_for(lc.DISPATCHED, road, FRIDAY_19, cal)
    # Friday 19:00 is after hours; the clock starts Monday 08:30 and 2 working hours end at 10:30
    assert stage == "handle" and due == datetime(2026, 3, 16, 10, 30, tzinfo=TZ)
    assert not sla.runs_in_natural_time(road, urgent=False)


def test_an_urgent_case_of_a_working_time_class_runs_in_natural_time(cat, cal):
    road = _by_name(cat, "道路不洁")
    assert sla.runs_in_natural_time(road, urgent=True)
    assert sla.deadline_for(lc.DISPATCHED, road, FRIDAY_19, cal, urgent=True)[1] == FRIDAY_19 + timedelta(hours=2)
    # urgent register/dispatch limits are also capped at 10 minutes, now of wall-clock time
    assert sla.deadline_for(lc.REPORTED, road, FRIDAY_19, cal, urgent=True) == (
        "register", FRIDAY_19 + timedelta(minutes=10))


def test_every_emergency_class_runs_in_natural_time_and_only_they(cat):
    natural = {c.code for c in cat if c.clock is Clock.NATURAL}
    assert natural == {c.code for c in cat if c.major_zh == "突发事件"} and natural
    assert all(c.family == "event" and c.major_code == "04" for c in cat if c.code in natural)


def test_natural_days_are_24_hours_and_extensions_follow_the_clock(cat, cal):
    gas = _by_name(cat, "燃气泄漏")
    due = sla.deadline_for(lc.DISPATCHED, gas, FRIDAY_19, cal)[1]
    natural = sla.runs_in_natural_time(gas, urgent=False)
    assert sla.extend(due, "1d", cal, natural=natural) == datetime(2026, 3, 14, 21, 0, tzinfo=TZ)  # Saturday
    # working time: 7 working hours from Monday 08:30 end at the close of Monday (a period end is kept)
    assert sla.extend(due, "1d", cal) == datetime(2026, 3, 16, 18, 0, tzinfo=TZ)
    assert sla.extend(due, "30m", cal, natural=True) == datetime(2026, 3, 13, 21, 30, tzinfo=TZ)


def test_natural_time_is_exact_across_a_daylight_saving_change(cat):
    la = ZoneInfo("America/Los_Angeles")
    cal = WorkCalendar(la)
    gas = _by_name(cat, "燃气泄漏")
    start = datetime(2026, 3, 8, 1, 30, tzinfo=la)  # 30 minutes before clocks spring forward
    due = sla.deadline_for(lc.DISPATCHED, gas, start, cal)[1]
    assert due.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=2)
    assert (due.hour, due.minute, due.tzinfo) == (4, 30, la)  # 01:30 PST + 2 h = 04:30 PDT
    later = sla.extend(start, "1d", cal, natural=True)
    assert later.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=24)
    with pytest.raises(ValueError, match="timezone-aware"):
        sla.natural_add(datetime(2026, 3, 8, 1, 30), gas.sla["handle"], cal)


# ------------------------------------------------------------------------------ the clock column

ROW = {"code": "E0401", "family": "event", "major_code": "04", "major_zh": "突发事件", "major_en": "Emergencies",
       "minor_zh": "路面塌陷", "minor_en": "Road collapse", "weight": "1", "ai_type": "", "owner_role": "water",
       "sla_register": "10m", "sla_dispatch": "10m", "sla_handle": "4h", "sla_verify": "1h", "clock": "natural"}
STREET = ROW | {"code": "E0505", "major_code": "05", "major_zh": "街面秩序", "major_en": "Street order",
                "minor_zh": "机动车乱停放", "minor_en": "Illegal parking", "clock": "working"}


def _write(tmp_path: Path, rows: list[dict], header: tuple[str, ...] = CATALOGUE_COLUMNS) -> Path:
    path = tmp_path / "catalogue.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, header, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def test_the_clock_column_is_read(tmp_path):
    cat = Catalogue.load(_write(tmp_path, [ROW, STREET, ROW | {"code": "E0402", "clock": "working"}]))
    assert [cat.get(c).clock for c in ("E0401", "E0505", "E0402")] == [Clock.NATURAL, Clock.WORKING, Clock.WORKING]
    assert cat.get("E0401").clock == "natural"  # a StrEnum: compares equal to the CSV text


@pytest.mark.parametrize("bad", ["", "Natural", "24x7", "office", "naturally"])
def test_a_bad_clock_cell_names_file_line_and_column(tmp_path, bad):
    path = _write(tmp_path, [ROW, STREET | {"clock": bad}])
    with pytest.raises(ValueError, match=re.escape("catalogue.csv line 3: column clock: ") + ".*natural.*working"):
        Catalogue.load(path)


def test_a_missing_clock_cell_is_refused(tmp_path):
    path = tmp_path / "catalogue.csv"
    path.write_text(",".join(CATALOGUE_COLUMNS) + "\n" + ",".join(list(ROW.values())[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape("catalogue.csv line 2: column clock is missing")):
        Catalogue.load(path)


def test_an_older_file_without_the_column_loads_with_the_default(tmp_path):
    old_emergency = ROW | {"code": "E0501", "major_code": "05"}  # the pre-correction numbering: 05 = 突发事件
    old_street = STREET | {"code": "E0405", "major_code": "04"}
    path = _write(tmp_path, [old_emergency, old_street, ROW | {"code": "C0101", "family": "component",
                                                                 "major_code": "01"}], CATALOGUE_COLUMNS[:-1])
    cat = Catalogue.load(path)
    assert cat.get("E0501").clock is Clock.NATURAL  # by name, whatever its number
    assert cat.get("E0405").clock is Clock.WORKING
    assert cat.get("C0101").clock is Clock.WORKING  # only the event class 突发事件 defaults to natural
    assert default_clock("event", "突发事件") is Clock.NATURAL and default_clock("event", "市容环境") is Clock.WORKING


def test_every_city_catalogue_has_the_column_and_agrees_with_the_default():
    from cityops.settings import REPO_ROOT

    paths = [REPO_ROOT / "fixtures" / "data" / "catalogue.csv", *sorted((REPO_ROOT / "cities").glob("*/catalogue.csv"))]
    assert len(paths) >= 3
    for path in paths:
        with path.open(encoding="utf-8", newline="") as fh:
            assert tuple(next(csv.reader(fh))) == CATALOGUE_COLUMNS, path
        for c in Catalogue.load(path):
            assert c.clock is default_clock(c.family, c.major_zh), (path, c.code)
