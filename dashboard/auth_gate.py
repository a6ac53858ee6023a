"""Sign-in form, sessions and role checks for the console.

Why in the app and not a proxy: the command centre has no identity provider on its intranet; the
accounts file (``cityops/auth.py``) is the source of truth, read again on every page run
(:func:`current_user`), so a deleted or demoted account loses access at the next refresh. The
signed-in user lives in the Streamlit session (server side, one per browser tab); a page reload
asks again. A session without interaction for ``CITYOPS_SESSION_IDLE_S`` ends, except the leader
role's (the big screen runs unattended on the wall and shows nothing it could change). Sign-out
clears the whole session state.

Each attempt is counted in Redis before its password is checked (``cityops/signin_guard.py``):
growing per-account delays, per-address locks. Sign-ins, failures, refusals, sign-outs and ended
sessions go to the audit trail with the client address (``cityops/console_audit.py``).
"""

from __future__ import annotations

import logging
import os
import time
from functools import lru_cache
from pathlib import Path

import streamlit as st

from cityops import auth, console_audit
from cityops.settings import REPO_ROOT
from cityops.signin_guard import SigninGuard, SigninPolicy, subjects
from dashboard.common import app_title, lang, redis_client, settings
from dashboard.i18n import t

log = logging.getLogger(__name__)

DEMO_USERS = REPO_ROOT / "config" / "users.demo.json"
IDLE_EXEMPT_ROLES = ("leader",)  # the wall's big screen; read-only pages
NOT_ALLOWED = "无权访问 / Not allowed"


@st.cache_resource
def _guard(redis_url: str, free: int, window_s: int, max_delay_s: int) -> SigninGuard:
    """One guard per console process (its fallback counters are process-wide), per Redis and policy."""
    return SigninGuard(redis_client(), SigninPolicy(free, window_s, max_delay_s))


def guard() -> SigninGuard:
    s = settings()
    return _guard(s.redis_url, s.signin_max_failures, s.signin_lockout_s, s.signin_max_delay_s)


def client_address() -> str | None:
    """The client's address as the server saw it. Behind a reverse proxy listed in
    ``FORWARDED_ALLOW_IPS`` (uvicorn's proxy-headers middleware) that is the proxy's ``X-Forwarded-For``
    client; anyone else's ``X-Forwarded-For`` is ignored. Streamlit gives None for loopback clients."""
    try:
        address = st.context.ip_address
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest) there is none
        return None
    return address[:64] if isinstance(address, str) and address else None


def bind_address() -> str:
    """The address this console serves on (``python -m cityops console`` passes the setting to Streamlit)."""
    return str(st.get_option("server.address") or settings().console_address)


@lru_cache(maxsize=4)
def _read_accounts(path: str, _stamp: tuple[int, int, int]) -> dict[str, auth.User]:
    return auth.load_users(Path(path))


def load_accounts() -> dict[str, auth.User]:
    """The accounts file, read again whenever it changed (keyed by inode, size and mtime). A missing file
    becomes the demo accounts only on a loopback console or with ``CITYOPS_DEMO=1``; else AuthError."""
    s = settings()
    path = s.users_path
    auth.ensure_users_file(path, DEMO_USERS, allow_demo=auth.demo_allowed(bind_address(), s.demo))
    try:
        st_ = os.stat(path)
    except OSError as err:
        raise auth.AuthError(f"users file {path} cannot be read: {err}") from None
    return dict(_read_accounts(str(path), (st_.st_ino, st_.st_size, st_.st_mtime_ns)))


def _audit_redis():  # noqa: ANN202 - redis.Redis or None
    try:
        return redis_client()
    except Exception:  # noqa: BLE001 - a bad URL must not stop a sign-in; the record goes to the log
        return None


def label_of(user: dict[str, str]) -> str:
    """``李值班(duty)``: how commands and the audit trail name a user."""
    return f"{user.get('display_name') or user['username']}({user['username']})"[:64]


def sign_in_form() -> None:
    """Render the sign-in form; on success store the user (never the hash) and rerun."""
    lg = lang()
    st.title(app_title(lg))
    choice = st.radio(t("language", lg), ["中文", "English"], index=0 if lg == "zh" else 1, horizontal=True,
                      key="lang_choice_login")
    st.session_state["lang"] = "en" if choice == "English" else "zh"
    lg = lang()
    notice = st.session_state.get("signin_notice")
    if notice:
        st.info(t(notice, lg))
    with st.form("sign_in", clear_on_submit=False):
        username = st.text_input(t("username", lg), key="login_username", max_chars=auth.MAX_USERNAME_LEN)
        password = st.text_input(t("password", lg), type="password", key="login_password",
                                 max_chars=auth.MAX_PASSWORD_LEN)
        submitted = st.form_submit_button(t("sign_in", lg), type="primary")
    if not submitted:
        return
    _attempt(username.strip(), password, lg)


def _attempt(name: str, password: str, lg: str) -> None:
    address = client_address()
    if not auth.sign_in_input_ok(name, password):  # before anything is counted or hashed
        st.error(t("bad_login", lg))
        return
    who = subjects(name, address)
    wait = guard().attempt(who)  # counted as a failure now; given back below if the password is right
    if wait:
        console_audit.record(_audit_redis(), "signin", console_audit.SIGN_IN_REFUSED, name, address, wait_s=wait)
        st.error(t("signin_locked", lg).format(seconds=wait))
        return
    try:
        accounts = load_accounts()
    except auth.AuthError:
        st.error(t("users_unavailable", lg))
        return
    found = auth.authenticate(accounts, name, password)
    if found is None:
        console_audit.record(_audit_redis(), "signin", console_audit.SIGN_IN_FAILED, name, address)
        st.error(t("bad_login", lg))
        return
    guard().succeeded(who)
    try:
        auth.upgrade_hash(settings().users_path, found.username, password)
    except (auth.AuthError, OSError) as err:  # the sign-in stands; the upgrade is tried again next time
        log.warning("could not upgrade the password hash of %s: %s", found.username, err)
    console_audit.record(_audit_redis(), "signin", console_audit.SIGN_IN, label_of(found.public), address)
    keep_lang = st.session_state.get("lang")
    st.session_state.clear()  # nothing of the signed-out form (the typed password included) stays
    st.session_state["lang"] = keep_lang
    st.session_state["user"] = found.public
    st.session_state["last_seen"] = time.time()
    st.rerun()


def _end_session(who: dict[str, str], notice: str, reason: str) -> None:
    console_audit.record(_audit_redis(), "signin", console_audit.SESSION_ENDED, label_of(who), client_address(),
                         reason=reason)
    st.session_state.clear()
    st.session_state["signin_notice"] = notice


def current_user(*, touch: bool = True) -> dict[str, str] | None:
    """The signed-in user as the users file says now, or None (signed out, idle too long, account gone).

    ``touch`` marks this run as activity (page runs and decisions do; timer ticks of fragments do not)."""
    who = st.session_state.get("user")
    if not isinstance(who, dict) or "username" not in who:
        return None
    try:
        found = load_accounts().get(who["username"])
    except auth.AuthError:
        _end_session(who, "users_unavailable", "users file unavailable")
        return None
    if found is None:
        _end_session(who, "account_changed", "account removed")
        return None
    now = time.time()
    idle_s = settings().session_idle_s
    last = st.session_state.get("last_seen")
    if (found.role not in IDLE_EXEMPT_ROLES and idle_s > 0 and isinstance(last, (int, float))
            and now - last > idle_s):
        _end_session(who, "session_expired", "idle")
        return None
    if found.public != who:
        st.session_state["user"] = found.public
    if touch or last is None:
        st.session_state["last_seen"] = now
    return found.public


def sign_out() -> None:
    """Audit the sign-out and clear the whole session state."""
    who = st.session_state.get("user")
    if isinstance(who, dict) and "username" in who:
        console_audit.record(_audit_redis(), "signin", console_audit.SIGN_OUT, label_of(who), client_address())
    st.session_state.clear()


def require_role(needed: str) -> dict[str, str]:
    """Every page calls this first: no (longer a) user shows the sign-in form, a lower role a refusal;
    either way the page stops there."""
    who = current_user()
    if who is None:
        sign_in_form()
        st.stop()
    if not auth.role_at_least(who["role"], needed):
        st.error(NOT_ALLOWED)
        st.stop()
    return who


def recheck(needed: str, *, touch: bool = False) -> dict[str, str]:
    """For fragments (they rerun without the page): when the session ended or the role no longer
    suffices, rerun the whole app, whose page check then shows the sign-in form or the refusal."""
    who = current_user(touch=touch)
    if who is None or not auth.role_at_least(who["role"], needed):
        st.rerun(scope="app")
    return who
