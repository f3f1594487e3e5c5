"""The validator names the row and the field of every problem, and never shows identifiers."""

from __future__ import annotations

import pyarrow as pa
import pytest

from civicshare.datasets.contracts import ContractError, parse_contract
from civicshare.datasets.validation import nhs_valid, parse_temporal, validate_batch
from tests.datasets.conftest import simple_contract


def batch(rows: list[dict]) -> pa.RecordBatch:
    contract = parse_contract(simple_contract())
    names = [c.name for c in contract.columns]
    return pa.record_batch(
        [pa.array([r.get(n) for r in rows], pa.string()) for n in names], names=names
    )


def good(**changes) -> dict:
    row = {
        "id": "A1",
        "nhs": "943 476 5919",
        "surname": "Smith",
        "dob": "01/02/1950",
        "postcode": "WR5 1PS",
        "uprn": "100120001916",
        "visits": "3",
        "cost": "12.50",
        "alone": "Y",
        "seen": "2025-01-02 10:00",
        "condition": "asthma",
    }
    row.update(changes)
    return row


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [
        ("id", "", "missing"),
        ("surname", None, "missing"),
        ("nhs", "94347659", "nhs_number_format"),
        ("nhs", "9434765918", "nhs_number_check_digit"),
        ("postcode", "WR5 PS1", "postcode_format"),
        ("uprn", "1001200019161", "uprn_format"),
        ("uprn", "12A", "uprn_format"),
        ("dob", "31/02/1950", "not_date"),
        ("dob", "1950-02-01", "not_date"),
        ("visits", "three", "not_integer"),
        ("visits", "1.5", "not_integer"),
        ("cost", "£12", "not_decimal"),
        ("alone", "maybe", "not_boolean"),
        ("seen", "2025-01-02", "not_datetime"),
    ],
)
def test_each_problem_names_row_column_and_what_is_wrong(column, value, code):
    contract = parse_contract(simple_contract())
    result = validate_batch(contract, batch([good(), good(), good(**{column: value})]), 41)
    assert [(p.row, p.column, p.code) for p in result.problems] == [(43, column, code)]
    assert result.bad.tolist() == [False, False, True]
    problem = result.problems[0]
    if contract.column(column).sensitive:
        assert problem.value is None
    assert str(value) not in problem.message or value in ("", None)


def test_values_are_shown_only_for_columns_that_identify_no_one():
    contract = parse_contract(simple_contract())
    result = validate_batch(
        contract, batch([good(visits="three", nhs="9434765918", dob="40/40/1940")]), 1
    )
    shown = {p.column: p.value for p in result.problems}
    assert shown == {"visits": "three", "nhs": None, "dob": None}
    for problem in result.problems:
        assert "9434765918" not in repr(problem)


def test_clean_rows_are_typed_and_identifiers_normalised():
    contract = parse_contract(simple_contract())
    result = validate_batch(contract, batch([good(), good(postcode="wr51ps", nhs="")]), 1)
    assert not result.bad.any()
    assert result.typed["visits"].to_pylist() == [3, 3]
    assert result.typed["alone"].to_pylist() == [True, True]
    assert str(result.typed["dob"][0]) == "1950-02-01"
    assert result.normalised["nhs"].to_pylist() == ["9434765919", None]
    assert result.normalised["postcode"].to_pylist() == ["WR5 1PS", "WR5 1PS"]
    assert result.normalised["dob"].to_pylist() == ["1950-02-01", "1950-02-01"]


def test_nhs_numbers_follow_modulus_11():
    formed, ok = nhs_valid(pa.array(["9434765919", "9434765918", "123", None, "4010232137"]))
    assert formed.tolist() == [True, True, False, False, True]
    assert ok.tolist() == [True, False, False, False, True]


def test_dates_in_the_partners_own_formats_and_no_rollover():
    from civicshare.datasets.contracts import ColumnType

    values = pa.array(["14 March 1938", "1 April 1922", "31 February 2020", "x"])
    parsed = parse_temporal(values, ["%d %B %Y"], ColumnType.date)
    assert [str(v) if v else None for v in parsed.to_pylist()] == [
        "1938-03-14",
        "1922-04-01",
        None,
        None,
    ]


def test_a_contract_that_does_not_validate_names_the_field():
    bad = simple_contract()
    bad["columns"][3]["type"] = "string"  # a date of birth must be a date
    with pytest.raises(ContractError, match=r"columns.3.*date_of_birth column must have type date"):
        parse_contract(bad)
    with pytest.raises(ContractError, match="bad_rows"):
        parse_contract(simple_contract(bad_rows="ignore"))


def test_shipped_contracts_are_valid():
    from civicshare.datasets.contracts import example_contracts

    names = {c.name for c in example_contracts()}
    assert {"acute-admissions", "asc-clients", "gp-registrations", "child-protection"} <= names


@pytest.mark.parametrize(
    "kind, values",
    [
        ("family_name", ["  o'neil ", "Smith,  Jones", None, "", "MARY\tANN", "é\u00a0e"]),
        ("postcode", ["wr5 1ps", "WR51PS", None, " b98  1yd ", "X", "wr 5 1 ps", ""]),
        ("nhs_number", [" 943 476 5919", "943-476-5919", None, ""]),
    ],
)
def test_repeating_identifiers_normalise_as_they_do_value_by_value(kind, values):
    """Names and postcodes are normalised once per distinct value of a batch; the result is
    normalise() of each value."""
    from civicshare.datasets.validation import _normalised
    from civicshare.identity.service import normalise

    text = pa.array(values * 40, pa.string())
    assert _normalised(kind, text).equals(normalise(kind, text))
