"""Incident areas and which points lie in them, in British National Grid metres.

An area is a circle (centre and radius) or a polygon (one or more, with holes). Which points
are inside is decided by an exact test, never a buffered polygon (which misses points near the
rim): for a circle `dx*dx + dy*dy <= r*r` in float64, for a polygon GEOS's robust
point-in-polygon where a point on an edge or a vertex counts as inside. A k-d tree (scipy's
cKDTree) only proposes candidates, with a slack of a metre, so it can never decide anything.

GeoJSON comes in WGS84 longitude/latitude (RFC 7946) unless it names EPSG:27700 in a `crs`
member (as the synthetic county's files do). Coordinates are converted with pyproj; offline it
has no OSTN15 grid and is good to about 2 m, which is why distances are never computed in WGS84.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import MultiPolygon, Polygon, mapping

from civicshare.incidents.errors import IncidentError
from civicshare.maps.projection import to_bng, to_wgs84

MIN_RADIUS_M = 1.0
MAX_RADIUS_M = 20_000.0
PREFILTER_SLACK_M = 1.0
# Great Britain, generously: a point outside is a mistake (swapped axes, wrong CRS).
BNG_BOUNDS = (0.0, 0.0, 700_000.0, 1_300_000.0)


class BadArea(IncidentError, ValueError):
    """An area that cannot be used, with the field that is wrong named in the message."""

    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)


@dataclass(frozen=True)
class Area:
    """A circle (centre, radius) or polygons; `origin` is the point distances are measured
    from (the circle's centre, or the polygon's given origin or its centroid)."""

    kind: str  # "circle" or "polygon"
    origin: tuple[float, float]
    radius_m: float | None = None
    polygons: tuple[Any, ...] = ()  # each: tuple of rings, each a tuple of (e, n)
    _shape: Any = field(default=None, compare=False, repr=False)

    @staticmethod
    def circle(easting: float, northing: float, radius_m: float) -> Area:
        _check_point("centre", easting, northing)
        if not (isinstance(radius_m, int | float) and math.isfinite(radius_m)):
            raise BadArea("radius_m", "give the radius in metres as a number")
        if not MIN_RADIUS_M <= radius_m <= MAX_RADIUS_M:
            raise BadArea(
                "radius_m",
                f"must be at least {MIN_RADIUS_M:.0f} m and at most {MAX_RADIUS_M:,.0f} m",
            )
        return Area("circle", (float(easting), float(northing)), radius_m=float(radius_m))

    @staticmethod
    def from_polygons(polygons, origin: tuple[float, float] | None = None) -> Area:
        rings = tuple(
            tuple(tuple((float(x), float(y)) for x, y in ring) for ring in p) for p in polygons
        )
        shape = _shape_of(rings, "polygon")
        if origin is None:
            centroid = shape.centroid
            origin = (centroid.x, centroid.y)
        else:
            _check_point("origin", *origin)
        shapely.prepare(shape)
        return Area("polygon", (float(origin[0]), float(origin[1])), polygons=rings, _shape=shape)

    @property
    def shape(self):
        if self.kind == "circle":
            return shapely.Point(self.origin).buffer(self.radius_m, quad_segs=64)  # display only
        return self._shape

    def bounds(self) -> tuple[float, float, float, float]:
        if self.kind == "circle":
            x, y = self.origin
            r = self.radius_m
            return (x - r, y - r, x + r, y + r)
        return tuple(self._shape.bounds)

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The exact test: True for each point inside or on the edge."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if self.kind == "circle":
            dx = x - self.origin[0]
            dy = y - self.origin[1]
            return dx * dx + dy * dy <= self.radius_m * self.radius_m
        if x.size == 0:
            return np.zeros(0, dtype=bool)
        return shapely.intersects_xy(self._shape, x, y)

    def distances(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.hypot(np.asarray(x) - self.origin[0], np.asarray(y) - self.origin[1])

    def to_wgs84_geojson(self) -> dict[str, Any]:
        """The area for the map: a circle as a point with its radius, polygons as GeoJSON."""
        if self.kind == "circle":
            lon, lat = to_wgs84(*self.origin)
            return {
                "type": "Feature",
                "properties": {"kind": "circle", "radius_m": self.radius_m},
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
            }
        polygons = []
        for rings in self.polygons:
            out = []
            for ring in rings:
                xs, ys = zip(*ring, strict=True)
                lons, lats = to_wgs84(list(xs), list(ys))
                out.append([[round(a, 7), round(b, 7)] for a, b in zip(lons, lats, strict=True)])
            polygons.append(out)
        return {
            "type": "Feature",
            "properties": {"kind": "polygon"},
            "geometry": {"type": "MultiPolygon", "coordinates": polygons},
        }


def _check_point(name: str, easting, northing) -> None:
    for label, value in (("easting", easting), ("northing", northing)):
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise BadArea(f"{name}.{label}", "must be a number of metres (British National Grid)")
    x0, y0, x1, y1 = BNG_BOUNDS
    if not (x0 <= easting <= x1 and y0 <= northing <= y1):
        raise BadArea(name, f"({easting}, {northing}) is outside Great Britain's National Grid")


def _shape_of(polygons, where: str):
    built = []
    for p, rings in enumerate(polygons):
        if not rings:
            raise BadArea(f"{where}[{p}]", "a polygon needs at least one ring")
        for r, ring in enumerate(rings):
            if len(ring) < 4:
                raise BadArea(
                    f"{where}[{p}][{r}]",
                    f"a ring needs at least 4 positions (first = last), it has {len(ring)}",
                )
            if tuple(ring[0]) != tuple(ring[-1]):
                raise BadArea(f"{where}[{p}][{r}]", "a ring must end where it starts")
            for i, (x, y) in enumerate(ring):
                if not (math.isfinite(x) and math.isfinite(y)):
                    raise BadArea(f"{where}[{p}][{r}][{i}]", "coordinates must be numbers")
        built.append(Polygon(rings[0], rings[1:]))
    shape = built[0] if len(built) == 1 else MultiPolygon(built)
    if not shape.is_valid:
        raise BadArea(where, f"the polygon is not valid ({shapely.is_valid_reason(shape)})")
    if shape.area <= 0:
        raise BadArea(where, "the polygon has no area")
    x0, y0, x1, y1 = shape.bounds
    bx0, by0, bx1, by1 = BNG_BOUNDS
    if x0 < bx0 or y0 < by0 or x1 > bx1 or y1 > by1:
        raise BadArea(where, "the polygon lies outside Great Britain's National Grid")
    return shape


def _is_bng(document: dict) -> bool:
    crs = document.get("crs")
    if isinstance(crs, dict):
        name = str((crs.get("properties") or {}).get("name", ""))
        return "27700" in name
    return False


def _polygons_of_geometry(geometry: Any, where: str) -> list:
    if not isinstance(geometry, dict):
        raise BadArea(where, "expected a GeoJSON geometry object")
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind not in ("Polygon", "MultiPolygon"):
        raise BadArea(f"{where}.type", f"expected Polygon or MultiPolygon, got {kind!r}")
    if not isinstance(coordinates, list) or not coordinates:
        raise BadArea(f"{where}.coordinates", "expected a non-empty list of rings")
    polygons = [coordinates] if kind == "Polygon" else coordinates
    out = []
    for p, rings in enumerate(polygons):
        here = f"{where}.coordinates" + (f"[{p}]" if kind == "MultiPolygon" else "")
        if not isinstance(rings, list) or not rings:
            raise BadArea(here, "expected a list of rings")
        out_rings = []
        for r, ring in enumerate(rings):
            if not isinstance(ring, list):
                raise BadArea(f"{here}[{r}]", "expected a list of positions")
            positions = []
            for i, position in enumerate(ring):
                if (
                    not isinstance(position, list | tuple)
                    or len(position) < 2
                    or not all(
                        isinstance(v, int | float) and not isinstance(v, bool) for v in position[:2]
                    )
                ):
                    raise BadArea(f"{here}[{r}][{i}]", "expected a position [x, y] of two numbers")
                positions.append((float(position[0]), float(position[1])))
            if len(positions) < 4:
                raise BadArea(
                    f"{here}[{r}]",
                    f"a ring needs at least 4 positions (the last repeating the first), "
                    f"it has {len(positions)}",
                )
            if positions[0] != positions[-1]:
                raise BadArea(f"{here}[{r}]", "a ring must end where it starts")
            out_rings.append(positions)
        out.append(out_rings)
    return out


def parse_geojson(document: Any) -> list:
    """Polygons in BNG metres (each a list of rings of (e, n)) from a GeoJSON text or object:
    a Polygon, a MultiPolygon, a Feature or a FeatureCollection of them. Raises BadArea naming
    the field that is wrong."""
    if isinstance(document, bytes | str):
        try:
            document = json.loads(document)
        except ValueError as error:
            raise BadArea("geojson", f"not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise BadArea("geojson", "expected a GeoJSON object")
    bng = _is_bng(document)
    kind = document.get("type")
    polygons: list = []
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list) or not features:
            raise BadArea("features", "expected at least one feature")
        for i, feature in enumerate(features):
            if not isinstance(feature, dict) or feature.get("type") != "Feature":
                raise BadArea(f"features[{i}]", "expected a Feature")
            polygons += _polygons_of_geometry(feature.get("geometry"), f"features[{i}].geometry")
    elif kind == "Feature":
        polygons = _polygons_of_geometry(document.get("geometry"), "geometry")
    elif kind in ("Polygon", "MultiPolygon"):
        polygons = _polygons_of_geometry(document, "geojson")
    else:
        raise BadArea(
            "type", f"expected Polygon, MultiPolygon, Feature or FeatureCollection, got {kind!r}"
        )
    if bng:
        return polygons
    converted = []
    for p, rings in enumerate(polygons):
        out = []
        for r, ring in enumerate(rings):
            for i, (lon, lat) in enumerate(ring):
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    raise BadArea(
                        f"coordinates[{p}][{r}][{i}]",
                        f"({lon}, {lat}) is not a longitude and latitude; for National Grid "
                        'metres add "crs": {"type": "name", "properties": {"name": "EPSG:27700"}}',
                    )
            lons, lats = zip(*ring, strict=True)
            xs, ys = to_bng(list(lons), list(lats))
            out.append([(float(x), float(y)) for x, y in zip(xs, ys, strict=True)])
        converted.append(out)
    return converted


def area_geojson_bng(area: Area) -> dict[str, Any]:
    return mapping(area.shape)


class PointIndex:
    """Points (property locations) with a k-d tree that proposes candidates for an area."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x = np.ascontiguousarray(x, dtype=np.float64)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.tree = cKDTree(np.column_stack([self.x, self.y])) if len(self.x) else None

    def __len__(self) -> int:
        return len(self.x)

    def candidates(self, area: Area) -> np.ndarray:
        if self.tree is None:
            return np.zeros(0, dtype=np.int64)
        if area.kind == "circle":
            centre, radius = area.origin, area.radius_m
        else:
            x0, y0, x1, y1 = area.bounds()
            centre = ((x0 + x1) / 2, (y0 + y1) / 2)
            radius = math.hypot(x1 - x0, y1 - y0) / 2
        found = self.tree.query_ball_point(centre, radius + PREFILTER_SLACK_M, return_sorted=False)
        return np.asarray(found, dtype=np.int64)

    def within(self, area: Area) -> np.ndarray:
        """Indices of the points inside or on the edge of the area, ascending."""
        candidates = self.candidates(area)
        if candidates.size == 0:
            return candidates
        inside = area.contains(self.x[candidates], self.y[candidates])
        return np.sort(candidates[inside])

    def brute_force_within(self, area: Area) -> np.ndarray:
        """The same answer by testing every point (the baseline for tests and benchmarks)."""
        return np.flatnonzero(area.contains(self.x, self.y))


def distance_to_points(area: Area, index: PointIndex) -> float | None:
    """The exact distance in metres from the area (its edge; 0 inside) to the nearest point of
    `index`, or None when the index is empty. The k-d tree finds the point nearest the area's
    centre; every point that could be nearer the area lies within that distance plus the
    area's half-diagonal of the centre, and those are measured exactly."""
    if index.tree is None:
        return None
    if area.kind == "circle":
        nearest, _ = index.tree.query(area.origin)
        return max(0.0, float(nearest) - area.radius_m)
    x0, y0, x1, y1 = area.bounds()
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    _, first = index.tree.query(centre)
    bound = float(shapely.distance(area.shape, shapely.Point(index.x[first], index.y[first])))
    reach = bound + math.hypot(x1 - x0, y1 - y0) / 2 + PREFILTER_SLACK_M
    near = np.asarray(index.tree.query_ball_point(centre, reach), dtype=np.int64)
    points = shapely.points(index.x[near], index.y[near])
    return float(np.min(shapely.distance(area.shape, points)))


def distance_to_shapes(area: Area, shapes) -> float | None:
    """The exact distance in metres from the area to the nearest of `shapes` (0 when they
    touch or overlap), or None when there are none."""
    if len(shapes) == 0:
        return None
    if area.kind == "circle":  # exact: from the centre, less the radius
        nearest = float(np.min(shapely.distance(shapely.Point(area.origin), shapes)))
        return max(0.0, nearest - area.radius_m)
    return float(np.min(shapely.distance(area.shape, shapes)))
