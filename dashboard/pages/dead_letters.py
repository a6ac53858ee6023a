"""死信 · admins see what the workers refused: refusals per hour by topic, stage or reason over a chosen
period, and the latest dead letters with their raw payload shown as text (``dashboard/views/dead_letters.py``).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st
from redis.exceptions import RedisError

from cityops import read
from cityops.read.cases import dead_letter_counts
from dashboard.auth_gate import require_role
from dashboard.common import lang, redis_client, settings
from dashboard.i18n import DLQ_STAGE, label, t
from dashboard.views.dead_letters import GROUPS, hour_buckets, letter_rows, payload_text, series

PERIODS = (6, 24, 72, 168, 336)  # hours; 336 = the hourly counters' 14-day retention

require_role("admin")
lg = lang()
tz = settings().tz
st.subheader(t("page_dead_letters", lg))

c1, c2 = st.columns(2)
hours = c1.selectbox(t("dlq_period", lg), PERIODS, index=1, format_func=lambda n: t("dlq_hours", lg).format(n=n))
group = c2.radio(t("dlq_group_by", lg), GROUPS, horizontal=True, format_func=lambda g: t(f"dlq_by_{g}", lg))

try:
    counts = dead_letter_counts(redis_client(), hour_buckets(datetime.now(tz), hours))
    letters = read.recent_dead_letters(redis_client(), 50)
except RedisError:
    st.error(t("dlq_unavailable", lg))
    st.stop()

per_hour = series(counts, group)
if group == "stage":  # the stage codes by their names (the chart's legend)
    per_hour = {hour: {label(DLQ_STAGE, k, lg): n for k, n in row.items()} for hour, row in per_hour.items()}
total = sum(sum(row.values()) for row in per_hour.values())
st.metric(t("dlq_total", lg), total)
if total:
    frame = pd.DataFrame.from_dict(per_hour, orient="index").fillna(0).astype(int)
    st.bar_chart(frame, stack=True)
else:
    st.caption(t("dlq_none", lg))

st.markdown(f"**{t('dlq_latest', lg)}**")
rows = [{**row, "stage": label(DLQ_STAGE, row["stage"], lg)} for row in letter_rows(letters, tz)]
if rows:
    st.dataframe(pd.DataFrame(rows).rename(columns={
        "at": t("time", lg), "topic": t("dlq_by_topic", lg), "stage": t("dlq_by_stage", lg),
        "reason": t("dlq_by_reason", lg), "event_id": t("dlq_event_id", lg), "payload": t("dlq_payload", lg)}),
        hide_index=True)
    pick = st.selectbox(t("dlq_pick", lg), range(len(rows)),
                        format_func=lambda i: f"{rows[i]['at']} · {rows[i]['topic']} · {rows[i]['stage']}")
    st.code(payload_text(letters[pick]), language=None, wrap_lines=True)  # text, never markdown or HTML
