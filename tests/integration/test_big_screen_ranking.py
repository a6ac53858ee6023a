"""The big screen's district ranking early in the day: with nothing due yet every district would score the full
100 and tie, so the screen ranks yesterday instead (and says so); once anything is due, today; and today all the
same when yesterday has nothing to rank either (a new city)."""

from __future__ import annotations

from datetime import datetime, timedelta

from cityops import read
from cityops.catalogue import get_catalogue
from cityops.settings import get_settings
from dashboard.screen_data import nothing_due, read_big_screen
from fixtures.xiamen import load_city
from tests.support.console_seed import seed_cases


def test_before_anything_is_due_the_ranking_is_yesterdays_then_todays(redis_client):
    r, city, tz = redis_client, load_city(), get_settings().tz
    districts = sorted(city.districts)
    night = datetime(2026, 11, 25, 0, 20, tzinfo=tz)  # a Wednesday, after two working days
    afternoon = night.replace(hour=16)
    seed_cases(r, night.date() - timedelta(days=2), night, cases_per_day=200)

    assert nothing_due(read.ranking(r, night, "district", districts))
    data = read_big_screen(r, night, city, get_catalogue())
    yesterday = read.ranking(r, night - timedelta(days=1), "district", districts)
    assert data.ranking_day.date() == night.date() - timedelta(days=1)
    assert [(x.rank, x.id, x.kpis.score) for x in data.ranking] == [(x.rank, x.id, x.kpis.score) for x in yesterday]
    assert len({x.kpis.score for x in data.ranking}) > 1, "yesterday's districts do not all tie"

    seed_cases(r, night.date() - timedelta(days=2), afternoon, cases_per_day=200)  # the same plan, on to 16:00
    later = read_big_screen(r, afternoon, city, get_catalogue())
    today = read.ranking(r, afternoon, "district", districts)
    assert not nothing_due(today)
    assert later.ranking_day == afternoon
    assert [x.id for x in later.ranking] == [x.id for x in today]


def test_a_city_with_no_yesterday_keeps_todays_ranking(redis_client):
    r, city, tz = redis_client, load_city(), get_settings().tz
    morning = datetime(2026, 11, 25, 9, 0, tzinfo=tz)
    seed_cases(r, morning.date(), morning.replace(hour=0, minute=30), cases_per_day=300)
    today = read.ranking(r, morning, "district", sorted(city.districts))
    assert today and nothing_due(today)
    data = read_big_screen(r, morning, city, get_catalogue())
    assert data.ranking_day == morning and [x.id for x in data.ranking] == [x.id for x in today]
