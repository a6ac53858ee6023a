"""用户管理 · admins add, change and remove console accounts (hashes only; see cityops/auth.py).

Each change is made under the users file's lock (``auth.update_users``) and goes to the audit trail
with the admin's name and address; the page lists the latest sign-ins and account changes.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st
from redis.exceptions import RedisError

from cityops import auth, console_audit, read
from cityops.read.notifications import notification_states, recent_notifications
from cityops.read.unknown_devices import gateways_with_unknown_devices
from dashboard.auth_gate import client_address, label_of, load_accounts, require_role, revocations
from dashboard.common import city, lang, redis_client, settings
from dashboard.i18n import ROLE_LABELS, t
from dashboard.views.unknown_devices import unknown_devices_rows

who = require_role("admin")
lg = lang()
st.subheader(t("page_admin", lg))

try:
    users = load_accounts()
except auth.AuthError as err:
    st.error(str(err))
    st.stop()

departments = city().departments


def dept_name(code: str) -> str:
    """A department's name in the page's language ('—' for none; the code itself if the city no longer has it)."""
    if code not in departments:
        return code or "—"
    return departments[code].name_zh if lg == "zh" else departments[code].name_en


st.dataframe(pd.DataFrame([{t("username", lg): u.username, t("display_name", lg): u.display_name,
                            t("role", lg): ROLE_LABELS[u.role][0 if lg == "zh" else 1],
                            t("user_department", lg): dept_name(u.department)}
                           for u in sorted(users.values(), key=lambda u: u.username)]), hide_index=True)

with st.form("upsert_user", clear_on_submit=True):
    st.markdown(f"**{t('add_user', lg)}**")
    c1, c2, c3, c4 = st.columns(4)
    username = c1.text_input(t("username", lg))
    display = c2.text_input(t("display_name", lg))
    role = c3.selectbox(t("role", lg), auth.ALL_ROLES,
                        format_func=lambda r: ROLE_LABELS[r][0 if lg == "zh" else 1])
    password = c4.text_input(t("new_password", lg), type="password")
    department = st.selectbox(t("user_department", lg), ["", *departments],
                              format_func=dept_name)
    if st.form_submit_button(t("save", lg)):
        name = username.strip()
        try:
            before = auth.update_users(settings().users_path, lambda now: auth.upsert_user(
                now, name, role, display, password or None, department if role == auth.DEPARTMENT else ""))
        except auth.AuthError as err:
            st.error(str(err))
        else:
            console_audit.account_change(
                redis_client(), console_audit.USER_CHANGE if name in users else console_audit.USER_ADD,
                label_of(who), client_address(), name, role=role, display_name=before[name].display_name,
                password_changed=bool(password))
            if password or name in users and users[name].role != role:
                revocations().revoke_user(name)  # the wall screen's sign-in cookies of that account stop working
            st.success(t("saved", lg))
            st.rerun()

others = [u for u in sorted(users) if u != who["username"]]
if others:
    d1, d2 = st.columns([3, 1])
    victim = d1.selectbox(t("delete_user", lg), others, key="delete_user")
    if d2.button(t("delete", lg), key="delete_btn"):
        try:
            auth.update_users(settings().users_path, lambda now: auth.remove_user(now, victim))
        except auth.AuthError as err:
            st.error(str(err))
        else:
            console_audit.account_change(redis_client(), console_audit.USER_REMOVE, label_of(who), client_address(),
                                         victim)
            st.rerun()

st.markdown(f"**{t('unknown_devices', lg)}**")
try:
    unknowns = gateways_with_unknown_devices(redis_client(), time.time(), settings().tz)
except RedisError:
    unknowns = []
if unknowns:
    st.dataframe(pd.DataFrame(unknown_devices_rows(unknowns, settings().tz, lg)), hide_index=True)
else:
    st.caption(t("unknown_devices_none", lg))

st.markdown(f"**{t('notifications', lg)}**")
try:
    notes = recent_notifications(redis_client(), 200)
except RedisError:
    notes = []
if notes:
    st.caption(" · ".join(f"{t('notify_' + k, lg)} {n}" for k, n in sorted(notification_states(notes).items())))
    st.dataframe(pd.DataFrame([{
        t("time", lg): pd.to_datetime(float(n["created"]), unit="s", utc=True).tz_convert(settings().tz)
        .strftime("%m-%d %H:%M:%S") if n["created"] else "",
        t("notify_route", lg): n["route"], t("notify_channel", lg): n["channel"], t("notify_title", lg): n["title"],
        t("notify_state", lg): t("notify_" + n["state"], lg), t("notify_attempts", lg): n["attempts"],
        t("notify_error", lg): n["last_error"]} for n in notes]), hide_index=True)
else:
    st.caption(t("notifications_none", lg))

try:
    trail = [a for a in read.audit_trail(redis_client(), 200) if a.get("kind") in ("signin", "account")][:50]
except RedisError:
    trail = []
if trail:
    with st.expander(t("signin_audit", lg)):
        st.dataframe(pd.DataFrame([{t("time", lg): str(a.get("at", ""))[:19], t("user", lg): a.get("user", ""),
                                    t("action", lg): a.get("action", ""), t("target", lg): a.get("target_id", ""),
                                    t("address", lg): a.get("address", "")} for a in trail]), hide_index=True)
