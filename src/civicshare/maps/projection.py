"""British National Grid (EPSG:27700) <-> WGS84 (EPSG:4326), always as (x, y) = (easting,
northing) or (longitude, latitude): pyproj's `always_xy=True`, so no axis-order surprises.

Offline pyproj has no OSTN15 grid and falls back to a Helmert transform good to about 2 m: do
distances in BNG metres and convert only for display."""

from __future__ import annotations

from functools import lru_cache

BNG = "EPSG:27700"
WGS84 = "EPSG:4326"


@lru_cache(maxsize=4)
def transformer(source: str, target: str):
    """A cached pyproj Transformer from `source` to `target`, axes in (x, y) order."""
    from pyproj import Transformer

    return Transformer.from_crs(source, target, always_xy=True)


def to_wgs84(easting, northing):
    """(longitude, latitude) for BNG metres (scalars or arrays); for display only."""
    return transformer(BNG, WGS84).transform(easting, northing)


def to_bng(longitude, latitude):
    """(easting, northing) in BNG metres for WGS84 degrees (scalars or arrays)."""
    return transformer(WGS84, BNG).transform(longitude, latitude)
