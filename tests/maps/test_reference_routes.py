"""The base layer's routes on a small synthetic reference set: public (no sign-in), valid
GeoJSON in WGS84 inside the county's range, streets and properties filtered exactly by the
bounding box and capped, simplified to the zoom; a bad bbox is a 400 naming the field."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from civicshare.maps import layers, reference
from civicshare.maps.projection import to_wgs84

ORIGIN = (390_000.0, 255_000.0)  # Worcestershire, in National Grid metres
# Streets: ten east-west lines 100 m apart, 1 km long, USRN 1000 + k at northing 255000 + 100k;
# an L-shaped close whose bounding box covers the middle of the grid but that runs round it;
# and a lane that wiggles by 3 m every 20 m, south of the grid.
GRID = [(1000 + k, f"Row {k} Street", 255_000 + 100 * k) for k in range(10)]
DIAGONAL_USRN = 2000
CLOSE = [(ORIGIN[0] + 450, 255_100), (ORIGIN[0] + 450, 255_500), (ORIGIN[0] + 800, 255_500)]
COUNTY_LON = (-2.7, -1.6)
COUNTY_LAT = (51.8, 52.6)


def bbox(x0, y0, x1, y1) -> str:
    """A WGS84 bbox just inside the BNG rectangle (its corners converted)."""
    (w, e), (s, n) = to_wgs84([x0, x1], [y0, y1])
    return f"{w},{s},{e},{n}"


@pytest.fixture
def county(settings):
    """Two districts, the street grid and a property every 50 m along each street."""
    folder = settings.data_dir / reference.REFERENCE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    x, y = ORIGIN
    pq.write_table(
        pa.table(
            {
                "district": ["west", "east"],
                "name": ["West District", "East District"],
                "area_km2": [100.0, 100.0],
                "wkt": [
                    shapely.box(x - 10_000, y - 5_000, x + 500, y + 5_000).wkt,
                    shapely.box(x + 500, y - 5_000, x + 10_000, y + 5_000).wkt,
                ],
            }
        ),
        folder / reference.DISTRICTS,
    )
    wiggle = shapely.LineString([(x + 20 * i, 254_950 + (i % 2) * 3) for i in range(51)])
    close = shapely.LineString(CLOSE)
    pq.write_table(
        pa.table(
            {
                "usrn": [u for u, _, _ in GRID] + [DIAGONAL_USRN, 3000],
                "street_name": [n for _, n, _ in GRID] + ["Corner Close", "Wiggly Lane"],
                "wkt": [shapely.LineString([(x, row), (x + 1000, row)]).wkt for _, _, row in GRID]
                + [close.wkt, wiggle.wkt],
            }
        ),
        folder / reference.STREETS,
    )
    points = [(u, x + dx, row) for u, _, row in GRID for dx in range(0, 1001, 50)]
    pq.write_table(
        pa.table(
            {
                "uprn": [100_000_000_000 + i for i in range(len(points))],
                "usrn": [u for u, _, _ in points],
                "address_line_1": [f"{i + 1} Row Street" for i in range(len(points))],
                "postcode": ["WR1 1AA"] * len(points),
                "easting": [px for _, px, _ in points],
                "northing": [py for _, _, py in points],
            }
        ),
        folder / reference.PROPERTIES,
    )
    return settings


def coordinates(geometry) -> list[list[float]]:
    return shapely.get_coordinates(shapely.geometry.shape(geometry)).tolist()


def assert_wgs84_in_county(document):
    assert document["type"] == "FeatureCollection"
    for feature in document["features"]:
        assert feature["type"] == "Feature" and "id" in feature
        shape = shapely.geometry.shape(feature["geometry"])
        assert shape.is_valid
        for lon, lat in coordinates(feature["geometry"]):
            assert COUNTY_LON[0] < lon < COUNTY_LON[1], "longitude first, in degrees"
            assert COUNTY_LAT[0] < lat < COUNTY_LAT[1]


def test_districts_are_public_geojson_in_wgs84(client, county):
    response = client.get("/map/reference/districts.geojson")  # nobody signed in
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["cache-control"].startswith("public")
    document = response.json()
    assert_wgs84_in_county(document)
    assert [f["properties"]["name"] for f in document["features"]] == [
        "West District",
        "East District",
    ]
    assert {f["geometry"]["type"] for f in document["features"]} == {"Polygon"}


def test_streets_are_exactly_those_crossing_the_bbox(client, county):
    x, _ = ORIGIN
    # Rows 2, 3 and 4 (255200..255400) pass through this box; Corner Close's bounding box
    # overlaps it, but the close itself runs round it (west of it, then north of it).
    response = client.get(
        "/map/reference/streets.geojson", params={"bbox": bbox(x + 500, 255_150, x + 700, 255_450)}
    )
    assert response.status_code == 200
    document = response.json()
    assert_wgs84_in_county(document)
    assert sorted(f["properties"]["usrn"] for f in document["features"]) == [1002, 1003, 1004]
    assert document["truncated"] is False
    assert {f["geometry"]["type"] for f in document["features"]} == {"LineString"}
    # Without the exact test the close's bounding box alone would have let it in.
    close = shapely.LineString(CLOSE)
    assert shapely.box(x + 500, 255_150, x + 700, 255_450).intersects(close.envelope)


def test_streets_are_capped_at_the_longest(client, county, monkeypatch):
    x, _ = ORIGIN
    monkeypatch.setattr(layers, "MAX_STREETS", 3)
    document = client.get(
        "/map/reference/streets.geojson", params={"bbox": bbox(x - 500, 254_900, x + 1100, 256_000)}
    ).json()
    assert document["truncated"] is True
    assert len(document["features"]) == 3
    # Wiggly Lane is 1,011 m, the rows 1,000 m (the first two kept), Corner Close 750 m.
    names = {f["properties"]["name"] for f in document["features"]}
    assert names == {"Wiggly Lane", "Row 0 Street", "Row 1 Street"}


def test_streets_are_simplified_to_the_zoom(client, county):
    x, _ = ORIGIN
    box = bbox(x - 10, 254_940, x + 1010, 254_960)
    full = client.get("/map/reference/streets.geojson", params={"bbox": box}).json()
    wide = client.get("/map/reference/streets.geojson", params={"bbox": box, "zoom": 12}).json()
    close = client.get("/map/reference/streets.geojson", params={"bbox": box, "zoom": 19}).json()
    by_usrn = {d: {f["properties"]["usrn"]: f for f in doc["features"]} for d, doc in
               (("full", full), ("wide", wide), ("close", close))}  # fmt: skip
    assert len(coordinates(by_usrn["full"][3000]["geometry"])) == 51
    # At zoom 12 a pixel is ~23 m: a 3 m wiggle is not drawn; at zoom 19 (0.2 m) it is.
    assert len(coordinates(by_usrn["wide"][3000]["geometry"])) == 2
    assert len(coordinates(by_usrn["close"][3000]["geometry"])) == 51


def test_properties_in_the_bbox_carry_no_people(client, county, monkeypatch):
    x, _ = ORIGIN
    response = client.get(
        "/map/reference/properties.geojson",
        params={"bbox": bbox(x + 90, 255_090, x + 260, 255_210)},
    )
    assert response.status_code == 200
    document = response.json()
    assert_wgs84_in_county(document)
    # Rows 1 and 2 (255100, 255200) at 100, 150, 200 and 250 m along.
    assert len(document["features"]) == 8 and document["truncated"] is False
    assert {f["properties"]["usrn"] for f in document["features"]} == {1001, 1002}
    assert set(document["features"][0]["properties"]) == {"uprn", "usrn", "address"}
    for feature in document["features"]:
        assert feature["geometry"]["type"] == "Point"
    monkeypatch.setattr(layers, "MAX_PROPERTIES", 5)
    capped = client.get(
        "/map/reference/properties.geojson",
        params={"bbox": bbox(x + 90, 255_090, x + 260, 255_210)},
    ).json()
    assert capped["truncated"] is True
    assert [f["id"] for f in capped["features"]] == [f["id"] for f in document["features"]][:5]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "required"),
        ("", "required"),
        ("-2.2,52.1,-2.1", "four numbers"),
        ("west,south,east,north", "four numbers"),
        ("-2.2,52.1,-2.1,nan", "four numbers"),
        ("-2.1,52.1,-2.2,52.2", "west must be less than east"),
        ("-2.2,52.2,-2.1,52.1", "south less than north"),
        ("390000,255000,391000,256000", "within -180..180"),  # National Grid metres
    ],
)
def test_a_bad_bbox_is_a_400_naming_the_field(client, county, value, words):
    params = {} if value is None else {"bbox": value}
    for layer in ("streets", "properties"):
        response = client.get(f"/map/reference/{layer}.geojson", params=params)
        assert response.status_code == 400, response.text
        problem = response.json()
        assert problem["field"] == "bbox"
        assert problem["detail"].startswith("bbox: ") and words in problem["detail"]


def test_a_box_far_from_the_county_finds_nothing(client, county):
    # Latitude first by mistake: in range, but off the coast of Somalia.
    for layer in ("streets", "properties"):
        response = client.get(
            f"/map/reference/{layer}.geojson", params={"bbox": "52.1,-2.2,52.2,-2.1"}
        )
        assert response.status_code == 200 and response.json()["features"] == []


def test_without_reference_data_the_layers_are_empty_not_errors(client):
    assert client.get("/map/reference/districts.geojson").json()["features"] == []
    document = client.get(
        "/map/reference/streets.geojson", params={"bbox": "-2.3,52.1,-2.2,52.2"}
    ).json()
    assert document["features"] == [] and document["truncated"] is False


def test_overlay_features_come_from_national_grid(county):
    feature = layers.overlay_feature(
        "WR-1", "LINESTRING (390000 255000, 390100 255000)", title="Gas main", rank=2
    )
    (lon0, lat0), (lon1, lat1) = coordinates(feature["geometry"])
    assert feature["id"] == "WR-1" and feature["properties"]["rank"] == 2
    # 100 m east at 52°N is about 0.00146 degrees of longitude.
    assert math.isclose(lon1 - lon0, 100 / (111_320 * math.cos(math.radians(lat0))), rel_tol=0.01)
