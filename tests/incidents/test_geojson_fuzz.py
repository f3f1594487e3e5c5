"""Hypothesis fuzzing of the incident area reader: whatever GeoJSON (or not) a form, the API
or the CLI sends, the answer is an area or a BadArea naming the field, never a crash."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicshare.incidents.geometry import BadArea
from civicshare.incidents.service import area_from_input

SQUARE = [[385000, 255000], [385400, 255000], [385400, 255400], [385000, 255400], [385000, 255000]]

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([385000, 255000, -1, 0, 1e308]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)


def mutated_polygons():
    """Valid polygons and features with one part swapped for something arbitrary."""

    def build(kind, ring_change, value):
        ring = [list(p) for p in SQUARE]
        if ring_change == "point":
            ring[1] = value
        elif ring_change == "ring":
            ring = value
        elif ring_change == "drop":
            ring = ring[:2]
        geometry = {"type": kind, "coordinates": [ring] if kind == "Polygon" else [[ring]]}
        return {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": geometry}],
        }

    return st.builds(
        build,
        st.sampled_from(["Polygon", "MultiPolygon", "Point", "LineString"]),
        st.sampled_from(["none", "point", "ring", "drop"]),
        json_values,
    )


def answer(geojson, **point):
    try:
        return area_from_input(geojson=geojson, **point)
    except BadArea as error:
        assert error.field and str(error)
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(document=st.one_of(json_values, mutated_polygons()))
def test_any_json_document_is_an_area_or_a_named_refusal(document):
    area = answer(document)
    if area is not None:
        assert area.shape.is_valid and area.shape.area > 0


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    text=st.one_of(
        st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
    )
)
def test_any_text_is_an_area_or_a_named_refusal(text):
    answer(text)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(easting=numbers, northing=numbers, radius=numbers)
def test_any_centre_and_radius_is_an_area_or_a_named_refusal(easting, northing, radius):
    area = answer(None, easting=easting, northing=northing, radius_m=radius)
    if area is not None:
        assert math.isfinite(area.shape.area) and area.shape.area > 0


def test_a_valid_polygon_still_reads():
    crs = {"type": "name", "properties": {"name": "EPSG:27700"}}
    document = json.dumps({"type": "Polygon", "coordinates": [SQUARE], "crs": crs})
    assert round(area_from_input(geojson=document).shape.area) == 160000
