"""值班台 · the duty officer's console: live alerts newest first, SLA countdowns, filters, actions.

Actions (确认 acknowledge, 派遣 dispatch, 督办 escalate, 误报 false alarm) are published to Kafka as
``OperatorCommand``s carrying the officer's name; the command agent applies and audits them, and the
feed (refreshed every second) shows the new state. The page never writes Redis itself.

A 督办 carries the level and reply window chosen beside it (``CITYOPS_SUPERVISION_WINDOWS`` sets the windows
offered); on a dispatched case it opens the case's 督办单, which the 督办单 panel lists until the department
replies, with the supervision timer's reminders and escalations (also on the feed, as 督办提醒/督办升级/督办逾期).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st
from redis.exceptions import RedisError

from cityops import read
from cityops.read.supervision_orders import open_orders
from cityops.schemas import CommandAction
from dashboard import evidence
from dashboard.auth_gate import recheck, require_role
from dashboard.common import catalogue, city, lang, redis_client, send_command, settings
from dashboard.i18n import ALERT_TYPE, SEVERITY, STATUS, label, t
from dashboard.supervision_inputs import reply_due_in, supervision_inputs
from dashboard.views import capture_review as review_views
from dashboard.views import department as sup_views
from dashboard.views import duty as views
from dashboard.views.common import md_escape

FEED_REFRESH_S = 1.0
FEED_SIZE = 400
DUE_WITHIN_S = 2 * 3600
HIGHLIGHT_S = 60.0
PENDING_S = 10.0  # a sent command shows as pending until applied, at most this long

who = require_role("duty")
lg = lang()
c, cat = city(), catalogue()
st.subheader(f"{t('page_duty', lg)} · {who['display_name']}")

ANY = "__any__"
f1, f2, f3, f4 = st.columns(4)
district_f = f1.selectbox(t("f_district", lg), [ANY, *sorted(c.districts)], key="f_district",
                          format_func=lambda x: t("all", lg) if x == ANY else c.area_name(x, lg))
type_f = f2.selectbox(t("f_type", lg), [ANY, *ALERT_TYPE], key="f_type",
                      format_func=lambda x: t("all", lg) if x == ANY else label(ALERT_TYPE, x, lg))
severity_f = f3.selectbox(t("f_severity", lg), [ANY, *SEVERITY], key="f_severity",
                          format_func=lambda x: t("all", lg) if x == ANY else label(SEVERITY, x, lg))
status_f = f4.selectbox(t("f_status", lg), [ANY, *STATUS], key="f_status",
                        format_func=lambda x: t("all", lg) if x == ANY else label(STATUS, x, lg))


def _current_rows() -> list[dict]:
    alerts = read.alerts_current(redis_client(), FEED_SIZE)
    rows = views.alert_rows(alerts, c, settings().tz, lg)
    return views.filter_rows(rows, None if district_f == ANY else district_f, None if type_f == ANY else type_f,
                             None if severity_f == ANY else severity_f, None if status_f == ANY else status_f)


def _style(frame: pd.DataFrame, critical: list[bool]):  # noqa: ANN202 - pandas Styler
    def paint(row: pd.Series) -> list[str]:
        if critical[row.name]:
            return ["background-color: #7a1010; color: #ffffff; font-weight: 600"] * len(row)
        return [""] * len(row)

    return frame.style.apply(paint, axis=1)


@st.fragment(run_every=FEED_REFRESH_S)
def feed() -> None:
    recheck("duty")  # a tick is no activity, but an ended session or a demotion stops the feed
    now = time.time()
    try:
        rows = _current_rows()
        due = read.sla_due(redis_client(), now, DUE_WITHIN_S, limit=30)
    except RedisError as err:
        st.warning(f"{t('read_model_down', lg)}: {type(err).__name__}")
        return
    first_tick = "critical_shown" not in st.session_state
    shown: dict[str, float] = st.session_state.setdefault("critical_shown", {})
    fresh = views.new_critical(rows, set(shown))
    for row in fresh:
        shown[row["id"]] = now
        if not first_tick:  # what was already there when the console opened gets banners, not a toast storm
            st.toast(f"{t('new_critical', lg)}: {md_escape(row['type_label'] + ' ' + row['detail'])}",
                     icon=":material/notification_important:")
    recent = [r for r in rows if r["id"] in shown and now - shown[r["id"]] < HIGHLIGHT_S and r["status"] == "active"
              and r["severity"] == "critical"]
    for row in recent[:3]:
        st.error(f"**{t('new_critical', lg)}** · {md_escape(row['time'])} · "
                 f"{md_escape(row['type_label'])} · {md_escape(row['detail'])}",
                 icon=":material/warning:")
    pending = {k: v for k, v in st.session_state.setdefault("pending", {}).items() if now - v[1] < PENDING_S}
    st.session_state["pending"] = pending
    selected = next((r for r in rows if r["id"] == st.session_state.get("action_alert")), None)
    if selected is not None:  # the outcome of the officer's own action shows here on the next tick
        mark = f" · {t('pending', lg)}" if selected["id"] in pending and selected["status"] == "active" else ""
        by = f" · {t('user', lg)}: {selected['acknowledged_by']}" if selected["acknowledged_by"] else ""
        st.info(md_escape(f"{t('select_alert', lg)}: {selected['time']} · {selected['type_label']} · "
                                f"{selected['detail']} · {t('status', lg)}: {selected['status_label']}{by}{mark}"))
    left, right = st.columns([2.3, 1])
    with left:
        st.markdown(f"**{t('feed_title', lg)}** ({len(rows)})")
        if not rows:
            st.caption(t("no_alerts", lg))
        else:
            table = pd.DataFrame([{
                t("time", lg): r["time"], t("type", lg): r["type_label"], t("severity", lg): r["severity_label"],
                t("status", lg): r["status_label"] + (f" · {t('pending', lg)}" if r["id"] in pending
                                                      and r["status"] == "active" else ""),
                t("district", lg): r["district_label"], t("detail", lg): r["detail"],
                t("case_id", lg): r["case_id"], t("user", lg): r["acknowledged_by"]} for r in rows[:200]])
            critical = [r["severity"] == "critical" and r["status"] == "active" for r in rows[:200]]
            st.dataframe(_style(table, critical), hide_index=True, height=460, key="feed_table")
    with right:
        st.markdown(f"**{t('due_title', lg)}**")
        due_rows = views.due_rows(due, now, c, cat, lg)
        if due_rows:
            st.dataframe(pd.DataFrame([{t("countdown", lg): d["countdown"], t("case_id", lg): d["case_id"],
                                        t("stage", lg): d["stage"], t("district", lg): d["district"],
                                        t("category", lg): d["category"]} for d in due_rows]),
                         hide_index=True, height=460)
        else:
            st.caption(t("no_data", lg))
    st.caption(f"{t('updated', lg)} {datetime.now(settings().tz):%H:%M:%S}")


@st.fragment
def actions() -> None:
    """Runs only when the officer interacts with it, so the timed feed never resets a half-made choice."""
    recheck("duty", touch=True)  # a decision is activity; the role is checked again before anything is sent
    st.markdown(f"**{t('actions', lg)}**")
    try:
        rows = [r for r in _current_rows() if r["status"] != "cleared"]
    except RedisError:
        return
    if not rows:
        st.caption(t("no_alerts", lg))
        return
    by_id = {r["id"]: r for r in rows}
    a1, a2 = st.columns([3, 2])
    chosen = a1.selectbox(t("select_alert", lg), list(by_id), key="action_alert",
                          format_func=lambda i: f"{by_id[i]['time']} · {by_id[i]['type_label']} · "
                                                f"{by_id[i]['severity_label']} · {by_id[i]['detail']}"[:120])
    row = by_id[chosen]
    departments = sorted(c.departments)
    dept = a2.selectbox(t("department", lg), departments, key="action_department",
                        format_func=lambda d: c.departments[d].name_zh if lg == "zh" else c.departments[d].name_en)
    note = st.text_input(t("note", lg), key="action_note", max_chars=200)
    level, window_s = supervision_inputs("action", lg)
    b1, b2, b3, b4, b5 = st.columns(5)
    pressed: CommandAction | None = None
    if b1.button(t("act_acknowledge", lg), type="primary", key="btn_ack"):
        pressed = CommandAction.ACKNOWLEDGE
    # An AI capture's case opens only with 确认立案 in the review queue; until then there is nothing to dispatch.
    if b2.button(t("act_dispatch", lg), key="btn_dispatch", disabled=not row["case_id"] or row["type"] == "ai_capture"):
        pressed = CommandAction.DISPATCH
    if b3.button(t("act_escalate", lg), key="btn_escalate"):
        pressed = CommandAction.ESCALATE
    if b4.button(t("act_false_alarm", lg), key="btn_false"):
        pressed = CommandAction.FALSE_ALARM
    if row["case_id"] and b5.button(t("open_case", lg), key="btn_case"):
        st.session_state["case_id"] = row["case_id"]
        st.switch_page(str(Path(__file__).resolve().parent / "case.py"), query_params={"case": row["case_id"]})
    if pressed is None:
        return
    kind, target = row["target"]
    escalate = pressed is CommandAction.ESCALATE
    try:
        delivered = send_command(pressed, kind, target,
                                 department_id=dept if pressed is CommandAction.DISPATCH else None, note=note,
                                 level=level if escalate else None,
                                 reply_due=reply_due_in(window_s) if escalate else None)
    except Exception as err:  # noqa: BLE001 - the officer must see any failure to send, whatever it is
        st.error(f"{t('send_failed', lg)}: {type(err).__name__}")
        return
    st.session_state.setdefault("pending", {})[row["id"]] = (pressed.value, time.time())
    if not delivered:
        st.warning(t("send_queued", lg))
        return
    st.toast(f"{t('sent', lg)}: {label(ALERT_TYPE, row['type'], lg)} · {t('act_' + pressed.value, lg)}")


SUP_SHOWN = 20  # open 督办单 listed at once, soonest reply deadline first


@st.fragment(run_every=2.0)
def supervision_panel() -> None:
    """督办单: the open orders, soonest reply deadline first, with the timer's reminders and escalations; an order
    leaves the list when its department replies."""
    recheck("duty")
    try:
        orders = open_orders(redis_client(), limit=SUP_SHOWN)
    except RedisError as err:
        st.warning(f"{t('read_model_down', lg)}: {type(err).__name__}")
        return
    st.markdown(f"**{t('sup_orders', lg)}** ({len(orders)})")
    if not orders:
        st.caption(t("sup_none", lg))
        return
    for row in sup_views.order_rows(orders, c, datetime.now(settings().tz), settings().tz, lg):
        with st.container(border=True, key=f"sup_{row['case_id']}"):
            c1, c2, c3 = st.columns([2, 2, 3])
            c1.markdown(md_escape(f"{row['case_id']} · {row['level_name']}"))
            c1.caption(md_escape(row["department"]))
            c2.markdown(md_escape(f"{t('sup_reply_due', lg)} {row['reply_due']}"))
            c2.caption(md_escape(f"{t('remaining', lg)} {row['remaining']}"))
            c3.markdown(md_escape(f"{t('sup_raised_by', lg)} {row['raised_by']} · {row['raised_at']}"))
            c3.caption(md_escape(" · ".join(x for x in (row["flags"], row["note"]) if x) or "—"))


@st.cache_data(max_entries=128, show_spinner=False)
def _thumb(ref: str, box: tuple | None, frame: tuple | None, width: int) -> bytes | None:
    """Evidence thumbnails cached by reference (bounded): a refresh does not re-read the JPEGs."""
    path = evidence.resolve(settings().evidence_dir, ref)
    if path is None:
        return None
    try:
        return evidence.thumbnail(path, box, frame, width=width)
    except OSError:
        return None


REVIEW_SHOWN = 8  # captures shown with their evidence at once (oldest first: the 5-minute target)


def _press(event_id: str, action: CommandAction) -> None:
    """A review button's click, kept until the review fragment next runs. Why not the button's return value: a
    click is applied by whichever run comes next, on this page often another fragment's timed one, and a
    button's value is reset when that run ends, before the review fragment could read it (a 误报 lost so)."""
    st.session_state.setdefault("review_pressed", {})[event_id] = action


@st.fragment(run_every=2.0)
def capture_review() -> None:
    """待审核抓拍: AI captures of types that are not trusted wait here for 确认立案 (opens and dispatches the case)
    or 误报 (discards it, counted per camera and type); the figures say how the desk keeps the 5-minute target."""
    from streams.detection_projection import capture_review_s

    recheck("duty")
    tz, now = settings().tz, datetime.now(settings().tz)
    days = [(now - timedelta(days=i)).strftime("%Y%m%d") for i in range(7)]
    try:
        queue = read.review_queue(redis_client(), now, capture_review_s(), tz, limit=REVIEW_SHOWN)
        stats = read.review_stats(redis_client(), days)
        lag = review_views.lag_summary(read.dispatch_lags(redis_client(), days[:1]))
    except RedisError as err:
        st.warning(f"{t('read_model_down', lg)}: {type(err).__name__}")
        return
    rt = review_views.text
    st.markdown(f"**{rt('title', lg)}** ({queue.waiting})")
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(rt("waiting_total", lg), queue.waiting)
    fmt = review_views.fmt_duration
    m2.metric(f"{rt('lag', lg)} · {rt('median', lg)}", fmt(lag["median_s"], lg) if lag["n"] else "—")
    m3.metric(f"{rt('lag', lg)} · {rt('p90', lg)}", fmt(lag["p90_s"], lg) if lag["n"] else "—",
              delta=f"{rt('target', lg)} {fmt(lag['target_s'], lg)}", delta_color="normal" if lag["meets_target"]
              else "inverse")
    reviewed = stats.totals.get("reviewed", 0)
    m4.metric(rt("rates", lg), f"{stats.totals.get('false_alarm', 0) / reviewed:.0%}" if reviewed else "—",
              delta=f"{rt('reviewed', lg)} {reviewed}", delta_color="off")
    st.caption(f"{rt('samples', lg)}: {lag['n']} · {rt('target', lg)} {rt('p90', lg)} ≤ {fmt(lag['target_s'], lg)}")
    sent: dict[str, float] = st.session_state.setdefault("review_sent", {})
    rows = [r for r in review_views.queue_rows(queue.rows, cat, lg) if time.time() - sent.get(r["event_id"], 0)
            > PENDING_S]
    if not rows:
        st.caption(rt("none", lg))
    for row in rows:
        with st.container(border=True, key=f"review_{row['event_id']}"):
            c1, c2, c3, c4 = st.columns([2.2, 1, 2.2, 1.2])
            frame = _thumb(row["evidence_ref"], tuple(row["box"]) if row["box"] else None, row["frame"], 320)
            crop = _thumb(row["crop_ref"], None, None, 140) if row["crop_ref"] else None
            if frame:
                c1.image(frame)
            else:
                c1.caption(rt("no_evidence", lg))
            if crop:
                c2.image(crop)
            c3.markdown(md_escape(f"{row['camera']} · {row['type']}"))
            c3.caption(md_escape(f"{rt('zone', lg)} {row['zone']} · {rt('confidence', lg)} {row['confidence']} · "
                                 f"{rt('dwell', lg)} {row['dwell']} · {rt('waiting', lg)} {row['waiting']}"))
            if row["late"]:
                c3.caption(f":red[{rt('waiting', lg)} > {fmt(review_views.DISPATCH_TARGET_S, lg)}]")
            eid = row["event_id"]
            c4.button(rt("confirm", lg), key=f"confirm_{eid}", type="primary", on_click=_press,
                      args=(eid, CommandAction.CONFIRM))
            c4.button(rt("false_alarm", lg), key=f"discard_{eid}", on_click=_press,
                      args=(eid, CommandAction.FALSE_ALARM))
            pressed = st.session_state.get("review_pressed", {}).pop(eid, None)
            if pressed is not None:
                recheck("duty", touch=True)
                try:
                    delivered = send_command(pressed, "capture", row["event_id"])
                except Exception as err:  # noqa: BLE001 - the officer must see any failure to send
                    st.error(f"{t('send_failed', lg)}: {type(err).__name__}")
                    continue
                sent[row["event_id"]] = time.time()
                if not delivered:
                    st.warning(t("send_queued", lg))
                st.toast(f"{rt('sent', lg)}: {row['camera']} · {rt(pressed.value, lg)}")
    names = {cam.id: cam.name_zh for cam in _cameras()}
    rates = review_views.rate_rows(stats, names, cat, lg)
    if rates:
        with st.expander(f"{rt('rates', lg)} {'（近7天）' if lg == 'zh' else '(7 d)'}"):
            st.dataframe(pd.DataFrame([{rt(r["scope"] if r["scope"] == "type" else "camera", lg): r["name"],
                                        rt("reviewed", lg): r["reviewed"], rt("false_alarm", lg): r["false_alarm"],
                                        rt("rates", lg): r["rate_label"]} for r in rates]), hide_index=True)


@st.cache_resource
def _cameras() -> tuple:
    from cityops.city_data import get_city_data

    return get_city_data().cameras


feed()
supervision_panel()
capture_review()
actions()
try:
    trail = [a for a in read.audit_trail(redis_client(), 50) if "kind" not in a][:10]  # commands only
except RedisError:
    trail = []
if trail:
    with st.expander(t("recent_actions", lg)):
        st.dataframe(pd.DataFrame([{t("time", lg): a.get("at", "")[:19], t("user", lg): a.get("user", ""),
                                    t("action", lg): a.get("action", ""), t("target", lg): a.get("target_id", "")}
                                   for a in trail]), hide_index=True)
