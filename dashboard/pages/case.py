"""案件详情 · one case: its facts, lifecycle timeline, position on the map and evidence, with actions.

The case id comes from ``?case=`` (links from the duty console) or the input box. Every text field
of the case (address, description…) is shown in tables, as data, never as markup.
"""

from __future__ import annotations

import streamlit as st
from redis.exceptions import RedisError

from cityops import read
from cityops.schemas import CommandAction
from dashboard import evidence, map_layers
from dashboard.auth_gate import require_role
from dashboard.common import catalogue, city, lang, redis_client, send_command, settings
from dashboard.i18n import t
from dashboard.supervision_inputs import reply_due_in, supervision_inputs
from dashboard.views import case as views
from dashboard.views.common import md_escape

require_role("duty")
lg = lang()
c, cat = city(), catalogue()

initial = st.query_params.get("case") or st.session_state.get("case_id", "")
case_id = st.text_input(t("case_id", lg), value=initial, key="case_input", max_chars=128).strip()
if not case_id:
    st.stop()
if st.query_params.get("case") != case_id:
    st.query_params["case"] = case_id

try:
    r = redis_client()
    data = read.case(r, case_id)
    timeline = read.case_timeline(r, case_id) if data else []
except RedisError as err:
    st.warning(f"{t('read_model_down', lg)}: {type(err).__name__}")
    st.stop()
if not data:
    st.info(t("case_not_found", lg))
    st.stop()

st.subheader(f"{t('page_case', lg)} · {md_escape(case_id)}")
left, right = st.columns([1.2, 1])
with left:
    st.dataframe(views.case_fields(data, c, cat, lg), hide_index=True, width="stretch")
    st.markdown(f"**{t('timeline', lg)}**")
    st.dataframe(views.timeline_rows(timeline, settings().tz, lg, c), hide_index=True, width="stretch")
with right:
    st.markdown(f"**{t('position', lg)}**")
    try:
        lon, lat = float(data.get("lon", "")), float(data.get("lat", ""))
    except ValueError:
        lon = lat = None
    if lon is not None and lat is not None:
        grid = c.grids.get(data.get("grid", ""))
        codes = [g.code for g in c.grids_of(grid.community_code)] if grid else []
        layers = [map_layers.district_layer(c, lg), map_layers.grid_layer(c, codes, lg),
                  map_layers.case_layer(lon, lat, case_id, data.get("address") or data.get("description") or "")]
        view = map_layers.view_of((lon - 0.01, lat - 0.008, lon + 0.01, lat + 0.008), 700, 340)
        st.pydeck_chart(map_layers.deck(layers, view), height=340)
    else:
        st.caption("—")
    st.markdown(f"**{t('evidence', lg)}**")
    ref = data.get("evidence_ref", "")
    path = evidence.resolve(settings().evidence_dir, ref)
    if path is None:
        st.caption(t("no_evidence", lg))
    else:
        box = frame = None
        for cap in read.recent_captures(r, 500):
            if cap.get("case_id") == case_id:
                box, frame = cap.get("box"), (cap.get("frame_width"), cap.get("frame_height"))
                break
        try:
            st.image(evidence.thumbnail(path, box, frame, width=640), caption=md_escape(ref), width="stretch")
        except OSError:
            st.caption(t("no_evidence", lg))

    st.markdown(f"**{t('actions', lg)}**")
    dept = st.selectbox(t("department", lg), sorted(c.departments), key="case_department",
                        format_func=lambda d: c.departments[d].name_zh if lg == "zh" else c.departments[d].name_en)
    level, window_s = supervision_inputs("case", lg)
    b1, b2, b3, b4 = st.columns(4)
    pressed = None
    if b1.button(t("act_acknowledge", lg), key="case_ack"):
        pressed = CommandAction.ACKNOWLEDGE
    if b2.button(t("act_dispatch", lg), key="case_dispatch"):
        pressed = CommandAction.DISPATCH
    if b3.button(t("act_escalate", lg), key="case_escalate"):
        pressed = CommandAction.ESCALATE
    if b4.button(t("act_false_alarm", lg), key="case_false"):
        pressed = CommandAction.FALSE_ALARM
    if pressed is not None:
        try:
            escalate = pressed is CommandAction.ESCALATE
            if send_command(pressed, "case", case_id,
                            department_id=dept if pressed is CommandAction.DISPATCH else None,
                            level=level if escalate else None, reply_due=reply_due_in(window_s) if escalate else None):
                st.toast(t("sent", lg))
            else:
                st.warning(t("send_queued", lg))
        except Exception as err:  # noqa: BLE001 - show any failure to send
            st.error(f"{t('send_failed', lg)}: {type(err).__name__}")
