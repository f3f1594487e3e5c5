"""Reading works and traffic counts: every refused row is named by row (or feature) and field,
valid rows are kept, spoken forms are normalised, and rows from the data plane (dicts or a
pyarrow table) read the same as a file."""

from __future__ import annotations

import json
from datetime import date

import pyarrow as pa
import pytest

from civicshare.works.files import (
    WorksFileError,
    read_traffic_counts,
    read_works,
    works_from_rows,
)

HEADER = (
    "work_reference_number,promoter,usrn,path_id,street_name,works_category,activity_type,"
    "traffic_management_type,proposed_start_date,proposed_end_date,works_location_wkt,"
    "excavation,traffic_sensitive,closure,diversion_route_wkt"
)
GOOD = (
    "TSR-1,Severn Trent,12345678,,Mill Lane,major,Resurfacing,Road closure,2027-03-01,"
    '2027-03-10,"LINESTRING (385000 255000, 385100 255000)",no,yes,,'
)


def csv_file(tmp_path, *rows, header=HEADER):
    path = tmp_path / "works.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def messages(found) -> list[str]:
    return [str(error) for error in found.errors]


def test_a_good_row_becomes_a_work_with_street_manager_values(tmp_path):
    found = read_works(csv_file(tmp_path, GOOD))
    (work,) = found.works
    assert found.errors == () and found.rows == 1
    assert work.traffic_management_type == "road_closure"
    assert work.closure is True  # the default for a road closure
    assert (work.usrn, work.street_name, work.excavation, work.traffic_sensitive) == (
        12345678, "Mill Lane", False, True,
    )  # fmt: skip
    assert work.proposed_end_date == date(2027, 3, 10)
    assert work.location.length == 100


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({8: "2027-03-11"}, "proposed_end_date", "is before proposed_start_date (2027-03-11)"),
        ({8: "01/03/2027"}, "proposed_start_date", "must be an ISO date such as 2027-03-01"),
        ({5: "urgent"}, "works_category", "'urgent' is not a works category; use one of major, "),
        ({11: "maybe"}, "excavation", "must be yes or no, not 'maybe'"),
        ({2: ""}, "usrn", "is required unless path_id is given (a right of way)"),
        ({2: "12x"}, "usrn", "must be a whole number, not '12x'"),
        ({1: ""}, "promoter", "is required"),
        ({10: '"LINESTRING (385000 255000"'}, "works_location_wkt", "is not valid WKT"),
        ({10: "POINT (-2.2 52.19)"}, "works_location_wkt", "lies outside Great Britain's"),
        ({14: "POINT (385000 255000)"}, "diversion_route_wkt", "must be a line, not a Point"),
        ({7: "sideways"}, "traffic_management_type", "'sideways' is not a traffic management"),
    ],
)  # fmt: skip
def test_a_bad_field_is_named_with_its_row(tmp_path, change, field, message):
    cells = _cells(GOOD)
    for index, value in change.items():
        cells[index] = value
    found = read_works(csv_file(tmp_path, GOOD.replace("TSR-1", "TSR-0"), ",".join(cells)))
    assert [w.work_reference_number for w in found.works] == ["TSR-0"]
    (error,) = found.errors
    assert str(error).startswith(f"row 2, {field}: {message}")


def _cells(row: str) -> list[str]:
    import csv

    return [f'"{c}"' if "," in c else c for c in next(csv.reader([row]))]


def test_every_fault_of_a_row_is_reported_and_duplicates_name_the_first_row(tmp_path):
    bad = (
        "TSR-2,Cadent,,,,minor,Pole,Two-way signals,2027-03-10,2027-03-01,POINT (1 1),perhaps,no,,"
    )
    found = read_works(csv_file(tmp_path, GOOD, bad, GOOD))
    assert messages(found) == [
        "row 2, excavation: must be yes or no, not 'perhaps'",
        "row 2, usrn: is required unless path_id is given (a right of way)",
        "row 2, proposed_end_date: is before proposed_start_date (2027-03-10)",
        "row 3, work_reference_number: TSR-1 is already used by row 1",
    ]
    assert [w.work_reference_number for w in found.works] == ["TSR-1"]


def test_spoken_forms_and_a_right_of_way_without_a_usrn(tmp_path):
    row = (
        "ROW-1,County rights of way,,BRO-FP12,,minor,Temporary closure,No carriageway incursion,"
        '2027-03-01,2027-03-10,"LINESTRING (385000 255000, 385000 255300)",NO,No,yes,'
        '"LINESTRING (385000 255000, 385100 255000, 385100 255300)"'
    )
    (work,) = read_works(csv_file(tmp_path, row)).works
    assert (work.usrn, work.path_id) == (None, "BRO-FP12")
    assert work.traffic_management_type == "no_c_way_incursion"
    assert (work.closure, work.excavation) == (True, False)
    assert work.diversion_route.length == 400


def test_a_missing_column_is_one_error_and_no_works(tmp_path):
    found = read_works(csv_file(tmp_path, GOOD, header=HEADER.replace("promoter", "company")))
    assert found.works == ()
    assert messages(found) == ["header, promoter: missing column(s) promoter"]


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(WorksFileError, match="There is no file"):
        read_works(tmp_path / "nowhere.csv")


def geojson(tmp_path, *features):
    path = tmp_path / "works.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}))
    return path


def feature(geometry, **changes):
    properties = dict(zip(HEADER.split(","), _plain(GOOD), strict=True))
    properties.pop("works_location_wkt")
    properties.update(changes)
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _plain(row: str) -> list[str]:
    import csv

    return next(csv.reader([row]))


def test_geojson_geometry_replaces_the_wkt_and_errors_name_the_feature(tmp_path):
    line = {"type": "LineString", "coordinates": [[385000, 255000], [385000, 255040]]}
    lon_lat = {"type": "Point", "coordinates": [-2.2, 52.19]}
    found = read_works(
        geojson(
            tmp_path,
            feature(line),
            feature(lon_lat, work_reference_number="TSR-2"),
            feature(
                None, work_reference_number="TSR-3", works_location_wkt="POINT (385000 255000)"
            ),
            feature(None, work_reference_number="TSR-4"),
        )
    )
    assert [w.work_reference_number for w in found.works] == ["TSR-1", "TSR-3"]
    assert found.works[0].location.length == 40
    assert [e.where + ", " + e.field for e in found.errors] == [
        "feature 2, geometry",
        "feature 4, works_location_wkt",
    ]
    assert "outside Great Britain's National Grid" in found.errors[0].message


def test_a_document_that_is_not_a_feature_collection_is_one_error(tmp_path):
    path = tmp_path / "works.geojson"
    path.write_text('{"type": "Feature"}')
    assert messages(read_works(path)) == ["document, type: must be a GeoJSON FeatureCollection"]


def test_rows_from_the_data_plane_read_like_a_file():
    rows = [dict(zip(HEADER.split(","), _plain(GOOD), strict=True))]
    rows[0].update(usrn=12345678, proposed_start_date=date(2027, 3, 1), excavation=False)
    rows[0].update(work_reference_number=4401)  # a number where text is expected
    from_dicts = works_from_rows(rows)
    from_arrow = works_from_rows(pa.Table.from_pylist(rows))
    assert from_dicts.errors == () and from_arrow.errors == ()
    assert from_dicts.works == from_arrow.works
    assert from_dicts.works[0].proposed_start_date == date(2027, 3, 1)
    assert from_dicts.works[0].work_reference_number == "4401"


def test_traffic_counts_refuse_bad_rows_by_row_and_field(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text(
        "usrn,count_date,hour,vehicles\n"
        "12345678,2027-03-01,8,640\n"
        "12345678,2027-03-01,24,10\n"
        "12345678,2027-03-32,7,-1\n"
    )
    counts = read_traffic_counts(path)
    assert counts.rows == 3
    assert [str(e) for e in counts.errors] == [
        "row 2, hour: must be from 0 to 23, not 24",
        "row 3, count_date: must be an ISO date such as 2027-03-01, not '2027-03-32'",
        "row 3, vehicles: must be 0 or more, not -1",
    ]
    assert counts.busiest_hour(12345678, date(2027, 3, 1), date(2027, 3, 1)) == 640


def test_a_quoted_line_break_stays_in_its_cell_and_rows_count_records(tmp_path):
    two_lines = GOOD.replace("Mill Lane", '"Mill Lane\nnorth end"')
    bad = GOOD.replace("TSR-1", "TSR-2").replace("2027-03-10", "2027-02-10")
    found = read_works(csv_file(tmp_path, two_lines, bad))
    assert found.works[0].street_name == "Mill Lane\nnorth end"
    assert [str(e) for e in found.errors] == [
        "row 2, proposed_end_date: is before proposed_start_date (2027-03-01)"
    ]
