"""领导驾驶舱 · the big screen (1920×1080, dark, no scrolling), refreshed every few seconds.

Only the fragment below reruns on the timer (``st.fragment(run_every=…)``), so the page itself never
reloads or flickers; every value comes from Redis through ``dashboard.screen_data``.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st
from redis.exceptions import RedisError

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
from dashboard.screen_data import read_big_screen
from dashboard.views import bigscreen as views
from dashboard.views import tiles as tile_views
from dashboard.views.common import md_escape

REFRESH_S = 5

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
    with centre:
        st.markdown(f"**{t('map_title', lg)}**")
        layers = [map_layers.district_layer(c, lg), map_layers.hotspot_layer(data.positions),
                  *map_layers.sensor_layers(map_layers.sensor_points(sensors(), data.sensors)),
                  map_layers.camera_layer(map_layers.camera_points(data.captures))]
        view = map_layers.view_of(c.area_bounds(), 880, 730)
        st.pydeck_chart(map_layers.deck(layers, view), height=730, key="bigscreen_map")
        st.caption(t("legend", lg))
    with right:
        st.markdown(f"**{t('ranking_title', lg)}**")
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
