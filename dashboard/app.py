"""CityOps console (城市运行管理服务平台): sign-in, then the pages the user's role allows.

| page | script | role |
|---|---|---|
| 领导驾驶舱 big screen | ``pages/bigscreen.py`` | leader and above |
| 每日简报 daily briefing | ``pages/briefing.py`` | leader and above |
| 分级钻取 drill-down | ``pages/drill.py`` | leader and above |
| 值班台 duty console | ``pages/duty.py`` | duty and above |
| 案件详情 case detail | ``pages/case.py`` | duty and above |
| 用户管理 users | ``pages/admin.py`` | admin |

Pages are plain scripts run by ``st.navigation``; this script only sets the page up, signs the user
in and builds the menu, so each page is testable on its own (AppTest) with a user in the session.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from cityops import auth
from dashboard import auth_gate
from dashboard.common import lang
from dashboard.i18n import ROLE_LABELS, t

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="CityOps 城市运行管理", page_icon="🏙️", layout="wide",
                   initial_sidebar_state="collapsed")

user = st.session_state.get("user")
lg = lang()
role = user["role"] if user is not None else "admin"  # before sign-in: every page known, none run
sections: dict[str, list[st.Page]] = {}
monitor = [st.Page(PAGES / "bigscreen.py", title=t("page_bigscreen", lg), icon="📊", url_path="bigscreen",
                   default=True)]
if (PAGES / "briefing.py").exists():  # written by the briefing work; the menu works without it
    monitor.append(st.Page(PAGES / "briefing.py", title=t("page_briefing", lg), icon="📰", url_path="briefing"))
monitor.append(st.Page(PAGES / "drill.py", title=t("page_drill", lg), icon="🗺️", url_path="drill"))
sections[t("section_monitor", lg)] = monitor
if auth.role_at_least(role, "duty"):
    sections[t("section_ops", lg)] = [
        st.Page(PAGES / "duty.py", title=t("page_duty", lg), icon="🚨", url_path="duty"),
        st.Page(PAGES / "case.py", title=t("page_case", lg), icon="📁", url_path="case"),
    ]
if auth.role_at_least(role, "admin"):
    sections[t("section_admin", lg)] = [st.Page(PAGES / "admin.py", title=t("page_admin", lg), icon="👤",
                                                url_path="admin")]

if user is None:
    # Declaring the pages (hidden) keeps a deep link such as /case?case=… across the sign-in rerun;
    # without it Streamlit would not know the path and fall back to the default page.
    st.navigation(sections, position="hidden")
    auth_gate.sign_in_form()
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
