"""What every console page shares: one Redis client, the city model, the command publisher, the
signed-in user and the language, plus the big screen's CSS.

Why cached resources: Streamlit reruns page scripts on every interaction and every fragment tick;
clients and the city model (5,273 grid polygons) must be built once per process, not per rerun, or
memory and latency grow with uptime.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import streamlit as st
from redis import Redis

from cityops import read
from cityops.auth import DEPARTMENT
from cityops.catalogue import Catalogue, get_catalogue
from cityops.city import CityModel
from cityops.city_data import get_city_data
from cityops.command_signing import load_keys, sign
from cityops.devices import Sensor
from cityops.permissions import command_refusal
from cityops.schemas import CommandAction, OperatorCommand, encode
from cityops.settings import Settings, get_settings
from cityops.workcalendar import get_calendar, missing_year_warning
from dashboard.i18n import t

logger = logging.getLogger(__name__)


def settings() -> Settings:
    return get_settings()  # lru-cached in cityops.settings; not a Streamlit resource, so tests can change it


@st.cache_resource
def _redis(url: str) -> Redis:
    return read.connect(Settings(redis_url=url))


def redis_client() -> Redis:
    """One client (connection pool) per Redis URL for the whole process."""
    metrics_server()
    return _redis(settings().redis_url)


@st.cache_resource
def metrics_server():  # noqa: ANN201 - cityops.observability.MetricsServer or None
    """The console's ``/metrics`` and ``/healthz``, once per Streamlit process, on their own port
    (``CITYOPS_METRICS_PORT_CONSOLE``; 0: off): Streamlit serves no extra routes of its own."""
    from cityops import observability

    health = observability.Health("console")
    health.add("redis", observability.redis_check(settings().redis_url))
    return observability.serve("console", health)


@st.cache_resource
def city() -> CityModel:
    data = get_city_data()
    warning = holiday_warning()
    if warning:
        logger.warning("city %s: %s", data.city.code, warning)
    return data.city


def app_title(lang: str = "zh") -> str:
    """The platform's name with the city's (the console serves whichever city ``CITYOPS_CITY_DIR`` holds)."""
    c = city()
    return t("app_title", lang).format(city=c.name_zh if lang == "zh" else c.name_en)


def holiday_warning(lang: str = "en") -> str | None:
    """Said at console start and on the big screen when this year has no holiday data (SLA clocks then
    count public holidays as working days)."""
    return missing_year_warning(get_calendar(), datetime.now(settings().tz).date(), lang)


@st.cache_resource
def catalogue() -> Catalogue:
    return get_catalogue()


@st.cache_resource
def sensors() -> tuple[Sensor, ...]:
    return get_city_data().sensors


@st.cache_resource
def _publisher(broker: str):  # noqa: ANN202 - cityops.bus.SyncPublisher, imported lazily (aiokafka start-up)
    from cityops.bus import SyncPublisher

    return SyncPublisher(settings())


def publisher():  # noqa: ANN201
    """One Kafka producer per console process and broker, created on the first command (not at page load)."""
    return _publisher(settings().kafka_broker)


def lang() -> str:
    value = st.session_state.get("lang") or settings().console_lang
    return "en" if value == "en" else "zh"


def user() -> dict[str, str] | None:
    return st.session_state.get("user")


def send_command(action: CommandAction, target_kind: str, target_id: str, *, department_id: str | None = None,
                 note: str | None = None, points: float | None = None, level: int | None = None,
                 reply_due: datetime | None = None, evidence_ref: str | None = None) -> bool:
    """Publish one signed operator command to Kafka, carrying the signed-in user's name and role.

    The console never writes Redis: the command agent verifies the signature, the freshness and the role
    (the same table, :mod:`cityops.permissions`), applies the command and audits it, and the feed shows the
    result on its next tick. A command the user's role may not send is refused here with
    :class:`PermissionError` and never published. Returns whether the broker acknowledged the command; when
    it is unreachable the command waits in the console's buffer and is delivered once it is back (the page
    says so instead of failing, and the officer must not send it again; one delivered later than
    ``CITYOPS_COMMAND_MAX_AGE_S`` is refused as stale and must be sent again).
    A department user's command always names the user's own department (the agent checks the case is theirs).
    """
    who = user()
    if who is None:
        raise PermissionError("not signed in")
    role = who.get("role", "")
    if role == DEPARTMENT:
        department_id = who.get("department") or None
    refusal = command_refusal(role, action, target_kind)
    if refusal is not None:
        raise PermissionError(f"{who.get('username', '?')}: {refusal}")
    cmd = OperatorCommand(command_id=f"cmd-{uuid.uuid4().hex}", action=action, target_kind=target_kind,
                          target_id=target_id, user=f"{who['display_name']}({who['username']})"[:64], role=role,
                          issued_at=datetime.now(UTC), department_id=department_id, note=note or None,
                          points=points, level=level, reply_due=reply_due, evidence_ref=evidence_ref)
    signed = sign(cmd, load_keys(settings()))
    return publisher().publish(settings().topics.commands, target_id, encode(signed)) is not False


BIG_SCREEN_CSS = """
<style>
  .block-container {padding-top: 0.6rem; padding-bottom: 0; padding-left: 1.2rem; padding-right: 1.2rem;
                    max-width: 100%;}
  [data-testid="stMetric"] {background: #0f2740; border: 1px solid #1f4b75; border-radius: 6px;
                            padding: 6px 10px;}
  [data-testid="stMetricValue"] {font-size: 1.9rem; color: #7fd3ff;}
  [data-testid="stMetricLabel"] p {font-size: 0.95rem;}
  h1, h2, h3 {margin: 0.1rem 0 0.2rem 0; padding: 0;}
  h3 {font-size: 1.05rem;}
  [data-testid="stVerticalBlock"] {gap: 0.45rem;}
  [data-testid="stCaptionContainer"] {margin: 0;}
</style>
"""


def apply_css() -> None:
    """Static CSS only (no event text): compact spacing for the 1920×1080 screen."""
    st.html(BIG_SCREEN_CSS)
