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


def _formatted_back(values: pa.Array, formats, kind: ColumnType) -> pa.Array:
    """The round trip as it was before the field-by-field check: every parsed value formatted
    back to text and compared (exactly, else but for leading zeros and case)."""
    import pyarrow.compute as pc

    from civicshare.datasets.validation import _strip_zeros

    out = pa.nulls(len(values), pa.timestamp("s"))
    trimmed = pc.utf8_trim_whitespace(values)
    for fmt in formats:
        parsed = pc.strptime(trimmed, format=fmt, unit="s", error_is_null=True)
        back = pc.strftime(parsed, format=fmt)
        same = pc.or_(pc.equal(back, trimmed), pc.equal(_strip_zeros(back), _strip_zeros(trimmed)))
        kept = pc.if_else(same.fill_null(False), parsed, pa.scalar(None, pa.timestamp("s")))
        out = pc.coalesce(out, kept)
    return pc.cast(out, pa.date32()) if kind == ColumnType.date else out


def _mixed_texts(seed: int, count: int) -> list[str | None]:
    import random

    pick = random.Random(seed)
    texts: list[str | None] = []
    for _ in range(count):
        year, month, day = pick.randint(1, 2999), pick.randint(0, 13), pick.randint(0, 32)
        hour, minute = pick.randint(0, 25), pick.randint(0, 61)
        shape = pick.randint(0, 9)
        if shape == 0:
            texts.append(f"{year:04d}{month:02d}{day:02d}")
        elif shape == 1:
            texts.append(f"{year}{month}{day}")  # unpadded: may be ambiguous or refused
        elif shape == 2:
            texts.append(f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}")
        elif shape == 3:
            texts.append(f"{year}-{month}-{day}  {hour}:{minute}")
        elif shape == 4:
            texts.append(f"{day:02d}/{month:02d}/{year:04d}")
        elif shape == 5:
            texts.append(f" {day}/{month}/{year} ")
        elif shape == 6:
            texts.append(pick.choice(["", None, "x", "2024-02-30", "29/02/2024", "0000-01-01"]))
        elif shape == 7:
            texts.append(f"{year:04d}{month:02d}{day:02d}x")
        elif shape == 8:  # the format's length, a space or sign where a digit should be
            texts.append(f"{year:04d}-{month:>2}-{day:>2} {hour:>2}:{minute:02d}")
        else:
            texts.append(f"+{year % 1000:03d}{month:>2}{day:02d}")
    return texts


@pytest.mark.parametrize(
    "formats, kind",
    [
        (["%Y%m%d"], ColumnType.date),
        (["%d/%m/%Y", "%Y%m%d"], ColumnType.date),
        (["%Y-%m-%d %H:%M"], ColumnType.datetime),
        (["%Y-%m-%d %H:%M", "%Y-%m-%d"], ColumnType.datetime),
    ],
)
def test_the_field_by_field_round_trip_takes_what_formatting_back_took(formats, kind):
    values = pa.array(_mixed_texts(len(formats) + len(kind.value), 20_000), pa.string())
    taken = parse_temporal(values, formats, kind)
    assert taken.equals(_formatted_back(values, formats, kind))
    assert 0 < taken.null_count < len(values)  # both kinds of value were there
    # The texts are read as a byte matrix: a slice and 64-bit offsets must read the same.
    part = values.slice(7, 5_000)
    assert parse_temporal(part, formats, kind).equals(_formatted_back(part, formats, kind))
    wide = values.cast(pa.large_string())
    assert parse_temporal(wide, formats, kind).equals(taken)


def test_a_date_of_birth_is_normalised_to_the_text_strftime_gave():
    import datetime as dt

    import pyarrow.compute as pc

    from civicshare.datasets.validation import _iso_date

    moments = [dt.datetime(1950, 1, 2, 23, 4, 5), dt.datetime(1, 1, 1, 1), None]
    moments.append(dt.datetime(1969, 12, 31, 23, 59, 59))
    for values in (pa.array(moments, pa.timestamp("s")), pa.array(moments, pa.date32())):
        assert _iso_date(values).equals(pc.strftime(values, "%Y-%m-%d"))


def test_digit_checks_take_what_their_regex_took():
    """Validation checks NHS numbers, UPRNs and whole numbers with a digits kernel and a
    length instead of a regex; it must accept exactly what the regex accepted."""
    import random
    import re

    import pyarrow.compute as pc

    from civicshare.datasets.validation import _digits

    pick = random.Random(5)
    alphabet = "0123456789 +-.a٣\t"
    values = ["", None, "0", "٣٣٣", "+1", "1" * 12, "1" * 13]
    values += ["".join(pick.choices(alphabet, k=pick.randint(1, 14))) for _ in range(5_000)]
    values += [str(pick.randint(0, 10**13)) for _ in range(2_000)]
    array = pa.array(values, pa.string())
    for shortest, longest, pattern in (
        (10, 10, "[0-9]{10}"),
        (1, 12, "[0-9]{1,12}"),
        (1, None, "[0-9]+"),
    ):
        expected = [v is not None and re.fullmatch(pattern, v) is not None for v in values]
        assert _digits(array, shortest, longest).tolist() == expected
        assert _digits(array.slice(3, 100), shortest, longest).tolist() == expected[3:103]
    assert pc.sum(pc.ascii_is_decimal(array)).as_py() > 1_000  # digits were there
