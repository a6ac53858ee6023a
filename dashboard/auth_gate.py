"""Sign-in form and role checks for the console.

Why in the app and not a proxy: the command centre has no identity provider on its intranet; the
accounts file (``cityops/auth.py``) is the source of truth. The signed-in user lives in the
Streamlit session (server side, one per browser tab); a page reload asks again. Failed attempts are
counted per account and per client address in Redis, across tabs and replicas
(``cityops/signin_guard.py``): five failures lock the account for the rest of a 5-minute window.
"""

from __future__ import annotations

import streamlit as st

from cityops import auth
from cityops.settings import REPO_ROOT
from cityops.signin_guard import SigninGuard, SigninPolicy, subjects
from dashboard.common import lang, redis_client, settings
from dashboard.i18n import t

DEMO_USERS = REPO_ROOT / "config" / "users.demo.json"


@st.cache_resource
def _guard(redis_url: str, max_failures: int, window_s: int) -> SigninGuard:
    """One guard per console process (its fallback counters are process-wide), per Redis and policy."""
    return SigninGuard(redis_client(), SigninPolicy(max_failures, window_s))


def guard() -> SigninGuard:
    s = settings()
    return _guard(s.redis_url, s.signin_max_failures, s.signin_lockout_s)


def _client_address() -> str | None:
    try:
        address = st.context.ip_address
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest) there is none
        return None
    return address if isinstance(address, str) and address else None


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
    with st.form("sign_in", clear_on_submit=False):
        username = st.text_input(t("username", lg), key="login_username")
        password = st.text_input(t("password", lg), type="password", key="login_password")
        submitted = st.form_submit_button(t("sign_in", lg), type="primary")
    if not submitted:
        return
    who = subjects(username, _client_address())
    wait = guard().wait_s(who)
    if wait:
        st.error(t("signin_locked", lg).format(seconds=wait))
        return
    try:
        accounts = load_accounts()
    except auth.AuthError:
        st.error(t("users_unavailable", lg))
        return
    found = auth.authenticate(accounts, username, password)
    if found is None:
        guard().failed(who)
        st.error(t("bad_login", lg))
        return
    guard().succeeded(username)
    st.session_state["user"] = found.public
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
