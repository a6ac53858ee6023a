"""WGS-84 → GCJ-02 against published values (coordtransform's Beijing example, eviltransform's test cities)."""

from __future__ import annotations

import math

import pytest

from doors.api.geo import gcj02_to_wgs84, out_of_china, wgs84_to_gcj02

# (wgs lon, wgs lat, gcj lon, gcj lat)
KNOWN = [
    (116.404, 39.915, 116.41024449916938, 39.91640428150164),  # Beijing (wandergis/coordtransform)
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),  # Shanghai (googollee/eviltransform)
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),  # Shenzhen
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),  # Beijing
]


@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), KNOWN)
def test_known_values(wlon: float, wlat: float, glon: float, glat: float) -> None:
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert lon == pytest.approx(glon, abs=1e-9) and lat == pytest.approx(glat, abs=1e-9)
    back = gcj02_to_wgs84(glon, glat)
    assert back == pytest.approx((wlon, wlat), abs=1e-8)


def test_outside_china_unchanged() -> None:
    assert out_of_china(2.35, 48.85)
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert gcj02_to_wgs84(-122.4, 37.8) == (-122.4, 37.8)


def test_the_shift_is_hundreds_of_metres_in_xiamen() -> None:
    lon, lat = wgs84_to_gcj02(118.0844, 24.4824)
    metres = math.hypot((lon - 118.0844) * 101_000, (lat - 24.4824) * 111_000)
    assert 300 < metres < 700


def test_non_finite_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        wgs84_to_gcj02(float("nan"), 24.0)
