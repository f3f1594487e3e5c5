"""Reading a partner's file (CSV, Parquet, XLSX) as typed text batches, with the contract's
limits checked before the work starts and every parser error a FileProblem naming where."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from civicshare.datasets.contracts import Column, ColumnType, Contract, FileFormat

CSV_BLOCK_BYTES = 4 << 20
ROWS_PER_BATCH = 50_000
HEADER_PROBE_BYTES = 1 << 20  # the CSV header line must end within this many bytes
# The text is passed on in chunks of a CSV block: a shorter chunk cuts the block, and so the
# batch, short (1 MiB chunks made batches of 8,500 rows, and ingest 30 % slower).
TEXT_CHUNK_BYTES = CSV_BLOCK_BYTES

log = logging.getLogger(__name__)


class FileProblem(Exception):
    """The file as a whole cannot be taken (wrong columns, not CSV, ...). No values inside."""


# -- reading files as text batches ---------------------------------------------------------


class _Counting(io.RawIOBase):
    """Wraps a binary file: counts bytes read and hashes them as they pass."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self.raw = raw
        self.bytes = 0
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        if not data:
            return 0
        n = len(data)
        buffer[:n] = data
        self.bytes += n
        self.sha256.update(data)
        return n


@dataclass
class Source:
    batches: Iterator[pa.RecordBatch]  # text columns, contract columns only, file order
    total_units: int  # bytes (CSV) or rows (Parquet, XLSX) for progress
    done_units: Callable[[], int]
    sha256: Callable[[], str]
    extra_formats: dict[str, list[str]] = field(default_factory=dict)


def _check_header(contract: Contract, names: list[str]) -> None:
    if len(names) > contract.limits.max_columns:
        raise FileProblem(_too_many_columns(contract, len(names)))
    expected = [c.name for c in contract.columns]
    present = set(names)
    wanted = set(expected)
    missing = [n for n in expected if n not in present]
    unexpected = [n for n in names if n not in wanted]
    duplicated = sorted(n for n, k in Counter(names).items() if k > 1)
    problems = []
    if missing:
        problems.append(f"the file has no column {', '.join(repr(n) for n in missing)}")
    if unexpected:
        problems.append(
            f"the file has columns that are not in the contract: "
            f"{', '.join(repr(n) for n in unexpected[:20])}"
        )
    if duplicated:
        problems.append(f"the header repeats {', '.join(repr(n) for n in duplicated)}")
    if problems:
        raise FileProblem("; ".join(problems))


def _too_many_columns(contract: Contract, count: int) -> str:
    return (
        f"the file has {count:,} columns, more than the contract's limit of "
        f"{contract.limits.max_columns:,} (limits.max_columns)"
    )


def _sha256_of(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    handle.seek(0)
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
NOT_UTF8_HINT = (
    "the file is not UTF-8 text; it may be Windows-1252 ('ANSI') or another code page: "
    "save it as 'CSV UTF-8' and send it again"
)


def sniff_encoding(head: bytes) -> tuple[str, int]:
    """(encoding, BOM length) from a CSV's first bytes: UTF-8 unless a BOM says otherwise.
    UTF-16 with a BOM is decoded; UTF-32 is refused by name (FileProblem)."""
    for bom, encoding in BOMS:
        if head.startswith(bom):
            if encoding == "utf-32":
                raise FileProblem("the file is UTF-32; save it as 'CSV UTF-8' and send it again")
            return encoding, len(bom)
    if head.startswith(b"PK\x03\x04"):
        raise FileProblem(
            "the file is a zip archive (an XLSX workbook?), not CSV: send it with the .xlsx "
            "extension, or save it as 'CSV UTF-8'"
        )
    return "utf-8", 0


class _Utf8Text(io.RawIOBase):
    """Reads a CSV's bytes (UTF-8, or UTF-16 with its BOM) and gives UTF-8 without a BOM.

    Counts physical lines as the text passes. The first undecodable byte ends the stream
    (reads give EOF) and `error` names its line: the CSV reader never sees bad bytes, and no
    exception is raised inside a reader thread."""

    def __init__(self, raw: BinaryIO, encoding: str, skip: int) -> None:
        super().__init__()
        self.raw = raw
        self.encoding = encoding
        self._decode = {
            "utf-8": codecs.utf_8_decode,
            "utf-16-le": codecs.utf_16_le_decode,
            "utf-16-be": codecs.utf_16_be_decode,
        }[encoding]
        self._skip = skip
        self._pending = b""  # raw bytes of a character split across reads
        self._out = bytearray()
        self.lines = 0  # newlines passed so far
        self.error: str | None = None
        self._eof = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while not self._out and not self._eof and self.error is None:
            chunk = self.raw.read(TEXT_CHUNK_BYTES)
            if self._skip:
                chunk = chunk[self._skip :] if len(chunk) >= self._skip else b""
                self._skip = 0
            final = not chunk
            data = self._pending + chunk
            try:
                text, used = self._decode(data, "strict", final)
            except UnicodeDecodeError as error:
                good, _ = self._decode(data[: error.start], "strict", True)
                line = self.lines + good.count("\n") + 1
                if self.encoding == "utf-8":
                    self.error = f"line {line:,} is not UTF-8: {NOT_UTF8_HINT}"
                else:
                    self.error = (
                        f"line {line:,} cannot be read as {self.encoding.upper()[:6]} text "
                        "(the file is damaged or not in one encoding): save it as 'CSV UTF-8'"
                    )
                self._out += self._encoded(good, data[: error.start])
                return
            self.lines += text.count("\n")
            self._pending = data[used:]
            self._out += self._encoded(text, data[:used])
            if final:
                self._eof = True

    def _encoded(self, text: str, raw: bytes) -> bytes:
        return raw if self.encoding == "utf-8" else text.encode("utf-8")

    def readinto(self, buffer) -> int:
        self._fill()
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        del self._out[:n]
        return n


def _csv_header(contract: Contract, handle: BinaryIO) -> tuple[str, int]:
    """Look at the start of a CSV before the real reader does: its encoding, and its header
    line's column count against the contract's limit. Leaves `handle` at the start."""
    handle.seek(0)
    head = handle.read(HEADER_PROBE_BYTES)
    handle.seek(0)
    encoding, skip = sniff_encoding(head)
    text = head[skip:].decode(encoding, errors="replace")
    ends = [i for i in (text.find("\n"), text.find("\r")) if i >= 0]
    line = text[: min(ends)] if ends else text
    columns = line.count(contract.delimiter) + 1
    if columns > contract.limits.max_columns:
        raise FileProblem(_too_many_columns(contract, columns))
    if not ends and len(head) >= HEADER_PROBE_BYTES:
        raise FileProblem(
            f"the header line is longer than {HEADER_PROBE_BYTES:,} bytes: is the file CSV "
            f"with {contract.delimiter!r} between fields?"
        )
    return encoding, skip


def _field_count_lines(contract: Contract, handle: BinaryIO, encoding: str, skip: int):
    """After the CSV reader found records with the wrong number of fields: find them again
    with Python's csv module, which knows line numbers. Only on the rejection path."""
    handle.seek(skip)
    text = io.TextIOWrapper(handle, encoding=encoding, errors="replace", newline="")
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, contract.limits.max_field_bytes + 1))
    found: list[str] = []
    try:
        reader = csv.reader(text, delimiter=contract.delimiter)
        header = next(reader, [])
        start = reader.line_num + 1
        for record in reader:
            if record and len(record) != len(header):
                found.append(
                    f"line {start:,} has {len(record)} fields where the header has {len(header)}"
                )
                if len(found) >= 5:
                    break
            start = reader.line_num + 1
    except csv.Error:
        pass
    finally:
        csv.field_size_limit(limit)
        text.detach()
    return found


def _csv_source(contract: Contract, handle: BinaryIO, size: int) -> Source:
    import pyarrow.csv as pacsv

    encoding, skip = _csv_header(contract, handle)
    counting = _Counting(handle)
    text = _Utf8Text(counting, encoding, skip)
    names = [c.name for c in contract.columns]
    bad_structure: list[str] = []
    block = max(CSV_BLOCK_BYTES, 2 * contract.limits.max_field_bytes + (1 << 20))

    def invalid_row(row) -> str:
        bad_structure.append(
            f"a record has {row.actual_columns} fields where the header has {row.expected_columns}"
        )
        return "skip"

    def structure_problem() -> FileProblem:
        if text.error:
            return FileProblem(text.error)
        lines = _field_count_lines(contract, handle, encoding, skip)
        return FileProblem("; ".join(lines or bad_structure[:5]))

    def unreadable(error: Exception) -> FileProblem:
        # pyarrow's message may quote the offending text: never pass it on.
        if text.error:
            return FileProblem(text.error)
        if "straddling" in str(error):
            return FileProblem(
                f"a record is longer than {block:,} bytes: a field may be over the contract's "
                f"limit of {contract.limits.max_field_bytes:,} bytes, or a quote is not closed"
            )
        return FileProblem("the file could not be read as CSV")

    try:
        reader = pacsv.open_csv(
            text,
            read_options=pacsv.ReadOptions(block_size=block, use_threads=False),
            parse_options=pacsv.ParseOptions(
                delimiter=contract.delimiter,
                newlines_in_values=True,
                invalid_row_handler=invalid_row,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, UnicodeError, ValueError) as error:
        if text.error:
            raise FileProblem(text.error) from None
        if isinstance(error, pa.ArrowInvalid) and "Empty CSV" in str(error):
            raise FileProblem("the file is empty: it has no header row") from None
        raise unreadable(error) from None
    _check_header(contract, reader.schema.names)

    def batches() -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowException, UnicodeError, ValueError) as error:
                raise unreadable(error) from None
            if text.error or bad_structure:
                raise structure_problem()
            yield pa.record_batch([batch.column(n) for n in names], names=names)
        if text.error or bad_structure:
            raise structure_problem()

    return Source(batches(), size, lambda: counting.bytes, lambda: counting.sha256.hexdigest())


def _arrow_text(column: Column, values: pa.Array) -> tuple[pa.Array, list[str]]:
    """A typed Parquet column as text the validator understands, and formats to accept."""
    kind = values.type
    if pa.types.is_date(kind):
        return pc.strftime(values, "%Y-%m-%d"), ["%Y-%m-%d"]
    if pa.types.is_timestamp(kind):
        return pc.strftime(values, "%Y-%m-%d %H:%M:%S"), ["%Y-%m-%d %H:%M:%S"]
    if pa.types.is_boolean(kind):
        return pc.if_else(values, "true", "false"), []
    if pa.types.is_dictionary(kind):
        values = values.dictionary_decode()
    return pc.cast(values, pa.string()), []


PARQUET_DAMAGED = "the file could not be read as Parquet (it is damaged or not Parquet)"


def _parquet_source(contract: Contract, handle: BinaryIO) -> Source:
    sha = _sha256_of(handle)
    try:
        parquet = pq.ParquetFile(handle)
        metadata = parquet.metadata
    except Exception as error:  # noqa: BLE001  (any failure to read a footer is a bad file)
        log.info("parquet footer unreadable: %s", type(error).__name__)
        raise FileProblem(PARQUET_DAMAGED) from None
    limits = contract.limits
    if metadata.num_columns > limits.max_columns:
        raise FileProblem(_too_many_columns(contract, metadata.num_columns))
    if metadata.num_rows > limits.max_rows:
        raise FileProblem(
            f"the file has {metadata.num_rows:,} rows, more than the contract's limit of "
            f"{limits.max_rows:,} (limits.max_rows)"
        )
    try:
        schema = parquet.schema_arrow
    except Exception as error:  # noqa: BLE001
        log.info("parquet schema unreadable: %s", type(error).__name__)
        raise FileProblem(PARQUET_DAMAGED) from None
    _check_header(contract, schema.names)
    names = [c.name for c in contract.columns]
    total = metadata.num_rows
    done = [0]
    extra: dict[str, list[str]] = {}
    for column in contract.columns:
        arrow_type = schema.field(column.name).type
        if pa.types.is_date(arrow_type):
            extra[column.name] = ["%Y-%m-%d"]
        elif pa.types.is_timestamp(arrow_type):
            extra[column.name] = ["%Y-%m-%d %H:%M:%S"]
        elif pa.types.is_nested(arrow_type) or pa.types.is_binary(arrow_type):
            raise FileProblem(
                f"column {column.name!r} is of Parquet type {arrow_type}, which is not text, "
                "a number, a date or true/false"
            )

    def batches() -> Iterator[pa.RecordBatch]:
        rows = parquet.iter_batches(batch_size=ROWS_PER_BATCH, columns=names)
        while True:
            try:
                batch = next(rows, None)
                if batch is None:
                    return
                arrays = [_arrow_text(contract.column(n), batch.column(n))[0] for n in names]
            except Exception as error:  # noqa: BLE001  (damaged pages, bad encodings, ...)
                log.info("parquet data unreadable: %s", type(error).__name__)
                where = f" after row {done[0]:,}" if done[0] else ""
                raise FileProblem(f"{PARQUET_DAMAGED}: reading stopped{where}") from None
            for name, array in zip(names, arrays, strict=True):
                try:
                    array.validate(full=True)  # Parquet's text is not checked as it is read
                except pa.ArrowInvalid:
                    raise FileProblem(
                        f"column {name!r} holds text that is not UTF-8 (rows "
                        f"{done[0] + 1:,} to {done[0] + batch.num_rows:,})"
                    ) from None
            done[0] += batch.num_rows
            yield pa.record_batch(arrays, names=names)

    return Source(batches(), total, lambda: done[0], lambda: sha, extra)


def _cell_text(value: Any, column: Column, contract: Contract) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        if column.type in (ColumnType.date, ColumnType.datetime):
            fmt = contract.formats_for(column)[0]
            return value.strftime(fmt)
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xlsx_size_check(contract: Contract, handle: BinaryIO) -> None:
    """Refuse a zip bomb before openpyxl opens it: the central directory's uncompressed
    sizes, summed, against the contract's limit (zipfile stops any member at its declared
    size, so the sum bounds what parsing can inflate)."""
    limit = contract.limits.max_xlsx_uncompressed_bytes
    try:
        with zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise FileProblem(
            "the file could not be read as an XLSX workbook (it is not a zip archive)"
        ) from None
    finally:
        handle.seek(0)
    total = sum(member.file_size for member in members)
    if total > limit:
        raise FileProblem(
            f"the workbook decompresses to {total:,} bytes, more than the contract's limit of "
            f"{limit:,} (limits.max_xlsx_uncompressed_bytes)"
        )


def _present_rows(sheet, width: list[int]) -> Iterator[tuple]:
    """The rows a read-only worksheet holds, as values, each cut to `width[0]` cells.

    openpyxl's own iter_rows() fills the gaps a file declares: one row at r="50000000" is
    fifty million empty rows, and a cell in column XFD pads every row to 16,384 cells. Empty
    rows are skipped anyway, so this walks the sheet's XML parser directly (the parser that
    iter_rows uses) and yields only rows that are there."""
    from openpyxl.worksheet._reader import WorkSheetParser

    book = sheet.parent
    with sheet._get_source() as src:
        parser = WorkSheetParser(
            src,
            sheet._shared_strings,
            data_only=book.data_only,
            epoch=book.epoch,
            date_formats=book._date_formats,
            timedelta_formats=book._timedelta_formats,
        )
        for _, cells in parser.parse():
            last = max((cell["column"] for cell in cells), default=0)
            row = [None] * min(width[0], last)
            for cell in cells:
                if cell["column"] <= len(row):
                    row[cell["column"] - 1] = cell["value"]
            yield tuple(row)


def _xlsx_source(contract: Contract, handle: BinaryIO) -> Source:
    import openpyxl

    sha = _sha256_of(handle)
    _xlsx_size_check(contract, handle)
    limits = contract.limits
    try:
        book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        if contract.sheet and contract.sheet not in book.sheetnames:
            raise FileProblem(f"the workbook has no sheet {contract.sheet!r}")
        sheet = book[contract.sheet] if contract.sheet else book.worksheets[0]
        total = max(0, min(sheet.max_row or 1, limits.max_rows + 1) - 1)
        width = [limits.max_columns + 1]
        rows = _present_rows(sheet, width)
        header = [None if h is None else str(h).strip() for h in next(rows, ())]
    except FileProblem:
        raise
    except Exception as error:  # noqa: BLE001  (openpyxl raises many kinds on a bad file)
        log.info("xlsx unreadable: %s", type(error).__name__)
        raise FileProblem("the file could not be read as an XLSX workbook") from None
    while header and header[-1] is None:
        header.pop()
    _check_header(contract, [h or "" for h in header])
    positions = [header.index(c.name) for c in contract.columns]
    width[0] = len(header)
    done = [0]

    def batches() -> Iterator[pa.RecordBatch]:
        buffer: list[tuple] = []
        scanned = [1]  # sheet rows looked at, the header and empty rows included

        def flush() -> pa.RecordBatch:
            arrays = []
            for column, position in zip(contract.columns, positions, strict=True):
                arrays.append(
                    pa.array(
                        [
                            _cell_text(r[position] if position < len(r) else None, column, contract)
                            for r in buffer
                        ],
                        pa.string(),
                    )
                )
            done[0] += len(buffer)
            buffer.clear()
            return pa.record_batch(arrays, names=[c.name for c in contract.columns])

        try:
            while True:
                try:
                    row = next(rows, None)
                    if row is None:
                        break
                    scanned[0] += 1
                    if scanned[0] > limits.max_rows + 1:
                        raise FileProblem(
                            f"the sheet has more than {limits.max_rows:,} rows, the contract's "
                            "limit (limits.max_rows)"
                        )
                    if all(v is None for v in row):
                        continue
                    buffer.append(row)
                    if len(buffer) >= ROWS_PER_BATCH:
                        batch = flush()
                    else:
                        continue
                except FileProblem:
                    raise
                except Exception as error:  # noqa: BLE001
                    log.info("xlsx unreadable: %s", type(error).__name__)
                    raise FileProblem(
                        f"the workbook could not be read beyond sheet row {scanned[0]:,}"
                    ) from None
                yield batch
            if buffer:
                yield flush()
        finally:
            book.close()

    return Source(batches(), total, lambda: done[0], lambda: sha)


def open_source(contract: Contract, handle: BinaryIO, file_format: FileFormat, size: int) -> Source:
    if file_format == FileFormat.csv:
        return _csv_source(contract, handle, size)
    if file_format == FileFormat.parquet:
        return _parquet_source(contract, handle)
    return _xlsx_source(contract, handle)


def guess_format(file_name: str, contract: Contract) -> FileFormat:
    suffix = Path(file_name).suffix.lower().lstrip(".")
    return FileFormat(suffix) if suffix in {f.value for f in FileFormat} else contract.format
