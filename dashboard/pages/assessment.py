"""考核 · assessment: one month's, quarter's or week's scores of the city's scheme (``assessment.yml``), ranked
within class, streets and departments apart, with the 约谈 list: the same figures as the monthly 通报. Duty
officers (the centre's 督查 staff) enter a 督查发现 here: a signed command, applied and audited by the worker.

A plain Streamlit script run by ``st.navigation``; it checks the role itself (leader and above).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st
from redis.exceptions import RedisError

from cityops import auth
from cityops.periods import PeriodKind, last_complete, recent
from cityops.schemas import FINDING_POINTS_MAX, CommandAction
from dashboard.auth_gate import require_role
from dashboard.common import city, lang, redis_client, send_command, settings
from dashboard.i18n import t
from dashboard.reports.i18n import t as rt
from dashboard.views.assessment import assessment_tables

who = require_role("leader")
lg = lang()
st.subheader(t("page_assessment", lg))

KINDS = {PeriodKind.MONTH: ("月度", "Month"), PeriodKind.QUARTER: ("季度", "Quarter"), PeriodKind.WEEK: ("周", "Week")}
today = datetime.now(settings().tz).date()
c1, c2, _ = st.columns([1, 2, 3])
kind = c1.radio("周期类型" if lg == "zh" else "Kind of period", list(KINDS), horizontal=True, key="as_kind",
                format_func=lambda k: KINDS[k][0 if lg == "zh" else 1])
choices = list(reversed(recent(last_complete(kind, today), 12)))
# the period under way too, last: its figures are so far
choices.append(choices[0].next())
period = c2.selectbox(rt("period", lg), choices, key=f"as_period_{kind}", format_func=lambda p: p.title(lg))

try:
    view = assessment_tables(redis_client(), kind, period.label, lg, city=city())
except RedisError as err:
    st.error(f"Redis: {type(err).__name__}: {err}")
    st.stop()
if view is None:
    st.info(rt("no_scheme", lg))
    st.stop()
if period.end >= today:
    st.warning("本期尚未结束，得分截至今日。" if lg == "zh" else "This period is not over: scores so far.")
st.caption(rt("scheme_note", lg, base=f"{view.base:g}"))

tabs = st.tabs([rt("street", lg), rt("department", lg)])
for tab, unit_kind in zip(tabs, ("street", "department"), strict=True):
    with tab:
        tables = [x for x in view.tables if x.kind == unit_kind]
        if not tables:
            st.info(rt("none", lg))
        for table in tables:
            st.markdown(f"**{table.title}**")
            frame = pd.DataFrame(table.records(), columns=list(table.headers))
            st.dataframe(frame, hide_index=True, width="stretch",
                         height=min(38 + 35 * len(frame), 560))
st.markdown(f"**{rt('interview', lg)}**")
st.write(rt("interview_list", lg, n=view.interview_last, names="、".join(view.interview))
         if view.interview else rt("interview_none", lg))

if auth.role_at_least(who["role"], "duty"):
    with st.expander("录入督查发现" if lg == "zh" else "Enter an inspection finding (督查发现)"):
        c = city()
        with st.form("finding", clear_on_submit=True):
            f1, f2, f3 = st.columns([1, 3, 1])
            unit_kind = f1.selectbox(rt("unit", lg), ["street", "department"], key="fd_kind",
                                     format_func=lambda k: rt(k, lg))
            units = sorted(c.streets) if unit_kind == "street" else sorted(c.departments)
            unit = f2.selectbox(rt(unit_kind, lg), units, key="fd_unit",
                                format_func=lambda u: c.area_name(u, lg) if unit_kind == "street" else
                                (c.departments[u].name_zh if lg == "zh" else c.departments[u].name_en))
            points = f3.number_input("分值（扣分为负）" if lg == "zh" else "Points (deduction < 0)",
                                     min_value=-FINDING_POINTS_MAX, max_value=FINDING_POINTS_MAX, value=-1.0,
                                     step=0.5, key="fd_points")
            note = st.text_input("发现的问题" if lg == "zh" else "What was found", max_chars=500, key="fd_note")
            if st.form_submit_button("提交" if lg == "zh" else "Submit"):
                if not note.strip():
                    st.error("请填写发现的问题" if lg == "zh" else "Say what was found")
                elif points == 0:
                    st.error("分值不能为 0" if lg == "zh" else "Points cannot be 0")
                else:
                    delivered = send_command(CommandAction.FINDING, unit_kind, unit, note=note.strip(),
                                             points=float(points))
                    st.success(("已提交，考核得分随后更新" if delivered else "已提交，消息服务恢复后送达")
                               if lg == "zh" else ("Submitted: the scores follow shortly" if delivered
                                                   else "Queued: delivered once the broker is back"))
