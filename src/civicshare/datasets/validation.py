"""Validating one batch of a partner's file against its contract, vectorised with pyarrow.

Input: a record batch of text columns (as read from the file) and the file row number of its
first row. Output: the typed columns, a mask of bad rows, and one `Problem` per bad field.
A problem names the row, the column and what is wrong; it carries the value only for columns
that are neither identifiers nor special category nor criminal offence data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from civicshare.datasets.contracts import Column, ColumnType, Contract, IdentifierKind
from civicshare.identity.service import byte_rows, normalise

POSTCODE = r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][ABD-HJLNP-UW-Z]{2}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
INTEGER = r"^[+-]?[0-9]+$"
DECIMAL = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
NHS_WEIGHTS = np.arange(10, 1, -1, dtype=np.int64)
SHOWN_VALUE_LIMIT = 40

MESSAGES = {
    "missing": "is required but blank",
    "not_integer": "is not a whole number",
    "not_decimal": "is not a number",
    "not_boolean": "is not one of the contract's true or false values",
    "not_date": "is not a date in the format {formats}",
    "not_datetime": "is not a date and time in the format {formats}",
    "not_allowed": "is not one of the contract's allowed values",
    "nhs_number_format": "is not a 10-digit NHS number",
    "nhs_number_check_digit": "fails the NHS number check digit (modulus 11)",
    "postcode_format": "is not a UK postcode",
    "uprn_format": "is not a UPRN (1 to 12 digits)",
    "email_format": "is not an e-mail address",
    "duplicate_record_id": "repeats the record id of row {row}",
}


@dataclass(frozen=True)
class Problem:
    row: int  # data row in the file: 1 is the first row after the header
    column: str
    code: str
    message: str
    value: str | None = None  # only for non-sensitive columns

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Failure:
    """One kind of problem in one column of a batch: the file rows that have it and, for a
    non-sensitive column, their raw values. Problems are made from it only when wanted."""

    column: str
    code: str
    message: str
    rows: np.ndarray  # file row numbers, ascending
    shown: pa.Array | None  # raw values of those rows, None for a sensitive column

    def problems(self) -> list[Problem]:
        shown = [None] * len(self.rows) if self.shown is None else self.shown.to_pylist()
        return [
            Problem(
                row,
                self.column,
                self.code,
                self.message,
                None if v is None else v[:SHOWN_VALUE_LIMIT],
            )
            for row, v in zip(self.rows.tolist(), shown, strict=True)
        ]


@dataclass
class ValidatedBatch:
    typed: dict[str, pa.Array]  # contract column -> typed values (null where bad)
    normalised: dict[str, pa.Array]  # identifier column -> normalised text
    bad: np.ndarray  # bool per row
    failures: list[Failure]
    extra_problems: list[Problem] = field(default_factory=list)  # found later (duplicates)

    def problem_counts(self) -> Counter[tuple[str, str]]:
        """How many problems of each (column, code), without making them."""
        counts: Counter[tuple[str, str]] = Counter()
        for failure in self.failures:
            counts[(failure.column, failure.code)] += len(failure.rows)
        counts.update((p.column, p.code) for p in self.extra_problems)
        return counts

    @property
    def problems(self) -> list[Problem]:
        """Every problem, in row order (for one row: in column order, then check order). A
        Python object per bad field: ask for them only when they are shown."""
        made = [p for failure in self.failures for p in failure.problems()]
        return sorted(made + self.extra_problems, key=lambda p: p.row)


def _mask(array: pa.Array) -> np.ndarray:
    return np.asarray(array.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _digits(values: pa.Array, shortest: int, longest: int | None) -> np.ndarray:
    """Where a value is `shortest` to `longest` ASCII digits: `^[0-9]{shortest,longest}$`,
    by a kernel many times cheaper than the regex."""
    ok = _mask(pc.ascii_is_decimal(values))
    lengths = pc.binary_length(values).fill_null(0).to_numpy(zero_copy_only=False)
    ok &= lengths >= shortest
    if longest is not None:
        ok &= lengths <= longest
    return ok


def _strip_zeros(values: pa.Array) -> pa.Array:
    values = pc.utf8_upper(pc.replace_substring_regex(values, r"\s+", " "))
    return pc.replace_substring_regex(values, r"(^|[^0-9])0+([0-9])", r"\1\2")


# Formats made only of these fixed-width numeric fields and literal characters can have their
# round trip checked field by field, without formatting every value back to text.
FIXED_FIELDS = {"%Y": (4, pc.year), "%m": (2, pc.month), "%d": (2, pc.day),
                "%H": (2, pc.hour), "%M": (2, pc.minute), "%S": (2, pc.second)}  # fmt: skip


def _fixed_fields(fmt: str) -> tuple[list[tuple[int, int]], int, list[tuple[int, int, Any]]] | None:
    """((offset, byte) of each literal character, the text's length, (offset, width,
    component) per field) of a format made only of FIXED_FIELDS and ASCII literals; None for
    any other (%b, %y, %%, ...)."""
    literals, fields, offset, i = [], [], 0, 0
    while i < len(fmt):
        if fmt[i] == "%":
            width, component = FIXED_FIELDS.get(fmt[i : i + 2], (0, None))
            if component is None:
                return None
            fields.append((offset, width, component))
            offset, i = offset + width, i + 2
        else:
            if not fmt[i].isascii():
                return None
            literals.append((offset, ord(fmt[i])))
            offset, i = offset + 1, i + 1
    return literals, offset, fields


def _fields_match(text: pa.Array, parsed: pa.Array, fixed) -> np.ndarray:
    """Where `text` is written exactly in the fixed-width format (its length, its literal
    characters, a digit in every field position) and each of its fields equals the parsed
    value's: exactly where strftime(parsed) == text, at a fraction of the cost."""
    literals, length, fields = fixed
    exact = _mask(pc.and_kleene(pc.equal(pc.binary_length(text), length), pc.is_valid(parsed)))
    if not exact.any():
        return exact
    chosen = pa.array(exact)
    parsed = parsed.filter(chosen)
    # Every chosen text is `length` bytes long: the texts are rows of a byte matrix.
    written = byte_rows(text.filter(chosen), length)
    same = np.ones(len(parsed), dtype=bool)
    for offset, byte in literals:
        same &= written[:, offset] == byte
    for offset, width, component in fields:
        number = np.zeros(len(parsed), dtype=np.int64)
        for digit in written[:, offset : offset + width].T:
            value = digit.astype(np.int64) - 48
            same &= (value >= 0) & (value <= 9)
            number = number * 10 + value
        same &= number == component(parsed).to_numpy(zero_copy_only=False)
    exact[exact] = same
    return exact


def parse_temporal(values: pa.Array, formats: Sequence[str], kind: ColumnType) -> pa.Array:
    """Text to timestamp[s] trying each format; a value that does not round-trip is null.

    Arrow's strptime rolls 31 February over to 3 March; the round trip (ignoring leading
    zeros and case) catches that. For formats of fixed-width numbers the round trip is
    checked field by field (formatting back to text is the costly part); only the values
    that parsed but are not written exactly that way are formatted back."""
    out = pa.nulls(len(values), pa.timestamp("s"))
    trimmed = pc.utf8_trim_whitespace(values)
    for fmt in formats:
        parsed = pc.strptime(trimmed, format=fmt, unit="s", error_is_null=True)
        fixed = _fixed_fields(fmt)
        if fixed is None:
            same = np.zeros(len(trimmed), dtype=bool)
        else:
            same = _fields_match(trimmed, parsed, fixed)
        rest = _mask(pc.is_valid(parsed)) & ~same
        if rest.any():
            same[rest] = _round_trips(
                trimmed.filter(pa.array(rest)), parsed.filter(pa.array(rest)), fmt
            )
        parsed = pc.if_else(pa.array(same), parsed, pa.scalar(None, pa.timestamp("s")))
        out = pc.coalesce(out, parsed)
    if kind == ColumnType.date:
        return pc.cast(out, pa.date32())
    return out


def _round_trips(text: pa.Array, parsed: pa.Array, fmt: str) -> np.ndarray:
    """Whether each parsed value formats back to its text, exactly or but for leading zeros
    and case."""
    back = pc.strftime(parsed, format=fmt)
    same = pc.equal(back, text).fill_null(False)
    # Only values that do not round-trip exactly (leading zeros, case) need the looser
    # comparison; in a clean file there are none.
    other = pc.invert(same)
    if pc.any(other).as_py():
        loose = pc.equal(_strip_zeros(back.filter(other)), _strip_zeros(text.filter(other)))
        same = pc.replace_with_mask(same, other, loose.fill_null(False))
    return _mask(same)


def nhs_valid(normalised: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(well formed, check digit ok) masks for normalised NHS numbers (nulls are neither)."""
    formed = _digits(normalised, 10, 10)
    check_ok = np.zeros(len(normalised), dtype=bool)
    if formed.any():
        chosen = pc.filter(normalised, pa.array(formed)).to_numpy(zero_copy_only=False)
        digits = np.frombuffer(chosen.astype("S10").tobytes(), dtype=np.uint8)
        digits = digits.reshape(-1, 10).astype(np.int64) - 48
        check = 11 - (digits[:, :9] @ NHS_WEIGHTS) % 11
        check[check == 11] = 0
        check_ok[formed] = (check != 10) & (check == digits[:, 9])
    return formed, check_ok


def validate_batch(
    contract: Contract,
    batch: pa.RecordBatch,
    first_row: int,
    extra_formats: dict[str, list[str]] | None = None,
) -> ValidatedBatch:
    n = batch.num_rows
    bad = np.zeros(n, dtype=bool)
    found: list[Failure] = []
    typed: dict[str, pa.Array] = {}
    normalised: dict[str, pa.Array] = {}

    for column in contract.columns:
        raw = pc.cast(batch.column(column.name), pa.string())
        trimmed = pc.utf8_trim_whitespace(raw)
        blank = _mask(pc.or_kleene(pc.is_null(trimmed), pc.equal(trimmed, "")))
        present = ~blank
        failures: list[tuple[str, np.ndarray]] = []
        if column.required:
            failures.append(("missing", blank))
        value, failures = _typed(contract, column, raw, trimmed, present, failures, extra_formats)
        if column.is_identifier:
            text = value if column.type == ColumnType.string else _iso_date(value)
            norm = _normalised(column.identifier.value, text)
            failures += _identifier_failures(column, norm, present)
            normalised[column.name] = norm
        if column.allowed_values is not None:
            allowed = _mask(pc.is_in(trimmed, value_set=pa.array(column.allowed_values)))
            failures.append(("not_allowed", present & ~allowed))
        typed[column.name] = value
        for code, mask in failures:
            if not mask.any():
                continue
            bad |= mask
            template = MESSAGES[code]
            message = template.format(formats=" or ".join(_shown_formats(contract, column)))
            rows = np.nonzero(mask)[0]
            shown = None if column.sensitive else raw.take(pa.array(rows))
            found.append(Failure(column.name, code, message, rows + first_row, shown))
    return ValidatedBatch(typed, normalised, bad, found)


# Identifier kinds whose values repeat a great deal within a batch (many people share a
# name or a postcode): normalised once per distinct value.
REPEATING = {"given_name", "family_name", "full_name", "postcode", "address"}


def _normalised(kind: str, text: pa.Array) -> pa.Array:
    """`normalise` of each value, for a REPEATING kind worked out once per distinct value: it
    works value by value, so the result is the same."""
    if kind not in REPEATING:
        return normalise(kind, text)
    encoded = pc.dictionary_encode(text)
    if 2 * len(encoded.dictionary) > len(text):
        return normalise(kind, text)
    return normalise(kind, encoded.dictionary).take(encoded.indices)


def _iso_date(values: pa.Array) -> pa.Array:
    """A date or date and time as "YYYY-MM-DD" text: what strftime("%Y-%m-%d") gives, but by
    a cast, which is many times cheaper."""
    return pc.cast(pc.cast(values, pa.date32()), pa.string())


def _shown_formats(contract: Contract, column: Column) -> list[str]:
    if column.type not in (ColumnType.date, ColumnType.datetime):
        return []
    return contract.formats_for(column)


def _typed(contract, column, raw, trimmed, present, failures, extra_formats):
    kind = column.type
    if kind == ColumnType.string:
        value = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), raw)
        return value, failures
    cleaned = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    if kind == ColumnType.integer:
        ok = _digits(cleaned, 1, None)  # the regex only for the few with a sign or worse
        if (~ok).any():
            rest = pa.array(~ok)
            ok[~ok] = _mask(pc.match_substring_regex(cleaned.filter(rest), INTEGER))
        failures.append(("not_integer", present & ~ok))
        safe = pc.if_else(pa.array(ok), cleaned, pa.scalar(None, pa.string()))
        return pc.cast(safe, pa.int64()), failures
    if kind == ColumnType.decimal:
        ok = _mask(pc.match_substring_regex(cleaned, DECIMAL))
        failures.append(("not_decimal", present & ~ok))
        safe = pc.if_else(pa.array(ok), cleaned, pa.scalar(None, pa.string()))
        return pc.cast(safe, pa.float64()), failures
    if kind == ColumnType.boolean:
        lowered = pc.utf8_lower(cleaned)
        yes = _mask(pc.is_in(lowered, value_set=pa.array(column.truthy())))
        no = _mask(pc.is_in(lowered, value_set=pa.array(column.falsy())))
        failures.append(("not_boolean", present & ~(yes | no)))
        value = pa.array(np.where(yes, True, False), pa.bool_())
        value = pc.if_else(pa.array(yes | no), value, pa.scalar(None, pa.bool_()))
        return value, failures
    formats = list(contract.formats_for(column)) + list((extra_formats or {}).get(column.name, []))
    value = parse_temporal(cleaned, formats, kind)
    ok = _mask(pc.is_valid(value))
    failures.append(("not_date" if kind == ColumnType.date else "not_datetime", present & ~ok))
    return value, failures


def _identifier_failures(column: Column, norm: pa.Array, present: np.ndarray):
    kind = column.identifier
    if kind == IdentifierKind.nhs_number:
        formed, check_ok = nhs_valid(norm)
        return [
            ("nhs_number_format", present & ~formed),
            ("nhs_number_check_digit", present & formed & ~check_ok),
        ]
    if kind == IdentifierKind.postcode:
        return [("postcode_format", present & ~_mask(pc.match_substring_regex(norm, POSTCODE)))]
    if kind == IdentifierKind.uprn:
        return [("uprn_format", present & ~_digits(norm, 1, 12))]
    if kind == IdentifierKind.email:
        return [("email_format", present & ~_mask(pc.match_substring_regex(norm, EMAIL)))]
    return []


def duplicate_records(
    contract: Contract,
    batch: pa.RecordBatch,
    first_row: int,
    seen: dict[str, int],
    invalid: np.ndarray,
) -> tuple[np.ndarray, list[Problem]]:
    """Rows whose `record_id` (trimmed; blanks ignored) appeared on an earlier row of the
    file: a mask and one problem each naming the earlier row. `seen` (value -> first row)
    carries over from batch to batch; only rows without other problems enter it, so a bad
    row does not make a later good one a duplicate."""
    column = contract.column(contract.record_id)
    keys = pc.utf8_trim_whitespace(pc.cast(batch.column(column.name), pa.string())).to_pylist()
    repeated = np.zeros(len(keys), dtype=bool)
    problems: list[Problem] = []
    for index, key in enumerate(keys):
        if not key:
            continue
        earlier = seen.get(key)
        if earlier is None:
            if not invalid[index]:
                seen[key] = first_row + index
            continue
        repeated[index] = True
        shown = None if column.sensitive else key[:SHOWN_VALUE_LIMIT]
        message = MESSAGES["duplicate_record_id"].format(row=f"{earlier:,}")
        problems.append(
            Problem(first_row + index, column.name, "duplicate_record_id", message, shown)
        )
    return repeated, problems
