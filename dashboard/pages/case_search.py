"""案件查询 · case search: cases reported in a date range by place, category, source, state, overdue, 督办 and
text, a page at a time, with the whole result as CSV or Excel; a duty officer opens a case's 案件详情 from here.

The search runs only when 查询 is pressed (the query is kept in the session), so changing a filter never
reads a year of indexes on every keystroke. Paging is by the read model's cursor (a stack of them for 上一页).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st
from redis.exceptions import RedisError

from cityops import auth, case_export
from cityops.read.case_search import CaseQuery, Cursor, SearchError, search_cases
from cityops.schemas import CASE_SOURCE_ZH
from dashboard.auth_gate import require_role
from dashboard.common import catalogue, city, lang, redis_client, settings
from dashboard.i18n import CASE_STATE, label, t
from dashboard.views import case_search as views

ANY = views.ANY
who = require_role("leader")
lg, tx = lang(), views.text
c, cat, tz = city(), catalogue(), settings().tz
st.subheader(t("page_case_search", lg))


def _any(x: str, name) -> str:  # noqa: ANN001 - a name function
    return t("all", lg) if x == ANY else name(x)


today = datetime.now(tz).date()
f1, f2, f3, f4 = st.columns(4)
period = f1.date_input(tx("period", lg), value=(today - timedelta(days=6), today), max_value=today, key="cs_period")
district = f2.selectbox(t("f_district", lg), [ANY, *sorted(c.districts)], key="cs_district",
                        format_func=lambda x: _any(x, lambda v: c.area_name(v, lg)))
streets = sorted(s.code for s in c.streets_of(district)) if district != ANY else []
street = f3.selectbox(t("street", lg), [ANY, *streets], key="cs_street",
                      format_func=lambda x: _any(x, lambda v: c.area_name(v, lg)))
communities = sorted(m.code for m in c.communities_of(street)) if street != ANY else []
community = f4.selectbox(tx("community", lg), [ANY, *communities], key="cs_community",
                         format_func=lambda x: _any(x, lambda v: c.area_name(v, lg)))
g1, g2, g3, g4 = st.columns(4)
grid = g1.text_input(tx("grid", lg), key="cs_grid", max_chars=40)
category = g2.selectbox(t("category", lg), [ANY, *sorted(x.code for x in cat)], key="cs_category",
                        format_func=lambda x: _any(x, lambda v: f"{v} {cat.get(v).name(lg)}"))
source = g3.selectbox(tx("source", lg), [ANY, *[s.value for s in CASE_SOURCE_ZH]], key="cs_source",
                      format_func=lambda x: _any(x, lambda v: next(n for s, n in CASE_SOURCE_ZH.items()
                                                                  if s.value == v) if lg == "zh" else v))
states = g4.multiselect(tx("status", lg), list(CASE_STATE), key="cs_states", placeholder=t("all", lg),
                        format_func=lambda x: label(CASE_STATE, x, lg))
h1, h2, h3, h4 = st.columns([1, 1, 2, 1])
yes_no = [ANY, "yes", "no"]
overdue = h1.selectbox(tx("overdue", lg), yes_no, key="cs_overdue", format_func=lambda x: _any(x, lambda v: tx(v, lg)))
supervised = h2.selectbox(tx("supervised", lg), yes_no, key="cs_supervised",
                          format_func=lambda x: _any(x, lambda v: tx(v, lg)))
search_text = h3.text_input(tx("text", lg), key="cs_text", max_chars=100)
size = h4.selectbox(tx("page_size", lg), views.PAGE_SIZES, index=1, key="cs_size")

if st.button(tx("search", lg), type="primary", key="cs_search"):
    if not isinstance(period, tuple) or len(period) != 2:
        st.warning(tx("period_needed", lg))
        st.stop()
    try:
        st.session_state["cs_query"] = views.build_query(
            period[0], period[1], district=district, street=street, community=community, grid=grid,
            category=category, source=source, states=states, overdue=overdue, supervised=supervised,
            search_text=search_text, limit=size)
    except SearchError as err:
        st.error(f"{err.field}: {err.reason}")
        st.stop()
    st.session_state["cs_cursors"] = [None]  # the cursor each page starts at: page n is cursors[n-1]

query = st.session_state.get("cs_query")
if query is None:
    st.caption(tx("start_hint", lg))
    st.stop()
cursors: list[str | None] = st.session_state.setdefault("cs_cursors", [None])
page_query = CaseQuery(**{**{n: getattr(query, n) for n in query.__dataclass_fields__},
                          "cursor": Cursor.decode(cursors[-1]) if cursors[-1] else None})
try:
    page = search_cases(redis_client(), page_query, c.code, tz, street_of=c.street_of)
except RedisError as err:
    st.warning(f"{t('read_model_down', lg)}: {type(err).__name__}")
    st.stop()

rows = views.result_rows(page.cases, c, cat, tz)
st.markdown(f"**{tx('page', lg).format(n=len(cursors))}** · {len(rows)}")
if rows:
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="cs_table")
else:
    st.caption(tx("none", lg))
if not page.complete:
    st.caption(tx("partial", lg).format(n=page.scanned))
p1, p2, _, e1, e2 = st.columns([1, 1, 2, 1, 1])
if p1.button(tx("prev", lg), key="cs_prev", disabled=len(cursors) == 1):
    cursors.pop()
    st.rerun()
if p2.button(tx("next", lg), key="cs_next", disabled=page.next_cursor is None):
    cursors.append(page.next_cursor)
    st.rerun()


def _export(fmt: str) -> bytes:
    """The whole result (every page), built only when the button is pressed."""
    found = case_export.collect(redis_client(), query, c.code, tz, street_of=c.street_of)
    rows = case_export.export_rows(found.cases, c, cat, tz)
    return case_export.to_xlsx(rows) if fmt == "xlsx" else case_export.to_csv(rows)


e1.download_button(tx("export_csv", lg), lambda: _export("csv"), file_name=case_export.file_name(query, "csv"),
                   mime="text/csv", key="cs_csv", on_click="ignore")
e2.download_button(tx("export_xlsx", lg), lambda: _export("xlsx"), file_name=case_export.file_name(query, "xlsx"),
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="cs_xlsx",
                   on_click="ignore")

if rows:
    if not auth.role_at_least(who["role"], "duty"):
        st.caption(tx("leader_no_detail", lg))
    else:
        o1, o2 = st.columns([3, 1])
        ids = [case["case_id"] for case in page.cases]
        chosen = o1.selectbox(tx("pick", lg), ids, key="cs_pick",
                              format_func=lambda i: next(f"{r['案件编号']} · {r['上报时间']} · {r['地址']}"[:100]
                                                         for r in rows if r["案件编号"] == i))
        if o2.button(tx("open", lg), key="cs_open"):
            st.session_state["case_id"] = chosen
            st.switch_page(str(Path(__file__).resolve().parent / "case.py"), query_params={"case": chosen})
