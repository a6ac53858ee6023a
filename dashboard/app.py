"""CityOps console (城市运行管理服务平台): sign-in, then the pages the user's role allows.

| page | script | role |
|---|---|---|
| 领导驾驶舱 big screen | ``pages/bigscreen.py`` | leader and above |
| 每日简报 daily briefing and the period 通报 | ``pages/briefing.py`` | leader and above |
| 分级钻取 drill-down | ``pages/drill.py`` | leader and above |
| 值班台 duty console | ``pages/duty.py`` | duty and above |
| 案件详情 case detail | ``pages/case.py`` | duty and above |
| 案件查询 case search and export | ``pages/case_search.py`` | leader and above (opening a case: duty) |
| 考核 assessment (scores and ranks within class, 约谈) | ``pages/assessment.py`` | leader and above |
| 摄像头 cameras (health, frames, zones; admins edit zones) | ``pages/cameras.py`` | duty and above |
| 用户管理 users | ``pages/admin.py`` | admin |
| 死信 dead letters (refusals over time, raw payloads as text) | ``pages/dead_letters.py`` | admin |
| 部门工作台 department desk (its queue, its 督办单; 处置, 退回, 督办回复) | ``pages/department.py`` | department only |

A department user (beside the ladder, ``cityops.auth.may_open``) gets the department desk and nothing else; no
command-centre role gets it.

Pages are plain scripts run by ``st.navigation``; this script only sets the page up, signs the user
in and builds the menu, so each page is testable on its own (AppTest) with a user in the session.
Every page still checks the role itself (``auth_gate.require_role``), and the user and role come from
the users file on every run (``auth_gate.current_user``), so the menu shrinks as soon as an admin
demotes someone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from cityops import auth
from dashboard import auth_gate
from dashboard.common import lang
from dashboard.i18n import ROLE_LABELS, t

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="CityOps 城市运行管理", page_icon="🏙️", layout="wide",
                   initial_sidebar_state="collapsed")

user = auth_gate.current_user()
auth_gate.write_cookie_changes()
lg = lang()
role = user["role"] if user is not None else "admin"  # before sign-in: every page is known, none is run


def _sign_in_stub(url_path: str) -> Callable[[], None]:
    """Before sign-in every page path shows the sign-in form: a deep link such as ``/case?case=…``
    keeps its path (Streamlit falls back to the default page for paths it does not know) and opens
    the real page right after signing in."""

    def page() -> None:
        auth_gate.sign_in_form()

    page.__name__ = page.__qualname__ = f"sign_in_{url_path}"
    return page


def _page(script: str, title: str, icon: str, url_path: str, default: bool = False) -> st.Page:
    target = PAGES / script if user is not None else _sign_in_stub(url_path)
    return st.Page(target, title=t(title, lg), icon=icon, url_path=url_path, default=default)


sections: dict[str, list[st.Page]] = {}
if role == auth.DEPARTMENT:  # beside the ladder: its own desk only, the command centre's pages not at all
    sections[t("section_department", lg)] = [_page("department.py", "page_department", "🧰", "department",
                                                   default=True)]
monitor = [_page("bigscreen.py", "page_bigscreen", "📊", "bigscreen", default=True)]
monitor.append(_page("briefing.py", "page_briefing", "📰", "briefing"))
monitor.append(_page("drill.py", "page_drill", "🗺️", "drill"))
monitor.append(_page("case_search.py", "page_case_search", "🔎", "case_search"))
monitor.append(_page("assessment.py", "page_assessment", "🏅", "assessment"))
if auth.role_at_least(role, "leader"):
    sections[t("section_monitor", lg)] = monitor
if auth.role_at_least(role, "duty"):
    sections[t("section_ops", lg)] = [_page("duty.py", "page_duty", "🚨", "duty"),
                                      _page("case.py", "page_case", "📁", "case"),
                                      _page("cameras.py", "page_cameras", "📷", "cameras")]
if auth.role_at_least(role, "admin"):
    sections[t("section_admin", lg)] = [_page("admin.py", "page_admin", "👤", "admin"),
                                        _page("dead_letters.py", "page_dead_letters", "📮", "dead_letters")]

if user is None:
    st.navigation(sections, position="hidden").run()
    st.stop()

page = st.navigation(sections, position="top")

with st.sidebar:
    st.caption(f"{t('signed_in_as', lg)}: {user['display_name']} ({user['username']}) · "
               f"{ROLE_LABELS[role][0 if lg == 'zh' else 1]}")
    choice = st.radio(t("language", lg), ["中文", "English"], index=0 if lg == "zh" else 1, horizontal=True)
    if (choice == "English") != (lg == "en"):
        st.session_state["lang"] = "en" if choice == "English" else "zh"
        st.rerun()
    if st.button(t("sign_out", lg)):
        auth_gate.sign_out()
        st.rerun()

page.run()
