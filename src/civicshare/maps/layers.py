"""The base layer as GeoJSON (RFC 7946: WGS84 longitude, latitude), built from the county's
reference data: every district boundary, the streets in a bounding box (simplified to the
zoom, capped), the property points in a bounding box (capped). And the helpers a page uses to
turn its own BNG geometry into overlay features for the map component (docs/maps.md).

Selection is done in BNG metres, where the reference data lives; only the answer is converted.
Coordinates are rounded to 6 decimal places (about 0.1 m, well inside the transform's 2 m)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import shapely

from civicshare.config import Settings
from civicshare.maps import reference
from civicshare.maps.errors import MapError
from civicshare.maps.projection import to_bng, to_wgs84

MAX_STREETS = 2000
MAX_PROPERTIES = 3000
DISTRICT_TOLERANCE_M = 20.0
DECIMALS = 6
# Metres per pixel at zoom 0 on the equator (Web Mercator, 256 px tiles).
EQUATOR_M_PER_PX = 156_543.034


def parse_bbox(text: str | None) -> tuple[float, float, float, float]:
    """`west,south,east,north` in WGS84 degrees; MapError (400, field `bbox`) naming what is
    wrong otherwise."""
    if text is None or not str(text).strip():
        raise MapError(
            "bbox: required, as west,south,east,north in degrees (longitude first)", field="bbox"
        )
    parts = str(text).split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(parts) != 4 or len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise MapError(
            f"bbox: give west,south,east,north as four numbers in degrees, not {text!r}",
            field="bbox",
        )
    west, south, east, north = values
    if not (
        -180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90
    ):
        raise MapError(
            "bbox: longitudes must be within -180..180 and latitudes within -90..90 "
            "(west,south,east,north: longitude first)",
            field="bbox",
        )
    if west >= east or south >= north:
        raise MapError("bbox: west must be less than east and south less than north", field="bbox")
    return west, south, east, north


def bbox_in_bng(bbox: tuple[float, float, float, float]):
    """The WGS84 box as a BNG polygon (edges densified, since a degree box is not square on
    the grid)."""
    west, south, east, north = bbox
    edge = shapely.segmentize(
        shapely.box(west, south, east, north), max(east - west, north - south) / 16
    )
    coords = shapely.get_coordinates(edge)
    xs, ys = to_bng(coords[:, 0], coords[:, 1])
    return shapely.set_coordinates(edge, np.column_stack([xs, ys]))


def to_wgs84_geometry(shape) -> dict[str, Any]:
    """A shapely geometry in BNG as a GeoJSON geometry in WGS84, rounded to DECIMALS."""
    coords = shapely.get_coordinates(shape)
    if len(coords):
        lons, lats = to_wgs84(coords[:, 0], coords[:, 1])
        shape = shapely.set_coordinates(shape, np.round(np.column_stack([lons, lats]), DECIMALS))
    return json.loads(shapely.to_geojson(shape))


def feature_collection(features: list[dict], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **members}


def overlay_feature(
    feature_id: str,
    shape_bng,
    *,
    title: str,
    kind: str = "",
    label: str = "",
    popup: list[str] | None = None,
    rank: int | None = None,
    colour: str | None = None,
    marker_class: str | None = None,
    href: str | None = None,
    link_text: str | None = None,
) -> dict[str, Any]:
    """One overlay feature for the map component, from a shapely geometry or WKT in BNG.

    `title` is the accessible name of its marker and the first line of its popup; `popup` the
    lines after it; `label` the short text on the marker (e.g. a priority number); `kind` a
    word the page styles (`app-map-kind--{kind}`); `rank` orders markers and colours a cluster
    by its most urgent member (lowest first); `colour` the stroke of a line or polygon;
    `marker_class` replaces the marker's CSS classes; `href` (with `link_text`) a link at the
    foot of the popup."""
    if isinstance(shape_bng, str):
        shape_bng = shapely.from_wkt(shape_bng)
    properties: dict[str, Any] = {"title": title, "kind": kind, "label": label}
    if popup:
        properties["popup"] = list(popup)
    for name, value in (
        ("rank", rank),
        ("colour", colour),
        ("marker_class", marker_class),
        ("href", href),
        ("link_text", link_text),
    ):
        if value is not None:
            properties[name] = value
    return {
        "type": "Feature",
        "id": str(feature_id),
        "properties": properties,
        "geometry": to_wgs84_geometry(shape_bng),
    }


# -- the base layer --------------------------------------------------------------------------

_districts_cache: dict[tuple[str, float], dict] = {}


def districts_geojson(settings: Settings) -> dict[str, Any]:
    """Every district boundary, simplified to DISTRICT_TOLERANCE_M (cached per file version)."""
    stamp = reference.file_stamp(settings, reference.DISTRICTS)
    if stamp is None:
        return feature_collection([])
    cached = _districts_cache.get(stamp)
    if cached is not None:
        return cached
    rows = reference.districts(settings)
    shapes = shapely.simplify(reference.district_shapes(settings), DISTRICT_TOLERANCE_M)
    features = [
        {
            "type": "Feature",
            "id": row["district"],
            "properties": {"district": row["district"], "name": row["name"]},
            "geometry": to_wgs84_geometry(shape),
        }
        for row, shape in zip(rows, shapes, strict=True)
    ]
    result = feature_collection(features)
    _districts_cache.clear()
    _districts_cache[stamp] = result
    return result


def tolerance_for_zoom(zoom: int | None, latitude: float) -> float:
    """Half a screen pixel in metres at `zoom` (0 when no zoom is given: full detail)."""
    if zoom is None:
        return 0.0
    return 0.5 * EQUATOR_M_PER_PX * math.cos(math.radians(latitude)) / 2**zoom


def streets_geojson(
    settings: Settings,
    bbox: tuple[float, float, float, float],
    *,
    zoom: int | None = None,
    limit: int = MAX_STREETS,
) -> dict[str, Any]:
    """The streets that cross `bbox`, simplified to half a pixel at `zoom`. Over `limit`, the
    longest `limit` are kept (main roads before closes) and `truncated` is true."""
    found = reference.streets(settings)
    if found is None:
        return feature_collection([], truncated=False)
    area = bbox_in_bng(bbox)
    x0, y0, x1, y1 = shapely.bounds(area)
    b = found.bounds
    near = np.flatnonzero((b[:, 2] >= x0) & (b[:, 0] <= x1) & (b[:, 3] >= y0) & (b[:, 1] <= y1))
    hits = near[shapely.intersects(found.shapes[near], area)]
    truncated = len(hits) > limit
    if truncated:
        lengths = shapely.length(found.shapes[hits])
        hits = np.sort(hits[np.argsort(-lengths, kind="stable")[:limit]])
    tolerance = tolerance_for_zoom(zoom, (bbox[1] + bbox[3]) / 2)
    shapes = found.shapes[hits]
    if tolerance > 0:
        shapes = shapely.simplify(shapes, tolerance, preserve_topology=False)
    features = [
        {
            "type": "Feature",
            "id": str(found.usrn[i]),
            "properties": {"usrn": int(found.usrn[i]), "name": found.names[i]},
            "geometry": to_wgs84_geometry(shape),
        }
        for i, shape in zip(hits, shapes, strict=True)
    ]
    return feature_collection(features, truncated=bool(truncated))


def properties_geojson(
    settings: Settings, bbox: tuple[float, float, float, float], *, limit: int = MAX_PROPERTIES
) -> dict[str, Any]:
    """The property points inside `bbox` (UPRN, USRN, first address line: no people), in UPRN
    order; over `limit`, the first `limit` and `truncated` true."""
    points = reference.property_points(settings)
    if points is None:
        return feature_collection([], truncated=False)
    area = bbox_in_bng(bbox)
    x0, y0, x1, y1 = shapely.bounds(area)
    near = np.flatnonzero((points.x >= x0) & (points.x <= x1) & (points.y >= y0) & (points.y <= y1))
    inside = near[shapely.intersects_xy(area, points.x[near], points.y[near])]
    inside = inside[np.argsort(points.uprn[inside], kind="stable")]
    truncated = len(inside) > limit
    inside = inside[:limit]
    lons, lats = to_wgs84(points.x[inside], points.y[inside])
    features = [
        {
            "type": "Feature",
            "id": str(points.uprn[i]),
            "properties": {
                "uprn": str(points.uprn[i]),
                "usrn": int(points.usrn[i]),
                "address": points.address[i],
            },
            "geometry": {
                "type": "Point",
                "coordinates": [round(float(lon), DECIMALS), round(float(lat), DECIMALS)],
            },
        }
        for i, lon, lat in zip(inside, lons, lats, strict=True)
    ]
    return feature_collection(features, truncated=bool(truncated))
