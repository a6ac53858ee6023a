"""Hostile files and strings the console shows: decompression bombs become a placeholder, and event text
starting with ``@@`` cannot be read by deck.gl's JSON converter as code."""

from __future__ import annotations

import dataclasses
import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from dashboard import evidence, map_layers
from fixtures.xiamen import load_city, load_sensors


def _png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header declaring ``width``×``height`` RGB pixels, with a few bytes of image data: what a
    decompression bomb looks like to a decoder until it starts allocating."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096, 9))
            + chunk(b"IEND", b""))


def _jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) is rewritten to declare ``width``×``height``."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buf, format="JPEG", quality=50)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("make", [_png_declaring, _jpeg_declaring])
def test_a_decompression_bomb_is_refused_as_an_os_error_before_decoding(tmp_path: Path, make) -> None:
    """30000×30000 (900 M pixels, 2.7 GB decoded) in a file of a few hundred bytes: the pages catch
    ``OSError`` and show their "no evidence" placeholder, so the refusal must be one."""
    path = tmp_path / "bomb.img"
    path.write_bytes(make(30_000, 30_000))
    assert path.stat().st_size < 10_000
    with pytest.raises(OSError, match="30000×30000|pixels") as err:
        evidence.thumbnail(path, [0, 0, 10, 10], (30_000, 30_000), 320)
    assert isinstance(err.value, evidence.UnsafeImage)


def test_an_image_under_pils_own_bomb_limit_but_over_the_consoles_is_not_decoded(tmp_path: Path) -> None:
    """PIL only warns between 89 M and 179 M pixels and then decodes; the console refuses from 40 M."""
    path = tmp_path / "big.png"
    path.write_bytes(_png_declaring(10_000, 10_000))
    with pytest.raises(evidence.UnsafeImage, match="10000×10000"):
        evidence.open_checked(path)


def test_only_image_formats_the_console_shows_are_opened(tmp_path: Path) -> None:
    path = tmp_path / "f.gif"
    Image.new("RGB", (8, 8)).save(path, format="GIF")
    with pytest.raises(OSError):
        evidence.thumbnail(path, None, None, 64)


def test_a_large_real_jpeg_still_makes_a_thumbnail_with_its_box(tmp_path: Path) -> None:
    path = tmp_path / "f.jpg"
    Image.new("RGB", (4000, 3000), (0, 0, 0)).save(path, quality=80)
    thumb = Image.open(io.BytesIO(evidence.thumbnail(path, [400, 600, 2000, 1800], (4000, 3000), 320)))
    assert thumb.size == (320, 240)
    r, g, _ = thumb.getpixel((32, 100))  # the box's left edge at x = 400 / 12.5
    assert r > 150 and g < 120


HOSTILE = ["@@=new Function('alert(1)')()", "@@#GL.ONE", "@@type", "@@function", "@@=[0, 0]"]


def _strings(value: object) -> list[str]:
    """Every string in a JSON value: keys and values, at any depth."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("text", HOSTILE)
def test_event_strings_starting_with_at_at_are_plain_text_in_every_layer(text: str) -> None:
    city = load_city()
    sensors = [dataclasses.replace(s, name_zh=text) for s in load_sensors()[:2]]
    states = {sensors[0].id: {"phase": "active", "value": text, "metric": text, "unit": text},
              sensors[1].id: {"phase": "normal", "value": "3", "metric": "laeq", "unit": "dB"}}
    cams = map_layers.camera_points([{"camera_id": text, "lon": 118.1, "lat": 24.5, "camera_name": text,
                                      "ai_type": text, "case_id": text}])
    layers = [map_layers.district_layer(city), map_layers.grid_layer(city, list(city.grids)[:3]),
              map_layers.point_layer(map_layers.sensor_points(sensors, states), cams),
              map_layers.hotspot_layer([(118.1, 24.5)]), map_layers.case_layer(118.1, 24.5, text, text)]
    spec = json.loads(map_layers.deck(layers, map_layers.view_of((118.0, 24.4, 118.2, 24.6))).to_json())
    data = [s for lay in spec["layers"] for s in _strings(lay["data"])]
    assert not [s for s in data if s.startswith("@@")], "no data string reaches deck.gl as code"
    shown = [s for s in data if s.replace(map_layers.ZERO_WIDTH, "") == text]
    assert len(shown) >= 5, "the text is still there to read (tooltips show it unchanged to the eye)"
    accessors = [lay["getPosition"] for lay in spec["layers"] if "getPosition" in lay]
    assert accessors and all(a == "@@=p" for a in accessors), "our own accessors are still expressions"
    assert map_layers.esc("a @@= b") == "a @@= b" and map_layers.esc(None) == ""


def test_any_layer_built_here_has_inert_data_keys_and_values_at_any_depth() -> None:
    lay = map_layers.layer("ScatterplotLayer", [{"p": [118.1, 24.5], "@@type": "@@=x", "n": {"l": ["@@#A", 1.5]}}],
                           id="any", get_position="p")
    spec = json.loads(map_layers.deck([lay], map_layers.view_of((118.0, 24.4, 118.2, 24.6))).to_json())
    (data,) = [layer["data"] for layer in spec["layers"]]
    assert not [s for s in _strings(data) if s.startswith("@@")] and data[0]["n"]["l"][1] == 1.5
