"""The works programme and traffic counts: the shared format, the planted co-ordination cases,
the sensor counts, and that the demo store takes every file under its contract and shares it
under the street-works agreement."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import shapely
from sqlalchemy import select

from civicshare import db
from civicshare.agreements.models import Agreement, Status
from civicshare.datasets import service as datasets
from civicshare.synthetic.common import REF_DATE
from civicshare.synthetic.datasets.traffic import WEEKS
from civicshare.synthetic.datasets.works_format import (
    PROMOTERS,
    TRAFFIC_MANAGEMENT,
    WORKS_COLUMNS,
)
from civicshare.synthetic.partnership import PARTNER_BY_KEY
from tests.conftest import demo_store

from .helpers import read_dataset

WORKS = {p.dataset for p in PROMOTERS} | {"rights-of-way-works"}
START = date.fromisoformat(str(REF_DATE))


def all_works(out, manifest) -> pd.DataFrame:
    frames = []
    for d in manifest["datasets"]:
        if d["name"] in WORKS:
            frame = read_dataset(out, d).to_pandas()
            frame["dataset"], frame["partner"] = d["name"], d["partner"]
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def window(row) -> tuple[date, date]:
    return (
        date.fromisoformat(row.proposed_start_date),
        date.fromisoformat(row.proposed_end_date),
    )


def overlap(a, b) -> tuple[date, date] | None:
    (s1, e1), (s2, e2) = window(a), window(b)
    start, end = max(s1, s2), min(e1, e2)
    return (start, end) if start <= end else None


def test_every_works_file_is_in_the_shared_format(county):
    out, manifest = county
    names = {d["name"] for d in manifest["datasets"]}
    assert names >= WORKS
    for d in manifest["datasets"]:
        if d["name"] in WORKS:
            assert d["columns"] == WORKS_COLUMNS, d["name"]
            assert d["partner"] in PARTNER_BY_KEY
    works = all_works(out, manifest)
    assert works.work_reference_number.is_unique  # across every file, not only within one
    for row in works.itertuples():
        start, end = window(row)
        assert end >= start and START - timedelta(days=30) <= start < START + timedelta(366)
    assert set(works.traffic_management_type) <= set(TRAFFIC_MANAGEMENT)
    assert set(works.works_category) <= {"major", "standard", "minor", "immediate"}
    for column in ("excavation", "traffic_sensitive", "closure"):
        assert set(works[column]) == {"yes", "no"}, column
    streets = works[works.dataset != "rights-of-way-works"]
    assert streets.usrn.notna().all() and streets.path_id.isna().all()
    assert ((streets.closure == "yes") == (streets.traffic_management_type == "road_closure")).all()
    # traffic-sensitive is the street's designation: one answer per USRN
    assert (streets.groupby("usrn").traffic_sensitive.nunique() == 1).all()
    paths = works[works.dataset == "rights-of-way-works"]
    assert paths.usrn.isna().all() and paths.path_id.str.match(r"^[A-Z]{3}-(FP|BR|RB)\d+$").all()
    assert paths.work_reference_number.str.match(r"^PROW\d{5}$").all()
    diverted = paths[paths.diversion_route_wkt.notna()]
    assert len(diverted) >= 3 and (diverted.closure == "yes").all()
    for row in diverted.itertuples():
        closed = shapely.from_wkt(row.works_location_wkt)
        route = shapely.from_wkt(row.diversion_route_wkt)
        # from one end of the closed section to the other
        assert shapely.Point(route.coords[0]).distance(shapely.Point(closed.coords[0])) < 0.2
        assert shapely.Point(route.coords[-1]).distance(shapely.Point(closed.coords[-1])) < 0.2
    for geometry in works.works_location_wkt:
        assert shapely.from_wkt(geometry).geom_type in ("Point", "LineString", "Polygon")
    # districts publish works only on their own streets
    district_streets = pd.read_parquet(out / "geography" / "streets.parquet")
    district_of = dict(zip(district_streets.usrn, district_streets.district, strict=True))
    for row in works[works.dataset.str.startswith("district-works-")].itertuples():
        assert district_of[int(row.usrn)] == row.dataset.removeprefix("district-works-")


def test_the_planted_cases_are_in_the_data(county):
    out, manifest = county
    works = all_works(out, manifest).set_index("work_reference_number", drop=False)
    cases = json.loads((out / "truth" / "works-planted.json").read_text())["cases"]
    kinds = [c["kind"] for c in cases]
    assert kinds.count("clash_same_street") == 4
    assert set(kinds) == {
        "clash_same_street",
        "clash_adjacent_streets",
        "section_58",
        "collaboration",
        "diversion_onto_closed_path",
    }
    counts = pacsv.read_csv(out / "datasets" / "traffic-counts.csv").to_pandas()
    for case in cases:
        a, b = (works.loc[ref] for ref in case["references"])
        assert a.promoter != b.promoter or case["kind"] == "diversion_onto_closed_path"
        both = overlap(a, b)
        if case["kind"] == "clash_same_street":
            assert int(a.usrn) == int(b.usrn) == case["usrn"]
            assert both == (
                date.fromisoformat(case["overlap_start"]),
                date.fromisoformat(case["overlap_end"]),
            )
            assert a.traffic_sensitive == "yes" and case["usrn"] in set(counts.usrn)
        elif case["kind"] == "clash_adjacent_streets":
            assert int(a.usrn) != int(b.usrn) and both is not None
            gap = shapely.distance(
                shapely.from_wkt(a.works_location_wkt), shapely.from_wkt(b.works_location_wkt)
            )
            assert gap <= 25.0 and abs(gap - case["works_distance_m"]) < 0.2
        elif case["kind"] == "section_58":
            assert int(a.usrn) == int(b.usrn) == case["usrn"]
            assert (a.works_category, a.activity_type) == ("major", "Resurfacing")
            assert a.excavation == "no" and b.excavation == "yes"
            assert both is None and window(b)[0] - window(a)[1] >= timedelta(days=90)
        elif case["kind"] == "collaboration":
            assert int(a.usrn) == int(b.usrn) == case["usrn"]
            assert a.excavation == b.excavation == "yes" and both is None
            assert timedelta(days=1) <= window(b)[0] - window(a)[1] <= timedelta(days=30)
        else:
            assert (a.path_id, b.path_id) == (case["path_id"], case["diverted_onto_path_id"])
            assert a.closure == b.closure == "yes" and both is not None
            route = shapely.from_wkt(a.diversion_route_wkt)
            assert route.distance(shapely.from_wkt(b.works_location_wkt)) == 0.0
            assert route.length > 200  # it runs along the other path, not merely touches it


def test_traffic_counts_follow_a_daily_profile(county):
    out, manifest = county
    entry = next(d for d in manifest["datasets"] if d["name"] == "traffic-counts")
    assert entry["partner"] == "worcestershire-cc"
    assert entry["columns"] == ["usrn", "count_date", "hour", "vehicles"]
    counts = pacsv.read_csv(out / entry["file"]).to_pandas()
    streets = manifest["geography"]["counts"]["streets"]
    counted = counts.usrn.nunique()
    assert 0.02 * streets <= counted <= 0.05 * streets
    assert len(counts) == entry["rows"] == counted * WEEKS * 24
    assert counts.hour.between(0, 23).all() and (counts.vehicles >= 0).all()
    assert not counts.duplicated(["usrn", "count_date", "hour"]).any()
    days = pd.to_datetime(counts.count_date)
    assert days.dt.day_of_week.nunique() == 7  # the sampled weekday moves through the week
    weekday = counts[days.dt.day_of_week < 5].groupby("hour").vehicles.mean()
    weekend = counts[days.dt.day_of_week >= 5].groupby("hour").vehicles.mean()
    assert weekday[8] > 1.5 * weekday[12] and weekday[17] > 1.5 * weekday[12]
    assert weekday[3] < 0.1 * weekday[8]
    assert weekend.sum() < 0.8 * weekday.sum()
    assert np.argmax(weekend.to_numpy()) in range(10, 15)


def test_the_demo_takes_every_works_file_and_shares_it_under_street_works(settings):
    demo_store(settings, people=600)
    county = json.loads((settings.data_dir / "synthetic" / "manifest.json").read_text())
    wanted = {
        (d["partner"], d["name"]): d["rows"]
        for d in county["datasets"]
        if d["name"] in WORKS | {"traffic-counts"}
    }
    assert len(wanted) == len(WORKS) + 1
    engine = db.make_engine(settings.effective_database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            for (partner, name), rows in wanted.items():
                snapshot = datasets.current_snapshot(session, partner, name, settings)
                assert snapshot is not None, name
                assert (snapshot.row_count, snapshot.quarantined_count) == (rows, 0), name
            versions = [
                v
                for a in session.scalars(select(Agreement)).all()
                if a.template_key == "street-works"
                for v in a.versions
                if v.status == Status.active
            ]
            assert len(versions) == 1
            granted = {(i.provider.key, i.dataset) for i in versions[0].data_items}
            assert granted == set(wanted)
            roles = {p.partner.key: p.role.value for p in versions[0].parties}
            assert set(roles) == {partner for partner, _ in wanted}
            assert set(roles.values()) == {"both"}
    finally:
        engine.dispose()


def test_the_demo_regenerates_a_county_an_older_generator_wrote(tmp_path):
    import io

    from rich.console import Console

    from civicshare.demo import ensure_county

    console = Console(file=io.StringIO())
    manifest, generated = ensure_county(tmp_path / "county", 300, 2, console)
    assert generated
    assert ensure_county(tmp_path / "county", 300, 2, console)[1] is False
    # a county from version 1 has no works programme in the shared format: made again
    old = tmp_path / "county" / "manifest.json"
    old.write_text(json.dumps({**manifest, "version": 1}))
    (tmp_path / "county" / "datasets" / "gas-works.csv").unlink()
    again, generated = ensure_county(tmp_path / "county", 300, 2, console)
    assert generated and again == manifest
    assert (tmp_path / "county" / "datasets" / "gas-works.csv").is_file()
