"""分级钻取 · drill-down city → district → street → community → grid, the same KPIs at every level.

Choosing an area shows its tiles and a table of its sub-areas ranked by 综合指标值, today live or over a chosen
date range (flows summed, rates of the range's cohort, against the range of the same length before it); the map
draws the chosen area's grids as the base map (no tiles).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st
from redis import Redis
from redis.exceptions import RedisError

from cityops import read
from cityops.read.kpi_cohort import MAX_PERIOD_DAYS, period_kpis, period_kpis_many
from dashboard import map_layers
from dashboard.auth_gate import recheck, require_role
from dashboard.common import city, lang, redis_client, settings
from dashboard.i18n import t
from dashboard.views import drill as views
from dashboard.views import tiles as tile_views

REFRESH_S = 10

require_role("leader")
lg = lang()
c = city()
TOP = "__top__"

st.subheader(t("page_drill", lg))
# A district clicked on the big screen's map arrives as ``?district=``; it seeds the chooser once.
asked = st.query_params.get("district")
if asked in c.districts and "drill_district" not in st.session_state:
    st.session_state["drill_district"] = asked
# An area clicked on this page's map (set below, applied here: before the choosers are drawn).
goto = st.session_state.pop("_drill_goto", None)
if goto is not None:
    views.choose(st.session_state, c, *goto)
s1, s2, s3, s4 = st.columns(4)
district = s1.selectbox(t("district", lg), [TOP, *sorted(c.districts)], key="drill_district",
                        format_func=lambda x: t("level_city", lg) if x == TOP else c.area_name(x, lg))
street = community = grid = TOP
if district != TOP:
    street = s2.selectbox(t("street", lg), [TOP, *views.children_of(c, "district", district)[1]], key="drill_street",
                          format_func=lambda x: t("all", lg) if x == TOP else c.area_name(x, lg))
if street != TOP:
    community = s3.selectbox(t("community", lg), [TOP, *views.children_of(c, "street", street)[1]],
                             key="drill_community",
                             format_func=lambda x: t("all", lg) if x == TOP else c.area_name(x, lg))
if community != TOP:
    grid = s4.selectbox(t("grid", lg), [TOP, *views.children_of(c, "community", community)[1]], key="drill_grid",
                        format_func=lambda x: t("all", lg) if x == TOP else x)

level, code = "city", c.code
for lvl, value in (("district", district), ("street", street), ("community", community), ("grid", grid)):
    if value != TOP:
        level, code = lvl, value
if st.query_params.get("district") != (district if district != TOP else None):
    if district != TOP:
        st.query_params["district"] = district
    else:
        st.query_params.pop("district", None)
child_level, children = views.children_of(c, level, code)
today = datetime.now(settings().tz).date()
picked_days = st.date_input(t("drill_period", lg), value=(today, today), key="drill_period",
                            min_value=today - timedelta(days=MAX_PERIOD_DAYS - 1), max_value=today)
period = views.chosen_period(picked_days, today, MAX_PERIOD_DAYS)


def _tiles(r: Redis, now: datetime) -> list[tile_views.Tile]:
    """Today live against the same time yesterday, or the chosen period against the one before it."""
    if period is None:
        mine = read.kpis(r, now, level, code)
        before = read.kpis_until(r, now - timedelta(days=1), level, code, mine.overdue)
        return [x for x in tile_views.kpi_tiles(mine, before, 0, 0, None, lg)
                if x.key not in ("kpi_sensors_alarm", "kpi_captures")]
    gauge = read.kpis(r, now, level, code).overdue
    mine = period_kpis(r, *period, level, code, settings().tz, gauge)
    before = period_kpis(r, *views.previous_period(*period), level, code, settings().tz)
    return tile_views.period_tiles(mine, before, lg)


@st.fragment(run_every=REFRESH_S)
def figures() -> None:
    recheck("leader")
    now = datetime.now(settings().tz)
    try:
        r = redis_client()
        tiles = _tiles(r, now)
        if not children:
            table = {}
        elif period is None:
            table = read.kpis_many(r, now, child_level, children)
        else:  # the overdue gauge is now's, whatever the period (the read model keeps no other)
            gauges = {sid: k.overdue for sid, k in read.kpis_many(r, now, child_level, children).items()}
            table = period_kpis_many(r, *period, child_level, children, settings().tz, gauges)
    except RedisError as err:
        st.warning(f"{t('read_model_down', lg)}: {type(err).__name__}")
        return
    name = c.area_name(code, lg) if level != "city" else c.name_zh if lg == "zh" else c.name_en
    when = "" if period is None else " · " + t("drill_period_of", lg).format(first=period[0], last=period[1])
    st.markdown(f"**{name}{when}**")
    for col, tile in zip(st.columns(len(tiles)), tiles, strict=True):
        col.metric(tile.label, tile.value, tile.delta, delta_color=tile.delta_color, help=tile.help)
    if children:
        st.markdown(f"**{t('children_table', lg)}**")
        frame = views.drill_frame(table, c, lg, period=period is not None)
        st.dataframe(frame.drop(columns=["code"]) if not frame.empty else frame, hide_index=True)


left, right = st.columns([1.35, 1])
with left:
    figures()

grid_codes = [g.code for g in c.area_grids(level, code)]
layers = [map_layers.district_layer(c, lg), map_layers.grid_layer(c, grid_codes, lg)]
with right:
    event = st.pydeck_chart(map_layers.deck(layers, map_layers.view_of(c.area_bounds(level, code), 760, 560)),
                            height=560, key=f"drill_map_{level}_{code}", on_select="rerun",
                            selection_mode="single-object")
    st.caption(t("map_click_hint", lg))
target = views.clicked_area(c, getattr(event, "selection", None))
if target is not None and target != (level, code):
    st.session_state["_drill_goto"] = target
    st.rerun()
