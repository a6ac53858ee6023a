"""pydeck layers of the console maps, drawn on our own polygons: no tiles, no token, nothing external.

Why: the console runs on government intranets without internet, and the bureau's coordinates are
GCJ-02, which any foreign tile service would draw offset. The base map is off (see :data:`NO_BASE_MAP`
for why that is not literally ``map_style=None`` under Streamlit); the district (and, when drilling
down, grid) polygons are the base map.

Tooltips use deck.gl's ``text`` template, which the browser sets as ``innerText``: an address holding
``<script>`` shows as those characters and can never become markup, whatever the Streamlit version
does with values. (The ``html`` template with :func:`html.escape`-d values was tried first: Streamlit
1.67 escapes ``html`` tooltip values itself, so pre-escaped text showed as ``&lt;script&gt;``; the
text template needs no escaping at all. ``tests/e2e/test_console_browser.py`` hovers a case whose
address holds ``<script>`` and checks the tooltip shows it as text, with no element inside.)

deck.gl's JSON converter (what Streamlit hands the spec to) reads strings, wherever they stand, as code:
``@@=…`` is an expression, ``@@#…`` a constant, ``@@type`` a class and ``@@function`` a function. Event
text is data, never that: :func:`inert` prefixes any data string starting with ``@@`` with a zero-width
space (it shows the same) and every layer's data goes through it, tooltip text included.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence

import pydeck as pdk
import shapely.geometry
import shapely.geometry.base
from pydeck.bindings.json_tools import default_serialize

from cityops import sensor_kinds
from cityops.city import CityModel
from cityops.devices import Sensor
from dashboard import hexbins, screen_geometry

TOOLTIP = {"text": "{title}\n{detail}",
           "style": {"backgroundColor": "#0b1e33", "color": "#e6f1ff", "fontSize": "13px"}}

SENSOR_COLOURS = {"alarm": [255, 45, 45, 255], "pending": [245, 166, 35, 230], "offline": [150, 150, 150, 200],
                  "normal": [46, 204, 113, 150]}
CAMERA_COLOUR = [64, 156, 255, 240]
CASE_COLOUR = [255, 214, 10, 255]
HOTSPOT_COLOURS = [[1, 152, 189], [73, 227, 206], [216, 254, 181], [254, 237, 177], [254, 173, 84], [209, 55, 78]]


ZERO_WIDTH = "\u200b"


def esc(value: object) -> str:
    """One tooltip value as plain text (the text template shows it verbatim; no markup, no ``@@`` code)."""
    text = "" if value is None else str(value)
    return ZERO_WIDTH + text if text.startswith("@@") else text


def inert(data: object) -> object:
    """``data`` with every string (values and keys, at any depth) that deck.gl's JSON converter would
    evaluate (``@@=``, ``@@#``, ``@@type``, …) made plain text; numbers and the rest unchanged."""
    if isinstance(data, str):
        return esc(data)
    if isinstance(data, dict):
        return {esc(k) if isinstance(k, str) else k: inert(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [inert(v) for v in data]
    return data


def layer(kind: str, data: object, **props: object) -> pdk.Layer:
    """A pydeck layer whose data cannot carry deck.gl code (the props are ours: accessors stay ``@@=``)."""
    return pdk.Layer(kind, inert(data), **props)


# The big screen's map is ~880 px across the city at zoom ≈ 10: one pixel is ≈ 0.0007° there. Outlines are
# thinned to half a pixel (Douglas–Peucker, ``dashboard.screen_geometry``) and rounded to 5 decimals (≈ 1 m).
DISTRICT_TOLERANCE = 0.00035
# District borders are drawn as a band of polygon ≈ 1.5 px wide (at the big screen's zoom) along the inside of
# each outline, not as deck.gl lines: in headless chromium (software WebGL) compiling PathLayer's shaders took
# 1–2 s of the map's first frame, while a second polygon reuses the fill's (measured; docs/console.md, "The
# big screen's first frame").
BORDER_WIDTH = 0.001
DISTRICT_FILL = [18, 52, 86, 200]
DISTRICT_BORDER = [95, 170, 255, 255]

_FEATURES: dict[tuple[int, str, float], list[dict]] = {}


def _screen_shape(geometry: shapely.geometry.base.BaseGeometry, tolerance: float) -> dict | None:
    """One shapely polygon as thinned, rounded GeoJSON (the unthinned outline, rounded, if thinning leaves nothing)."""
    mapped = shapely.geometry.mapping(geometry)
    return screen_geometry.simplify_geojson(mapped, tolerance) or screen_geometry.simplify_geojson(mapped, 0.0)


def district_features(city: CityModel, lang: str = "zh", tolerance: float = DISTRICT_TOLERANCE) -> list[dict]:
    """District polygons as GeoJSON features thinned for the screen (built once per process, city and language)."""
    key = (id(city), lang, tolerance)
    if key not in _FEATURES:
        out = []
        for d in city.districts.values():
            geometry = _screen_shape(d.geometry, tolerance)
            if geometry is None:
                continue
            out.append({"type": "Feature", "geometry": geometry,
                        "properties": {"code": d.code, "title": esc(d.name_zh if lang == "zh" else d.name_en),
                                       "detail": esc(d.code)}})
        _FEATURES[key] = out
    return _FEATURES[key]


_BORDERS: dict[tuple[int, float, float], dict[str, dict]] = {}


def district_borders(city: CityModel, width: float = BORDER_WIDTH,
                     tolerance: float = DISTRICT_TOLERANCE) -> dict[str, dict]:
    """Each district's border as a band of polygon ``width`` degrees wide inside its outline (GeoJSON by code),
    built once per city."""
    key = (id(city), width, tolerance)
    if key not in _BORDERS:
        bands = {}
        for d in city.districts.values():
            band = d.geometry.difference(d.geometry.buffer(-width))
            geometry = _screen_shape(band, tolerance) if not band.is_empty else None
            if geometry is not None:
                bands[d.code] = geometry
        _BORDERS[key] = bands
    return _BORDERS[key]


def district_layer(city: CityModel, lang: str = "zh", highlight: str | None = None) -> pdk.Layer:
    """The districts, filled, with their borders as polygons too (one GeoJsonLayer, no line sublayer); a
    district's border is as pickable as its inside, and both carry its ``code`` (a click drills down)."""
    features = [f | {"properties": f["properties"] | {"c": DISTRICT_FILL}} for f in district_features(city, lang)]
    borders = district_borders(city)
    features += [{"type": "Feature", "geometry": borders[f["properties"]["code"]],
                  "properties": f["properties"] | {"c": DISTRICT_BORDER}}
                 for f in features if f["properties"]["code"] in borders]
    if highlight:
        features = [f | {"properties": f["properties"] | {"hl": int(f["properties"]["code"] == highlight)}}
                    for f in features]
    return layer("GeoJsonLayer", {"type": "FeatureCollection", "features": features}, id="districts",
                 stroked=False, filled=True, pickable=True, get_fill_color="properties.c")


_GRID_SHAPES: dict[tuple[int, str, float], dict | None] = {}


def grid_layer(city: CityModel, codes: Iterable[str], lang: str = "zh",
               tolerance: float = DISTRICT_TOLERANCE / 4) -> pdk.Layer:
    """Unit-grid outlines of the given grids (drill-down base map), thinned for the screen; each carries its code."""
    features = []
    for code in codes:
        g = city.grids.get(code)
        if g is None:
            continue
        key = (id(city), code, tolerance)
        if key not in _GRID_SHAPES:
            _GRID_SHAPES[key] = _screen_shape(g.geometry, tolerance)
        if _GRID_SHAPES[key] is None:
            continue
        features.append({"type": "Feature", "geometry": _GRID_SHAPES[key],
                         "properties": {"code": code, "title": esc(city.area_name(code, lang)),
                                        "detail": esc(city.area_name(g.community_code, lang))}})
    return layer("GeoJsonLayer", {"type": "FeatureCollection", "features": features}, id="grids",
                 stroked=True, filled=True, pickable=True, get_fill_color=[30, 70, 110, 90],
                 get_line_color=[120, 190, 255, 160], line_width_min_pixels=0.5)


def picked(selection: Mapping | None, layer_id: str) -> dict | None:
    """The properties of the object picked on layer ``layer_id`` in a ``st.pydeck_chart`` selection
    (``{"objects": {layer id: [object]}, …}``), or ``None``; a GeoJSON feature gives its ``properties``."""
    objects = ((selection or {}).get("objects") or {}).get(layer_id) or []
    if not objects or not isinstance(objects[0], Mapping):
        return None
    obj = objects[0]
    props = obj.get("properties")
    return dict(props) if isinstance(props, Mapping) else dict(obj)


def hotspot_layer(positions: Sequence[Sequence[float]], radius_m: int = 900) -> pdk.Layer:
    """Open-case hotspots as hexagons from (lon, lat) pairs, binned here (``dashboard.hexbins``): count per
    hexagon → colour, drawn as polygons with the districts' program; not pickable, so no tooltip text."""
    cells = hexbins.hex_cells(positions, radius_m, coverage=0.92)
    counts = [cell.count for cell in cells]
    low, high = (min(counts), max(counts)) if counts else (0, 0)
    data = [{"g": cell.polygon, "c": hexbins.colour_of(cell.count, low, high, HOTSPOT_COLOURS)} for cell in cells]
    return layer("SolidPolygonLayer", data, id="hotspots", get_polygon="g", get_fill_color="c", opacity=0.6,
                 filled=True, extruded=False, pickable=False)


def sensor_status(state: Mapping[str, str] | None) -> str:
    """alarm / pending / offline / normal from a sensor's read-model state."""
    if not state:
        return "offline"
    if state.get("offline") == "1":
        return "offline"
    phase = state.get("phase", "normal")
    if phase in ("active", "clearing"):
        return "alarm"
    if phase == "pending":
        return "pending"
    return "normal"


# Marker sizes in screen pixels, whatever the zoom: sensors in alarm (or exceeding) and cameras stand out.
POINT_RADIUS_PX = {"normal": 2.5, "offline": 2.5, "pending": 5.0, "alarm": 5.0, "camera": 5.0}
QUIET = ("normal", "offline")
CAMERA_OUTLINE = [255, 255, 255, 255]


def sensor_points(sensors: Iterable[Sensor], states: Mapping[str, Mapping[str, str]], lang: str = "zh") -> list[dict]:
    """Reporting sensors with their status colour (fill), their kind's colour (outline, from the kind's spec),
    their marker size and label; a sensor the read model has never heard of is left off."""
    specs = sensor_kinds.kinds()
    out = []
    for s in sensors:
        state = states.get(s.id)
        if state is None:
            continue
        status = sensor_status(state)
        value = state.get("value", "")
        spec = specs.get(s.kind)
        kind = spec.label(lang) if spec is not None else s.kind
        out.append({"p": [s.lon, s.lat], "c": SENSOR_COLOURS[status], "k": list(spec.colour) if spec else [0, 0, 0, 0],
                    "r": POINT_RADIUS_PX[status], "status": status, "title": esc(s.name_zh or s.id),
                    "detail": esc(f"{kind} · {s.id} · {state.get('metric', '')} {value} {state.get('unit', '')}")})
    return out


def camera_points(captures: Iterable[Mapping]) -> list[dict]:
    """One point per camera that has a fresh capture, with its newest capture in the tooltip."""
    seen: dict[str, dict] = {}
    for cap in captures:  # newest first
        cam = str(cap.get("camera_id", ""))
        if cam in seen or cap.get("lon") is None or cap.get("lat") is None:
            continue
        seen[cam] = {"p": [float(cap["lon"]), float(cap["lat"])], "c": CAMERA_COLOUR, "k": CAMERA_OUTLINE,
                     "r": POINT_RADIUS_PX["camera"], "status": "camera",
                     "title": esc(cap.get("camera_name") or cam),
                     "detail": esc(f"{cap.get('ai_type', '')} · {cap.get('case_id', '')}")}
    return list(seen.values())


def point_layer(sensors: Sequence[dict], cameras: Sequence[dict]) -> pdk.Layer:
    """Sensors and cameras as one layer, each point with its own colours and size: quiet sensors first, then
    cameras, then sensors in alarm or exceeding, drawn last and so on top.

    Why one layer: in a browser without a GPU (software WebGL) every layer whose attributes differ costs its
    own compiled drawing routine before the first frame; three point layers cost 0.2–0.3 s more than one
    (docs/console.md, "The big screen's first frame")."""
    quiet = [p for p in sensors if p["status"] in QUIET]
    loud = sorted((p for p in sensors if p["status"] not in QUIET), key=lambda p: p["status"] == "alarm")
    return layer("ScatterplotLayer", [*quiet, *cameras, *loud], id="points", get_position="p", get_fill_color="c",
                 get_line_color="k", get_radius="r", radius_units=pdk.types.String("pixels"), stroked=True,
                 line_width_units=pdk.types.String("pixels"), get_line_width=1, pickable=True)


def case_layer(lon: float, lat: float, title: str, detail: str) -> pdk.Layer:
    data = [{"p": [lon, lat], "title": esc(title), "detail": esc(detail)}]
    return layer("ScatterplotLayer", data, id="case", get_position="p", get_fill_color=CASE_COLOUR,
                     get_radius=60, radius_min_pixels=7, pickable=True, stroked=True, get_line_color=[0, 0, 0],
                     line_width_min_pixels=2)


def view_of(bounds: tuple[float, float, float, float], width_px: int = 900, height_px: int = 700,
            zoom: float | None = None) -> pdk.ViewState:
    """A view centred on (min lon, min lat, max lon, max lat) with the zoom that fits it in the map's pixels.

    deck.gl's world is 512 px wide at zoom 0, so one degree of longitude is ``512·2^z/360`` px; a
    degree of latitude is about ``1/cos(lat)`` times that near the centre (Web Mercator).
    """
    x0, y0, x1, y1 = bounds
    lat = (y0 + y1) / 2
    if zoom is None:
        dx, dy = max(x1 - x0, 1e-4), max(y1 - y0, 1e-4)
        px_per_deg = min(width_px * 0.92 / dx, height_px * 0.92 * math.cos(math.radians(lat)) / dy)
        zoom = max(3.0, min(17.0, math.log2(px_per_deg * 360 / 512)))
    return pdk.ViewState(longitude=(x0 + x1) / 2, latitude=lat, zoom=zoom, pitch=0, bearing=0)


# What Streamlit reads as "no base map". Careful: Streamlit's frontend treats ``mapStyle: null`` (what
# pydeck sends for ``map_style=None``) as "pick a style from the theme" and loads Carto's dark-matter
# style from basemaps.cartocdn.com, which an intranet cannot reach. Only pydeck's own default marker,
# sent with ``map_provider=None``, makes it drop the base map (the browser test checks that no request
# leaves 127.0.0.1). The marker is pydeck's ``_DEFAULT_MAP_STYLE_SENTINEL``.
NO_BASE_MAP = "__MAP_STYLE__"


class CompactDeck(pdk.Deck):
    """pydeck's Deck, serialised without pydeck's two-space indentation.

    Why: Streamlit sends the whole spec (``to_json``) to the browser on every refresh of the big screen,
    and with thousands of sensors the indentation alone is about half of it.
    """

    def to_json(self) -> str:
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


def deck(layers: list[pdk.Layer], view: pdk.ViewState) -> pdk.Deck:
    """A deck with no base map at all (no style, no provider, no token): only our layers are drawn."""
    return CompactDeck(layers=layers, initial_view_state=view, map_style=NO_BASE_MAP, map_provider=None,
                    tooltip=TOOLTIP, parameters={"clearColor": [0.02, 0.06, 0.11, 1]})
