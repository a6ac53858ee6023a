"""部门工作台 · a department's desk: the cases dispatched (or sent back) to it, its open 督办单, and for a chosen
case 处置 (a note and a photo), 退回 (the reason) and 督办回复 (the reply).

Only a department user opens it (``auth.may_open``), and every command it sends names the user's own
department (``dashboard.common.send_command``); the command agent checks the case is that department's. Like the
duty console, the page never writes Redis: the queue (refreshed every two seconds) shows what the worker applied.
A photo is checked and stored in the evidence store first (``dashboard/views/department.py``); the command carries
its reference.
"""

from __future__ import annotations

import time
from datetime import datetime

import pandas as pd
import streamlit as st
from redis.exceptions import RedisError

from cityops.read.supervision_orders import department_queue, open_orders
from cityops.schemas import CommandAction
from dashboard.auth_gate import recheck, require_role
from dashboard.common import catalogue, city, lang, redis_client, send_command, settings
from dashboard.i18n import t
from dashboard.views import department as views
from dashboard.views.common import md_escape

REFRESH_S = 2.0
PENDING_S = 10.0  # a case just handled or returned leaves the chooser until the worker has applied it
# Streamlit's uploader speaks English (its button and the size/format line) and has no option for that: the line is
# hidden (the label says the limit) and the button's text replaced by the page's own; so is the text areas'
# "Press Ctrl+Enter to submit form" (the form's button says what to press), and the "add icon" button a chosen photo
# gets (one photo per report: choosing again replaces it).
UPLOADER_CSS = """<style>
[data-testid="stFileUploaderDropzoneInstructions"] {display: none;}
[data-testid="stFileUploaderDropzone"] button > * {display: none;}
[data-testid="stFileUploaderDropzone"] button::after {content: "%s"; font-size: 0.95rem;}
[data-testid="stFileChip"] [data-testid="stFileChipName"] + * {display: none;}
[data-testid="InputInstructions"] {display: none;}
[data-testid="stFileUploaderDropzone"] [data-testid="stBaseButton-borderlessIcon"] {display: none;}
</style>"""

who = require_role("department")
lg = lang()
c, cat, s = city(), catalogue(), settings()
dept = who.get("department", "")
st.subheader(f"{t('page_department', lg)} · {views.department_name(c, dept, lg)}")
st.html(UPLOADER_CSS % t("dept_pick_photo", lg).replace('"', ""))


def _read() -> tuple[list[dict], list]:
    r = redis_client()
    orders = open_orders(r, department=dept)
    by_case = {o.case_id: o for o in orders}
    now = datetime.now(s.tz)
    return views.queue_rows(department_queue(r, dept), by_case, c, cat, now, s.tz, lg), orders


@st.fragment(run_every=REFRESH_S)
def overview() -> None:
    recheck("department")
    try:
        rows, orders = _read()
    except RedisError as err:
        st.warning(f"{t('read_model_down', lg)}: {type(err).__name__}")
        return
    st.markdown(f"**{t('dept_queue', lg)}** ({len(rows)})")
    if rows:
        st.dataframe(pd.DataFrame([{t("case_id", lg): r["case_id"], t("category", lg): r["category"],
                                    t("position", lg): r["area"], t("state", lg): r["state"],
                                    t("handle_deadline", lg): r["deadline"], t("remaining", lg): r["remaining"],
                                    t("sup_col", lg): r["level"]} for r in rows]),
                     hide_index=True, key="dept_queue_table")
    else:
        st.caption(t("dept_queue_none", lg))
    st.markdown(f"**{t('dept_orders', lg)}** ({len(orders)})")
    if not orders:
        st.caption(t("sup_none", lg))
    for row in views.order_rows(orders, c, datetime.now(s.tz), s.tz, lg):
        with st.container(border=True, key=f"deptsup_{row['case_id']}"):
            c1, c2, c3 = st.columns([2, 2, 3])
            c1.markdown(md_escape(f"{row['case_id']} · {row['level_name']}"))
            c1.caption(md_escape(f"{t('sup_raised_by', lg)} {row['raised_by']}"))
            c2.markdown(md_escape(f"{t('sup_reply_due', lg)} {row['reply_due']}"))
            c2.caption(md_escape(f"{t('remaining', lg)} {row['remaining']}"))
            c3.markdown(md_escape(f"{t('sup_note', lg)}: {row['note'] or '—'}"))
            c3.caption(md_escape(row["flags"] or "—"))


def _send(action: CommandAction, case_id: str, text: str, evidence_ref: str | None = None) -> None:
    """Send one of the three; say 已提交 (or that the bus is down and it waits) where the form was."""
    recheck("department", touch=True)
    try:
        delivered = send_command(action, "case", case_id, note=text.strip(), evidence_ref=evidence_ref)
    except Exception as err:  # noqa: BLE001 - the user must see any failure to send, whatever it is
        st.error(f"{t('send_failed', lg)}: {type(err).__name__}")
        return
    if action is not CommandAction.REPLY:
        st.session_state.setdefault("dept_sent", {})[case_id] = time.time()
    if delivered:
        st.success(t("submitted", lg))
    else:
        st.warning(t("send_queued", lg))


def actions() -> None:
    try:
        rows, orders = _read()
    except RedisError:
        return
    sent = st.session_state.setdefault("dept_sent", {})
    choices = [r["case_id"] for r in rows if time.time() - sent.get(r["case_id"], 0) > PENDING_S]
    replies = [o.case_id for o in orders]
    choices += [cid for cid in replies if cid not in choices]  # a 督办单 can be answered whatever its case's state
    if not choices:
        return
    by_id = {r["case_id"]: r for r in rows}
    case_id = st.selectbox(t("dept_choose_case", lg), choices, key="dept_case",
                           format_func=lambda i: f"{i} · {by_id[i]['category']} · {by_id[i]['area']}"
                           if i in by_id else i)
    handle, back, answer = st.columns(3)
    with handle, st.form("dept_handle_form", clear_on_submit=True):
        st.markdown(f"**{t('dept_handle', lg)}**")
        note = st.text_area(t("dept_handle_note", lg), key="dept_handle_note", max_chars=1000)
        photo = st.file_uploader(t("dept_photo", lg), type=list(views.PHOTO_TYPES), key="dept_photo",
                                 max_upload_size=views.MAX_PHOTO_BYTES // (1024 * 1024))
        if st.form_submit_button(t("dept_handle", lg), type="primary", disabled=case_id not in by_id):
            if not note.strip():
                st.error(t("dept_need_text", lg))
            else:
                ref = None
                try:
                    if photo is not None:
                        ref = views.save_photo(s.evidence_dir, dept, photo.getvalue())
                except (views.PhotoRefused, OSError):
                    st.error(t("dept_bad_photo", lg))
                else:
                    _send(CommandAction.HANDLE, case_id, note, ref)
    with back:
        _text_form(CommandAction.RETURN, case_id, "dept_return", "dept_return_reason", case_id in by_id)
    with answer:
        _text_form(CommandAction.REPLY, case_id, "dept_reply", "dept_reply_text", case_id in replies,
                   hint=None if case_id in replies else t("dept_no_order", lg))


def _text_form(action: CommandAction, case_id: str, title: str, label: str, enabled: bool,
               hint: str | None = None) -> None:
    """A form of one required text sent as ``action`` on ``case_id``: 退回's reason, 督办回复's reply."""
    with st.form(f"{title}_form", clear_on_submit=True):
        st.markdown(f"**{t(title, lg)}**")
        if hint:
            st.caption(hint)
        text = st.text_area(t(label, lg), key=label, max_chars=1000)
        if st.form_submit_button(t(title, lg), disabled=not enabled):
            if text.strip():
                _send(action, case_id, text)
            else:
                st.error(t("dept_need_text", lg))


overview()
actions()
