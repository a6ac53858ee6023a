"""The case page's names: a department, a reporting channel or a person as the timeline shows them."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from dashboard.views.case import actor_name, department_name, source_name, timeline_rows
from fixtures.xiamen import load_city

SH = ZoneInfo("Asia/Shanghai")


def test_sources_and_departments_read_by_name_in_chinese_and_by_code_or_name_in_english():
    city = load_city()
    assert source_name("iot_sensor") == "物联感知" and source_name("iot_sensor", "en") == "iot_sensor"
    assert source_name("no_such_channel") == "no_such_channel"
    assert department_name(city, "CITY-ECO") == "厦门市生态环境局"
    assert department_name(city, "CITY-ECO", "en") == "Xiamen Ecology and Environment Bureau"
    assert department_name(city, "NOPE") == "NOPE" and department_name(None, "CITY-ECO") == "CITY-ECO"


def test_the_timeline_names_who_acted_a_department_a_channel_or_a_person():
    city = load_city()
    assert actor_name(city, "CITY-ECO") == "厦门市生态环境局"
    assert actor_name(city, "iot_sensor") == "物联感知"
    assert actor_name(city, "网格员012") == "网格员012" and actor_name(city, "duty") == "duty"
    steps = [{"event_time": "2026-12-04T08:00:00+08:00", "action": "report", "actor": "iot_sensor"},
             {"event_time": "2026-12-04T08:05:00+08:00", "action": "dispatch", "actor": "duty",
              "department_id": "CITY-ECO"},
             {"event_time": "2026-12-04T09:00:00+08:00", "action": "handle", "actor": "CITY-ECO"}]
    frame = timeline_rows(steps, SH, "zh", city)
    assert list(frame["办理人"]) == ["物联感知", "duty", "厦门市生态环境局"]
    assert list(frame["派遣部门"]) == ["", "厦门市生态环境局", ""]
