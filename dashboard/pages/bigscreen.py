"""领导驾驶舱 · the big screen (1920×1080, dark, no scrolling), refreshed every few seconds.

Only the fragment below reruns on the timer (``st.fragment(run_every=…)``), so the page itself never
reloads or flickers; every value comes from Redis through ``dashboard.screen_data``.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import streamlit as st
from redis.exceptions import RedisError

from cityops.city import CityModel
from dashboard import evidence, map_layers
from dashboard.auth_gate import recheck, require_role
from dashboard.common import (
    app_title,
    apply_css,
    catalogue,
    city,
    holiday_warning,
    lang,
    redis_client,
    sensors,
    settings,
)
from dashboard.i18n import t
from dashboard.screen_data import ScreenData, read_big_screen
from dashboard.views import bigscreen as views
from dashboard.views import tiles as tile_views
from dashboard.views.common import md_escape

REFRESH_S = 5
# The map is rebuilt at most this often (and when its layer toggles change): between rebuilds the fragment
# hands Streamlit the same deck, whose identical message Streamlit sends as a reference to the one the
# browser already holds, so neither the district polygons nor the points travel again and deck.gl redraws
# nothing. Sensors' alarms and the hotspots move on this scale; the tiles keep the 5 s beat.
MAP_REFRESH_S = 30
MAP_LAYERS = ("districts", "hotspots", "sensors", "cameras")
DRILL_PAGE = str(Path(__file__).resolve().parent / "drill.py")

require_role("leader")
apply_css()
lg = lang()


@st.cache_data(max_entries=64, show_spinner=False)
def _thumb(ref: str, box: tuple | None, frame: tuple | None) -> bytes | None:
    """Thumbnails are cached by reference (bounded), so a refresh does not re-read the JPEGs."""
    path = evidence.resolve(settings().evidence_dir, ref)
    if path is None:
        return None
    try:
        return evidence.thumbnail(path, box, frame, width=300)
    except OSError:
        return None


def _deck(c: CityModel, data: ScreenData, shown: tuple[str, ...], lg: str) -> map_layers.CompactDeck:
    """The map's deck, rebuilt only when the toggles change or :data:`MAP_REFRESH_S` has passed."""
    memo = st.session_state.get("_bigscreen_deck")
    if memo is not None and memo[0] == (shown, lg) and time.monotonic() - memo[1] < MAP_REFRESH_S:
        return memo[2]
    layers = []
    if "districts" in shown:
        layers.append(map_layers.district_layer(c, lg))
    if "hotspots" in shown:
        layers.append(map_layers.hotspot_layer(data.positions))
    sensor_points = map_layers.sensor_points(sensors(), data.sensors, lg) if "sensors" in shown else []
    camera_points = map_layers.camera_points(data.captures) if "cameras" in shown else []
    if sensor_points or camera_points:
        layers.append(map_layers.point_layer(sensor_points, camera_points))
    built = map_layers.deck(layers, map_layers.view_of(c.area_bounds(), 880, 680))
    st.session_state["_bigscreen_deck"] = ((shown, lg), time.monotonic(), built)
    return built


def _drill_on_click(event: object) -> None:
    """A district clicked on the map opens its drill-down (the drill page reads ``?district=``)."""
    props = map_layers.picked(getattr(event, "selection", None), "districts")
    code = str(props.get("code", "")) if props else ""
    if code in city().districts:
        for k in ("drill_district", "drill_street", "drill_community", "drill_grid"):
            st.session_state.pop(k, None)
        st.switch_page(DRILL_PAGE, query_params={"district": code})


@st.fragment(run_every=REFRESH_S)
def screen() -> None:
    recheck("leader")
    c, cat = city(), catalogue()
    now = datetime.now(settings().tz)
    try:
        data = read_big_screen(redis_client(), now, c, cat)
    except RedisError as err:
        st.warning(f"{t('read_model_down', lg)}: {type(err).__name__}")
        return
    head, stamp = st.columns([4, 1])
    head.subheader(f"{app_title(lg)} · {t('page_bigscreen', lg)}")
    workers = (f" · ⚠ {t('worker_down', lg)}" if data.workers.alive == 0
               else f" · {t('workers_alive', lg).format(n=data.workers.alive)}")
    stamp.caption(f"{t('updated', lg)} {now:%Y-%m-%d %H:%M:%S}{workers}")
    holidays_missing = holiday_warning(lg)
    if holidays_missing:
        st.warning(f"⚠ {holidays_missing}")

    tiles = tile_views.kpi_tiles(data.today, data.yesterday_until, tile_views.sensors_in_alarm(data.sensors),
                                 data.captures_today, data.captures_delta, lg)
    for col, tile in zip(st.columns(len(tiles)), tiles, strict=True):
        col.metric(tile.label, tile.value, tile.delta, delta_color=tile.delta_color, help=tile.help)

    left, centre, right = st.columns([1.05, 1.9, 1.05])
    with centre:  # the map first: its first frame is the slowest part of the screen
        st.markdown(f"**{t('map_title', lg)}**")
        shown = st.pills(t("map_layers", lg), list(MAP_LAYERS), selection_mode="multi", default=list(MAP_LAYERS),
                         format_func=lambda k: t(f"map_layer_{k}", lg), key="bigscreen_layers",
                         label_visibility="collapsed")
        event = st.pydeck_chart(_deck(c, data, tuple(shown or ()), lg), height=680, key="bigscreen_map",
                                on_select="rerun", selection_mode="single-object")
        st.caption(t("legend", lg))
        _drill_on_click(event)
    with left:
        st.markdown(f"**{t('hourly_title', lg)}**")
        st.line_chart(views.hourly_frame(data.hourly_today, data.hourly_yesterday, now, lang=lg), height=300,
                      color=["#7fd3ff", "#f5a623"])
        st.markdown(f"**{t('categories_title', lg)}**")
        top = views.top_categories(data.categories, cat, lg, n=8)
        if top.empty:
            st.caption(t("no_data", lg))
        else:
            st.bar_chart(top, x=t("category", lg), y=t("count", lg), horizontal=True, height=390,
                         color="#7fd3ff", sort=f"-{t('count', lg)}")
    with right:
        of_yesterday = data.ranking_day.date() != now.date()
        st.markdown(f"**{t('ranking_title_yesterday' if of_yesterday else 'ranking_title', lg)}**",
                    help=t("ranking_yesterday_help", lg) if of_yesterday else None)
        st.dataframe(views.ranking_frame(data.ranking, c, lg), hide_index=True, height=252)
        st.markdown(f"**{t('captures_title', lg)}**")
        cards = views.capture_cards(data.captures, cat, settings().tz, lg, n=4)
        if not cards:
            st.caption(t("no_captures", lg))
        for row in (cards[:2], cards[2:4]):
            if not row:
                continue
            for col, card in zip(st.columns(2), row, strict=False):
                image = _thumb(card.evidence_ref, card.box, card.frame)
                caption = md_escape(f"{card.at} {card.camera} · {card.kind}")
                if image is not None:
                    col.image(image, caption=caption, width="stretch")
                else:
                    col.caption(f"{caption} · {t('no_evidence', lg)}")


screen()
