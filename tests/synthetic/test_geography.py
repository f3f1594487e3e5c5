from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import shapely

from civicshare.synthetic.common import rng_for
from civicshare.synthetic.geography import (
    DISTRICT_KEYS,
    build_geography,
    district_polygons,
    make_settlements,
)

from .helpers import POSTCODE_RE


def test_six_districts_named_like_worcestershire(county):
    out, manifest = county
    d = pq.read_table(out / "geography" / "districts.parquet").to_pylist()
    assert [x["name"] for x in d] == [
        "Bromsgrove",
        "Malvern Hills",
        "Redditch",
        "Worcester",
        "Wychavon",
        "Wyre Forest",
    ]
    gj = json.loads((out / "geography" / "districts.geojson").read_text())
    assert len(gj["features"]) == 6
    polys = [shapely.from_wkt(x["wkt"]) for x in d]
    # a partition: no overlaps of substance, all within the real county's BNG box
    for i in range(6):
        minx, miny, maxx, maxy = polys[i].bounds
        assert minx > 355000 and maxx < 425000 and miny > 225000 and maxy < 290000
        for j in range(i + 1, 6):
            assert polys[i].intersection(polys[j]).area < 1e4


def test_every_property_inside_its_district(county):
    out, _ = county
    d = pq.read_table(out / "geography" / "districts.parquet").to_pylist()
    polys = {x["district"]: shapely.from_wkt(x["wkt"]) for x in d}
    props = pq.read_table(out / "geography" / "properties.parquet").to_pandas()
    assert len(props) > 2000
    for key, poly in polys.items():
        sel = props[props.district == key]
        assert len(sel) > 0, key
        inside = shapely.contains_xy(poly, sel.easting.to_numpy(), sel.northing.to_numpy())
        assert inside.all(), f"{(~inside).sum()} properties outside {key}"


def test_identifiers_and_postcodes(county):
    out, _ = county
    props = pq.read_table(out / "geography" / "properties.parquet").to_pandas()
    streets = pq.read_table(out / "geography" / "streets.parquet").to_pandas()
    assert props.uprn.is_unique and props.uprn.max() < 10**12
    assert streets.usrn.is_unique
    assert streets.usrn.between(10**7, 10**8 - 1).all()
    assert set(props.usrn) <= set(streets.usrn)
    assert all(POSTCODE_RE.match(p) for p in props.postcode)
    outward = props.postcode.str.split(" ").str[0]
    area = outward.str.extract(r"^([A-Z]+)")[0]
    assert set(area) <= {"WR", "B", "DY", "HR"}
    # outward codes follow the districts: Worcester is WR1-WR5, Redditch B96-B98, Wyre Forest DY
    assert set(outward[props.district == "worcester"]) <= {"WR1", "WR2", "WR3", "WR4", "WR5"}
    assert set(outward[props.district == "redditch"]) <= {"B96", "B97", "B98"}
    assert set(area[props.district == "wyre-forest"]) == {"DY"}
    assert set(area[props.district == "bromsgrove"]) <= {"B", "DY"}
    # a unit covers a handful of neighbouring properties on one street
    g = props.groupby("postcode")
    sizes = g.size()
    assert sizes.max() <= 20 and 5 <= sizes.median() <= 20
    assert (g.usrn.nunique() == 1).all()
    spread = g.agg(
        dx=("easting", lambda s: s.max() - s.min()), dy=("northing", lambda s: s.max() - s.min())
    )
    assert (np.hypot(spread.dx, spread.dy) < 250).all()
    pcs = pq.read_table(out / "geography" / "postcodes.parquet")
    assert pcs.num_rows == props.postcode.nunique()


def test_sectors_hold_a_few_thousand_properties_at_scale():
    polys = district_polygons()
    rng = rng_for(3, "settlements")
    settlements = make_settlements(rng, polys)
    shares = np.array([s.share for s in settlements])
    n_props = np.round(shares / shares.sum() * 120_000).astype(int)
    geo = build_geography(rng_for(3, "geography"), polys, settlements, n_props)
    t = geo.tables["properties"].to_pandas()
    sector = t.postcode.str[:-2]
    sizes = sector.value_counts()
    assert sizes.max() <= 6000
    # most properties are in sectors of a few thousand
    big = sizes[sizes >= 1000].sum() / sizes.sum()
    assert big > 0.8
    assert all(POSTCODE_RE.match(p) for p in t.postcode)
    dens = t.groupby("settlement").size()
    assert dens["Worcester"] > dens.median() * 20  # towns much denser than villages
    assert len(geo.streets["usrn"]) > 2000
    assert set(t.district) == set(DISTRICT_KEYS)
