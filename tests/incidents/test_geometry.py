"""Which points are in an incident area: the k-d tree plus exact test against brute force, on
the rim (radius ± 1 m, exactly r) and on polygon edges and vertices; GeoJSON errors name the
field at fault."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from civicshare.incidents.geometry import Area, BadArea, PointIndex, parse_geojson
from civicshare.maps.projection import to_bng, to_wgs84

CENTRE = (385_123.4, 254_987.6)


def exact_in_circle(x, y, cx, cy, r) -> bool:
    dx, dy = Fraction(x) - Fraction(cx), Fraction(y) - Fraction(cy)
    return dx * dx + dy * dy <= Fraction(r) * Fraction(r)


def _on_segment(px, py, ax, ay, bx, by) -> bool:
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    return cross == 0 and min(ax, bx) <= px <= max(ax, bx) and min(ay, by) <= py <= max(ay, by)


def exact_in_polygon(x, y, rings) -> bool:
    """Even-odd rule in exact rational arithmetic; a point on any edge is inside."""
    px, py = Fraction(x), Fraction(y)
    inside = False
    for ring in rings:
        points = [(Fraction(a), Fraction(b)) for a, b in ring]
        for (ax, ay), (bx, by) in zip(points, points[1:], strict=False):
            if _on_segment(px, py, ax, ay, bx, by):
                return True
            if (ay > py) != (by > py):
                crossing = ax + (py - ay) * (bx - ax) / (by - ay)
                if px < crossing:
                    inside = not inside
    return inside


def rim_points(cx, cy, r, rng, n=400):
    """Points at exactly r (where float can say so exactly), r - 1 m and r + 1 m."""
    angles = rng.uniform(0, 2 * math.pi, n)
    xs, ys = [], []
    for delta in (-1.0, 1.0):
        xs += list(cx + (r + delta) * np.cos(angles))
        ys += list(cy + (r + delta) * np.sin(angles))
    # Exactly on the circle: on the axes, and on 3-4-5 triangles (r a multiple of 5).
    for dx, dy in ((r, 0), (-r, 0), (0, r), (0, -r)):
        xs.append(cx + dx)
        ys.append(cy + dy)
    return np.array(xs), np.array(ys)


def test_circle_matches_brute_force_on_the_rim_and_everywhere():
    rng = np.random.default_rng(7)
    cx, cy = 385_000.0, 255_000.0
    r = 500.0
    rim_x, rim_y = rim_points(cx, cy, r, rng)
    # 3-4-5: (300, 400) is exactly 500 m away, and so are its reflections.
    tri = [(cx + sx * 300.0, cy + sy * 400.0) for sx in (-1, 1) for sy in (-1, 1)]
    cloud_x = rng.uniform(cx - 2000, cx + 2000, 50_000)
    cloud_y = rng.uniform(cy - 2000, cy + 2000, 50_000)
    x = np.concatenate([rim_x, [p[0] for p in tri], cloud_x])
    y = np.concatenate([rim_y, [p[1] for p in tri], cloud_y])
    index = PointIndex(x, y)
    area = Area.circle(cx, cy, r)

    found = index.within(area)
    assert np.array_equal(found, index.brute_force_within(area))
    expected = [i for i in range(len(x)) if exact_in_circle(x[i], y[i], cx, cy, r)]
    assert found.tolist() == expected
    n = len(rim_x) - 4
    # Every point 1 m inside is in, every point 1 m outside is out, every point at r is in.
    assert set(range(n // 2)) <= set(found.tolist())
    assert not set(range(n // 2, n)) & set(found.tolist())
    exact_rim = set(range(n, len(rim_x) + len(tri)))
    assert exact_rim <= set(found.tolist())


def test_radius_changes_by_a_metre_move_the_boundary_exactly():
    x = np.array([CENTRE[0] + 250.0])
    y = np.array([CENTRE[1]])
    index = PointIndex(x, y)
    assert index.within(Area.circle(*CENTRE, 250.0)).tolist() == [0]
    assert index.within(Area.circle(*CENTRE, 251.0)).tolist() == [0]
    assert index.within(Area.circle(*CENTRE, 249.0)).tolist() == []


def concave_polygon(ox, oy):
    """An L-shaped cordon with a hole, integer metres from (ox, oy), with a diagonal edge."""
    outer = [(0, 0), (1000, 0), (1000, 400), (400, 400), (400, 1000), (0, 1000), (0, 0)]
    hole = [(100, 100), (300, 100), (300, 300), (100, 100)]  # a triangle: diagonal edge
    return [[(ox + a, oy + b) for a, b in ring] for ring in (outer, hole)]


def test_polygon_matches_brute_force_on_edges_vertices_and_a_hole():
    ox, oy = 390_000.0, 250_000.0
    rings = concave_polygon(ox, oy)
    area = Area.from_polygons([rings])
    special = []
    for ring in rings:
        for (ax, ay), (bx, by) in zip(ring, ring[1:], strict=False):
            special.append((ax, ay))  # vertex
            special.append(((ax + bx) / 2, (ay + by) / 2))  # midpoint: exactly on the edge
            # 1 m either side of the edge's midpoint, perpendicular to it.
            length = math.hypot(bx - ax, by - ay)
            nx, ny = -(by - ay) / length, (bx - ax) / length
            mx, my = (ax + bx) / 2, (ay + by) / 2
            special.append((mx + nx, my + ny))
            special.append((mx - nx, my - ny))
    rng = np.random.default_rng(3)
    cloud = np.column_stack(
        [rng.uniform(ox - 200, ox + 1200, 20_000), rng.uniform(oy - 200, oy + 1200, 20_000)]
    )
    points = np.vstack([np.array(special), cloud])
    index = PointIndex(points[:, 0], points[:, 1])

    found = index.within(area)
    assert np.array_equal(found, index.brute_force_within(area))
    expected = [i for i, (x, y) in enumerate(points) if exact_in_polygon(x, y, rings)]
    assert found.tolist() == expected
    # Every vertex and every edge midpoint counts as inside (on the edge).
    on_edges = [i for i in range(len(special)) if i % 4 in (0, 1)]
    assert set(on_edges) <= set(found.tolist())


def test_a_buffered_polygon_would_miss_points_on_the_rim_but_the_exact_test_does_not():
    import shapely

    cx, cy, r = 385_000.0, 255_000.0, 300.0
    angles = np.linspace(0, 2 * np.pi, 721)[:-1]
    x, y = cx + r * np.cos(angles), cy + r * np.sin(angles)
    buffered = shapely.Point(cx, cy).buffer(r)
    missed_by_buffer = int((~shapely.intersects_xy(buffered, x, y)).sum())
    found = PointIndex(x, y).within(Area.circle(cx, cy, r + 1e-9))
    assert missed_by_buffer > 0  # the pitfall is real
    assert len(found) == len(x)


def test_geojson_in_wgs84_and_in_national_grid():
    lon, lat = to_wgs84(390_000.0, 250_000.0)
    lon2, lat2 = to_wgs84(390_500.0, 250_500.0)
    wgs = {"type": "Polygon", "coordinates": [[[lon, lat], [lon2, lat], [lon2, lat2], [lon, lat]]]}
    polygons = parse_geojson(json.dumps(wgs))
    assert polygons[0][0][0] == pytest.approx((390_000.0, 250_000.0), abs=0.01)
    bng = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 0]]],
                },
            }
        ],
    }
    assert parse_geojson(bng) == [[[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 0.0)]]]
    assert to_bng(lon, lat)[0] == pytest.approx(390_000.0, abs=0.01)


@pytest.mark.parametrize(
    ("document", "field", "words"),
    [
        ("{not json", "geojson", "not valid JSON"),
        ({"type": "Point", "coordinates": [1, 2]}, "type", "Polygon"),
        (
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
            },
            "geometry.type",
            "LineString",
        ),
        (
            {"type": "Polygon", "coordinates": [[[-2.2, 52.1], [-2.1, 52.1], [-2.1, 52.2]]]},
            "geojson.coordinates[0]",
            "at least 4 positions",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[-2.2, 52.1], [-2.1, 52.1], [-2.1, 52.2], [-2.2, 52.3]]],
            },
            "geojson.coordinates[0]",
            "end where it starts",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[-2.2, 52.1], ["x", 52.1], [-2.1, 52.2], [-2.2, 52.1]]],
            },
            "geojson.coordinates[0][1]",
            "two numbers",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [
                    [[390000, 250000], [390100, 250000], [390100, 250100], [390000, 250000]]
                ],
            },
            "coordinates[0][0][0]",
            "EPSG:27700",
        ),
        ({"type": "FeatureCollection", "features": []}, "features", "at least one"),
        (
            {"type": "FeatureCollection", "features": [{"type": "Polygon"}]},
            "features[0]",
            "Feature",
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [
                    [[-2.2, 52.1], [-2.1, 52.2], [-2.1, 52.1], [-2.2, 52.2], [-2.2, 52.1]]
                ],
            },
            "polygon",
            "not valid",
        ),
    ],
)
def test_bad_geojson_is_refused_naming_the_field(document, field, words):
    with pytest.raises(BadArea) as error:
        Area.from_polygons(parse_geojson(document))
    assert error.value.field == field
    assert words in str(error.value)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((385_000.0, 255_000.0, 0.0), "radius_m"),
        ((385_000.0, 255_000.0, 50_000.0), "radius_m"),
        ((-2.2, 52.2, 100.0), "centre"),
        ((float("nan"), 255_000.0, 100.0), "centre.easting"),
    ],
)
def test_bad_circles_are_refused_naming_the_field(args, field):
    with pytest.raises(BadArea) as error:
        Area.circle(*args)
    assert error.value.field == field
