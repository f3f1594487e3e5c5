"""csvsafe: the one CSV writer. Dangerous text is prefixed with ' and quoted; numbers and safe
text come back exactly as they went in."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicshare import csvsafe

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
dangerous_text = st.builds(lambda c, t: c + t, st.sampled_from(DANGEROUS), text)
cells = st.one_of(text, dangerous_text, st.none())


def expected(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value[:1] in DANGEROUS else value


def parse(data: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data, newline="")))


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil.example","x")', '"\'=HYPERLINK(""http://evil.example"",""x"")"'),
        ("+1", '"\'+1"'),
        ("-5", '"\'-5"'),
        ("@SUM(A1)", '"\'@SUM(A1)"'),
        ("\tx", '"\'\tx"'),
        ("\rx", '"\'\rx"'),
        ("a=b", "a=b"),
        ("a,b", '"a,b"'),
        (-5, "-5"),
        (-1.5, "-1.5"),
        (Decimal("-2.50"), "-2.50"),
        (np.int64(-7), "-7"),
        (None, ""),
        ("", ""),
    ],
)
def test_rows_cells(cell, written):
    assert csvsafe.rows_text([[cell]]) == written + "\r\n"


def test_header_cells_are_neutralised_too():
    assert csvsafe.rows_text([], ["ok", "=bad"]) == 'ok,"\'=bad"\r\n'


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(cells, min_size=3, max_size=3), max_size=8))
def test_rows_no_cell_starts_dangerous_and_safe_text_round_trips(rows):
    parsed = parse(csvsafe.rows_text(rows, ["a", "b", "c"]))
    assert parsed[0] == ["a", "b", "c"]
    assert parsed[1:] == [[expected(v) for v in row] for row in rows]
    for row in parsed:
        assert not [v for v in row if v[:1] in DANGEROUS]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=8))
def test_numbers_are_not_text(numbers):
    assert [r[0] for r in parse(csvsafe.rows_text([[n] for n in numbers]))] == list(
        map(str, numbers)
    )
    table = pa.table({"n": pa.array(numbers, pa.int64())})
    assert pacsv.read_csv(io.BytesIO(csvsafe.table_bytes(table)))["n"].to_pylist() == numbers


@settings(max_examples=200, deadline=None)
@given(
    st.lists(cells, min_size=1, max_size=30),
    st.integers(0, 10),
    st.sampled_from([pa.string(), pa.large_string(), "dictionary", pa.string_view()]),
)
def test_table_matches_the_row_rule(values, start, kind):
    if kind == "dictionary":
        array = pa.array(values, pa.string()).dictionary_encode()
    else:
        array = pa.array(values, kind)
    table = pa.table({"s": array, "n": pa.array(range(len(values)), pa.int64())})
    table = table.slice(min(start, len(values)))  # offsets into the buffers must be honoured
    kept = values[min(start, len(values)) :]
    parsed = parse(csvsafe.table_bytes(table).decode("utf-8"))
    assert parsed[0] == ["s", "n"]
    assert [r[0] for r in parsed[1:]] == [expected(v) for v in kept]
    for row in parsed[1:]:
        assert row[0][:1] not in DANGEROUS


def test_table_batches_and_files(tmp_path):
    values = ["=1", "safe", None, "-x", "é=", "@"] * 50_000
    table = pa.table({"s": values, "=n": list(range(len(values)))})
    csvsafe.write_table(table, tmp_path / "out.csv")
    parsed = pacsv.read_csv(tmp_path / "out.csv", convert_options=pacsv.ConvertOptions(
        column_types={"s": pa.string()}, strings_can_be_null=False))  # fmt: skip
    assert parsed.column_names == ["s", "'=n"]
    assert parsed["s"].to_pylist() == [expected(v) for v in values]
    assert parsed["'=n"].to_pylist() == list(range(len(values)))


def test_an_empty_table_writes_its_header():
    assert csvsafe.table_bytes(pa.table({"a": pa.array([], pa.string())})) == b'"a"\n'


def test_neutralise():
    assert csvsafe.neutralise("=1") == "'=1" and csvsafe.neutralise("1=") == "1="
    assert csvsafe.neutralise("") == ""
