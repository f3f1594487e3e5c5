"""BNG <-> WGS84 with pyproj (always x, y): a known point, and round trips across the county
within 2 m (offline pyproj has no OSTN15 grid: the Helmert transform is good to about 2 m)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from civicshare.maps.projection import to_bng, to_wgs84

# Caister water tower, from Ordnance Survey's "A guide to coordinate systems in Great
# Britain" (annex C): OSGB36 latitude 52°39'27.2531"N, longitude 1°43'4.5177"E on the Airy
# 1830 ellipsoid is National Grid E 651409.903, N 313177.270.
CAISTER_OSGB36 = (52 + 39 / 60 + 27.2531 / 3600, 1 + 43 / 60 + 4.5177 / 3600)
CAISTER_BNG = (651_409.903, 313_177.270)
AIRY = (6_377_563.396, 6_356_256.909)
GRS80 = (6_378_137.0, 6_356_752.314140)
# OS's published Helmert transformation OSGB36 -> WGS84 (tx, ty, tz m; s ppm; rx, ry, rz ").
HELMERT = (446.448, -125.157, 542.060, -20.4894, 0.1502, 0.2470, 0.8421)


def to_cartesian(lat, lon, a, b):
    e2 = 1 - (b * b) / (a * a)
    phi, lam = math.radians(lat), math.radians(lon)
    nu = a / math.sqrt(1 - e2 * math.sin(phi) ** 2)
    return (
        nu * math.cos(phi) * math.cos(lam),
        nu * math.cos(phi) * math.sin(lam),
        (1 - e2) * nu * math.sin(phi),
    )


def from_cartesian(x, y, z, a, b):
    e2 = 1 - (b * b) / (a * a)
    p = math.hypot(x, y)
    phi = math.atan2(z, p * (1 - e2))
    for _ in range(10):
        nu = a / math.sqrt(1 - e2 * math.sin(phi) ** 2)
        phi = math.atan2(z + e2 * nu * math.sin(phi), p)
    return math.degrees(phi), math.degrees(math.atan2(y, x))


def osgb36_to_wgs84(lat, lon):
    """OS's Helmert transformation, written out: independent of pyproj."""
    tx, ty, tz, s, rx, ry, rz = HELMERT
    s = s * 1e-6
    rx, ry, rz = (math.radians(v / 3600) for v in (rx, ry, rz))
    x, y, z = to_cartesian(lat, lon, *AIRY)
    x2 = tx + (1 + s) * x - rz * y + ry * z
    y2 = ty + rz * x + (1 + s) * y - rx * z
    z2 = tz - ry * x + rx * y + (1 + s) * z
    return from_cartesian(x2, y2, z2, *GRS80)


def test_a_known_point_converts_to_its_national_grid_reference():
    lat, lon = osgb36_to_wgs84(*CAISTER_OSGB36)
    easting, northing = to_bng(lon, lat)  # longitude first: always_xy
    assert math.hypot(easting - CAISTER_BNG[0], northing - CAISTER_BNG[1]) < 2.0
    back_lon, back_lat = to_wgs84(*CAISTER_BNG)
    assert back_lon == pytest.approx(lon, abs=3e-5) and back_lat == pytest.approx(lat, abs=3e-5)
    # Swapped axes would be hundreds of kilometres out, not metres.
    assert math.hypot(*(np.subtract(to_bng(lat, lon), CAISTER_BNG))) > 100_000


def test_round_trips_across_the_county_stay_within_two_metres():
    rng = np.random.default_rng(16)
    easting = rng.uniform(360_000, 420_000, 2_000)
    northing = rng.uniform(230_000, 290_000, 2_000)
    lon, lat = to_wgs84(easting, northing)
    assert np.all((lon > -2.7) & (lon < -1.6)) and np.all((lat > 51.8) & (lat < 52.6))
    back_e, back_n = to_bng(lon, lat)
    assert np.max(np.hypot(back_e - easting, back_n - northing)) < 2.0
