"""考核 · assessment: one month's, quarter's or week's scores of the city's scheme (``assessment.yml``), ranked
within class, streets and departments apart, with the 约谈 list: the same figures as the monthly 通报.

A plain Streamlit script run by ``st.navigation``; it checks the role itself (leader and above).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st
from redis.exceptions import RedisError

from cityops.periods import PeriodKind, last_complete, recent
from dashboard.auth_gate import require_role
from dashboard.common import city, lang, redis_client, settings
from dashboard.i18n import t
from dashboard.reports.i18n import t as rt
from dashboard.views.assessment import assessment_tables

require_role("leader")
lg = lang()
st.subheader(t("page_assessment", lg))

KINDS = {PeriodKind.MONTH: ("月度", "Month"), PeriodKind.QUARTER: ("季度", "Quarter"), PeriodKind.WEEK: ("周", "Week")}
today = datetime.now(settings().tz).date()
c1, c2, _ = st.columns([1, 2, 3])
kind = c1.radio(rt("period", lg), list(KINDS), horizontal=True, key="as_kind",
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
