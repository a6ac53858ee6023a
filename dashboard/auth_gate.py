"""Sign-in form, sessions and role checks for the console.

Why in the app and not a proxy: the command centre has no identity provider on its intranet; the
accounts file (``cityops/auth.py``) is the source of truth, read again on every page run
(:func:`current_user`), so a deleted or demoted account loses access at the next refresh. The
signed-in user lives in the Streamlit session (server side, one per browser tab); a page reload
asks again. A session without interaction for ``CITYOPS_SESSION_IDLE_S`` ends, except the leader
role's (the big screen runs unattended on the wall and shows nothing it could change). Sign-out
clears the whole session state.

The leader role also gets a signed, expiring cookie (``cityops/session_cookie.py``) so the wall screen stays
signed in across a reload: a new browser session reads it once, and signs in without the form only when the
signature and expiry hold, the account still exists with that role, and the session was not revoked
(sign-out, a password change by an admin). Other roles are asked again, as their idle timeout wants.

Each attempt is counted in Redis before its password is checked (``cityops/signin_guard.py``):
growing per-account delays, per-address locks. Sign-ins, failures, refusals, sign-outs and ended
sessions go to the audit trail with the client address (``cityops/console_audit.py``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from functools import lru_cache
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from cityops import auth, console_audit, session_cookie
from cityops.settings import REPO_ROOT
from cityops.signin_guard import SigninGuard, SigninPolicy, subjects
from dashboard import map_layers
from dashboard.common import app_title, city, lang, redis_client, settings
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
    form_column, map_column = st.columns([1, 1.3])
    with form_column, st.form("sign_in", clear_on_submit=False):
        username = st.text_input(t("username", lg), key="login_username", max_chars=auth.MAX_USERNAME_LEN)
        password = st.text_input(t("password", lg), type="password", key="login_password",
                                 max_chars=auth.MAX_PASSWORD_LEN)
        submitted = st.form_submit_button(t("sign_in", lg), type="primary")
    with map_column:  # after the form, so the form comes first
        _city_outline(lg)
    if submitted:
        with form_column:
            _attempt(username.strip(), password, lg)


def _city_outline(lg: str) -> None:
    """The city's districts beside the form (public outlines, none of the read model's data).

    Why here: the map's script (3 MB) and the browser's WebGL start once per page, so drawing them while
    the user types makes the big screen's map after 登录 about a second sooner (docs/console.md)."""
    c = city()
    with st.container(key="signin_map"):  # named, so a browser test can tell the sign-in page by it
        st.pydeck_chart(map_layers.deck([map_layers.district_layer(c, lg)],
                                        map_layers.view_of(c.area_bounds(), 640, 400)), height=400)


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
    st.session_state["cookie_checked"] = True
    _issue_cookie(found)
    st.rerun()


def _cookie_paths() -> tuple[Path, Path]:
    var = settings().var_dir
    return var / "console-cookie-secret", var / "console-revoked.json"


def revocations() -> session_cookie.Revocations:
    return session_cookie.Revocations(_cookie_paths()[1])


def _issue_cookie(found: auth.User) -> None:
    """Leaders (the wall screen) get the signed cookie; it is written by the next page run."""
    lifetime = settings().session_cookie_s
    if found.role not in IDLE_EXEMPT_ROLES or lifetime <= 0:
        return
    try:
        token, claims = session_cookie.issue(session_cookie.load_secret(_cookie_paths()[0]), found.username,
                                             found.role, lifetime)
    except (session_cookie.CookieRefused, OSError) as err:  # the sign-in stands, only without the cookie
        log.warning("no sign-in cookie for %s: %s", found.username, err)
        return
    st.session_state["cookie_claims"] = claims
    st.session_state["cookie_write"] = (token, lifetime)


def _from_cookie() -> dict[str, str] | None:
    """Once per browser session: the user the sign-in cookie names, if it still holds (see the module doc)."""
    if st.session_state.get("cookie_checked"):
        return None
    st.session_state["cookie_checked"] = True
    try:
        token = st.context.cookies.get(session_cookie.COOKIE_NAME)
    except Exception:  # noqa: BLE001 - outside a browser session (AppTest) there are no cookies
        return None
    if not isinstance(token, str) or not token:  # AppTest's context gives no string
        return None
    name = "?"
    try:
        claims = session_cookie.verify(session_cookie.load_secret(_cookie_paths()[0]), token)
        name = claims.username
        revocations().check(claims)
        found = load_accounts().get(claims.username)
        if found is None or found.role != claims.role or found.role not in IDLE_EXEMPT_ROLES:
            raise session_cookie.CookieRefused("account changed")
    except (session_cookie.CookieRefused, auth.AuthError, OSError) as err:
        console_audit.record(_audit_redis(), "signin", console_audit.SIGN_IN_REFUSED, name[:64], client_address(),
                             via="cookie", reason=str(err)[:200])
        st.session_state["cookie_clear"] = True
        return None
    console_audit.record(_audit_redis(), "signin", console_audit.SIGN_IN, label_of(found.public), client_address(),
                         via="cookie")
    st.session_state["user"] = found.public
    st.session_state["last_seen"] = time.time()
    st.session_state["cookie_claims"] = claims
    return found.public


def write_cookie_changes() -> None:
    """Write or clear the sign-in cookie in the browser, once, when a sign-in or sign-out asked for it.

    Why a script: Streamlit 1.67 reads cookies (``st.context.cookies``) but has no call that sets one; the
    component's frame shares the console's origin, so it sets the cookie of the top page (SameSite=Strict)."""
    write = st.session_state.pop("cookie_write", None)
    clear = st.session_state.pop("cookie_clear", None)
    if write is None and not clear:
        return
    name = session_cookie.COOKIE_NAME
    value, max_age = write if write is not None else ("", 0)
    components.html(f"""<script>
const secure = window.parent.location.protocol === "https:" ? "; Secure" : "";
window.parent.document.cookie = {json.dumps(name)} + "=" + {json.dumps(value)} +
  "; Path=/; Max-Age={int(max_age)}; SameSite=Strict" + secure;
</script>""", height=0)


def _end_session(who: dict[str, str], notice: str, reason: str) -> None:
    console_audit.record(_audit_redis(), "signin", console_audit.SESSION_ENDED, label_of(who), client_address(),
                         reason=reason)
    st.session_state.clear()
    st.session_state["signin_notice"] = notice
    st.session_state["cookie_checked"] = True
    st.session_state["cookie_clear"] = True


def current_user(*, touch: bool = True) -> dict[str, str] | None:
    """The signed-in user as the users file says now, or None (signed out, idle too long, account gone).

    ``touch`` marks this run as activity (page runs and decisions do; timer ticks of fragments do not)."""
    who = st.session_state.get("user")
    if not isinstance(who, dict) or "username" not in who:
        return _from_cookie()
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
    """Audit the sign-out, revoke the session's cookie and clear the whole session state."""
    who = st.session_state.get("user")
    if isinstance(who, dict) and "username" in who:
        console_audit.record(_audit_redis(), "signin", console_audit.SIGN_OUT, label_of(who), client_address())
    claims = st.session_state.get("cookie_claims")
    if isinstance(claims, session_cookie.Claims):
        try:
            revocations().revoke_session(claims)
        except (session_cookie.CookieRefused, OSError) as err:
            log.error("could not revoke the sign-in cookie of %s: %s", claims.username, err)
    st.session_state.clear()
    st.session_state["cookie_checked"] = True
    st.session_state["cookie_clear"] = True


def require_role(needed: str) -> dict[str, str]:
    """Every page calls this first: no (longer a) user shows the sign-in form, a lower role a refusal (and a
    department user on a command-centre page, or anyone else on the department's, :func:`auth.may_open`);
    either way the page stops there."""
    who = current_user()
    if who is None:
        sign_in_form()
        st.stop()
    if not auth.may_open(who["role"], needed):
        st.error(NOT_ALLOWED)
        st.stop()
    return who


def recheck(needed: str, *, touch: bool = False) -> dict[str, str]:
    """For fragments (they rerun without the page): when the session ended or the role no longer
    suffices, rerun the whole app, whose page check then shows the sign-in form or the refusal."""
    who = current_user(touch=touch)
    if who is None or not auth.may_open(who["role"], needed):
        st.rerun(scope="app")
    return who
