"""Sign-in form and role checks for the console.

Why in the app and not a proxy: the command centre has no identity provider on its intranet; the
accounts file (``cityops/auth.py``) is the source of truth. The signed-in user lives in the
Streamlit session (server side, one per browser tab); a page reload asks again. After five failed
attempts a session must wait 30 s, which slows guessing to a crawl.
"""

from __future__ import annotations

import time

import streamlit as st

from cityops import auth
from cityops.settings import REPO_ROOT
from dashboard.common import lang, settings
from dashboard.i18n import t

DEMO_USERS = REPO_ROOT / "config" / "users.demo.json"
MAX_FAILURES = 5
LOCKOUT_S = 30.0


def load_accounts() -> dict[str, auth.User]:
    """The accounts file, created from the demo accounts on first start. Read on each attempt, so an
    admin's change applies at once."""
    path = settings().users_path
    auth.ensure_users_file(path, DEMO_USERS)
    return auth.load_users(path)


def sign_in_form() -> None:
    """Render the sign-in form; on success store the user (never the hash) and rerun."""
    lg = lang()
    st.title(t("app_title", lg))
    choice = st.radio(t("language", lg), ["中文", "English"], index=0 if lg == "zh" else 1, horizontal=True,
                      key="lang_choice_login")
    st.session_state["lang"] = "en" if choice == "English" else "zh"
    lg = lang()
    locked_until = st.session_state.get("login_locked_until", 0.0)
    with st.form("sign_in", clear_on_submit=False):
        username = st.text_input(t("username", lg), key="login_username")
        password = st.text_input(t("password", lg), type="password", key="login_password")
        submitted = st.form_submit_button(t("sign_in", lg), type="primary")
    if not submitted:
        return
    if time.time() < locked_until:
        st.error(t("bad_login", lg))
        return
    try:
        accounts = load_accounts()
    except auth.AuthError:
        st.error(t("users_unavailable", lg))
        return
    found = auth.authenticate(accounts, username, password)
    if found is None:
        failures = st.session_state.get("login_failures", 0) + 1
        st.session_state["login_failures"] = failures
        if failures >= MAX_FAILURES:
            st.session_state["login_locked_until"] = time.time() + LOCKOUT_S
            st.session_state["login_failures"] = 0
        st.error(t("bad_login", lg))
        return
    st.session_state["user"] = found.public
    st.session_state["login_failures"] = 0
    st.rerun()


def sign_out() -> None:
    for key in ("user", "login_password", "seen_alerts"):
        st.session_state.pop(key, None)


def require_role(needed: str) -> dict[str, str]:
    """Stop the page unless the signed-in user has at least ``needed`` (pages call this first)."""
    who = st.session_state.get("user")
    if who is None or not auth.role_at_least(who["role"], needed):
        st.error("无权访问 / Not allowed")
        st.stop()
    return who
