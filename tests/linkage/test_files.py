"""File mode: `civicshare link files` over CSV, Parquet and XLSX with column maps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from civicshare.cli import app
from civicshare.linkage.columns import ColumnMapError, parse_column_map
from tests.linkage.test_engine import two_sources

runner = CliRunner()


def _partner_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two partners' extracts of the same people, each in its own columns and formats."""
    a, b = two_sources(n=300)
    hospital = pd.DataFrame(
        {
            "PATIENT_ID": a.record_id,
            "FORENAME": a.given_name,
            "SURNAME": a.surname.str.upper(),
            "DOB": pd.to_datetime(a.date_of_birth).dt.strftime("%d/%m/%Y"),
            "SEX": a.sex,
            "NHS_NO": a.nhs_number,
            "ADDR1": a.address,
            "POSTCODE": a.postcode,
        }
    )
    council = pd.DataFrame(
        {
            "client": b.record_id,
            "first": b.given_name,
            "last": b.surname,
            "born": b.date_of_birth,
            "gender": b.sex.map({"M": "Male", "F": "Female"}),
            "nhs": b.nhs_number,
            "house": b.address.str.split(" ", n=1).str[0],
            "street": b.address.str.split(" ", n=1).str[1],
            "pc": b.postcode,
        }
    )
    hospital_path = tmp_path / "hospital.csv"
    council_path = tmp_path / "council.parquet"
    hospital.to_csv(hospital_path, index=False)
    council.to_parquet(council_path)
    column_map = tmp_path / "map.yaml"
    column_map.write_text(
        """
files:
  hospital.csv:
    record_id: PATIENT_ID
    given_name: FORENAME
    surname: SURNAME
    date_of_birth: {column: DOB, format: "%d/%m/%Y"}
    sex: SEX
    nhs_number: NHS_NO
    address: ADDR1
    postcode: POSTCODE
  council:
    source: council-clients
    record_id: client
    given_name: first
    surname: last
    date_of_birth: born
    sex: gender
    nhs_number: nhs
    address: [house, street]
    postcode: pc
"""
    )
    return hospital_path, council_path, column_map


def test_two_files_link_with_their_own_columns(tmp_path):
    hospital, council, column_map = _partner_files(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "link",
            "files",
            str(hospital),
            str(council),
            "--columns",
            str(column_map),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    pairs = pd.read_csv(out / "pairs.csv", dtype=str)
    assert list(pairs.columns[:4]) == ["source_l", "record_id_l", "source_r", "record_id_r"]
    assert "match_probability" in pairs.columns
    assert set(pairs.source_l) | set(pairs.source_r) == {"hospital", "council-clients"}
    # Linking, not deduplicating: every pair crosses the two files.
    assert (pairs.source_l != pairs.source_r).all()
    same_person = pairs.record_id_l.str[1:] == pairs.record_id_r.str[1:]
    council_rows = len(pd.read_parquet(council))
    assert same_person.sum() >= 0.97 * council_rows
    assert (~same_person).sum() <= 2
    clusters = pd.read_csv(out / "clusters.csv", dtype=str)
    assert list(clusters.columns) == ["source", "record_id", "cluster_id"]
    assert len(clusters) == 300 + council_rows
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http" not in page
    assert "Bias check" in page and "By sex" in page

    # The pairs nearest the threshold and the largest clusters, records side by side.
    import json
    import math

    found = json.loads((out / "report.json").read_text())["examples"]
    near = found["near_threshold"]
    assert len(near) == 10 and found["fields"][:3] == ["given_name", "surname", "date_of_birth"]
    threshold = json.loads((out / "report.json").read_text())["threshold"]
    bar = math.log2(threshold / (1 - threshold))
    distances = [abs(p["match_weight"] - bar) for p in near]
    assert distances == sorted(distances)
    scored = pd.read_csv(out / "pairs.csv", dtype={"record_id_l": str, "record_id_r": str})
    beyond = (scored.match_weight - bar).abs()
    assert (beyond >= distances[-1] - 1e-9).sum() >= len(scored) - 10  # none nearer left out
    source = pd.read_csv(hospital, dtype=str).set_index("PATIENT_ID")
    for pair in near:
        assert pair["linked"] == (pair["match_probability"] >= threshold)
        for side in (pair["left"], pair["right"]):
            if side["source"] == "hospital":
                assert side["given_name"] == source.loc[side["record_id"], "FORENAME"]
    sizes = [c["size"] for c in found["largest_clusters"]]
    assert sizes == sorted(sizes, reverse=True) and all(s >= 2 for s in sizes)
    assert all(len(c["records"]) == c["size"] for c in found["largest_clusters"])
    assert "Pairs nearest the threshold" in page and "Largest clusters" in page
    first = near[0]["left"]
    assert f"{first['source']} {first['record_id']}" in page


def test_threshold_option_overrides_the_recommended_one(tmp_path):
    hospital, council, column_map = _partner_files(tmp_path)
    # Given name and postcode only: weak evidence, so probabilities spread out.
    column_map.write_text(
        "files:\n"
        "  hospital.csv: {record_id: PATIENT_ID, given_name: FORENAME, postcode: POSTCODE}\n"
        "  council: {record_id: client, given_name: first, postcode: pc}\n"
    )
    args = ["link", "files", str(hospital), str(council), "-c", str(column_map)]
    counts = {}
    for threshold in ("0.001", "0.999"):
        out = tmp_path / threshold
        result = runner.invoke(app, [*args, "--out", str(out), "--threshold", threshold])
        assert result.exit_code == 0, result.output
        assert f"threshold {float(threshold):.4f}" in result.output
        pairs = pd.read_csv(out / "pairs.csv")
        assert (pairs.match_probability >= float(threshold)).all()
        counts[threshold] = len(pairs)
    assert counts["0.001"] > counts["0.999"]


def test_memory_limit_bounds_the_linkage_without_changing_its_pairs(tmp_path):
    hospital, council, column_map = _partner_files(tmp_path)
    args = ["link", "files", str(hospital), str(council), "-c", str(column_map)]
    pairs = {}
    for limit in (None, "256MB"):
        out = tmp_path / str(limit)
        extra = ["--memory-limit", limit] if limit else []
        result = runner.invoke(app, [*args, "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        pairs[limit] = pd.read_csv(out / "pairs.csv", dtype=str)
    pd.testing.assert_frame_equal(pairs[None], pairs["256MB"])
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "x"), "--memory-limit", "lots"])
    assert result.exit_code == 2
    assert "--memory-limit must be an amount such as 1536MB or 4GB, got 'lots'" in result.output


def test_one_file_is_deduplicated(tmp_path):
    a, b = two_sources(n=200)
    both = pd.concat([a, b], ignore_index=True)[
        ["record_id", "given_name", "surname", "date_of_birth", "sex", "address", "postcode"]
    ]
    path = tmp_path / "register.xlsx"
    both.to_excel(path, index=False)
    out = tmp_path / "out"
    result = runner.invoke(app, ["link", "files", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    pairs = pd.read_csv(out / "pairs.csv", dtype=str)
    assert (pairs.source_l == "register").all() and (pairs.source_r == "register").all()
    duplicates = pairs.record_id_l.str[1:] == pairs.record_id_r.str[1:]
    assert duplicates.sum() >= 0.95 * len(b)


def _error(tmp_path: Path, column_map_text: str, frame: pd.DataFrame) -> str:
    data = tmp_path / "people.csv"
    frame.to_csv(data, index=False)
    column_map = tmp_path / "map.yaml"
    column_map.write_text(column_map_text)
    result = runner.invoke(
        app, ["link", "files", str(data), "-c", str(column_map), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert not (tmp_path / "o" / "pairs.csv").exists()
    return " ".join(result.output.split())


PEOPLE = pd.DataFrame(
    {"id": ["1", "2", "3"], "name": ["Ann", "Bob", "Cy"], "last": ["Lee", "Ray", "Fox"]}
)


def test_missing_column_names_the_file_and_the_field(tmp_path):
    message = _error(tmp_path, "record_id: id\ngiven_name: name\nsurname: surname\n", PEOPLE)
    assert "people.csv" in message and "'surname' (for surname)" in message
    assert "'last'" in message  # the columns the file does have


def test_repeated_record_id_names_both_rows(tmp_path):
    frame = PEOPLE.assign(id=["1", "2", "1"])
    message = _error(tmp_path, "record_id: id\ngiven_name: name\nsurname: last\n", frame)
    assert "people.csv, row 1 (line 2) and row 3 (line 4), record_id" in message
    assert "'1' repeated" in message


def test_empty_record_id_names_the_row(tmp_path):
    frame = PEOPLE.assign(id=["1", "", "3"])
    message = _error(tmp_path, "record_id: id\ngiven_name: name\nsurname: last\n", frame)
    assert "people.csv, row 2 (line 3), record_id (column 'id'): empty" in message


def test_unknown_field_and_bad_yaml_name_the_map(tmp_path):
    message = _error(tmp_path, "record_id: id\nfirst_name: name\nsurname: last\n", PEOPLE)
    assert "map.yaml: unknown field 'first_name'" in message
    message = _error(tmp_path, "record_id: id\n  surname: [last\n", PEOPLE)
    assert "map.yaml, line" in message and "not valid YAML" in message


def test_unparseable_dates_are_reported_by_row_and_treated_as_missing(tmp_path):
    a, _ = two_sources(n=120)
    frame = a[["record_id", "given_name", "surname", "date_of_birth", "postcode"]].copy()
    frame.loc[4, "date_of_birth"] = "31/02/1950"
    path = tmp_path / "list.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["link", "files", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "list.csv: 1 row(s) with a date_of_birth that is not a date in %Y-%m-%d" in output
    assert "row 5 (line 6), '31/02/1950'); 0 kept digit by digit" in output


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"given_name": "a", "surname": "b"}, "record_id is required"),
        ({"record_id": "r", "surname": "b"}, "at least two fields"),
        ({"record_id": "r", "surname": ["a", "b"], "postcode": "p"}, "surname: expected one"),
        (
            {"record_id": "r", "surname": "s", "date_of_birth": {"column": "d", "format": "dmy"}},
            "not a strptime format",
        ),
        ({"files": {"a.csv": {"record_id": "r"}}, "surname": "s"}, "at the top level"),
    ],
)
def test_column_map_validation(spec, expected):
    with pytest.raises(ColumnMapError, match=expected):
        parse_column_map(spec)


def test_file_without_a_section_is_named():
    column_map = parse_column_map(
        {"files": {"a.csv": {"record_id": "r", "surname": "s", "postcode": "p"}}}
    )
    with pytest.raises(ColumnMapError, match="no section for b.csv"):
        column_map.for_file(Path("b.csv"))


def test_pairs_and_clusters_show_formula_record_ids_as_text(tmp_path):
    # Record ids come from the analyst's files; one starting = + - @ must not run as a formula.
    a, b = two_sources(n=120)
    both = pd.concat([a, b], ignore_index=True)[
        ["record_id", "given_name", "surname", "date_of_birth", "sex", "address", "postcode"]
    ]
    marks = ["=", "+", "-", "@"]
    both["record_id"] = [f"{marks[i % 4]}{rid}" for i, rid in enumerate(both.record_id)]
    path = tmp_path / "register.csv"
    both.to_csv(path, index=False)
    out = tmp_path / "out"
    result = runner.invoke(app, ["link", "files", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    pairs_text = (out / "pairs.csv").read_text()
    clusters_text = (out / "clusters.csv").read_text()
    for text in (pairs_text, clusters_text):
        assert not any(f'"{m}' in text or f",{m}" in text for m in ("=", "+", "@"))
    pairs = pd.read_csv(out / "pairs.csv", dtype=str)
    clusters = pd.read_csv(out / "clusters.csv", dtype=str)
    assert len(pairs) > 0 and len(clusters) == len(both)
    for ids in (pairs.record_id_l, pairs.record_id_r, clusters.record_id):
        assert ids.str.startswith("'").all()
    assert set(clusters.record_id.str[1:]) == set(both.record_id)
    assert pd.to_numeric(pairs.match_probability).between(0, 1).all()  # numbers stay numbers
