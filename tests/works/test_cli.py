"""`civicshare works clashes` end to end: the four files, clashes.csv with exactly its header
and rows, the summary, and the exit codes of docs/running.md (a file with no valid rows writes
nothing and exits 1; a missing file exits 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from civicshare.cli import app as cli_app

runner = CliRunner()
HEADER = (
    "work_reference_number,promoter,usrn,path_id,street_name,works_category,activity_type,"
    "traffic_management_type,proposed_start_date,proposed_end_date,works_location_wkt,"
    "excavation,traffic_sensitive,closure,diversion_route_wkt"
)
COUNTY = (
    "HWY-1,County highways,20001,,Mill Lane,major,Resurfacing,Road closure,2027-03-01,"
    '2027-03-20,"LINESTRING (385000 255000, 385300 255000)",no,yes,,\n'
    "HWY-2,County highways,20002,,Bridge Street,standard,Drainage,Lane closure,2027-03-18,"
    '2027-03-25,"LINESTRING (385000 255020, 385300 255020)",yes,no,,\n'
)
UTILITY = (
    "=HYPERLINK(1),Cadent,20001,,Mill Lane,standard,New connection,Two-way signals,"
    "2027-03-15,2027-03-16,POINT (385150 255000),yes,yes,,\n"
    "SVT-1,Severn Trent,20001,,Mill Lane,standard,Leak,Stop/go boards,2027-06-01,"
    "2027-06-05,POINT (385100 255000),yes,no,,\n"
    "SVT-2,Severn Trent,20001,,Mill Lane,standard,Leak,Stop/go boards,2027-06-01,"
    "2027-06-05,POINT (385100 255000),maybe,no,,\n"
)
COUNTS = "usrn,count_date,hour,vehicles\n20001,2027-03-18,8,1200\n"


@pytest.fixture
def files(tmp_path):
    county, utility, counts = tmp_path / "county.csv", tmp_path / "cadent.csv", tmp_path / "c.csv"
    county.write_text(f"{HEADER}\n{COUNTY}")
    utility.write_text(f"{HEADER}\n{UTILITY}")
    counts.write_text(COUNTS)
    return county, utility, counts


def run(*args):
    return runner.invoke(cli_app, ["works", "clashes", *map(str, args)])


def test_clashes_writes_the_four_files(tmp_path, files):
    county, utility, counts = files
    out = tmp_path / "out"
    result = run(county, utility, "--out", out, "--traffic", counts)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "clashes.csv", "clashes.geojson", "opportunities.csv", "restrictions.csv",
    ]  # fmt: skip
    assert (out / "clashes.csv").read_text().splitlines() == [
        "work_reference_number_a,work_reference_number_b,kind,severity,overlap_start,"
        "overlap_end,distance_m",
        '"\'=HYPERLINK(1)",HWY-1,same_street,high,2027-03-15,2027-03-16,0.0',  # text, not a formula
        "HWY-1,HWY-2,nearby,high,2027-03-18,2027-03-20,20.0",
    ]
    assert (out / "restrictions.csv").read_text().splitlines()[1:] == [
        "SVT-1,20001,Mill Lane,2027-06-01,HWY-1,2027-03-21,2032-03-20"
    ]
    assert (out / "opportunities.csv").read_text().splitlines()[0].startswith("usrn,street_name,")
    document = json.loads((out / "clashes.geojson").read_text())
    assert len(document["features"]) == 2 and "crs" not in document
    first = document["features"][0]
    assert first["properties"]["kind"] == "same_street"
    point, street = first["geometry"]["geometries"]
    assert (point["type"], street["type"]) == ("Point", "LineString")
    lon, lat = point["coordinates"]
    assert -2.3 < lon < -2.1 and 52.1 < lat < 52.3  # Worcestershire, longitude first
    assert "4 works read from 2 file(s)" in result.output
    assert "cadent.csv: row 3, excavation: must be yes or no, not 'maybe'" in result.output


def test_a_file_with_no_valid_rows_writes_nothing_and_exits_1(tmp_path, files):
    county, _, _ = files
    broken = tmp_path / "broken.csv"
    broken.write_text(f"{HEADER}\n" + UTILITY.splitlines()[2] + "\n")
    out = tmp_path / "out"
    result = run(county, broken, "--out", out)
    assert result.exit_code == 1
    assert "broken.csv: row 1, excavation: must be yes or no, not 'maybe'" in result.output
    assert "Nothing written: broken.csv has no valid rows." in result.output
    assert not out.exists()


def test_a_reference_used_in_two_files_is_refused_in_the_second(tmp_path, files):
    county, _, _ = files
    again = tmp_path / "again.csv"
    again.write_text(f"{HEADER}\n{COUNTY.splitlines()[0]}\n{UTILITY.splitlines()[1]}\n")
    result = run(county, again, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (
        "again.csv: row 1, work_reference_number: HWY-1 is already used by county.csv row 1"
        in result.output
    )


def test_a_missing_file_exits_2(tmp_path):
    result = run(tmp_path / "nowhere.csv", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "There is no file" in result.output
    assert not (tmp_path / "out").exists()


def test_a_negative_tolerance_is_a_usage_error(tmp_path, files):
    result = run(files[0], "--out", tmp_path / "out", "--tolerance", "-1")
    assert result.exit_code == 2


def test_the_example_in_docs_works_md_is_what_the_command_writes(tmp_path):
    """docs/works.md shows the command on docs/examples/works/ and the three CSVs it writes."""
    root = Path(__file__).resolve().parents[2]
    examples = root / "docs" / "examples" / "works"
    doc = (root / "docs" / "works.md").read_text()
    result = run(
        examples / "county-highways.csv",
        examples / "cadent.csv",
        examples / "rights-of-way.geojson",
        "--traffic",
        examples / "traffic-counts.csv",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    for name in ("clashes.csv", "opportunities.csv", "restrictions.csv"):
        written = (tmp_path / name).read_text().replace("\r\n", "\n")
        assert f"```\n{written}```" in doc, f"docs/works.md does not show {name} as written"
    for line in result.output.splitlines():
        if "│" in line or "row" in line:
            assert line.strip() in doc, line


def test_a_traffic_file_with_no_valid_rows_writes_nothing(tmp_path, files):
    county, _, _ = files
    counts = tmp_path / "bad-counts.csv"
    counts.write_text("usrn,count_date,hour,vehicles\n20001,2027-03-18,25,1200\n")
    result = run(county, "--out", tmp_path / "out", "--traffic", counts)
    assert result.exit_code == 1
    assert "bad-counts.csv: row 1, hour: must be from 0 to 23, not 25" in result.output
    assert "Nothing written: bad-counts.csv has no valid rows." in result.output
    assert not (tmp_path / "out").exists()


def test_the_tolerance_option_reaches_the_engine(tmp_path, files):
    county, _, _ = files
    result = run(county, "--out", tmp_path / "out", "--tolerance", "19.9")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "clashes.csv").read_text().splitlines()[1:] == []
