"""用户管理 · admins add, change and remove console accounts (hashes only; see cityops/auth.py)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cityops import auth
from dashboard.auth_gate import load_accounts, require_role
from dashboard.common import lang, settings
from dashboard.i18n import ROLE_LABELS, t

who = require_role("admin")
lg = lang()
st.subheader(t("page_admin", lg))

try:
    users = load_accounts()
except auth.AuthError as err:
    st.error(str(err))
    st.stop()

st.dataframe(pd.DataFrame([{t("username", lg): u.username, t("display_name", lg): u.display_name,
                            t("role", lg): ROLE_LABELS[u.role][0 if lg == "zh" else 1]}
                           for u in sorted(users.values(), key=lambda u: u.username)]), hide_index=True)

with st.form("upsert_user", clear_on_submit=True):
    st.markdown(f"**{t('add_user', lg)}**")
    c1, c2, c3, c4 = st.columns(4)
    username = c1.text_input(t("username", lg))
    display = c2.text_input(t("display_name", lg))
    role = c3.selectbox(t("role", lg), auth.ROLES, format_func=lambda r: ROLE_LABELS[r][0 if lg == "zh" else 1])
    password = c4.text_input(t("new_password", lg), type="password")
    if st.form_submit_button(t("save", lg)):
        try:
            changed = auth.upsert_user(users, username.strip(), role, display, password or None)
            auth.save_users(settings().users_path, changed)
            st.success(t("saved", lg))
            st.rerun()
        except auth.AuthError as err:
            st.error(str(err))

others = [u for u in sorted(users) if u != who["username"]]
if others:
    d1, d2 = st.columns([3, 1])
    victim = d1.selectbox(t("delete_user", lg), others, key="delete_user")
    if d2.button(t("delete", lg), key="delete_btn"):
        try:
            auth.save_users(settings().users_path, auth.remove_user(users, victim))
            st.rerun()
        except auth.AuthError as err:
            st.error(str(err))
