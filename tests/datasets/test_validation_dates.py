"""Dates are checked by a round trip (Arrow's strptime rolls 31 February over to 3 March);
since 0039 the looser comparison (leading zeros, case) runs only on values that parse but do
not round-trip exactly. The outcome is the same."""

from __future__ import annotations

import pyarrow as pa
import pytest

from civicshare.datasets.contracts import ColumnType
from civicshare.datasets.validation import parse_temporal

CASES = [
    ("01/02/1950", "%d/%m/%Y", "1950-02-01"),
    ("1/2/1950", "%d/%m/%Y", "1950-02-01"),  # no leading zeros: accepted
    (" 01/02/1950 ", "%d/%m/%Y", "1950-02-01"),
    ("31/02/1950", "%d/%m/%Y", None),  # rolled over by strptime: refused
    ("29/02/2000", "%d/%m/%Y", "2000-02-29"),
    ("29/02/1900", "%d/%m/%Y", None),
    ("01/jan/2000", "%d/%b/%Y", "2000-01-01"),  # case differs from strftime's "Jan"
    ("01/JAN/2000", "%d/%b/%Y", "2000-01-01"),
    ("2025-01-02", "%d/%m/%Y", None),
    ("", "%d/%m/%Y", None),
    (None, "%d/%m/%Y", None),
]


@pytest.mark.parametrize("text, fmt, expected", CASES)
def test_a_date_is_taken_only_when_it_round_trips(text, fmt, expected):
    values = pa.array([text, "01/02/1950" if fmt == "%d/%m/%Y" else "01/Jan/2000"], pa.string())
    parsed = parse_temporal(values, [fmt], ColumnType.date).to_pylist()
    assert (parsed[0] and parsed[0].isoformat()) == expected
    assert parsed[1] is not None
