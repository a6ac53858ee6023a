"""The console's 每日简报 page, run headless with Streamlit's AppTest: lists earlier briefings, shows
the chosen one, offers downloads, generates one on demand from the read model."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from cityops.settings import get_settings
from dashboard.briefing.files import files_for, write_briefing
from tests.support.briefing import sample
from tests.support.workers import REPO_ROOT

PAGE = str(REPO_ROOT / "dashboard" / "pages" / "briefing.py")


@pytest.fixture
def var(tmp_path, monkeypatch, redis_url, redis_client):
    monkeypatch.setenv("CITYOPS_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def _page(lang: str = "zh") -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["lang"] = lang
    at.session_state["user"] = {"username": "leader", "role": "leader"}
    return at


def test_empty_then_generate_yesterday_on_demand(var):
    at = _page()
    at.run()
    assert not at.exception
    assert any("暂无简报" in i.value for i in at.info)
    at.button[0].click().run()  # 生成昨日简报
    assert not at.exception, at.exception
    yesterday = datetime.now(var.tz).date() - timedelta(days=1)
    assert files_for(yesterday, "zh", var.briefings_dir).complete()
    assert at.selectbox[0].value == f"{yesterday.isoformat()} · zh"
    assert len(at.get("image")) == 1 and len(at.get("download_button")) == 3


def test_lists_earlier_briefings_newest_first_in_the_chosen_language(var):
    made = write_briefing(sample("zh"), var.briefings_dir)  # rendered once, copied to the other names
    for day in (date(2026, 11, 20), date(2026, 11, 24)):
        for lang in ("zh", "en"):
            copy = files_for(day, lang, var.briefings_dir)
            copy.folder.mkdir(parents=True, exist_ok=True)
            for kind in ("png", "pdf", "md", "json"):
                if copy.path(kind) != made.path(kind):
                    shutil.copyfile(made.path(kind), copy.path(kind))
    at = _page("en")
    at.run()
    assert not at.exception
    assert at.title[0].value == "Daily briefing"
    box = at.selectbox[0]
    assert box.options == ["2026-11-24 · zh", "2026-11-24 · en", "2026-11-20 · zh", "2026-11-20 · en"]
    assert box.value == "2026-11-24 · en"
    box.set_value("2026-11-20 · zh").run()
    assert not at.exception
    code = at.code[0].value
    assert code.startswith("# 厦门市 城市运行管理每日简报") and "<script" not in code


def test_generate_last_month_s_report_and_browse_it(var):
    from cityops.periods import last_complete
    from dashboard.reports.files import files_for as report_files_for

    at = _page()
    at.run()
    assert any("暂无通报" in i.value for i in at.info)
    month = next(b for b in at.button if b.key == "report_month")
    month.click().run()
    assert not at.exception, at.exception
    period = last_complete("month", datetime.now(var.tz).date())
    assert report_files_for(period, "zh", var.reports_dir).complete()
    box = at.selectbox[-1]
    assert box.value == f"{period.label} · zh" and box.label == "选择通报"
    assert len(at.get("image")) == 1 and len(at.get("download_button")) == 3
    assert at.code[-1].value.startswith("# 城市运行管理月度通报")
