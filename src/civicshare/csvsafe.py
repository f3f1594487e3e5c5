"""The one CSV writer every export uses, safe to open in a spreadsheet.

A cell such as ``=HYPERLINK("http://evil.example","x")`` in data a partner pushed would run as
a formula when a recipient opens the CSV in Excel, LibreOffice or Google Sheets (CSV or formula
injection). Following OWASP, every *text* cell that begins with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return is written with a single quote in front (``'=HYPERLINK(...)``) and
quoted, so the spreadsheet shows it as text. Numbers (ints, floats, decimals and Arrow numeric
columns) are values, not text, and are written as they are: -5 stays -5, but the text "-5"
becomes "'-5".

Two shapes of input:

* rows of Python values: :func:`write_rows` (to an open text file), :func:`rows_text` (to a
  string) and :func:`iter_lines` (a line at a time, for a streaming response);
* an Arrow table: :func:`write_table` (to a path or binary file, a record batch at a time) and
  :func:`table_bytes`. String columns are neutralised with Arrow compute kernels, so a
  million-row extract costs about what pyarrow.csv.write_csv alone does.

This module imports no domain: anything may use it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from numbers import Number
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
PREFIX = "'"
_DANGEROUS_BYTES = np.frombuffer("".join(DANGEROUS).encode(), dtype=np.uint8)
_PREFIX_BYTE = ord(PREFIX)
_NEEDS_QUOTES = (",", '"', "\n", "\r")
LINE_END = "\r\n"
BATCH_ROWS = 64 * 1024


def neutralise(text: str) -> str:
    """The text as a spreadsheet will show it and never run it: prefixed when dangerous."""
    return PREFIX + text if text[:1] in DANGEROUS else text


def _field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Number):
        return str(value)  # a number (numpy's too), not text: -5 stays -5
    text = str(value)
    if text[:1] in DANGEROUS:
        text = PREFIX + text
    elif not any(mark in text for mark in _NEEDS_QUOTES):
        return text
    return '"' + text.replace('"', '""') + '"'


def format_row(row: Iterable[Any]) -> str:
    """One CSV line (with its line ending) of the row's cells, dangerous text neutralised."""
    return ",".join(_field(value) for value in row) + LINE_END


def iter_lines(rows: Iterable[Iterable[Any]], header: Sequence[str] | None = None) -> Iterator[str]:
    """CSV lines, header first when given: for a streaming response."""
    if header is not None:
        yield format_row(header)
    for row in rows:
        yield format_row(row)


def write_rows(
    handle: TextIO, rows: Iterable[Iterable[Any]], header: Sequence[str] | None = None
) -> None:
    """Write the rows as CSV to an open text file (opened with newline="")."""
    for line in iter_lines(rows, header):
        handle.write(line)


def rows_text(rows: Iterable[Iterable[Any]], header: Sequence[str] | None = None) -> str:
    """The rows as CSV text."""
    return "".join(iter_lines(rows, header))


def write_dicts(
    handle: TextIO, rows: Iterable[dict[str, Any]], columns: Sequence[str], header: bool = True
) -> None:
    """Write dict rows in `columns` order (a missing key is an empty cell)."""
    write_rows(handle, ([row.get(c) for c in columns] for row in rows), columns if header else None)


# Arrow tables.


def _is_text(type_: pa.DataType) -> bool:
    return pa.types.is_string(type_) or pa.types.is_large_string(type_)


def _neutralise_text(array: pa.Array) -> pa.Array:
    """The string array with PREFIX put before every cell whose first byte is one of DANGEROUS.

    Works on the UTF-8 buffers with numpy: a byte looked at per cell and a byte inserted per
    dangerous cell, several times faster than a regular expression and a join with if_else.
    The dangerous characters are ASCII, so no byte of a multi-byte character looks like one."""
    count = len(array)
    _validity, offsets_buffer, data_buffer = array.buffers()
    if count == 0 or data_buffer is None or data_buffer.size == 0:
        return array
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=width)[array.offset : array.offset + count + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    starts = offsets[:-1]
    first = data[np.minimum(starts, data.size - 1)]
    mask = np.isin(first, _DANGEROUS_BYTES) & (offsets[1:] > starts)
    if not mask.any():
        return array
    base = offsets[0]
    body = np.insert(data[base : offsets[-1]], starts[mask] - base, _PREFIX_BYTE)
    shift = np.zeros(count + 1, dtype=width)
    np.cumsum(mask, out=shift[1:])
    new_offsets = (offsets - base + shift).astype(width, copy=False)
    validity = pc.is_valid(array).buffers()[1] if array.null_count else None
    return pa.Array.from_buffers(
        array.type, count, [validity, pa.py_buffer(new_offsets), pa.py_buffer(body)]
    )


def _neutralise_array(array: pa.Array) -> pa.Array:
    if _is_text(array.type):
        return _neutralise_text(array)
    if pa.types.is_string_view(array.type):
        return _neutralise_text(array.cast(pa.string()))
    if pa.types.is_dictionary(array.type) and _is_text(array.type.value_type):
        return pa.DictionaryArray.from_arrays(
            array.indices, _neutralise_text(array.dictionary), ordered=array.type.ordered
        )
    return array


def _schema(schema: pa.Schema) -> pa.Schema:
    fields = []
    for field in schema:
        type_ = pa.string() if pa.types.is_string_view(field.type) else field.type
        fields.append(pa.field(neutralise(field.name), type_, field.nullable))
    return pa.schema(fields)


def neutralise_batch(batch: pa.RecordBatch, schema: pa.Schema | None = None) -> pa.RecordBatch:
    """The batch with every dangerous text cell (and column name) prefixed."""
    schema = schema or _schema(batch.schema)
    return pa.RecordBatch.from_arrays([_neutralise_array(c) for c in batch.columns], schema=schema)


def neutralise_table(table: pa.Table) -> pa.Table:
    """The table with every dangerous text cell (and column name) prefixed."""
    schema = _schema(table.schema)
    return pa.Table.from_batches(
        [neutralise_batch(b, schema) for b in table.to_batches(BATCH_ROWS)], schema=schema
    )


def write_table(table: pa.Table, sink: str | Path | BinaryIO) -> None:
    """Write the table as CSV to a path or binary file, a record batch at a time, so memory
    beyond the table itself stays one batch whatever its size. Text cells are quoted."""
    schema = _schema(table.schema)
    target = str(sink) if isinstance(sink, Path) else sink
    with pacsv.CSVWriter(target, schema) as writer:
        for batch in table.to_batches(BATCH_ROWS):
            writer.write_batch(neutralise_batch(batch, schema))


def table_bytes(table: pa.Table) -> bytes:
    """The table as CSV bytes."""
    buffer = io.BytesIO()
    write_table(table, buffer)
    return buffer.getvalue()
