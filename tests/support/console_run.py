"""Console pages run in the test's process with Streamlit's AppTest, for the pipeline tests that follow events
from the broker through the worker to the console: a signed-in user, the test's ``CITYOPS_*`` settings and Redis.

Why a fresh start per run: the console caches its city, catalogue and sensors for the process
(``st.cache_resource``) and ``cityops`` caches settings, calendar and catalogue; a test that points
``CITYOPS_CITY_DIR`` at another city must not see the one an earlier test loaded.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import streamlit as st
from streamlit.testing.v1 import AppTest

from cityops.catalogue import get_catalogue
from cityops.settings import REPO_ROOT, get_settings
from cityops.workcalendar import get_calendar

PAGES = REPO_ROOT / "dashboard" / "pages"
USERS = {"leader": {"username": "leader", "role": "leader", "display_name": "王局长", "department": ""},
         "duty": {"username": "duty", "role": "duty", "display_name": "李值班", "department": ""},
         "admin": {"username": "admin", "role": "admin", "display_name": "系统管理员", "department": ""}}


def forget_city() -> None:
    """Drop every per-process cache that holds the city, so the next page run loads ``CITYOPS_CITY_DIR`` afresh."""
    get_settings.cache_clear()
    get_calendar.cache_clear()
    get_catalogue.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()


@contextlib.contextmanager
def fresh_city() -> Iterator[None]:
    """Pages run inside load the city of ``CITYOPS_CITY_DIR`` now, and leave no cache of it to later tests."""
    forget_city()
    try:
        yield
    finally:
        forget_city()


def run_page(name: str, role: str, **state: object) -> AppTest:
    """``dashboard/pages/{name}.py`` run once as a user of ``role``; fails the test on any exception."""
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)
    at.session_state["user"] = USERS[role]
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def deck_specs(at: AppTest) -> list[dict]:
    """The pydeck charts' specs as the browser would receive them (the ``deck_gl_json_chart`` elements' JSON)."""
    return [json.loads(e.proto.json) for e in at.get("deck_gl_json_chart")]


def deck_layer(at: AppTest, layer_id: str) -> list[dict]:
    """The data rows of every layer with this id in the page's maps (a GeoJSON layer's features)."""
    rows: list[dict] = []
    for spec in deck_specs(at):
        for layer in spec.get("layers", []):
            if layer.get("id") == layer_id:
                data = layer.get("data", [])
                rows.extend(data["features"] if isinstance(data, dict) else data)
    return rows


def rendered_text(at: AppTest) -> str:
    """Every piece of text the page shows: headings, markdown, captions, notices, tiles, tables, choices and
    the maps' tooltips (the deck specs)."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "warning", "info", "error", "success"):
        parts.extend(str(e.value) for e in getattr(at, kind))
    parts.extend(f"{m.label} {m.value}" for m in at.metric)
    parts.extend(e.value.to_string() for e in at.dataframe)
    for box in at.selectbox:
        parts.append(str(box.label))
        parts.extend(str(o) for o in box.options)
    parts.extend(json.dumps(spec, ensure_ascii=False) for spec in deck_specs(at))
    return "\n".join(parts)

