"""The big screen's map toggles and its click-through to the drill-down, through Streamlit's AppTest on the
seeded read model of ``test_console_pages`` (a real Redis)."""

from __future__ import annotations

import json

from dashboard import map_layers
from fixtures.xiamen import load_city
from tests.integration.test_console_pages import _page, seeded  # noqa: F401 - the module's fixture
from tests.support.console_run import deck_layer


def _layer_ids(at) -> list[str]:  # noqa: ANN001 - an AppTest
    decks = at.get("deck_gl_json_chart")
    assert len(decks) == 1
    return [lay["id"] for lay in json.loads(decks[0].proto.json)["layers"]]


def test_big_screen_map_draws_the_layers_its_toggles_choose(seeded):  # noqa: F811
    at = _page("bigscreen", "leader").run()
    assert not at.exception, at.exception
    assert _layer_ids(at) == ["districts", "hotspots", "points"], "sensors and cameras share one layer"
    assert {p["status"] for p in deck_layer(at, "points")} >= {"normal", "camera"}
    toggles = at.get("button_group")
    assert len(toggles) == 1
    at = _page("bigscreen", "leader", bigscreen_layers=["districts", "cameras"]).run()
    assert not at.exception, at.exception
    assert _layer_ids(at) == ["districts", "points"]
    assert {p["status"] for p in deck_layer(at, "points")} == {"camera"}, "the sensors toggled off"


def test_big_screen_map_is_clickable_and_keeps_its_deck_between_refreshes(seeded):  # noqa: F811
    at = _page("bigscreen", "leader").run()
    deck = at.get("deck_gl_json_chart")[0].proto
    assert list(deck.selection_mode), "a click selects one object"
    first, built = deck.json, at.session_state["_bigscreen_deck"][1]
    at.run()
    assert at.session_state["_bigscreen_deck"][1] == built, "not rebuilt until MAP_REFRESH_S has passed"
    assert at.get("deck_gl_json_chart")[0].proto.json == first, "so the browser gets the very same message"


def test_drill_page_opens_on_the_district_in_its_address(seeded):  # noqa: F811
    at = _page("drill", "leader")
    at.query_params["district"] = "350203"
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="drill_district").value == "350203"
    assert len(at.selectbox(key="drill_street").options) > 2
    at = _page("drill", "leader")
    at.query_params["district"] = "<nope>"
    at.run()
    assert at.selectbox(key="drill_district").value == "__top__", "an unknown code is ignored"


def test_a_click_on_the_drill_map_chooses_the_grid_and_its_parents():
    from dashboard.views import drill

    city = load_city()
    grid = sorted(city.grids)[0]
    g = city.grids[grid]
    assert drill.clicked_area(city, {"objects": {"grids": [{"properties": {"code": grid}}]}}) == ("grid", grid)
    assert drill.clicked_area(city, {"objects": {"districts": [{"properties": {"code": "350203"}}]}}) == \
        ("district", "350203")
    assert drill.clicked_area(city, {"objects": {"grids": [{"properties": {"code": "@@=x"}}]}}) is None
    assert drill.clicked_area(city, {"indices": {}, "objects": {}}) is None and drill.clicked_area(city, None) is None
    state = {"drill_grid": "old", "other": 1}
    drill.choose(state, city, "grid", grid)
    assert state == {"other": 1, "drill_district": g.district_code, "drill_street": g.street_code,
                     "drill_community": g.community_code, "drill_grid": grid}
    drill.choose(state, city, "district", "350206")
    assert state == {"other": 1, "drill_district": "350206"}


def test_district_borders_are_polygons_not_lines():
    city = load_city()
    deck = map_layers.deck([map_layers.district_layer(city)], map_layers.view_of(city.area_bounds()))
    spec = json.loads(deck.to_json())
    (lay,) = spec["layers"]
    assert lay["stroked"] is False, "no PathLayer: its shaders cost seconds of the first frame in software WebGL"
    codes = [f["properties"]["code"] for f in lay["data"]["features"]]
    assert sorted(codes) == sorted([*city.districts, *city.districts]), "each district: its inside and its border"
