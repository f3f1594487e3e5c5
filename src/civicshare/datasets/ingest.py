"""Streaming a partner's file through validation, tokenisation and encryption into a staged
snapshot directory. Nothing here touches the governance store: `service.push` does that.

The staged directory lives in `data_dir/snapshots/.tmp/` (same file system as the snapshots,
so the final rename is atomic). It holds only pseudonymised, encrypted or non-identifying
values; a crash leaves it behind for `sweep_staging` to remove.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import os
import shutil
import socket
import struct
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from civicshare.config import Settings
from civicshare.datasets.contracts import Column, ColumnType, Contract, FileFormat, IdentifierKind
from civicshare.datasets.validation import Problem, duplicate_records, validate_batch
from civicshare.identity import service as identity
from civicshare.private import private_dir, tighten_tree

MAX_PROBLEMS_KEPT = 1000
CSV_BLOCK_BYTES = 4 << 20
ROWS_PER_BATCH = 50_000
PAUSE_ENV = "CIVICSHARE_TEST_INGEST_PAUSE"  # seconds to sleep after each batch (crash tests)
QUARANTINE_STREAM = 1 << 16

HEADER_PROBE_BYTES = 1 << 20  # the CSV header line must end within this many bytes
TEXT_CHUNK_BYTES = 1 << 20

Progress = Callable[[int, int, int], None]  # rows done, units done, units total
log = logging.getLogger(__name__)


class FileProblem(Exception):
    """The file as a whole cannot be taken (wrong columns, not CSV, ...). No values inside."""


# -- where things live --------------------------------------------------------------------


def snapshots_root(settings: Settings) -> Path:
    return settings.data_dir / "snapshots"


def staging_root(settings: Settings) -> Path:
    return snapshots_root(settings) / ".tmp"


def new_staging_dir(settings: Settings) -> Path:
    root = private_dir(staging_root(settings))
    path = root / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir(mode=0o700)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_staging(settings: Settings) -> int:
    """Remove staging left by ingests that died (this host, process gone). Returns how many."""
    root = staging_root(settings)
    if not root.is_dir():
        return 0
    host = socket.gethostname()
    removed = 0
    for path in root.iterdir():
        parts = path.name.rsplit("-", 2)
        orphan = path.name.startswith("orphan-")
        dead = (
            len(parts) == 3
            and parts[0] == host
            and parts[1].isdigit()
            and not _alive(int(parts[1]))
        )
        if orphan or dead:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def fsync_tree(path: Path) -> None:
    for item in [*path.rglob("*"), path]:
        flags = os.O_RDONLY
        fd = os.open(item, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- an encrypted spool for uploads --------------------------------------------------------


class EncryptedSpool(io.RawIOBase):
    """A temporary file whose bytes on disk are AES-256-CTR under a key held only in memory.

    Uploads are written here before validation so no plaintext identifier touches the disk;
    after a crash the file is unreadable noise and is swept with the staging directory.
    Readable and seekable (CTR allows random access), so Parquet and XLSX work from it too."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._key = os.urandom(32)
        self._nonce = os.urandom(16)
        self._file = open(path, "w+b")  # noqa: SIM115
        os.chmod(path, 0o600)
        self._size = 0
        self._pos = 0

    def _cipher(self, offset: int):
        block, skip = divmod(offset, 16)
        counter = (int.from_bytes(self._nonce, "big") + block) % (1 << 128)
        ctx = Cipher(algorithms.AES(self._key), modes.CTR(counter.to_bytes(16, "big"))).encryptor()
        if skip:
            ctx.update(b"\x00" * skip)
        return ctx

    def append(self, chunk: bytes) -> None:
        self._file.seek(self._size)
        self._file.write(self._cipher(self._size).update(chunk))
        self._size += len(chunk)

    def finish(self) -> None:
        self._file.flush()
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        n = min(len(buffer), max(0, self._size - self._pos))
        if n == 0:
            return 0
        self._file.seek(self._pos)
        data = self._cipher(self._pos).update(self._file.read(n))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def size(self) -> int:
        return self._size

    def close(self) -> None:
        if not self.closed:
            self._file.close()
            self.path.unlink(missing_ok=True)
        super().close()


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


# -- how columns are stored ----------------------------------------------------------------

GENERALISED = {
    IdentifierKind.date_of_birth: ("year", pa.int16()),
    IdentifierKind.postcode: ("sector", pa.string()),
}


def storage_plan(contract: Contract) -> dict[str, dict[str, Any]]:
    """For each contract column, the stored columns (see docs/datasets.md)."""
    plan: dict[str, dict[str, Any]] = {}
    for index, column in enumerate(contract.columns):
        entry: dict[str, Any] = {
            "type": column.type.value,
            "identifier": column.identifier.value,
            "special_category": column.special_category,
            "special_category_kind": column.special_category_kind,
            "criminal_offence": column.criminal_offence,
        }
        if column.is_identifier:
            entry["stored_as"] = "pseudonymised"
            entry["token"] = f"{column.name}__token"
            entry["encrypted"] = f"{column.name}__enc"
            entry["sealed"] = sealed_path(index)
            if column.identifier in GENERALISED:
                label, _ = GENERALISED[column.identifier]
                entry["generalised"] = {label: f"{column.name}__{label}"}
        else:
            entry["stored_as"] = "plain"
            entry["plain"] = column.name
        plan[column.name] = entry
    return plan


def sealed_path(stream: int) -> str:
    """Where a snapshot keeps an identifier column sealed (identity.service.SealedWriter)."""
    return f"sealed/{stream}.bin"


ARROW_TYPES = {
    ColumnType.string: pa.string(),
    ColumnType.integer: pa.int64(),
    ColumnType.decimal: pa.float64(),
    ColumnType.boolean: pa.bool_(),
    ColumnType.date: pa.date32(),
    ColumnType.datetime: pa.timestamp("s"),
}


def data_schema(contract: Contract) -> pa.Schema:
    fields = [pa.field("_row", pa.int64(), nullable=False)]
    for column in contract.columns:
        if column.is_identifier:
            fields.append(pa.field(f"{column.name}__token", pa.string()))
            fields.append(pa.field(f"{column.name}__enc", pa.binary()))
            if column.identifier in GENERALISED:
                label, kind = GENERALISED[column.identifier]
                fields.append(pa.field(f"{column.name}__{label}", kind))
        else:
            fields.append(pa.field(column.name, ARROW_TYPES[column.type]))
    return pa.schema(fields)


def quarantine_schema(contract: Contract) -> pa.Schema:
    fields = [pa.field("_row", pa.int64(), nullable=False)]
    fields += [pa.field(f"{c.name}__enc", pa.binary()) for c in contract.columns]
    return pa.schema(fields)


def _generalise(kind: IdentifierKind, typed: pa.Array, norm: pa.Array) -> pa.Array:
    if kind == IdentifierKind.date_of_birth:
        return pc.cast(pc.year(typed), pa.int16())
    # postcode sector: outward code, space, sector digit ("WR5 1")
    return pc.utf8_slice_codeunits(norm, 0, -2)


# -- staging a snapshot --------------------------------------------------------------------


@dataclass
class Staged:
    directory: Path
    outcome: str  # accepted | rejected
    report: dict[str, Any]
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    sha256: str
    storage: dict[str, dict[str, Any]]
    wrapped_data_key: str = ""
    key_version: int = 0


_TOKENS_SQL = (
    "SELECT sha256($outer::BLOB || unhex(sha256($inner::BLOB || encode(value)))) AS token "
    "FROM batch_values ORDER BY position"
)


def _tokens(connection, key: bytes, values: pa.Array) -> pa.Array:
    """Base tokens, HMAC-SHA256(key, value) in hex, null for null: the construction of
    `identity.service.base_tokens` (a test holds the two to each other), computed by DuckDB's
    sha256() over whole batches instead of one Python call per value. HMAC is
    H((K xor opad) || H((K xor ipad) || m)); the padded keys are bound parameters."""
    block = key.ljust(64, b"\0")
    inner, outer = bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)
    batch_values = pa.table({"position": np.arange(len(values)), "value": values})
    connection.register("batch_values", batch_values)
    try:
        table = connection.sql(
            _TOKENS_SQL, params={"inner": inner, "outer": outer}
        ).to_arrow_table()
    finally:
        connection.unregister("batch_values")
    return table.column("token").combine_chunks()


def _encrypt_batch(data_key, ref, names, arrays, rows, stream_base):
    out = []
    for index, (name, values) in enumerate(zip(names, arrays, strict=True)):
        aad = identity.column_aad(ref, name)
        out.append(_encrypt_rows(data_key, values, aad, stream_base + index, rows))
    return out


def _encrypt_rows(data_key, values: pa.Array, aad: bytes, stream: int, rows: np.ndarray):
    """Encrypt with nonces (stream, file row) so every nonce under this data key is unique."""
    encrypt = AESGCM(data_key).encrypt
    pack = struct.Struct(">IQ").pack
    out = []
    for row, value in zip(rows.tolist(), values.to_pylist(), strict=True):
        if value is None:
            out.append(None)
        else:
            nonce = pack(stream, row)
            out.append(nonce + encrypt(nonce, value.encode(), aad))
    return pa.array(out, pa.binary())


def stage(
    settings: Settings,
    contract: Contract,
    handle: BinaryIO,
    *,
    file_name: str,
    file_format: FileFormat,
    size: int,
    snapshot_ref: str,
    progress: Progress | None = None,
) -> Staged:
    """Validate, pseudonymise and encrypt `handle` into a new staging directory.

    The staged snapshot is complete and fsynced when this returns with outcome accepted;
    on rejection, or when anything fails part way, the directory has been removed already."""
    directory = new_staging_dir(settings)
    try:
        staged = _stage(
            settings,
            contract,
            handle,
            directory,
            file_name=file_name,
            file_format=file_format,
            size=size,
            snapshot_ref=snapshot_ref,
            progress=progress,
        )
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    if staged.outcome != "accepted":
        shutil.rmtree(directory, ignore_errors=True)
    return staged


def _too_long(contract: Contract, batch: pa.RecordBatch, first_row: int) -> str | None:
    """The first field over limits.max_field_bytes, named by row and column (no value)."""
    limit = contract.limits.max_field_bytes
    for name in batch.schema.names:
        lengths = pc.binary_length(batch.column(name))
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > limit:
            index = int(np.argmax(_fill(lengths) > limit))
            return (
                f"row {first_row + index:,}, column {name!r}: the field is "
                f"{lengths[index].as_py():,} bytes, more than the contract's limit of "
                f"{limit:,} (limits.max_field_bytes)"
            )
    return None


def _fill(lengths: pa.Array) -> np.ndarray:
    return lengths.fill_null(0).to_numpy(zero_copy_only=False)


def _stage(
    settings: Settings,
    contract: Contract,
    handle: BinaryIO,
    directory: Path,
    *,
    file_name: str,
    file_format: FileFormat,
    size: int,
    snapshot_ref: str,
    progress: Progress | None = None,
) -> Staged:
    keys = identity.keystore(settings)
    key_version = keys.current_pseudonymisation_version()
    pseudonymisation_key = keys.pseudonymisation_key(key_version)
    data_key, wrapped = identity.new_data_key(settings)
    schema = data_schema(contract)
    qschema = quarantine_schema(contract)
    plan = storage_plan(contract)
    pause = float(os.environ.get(PAUSE_ENV, "0") or 0)

    rows_read = accepted = quarantined = invalid = duplicates = 0
    seen_ids: dict[str, int] = {}
    kept: list[dict] = []
    counts: Counter[tuple[str, str]] = Counter()
    file_problems: list[str] = []
    sha = ""
    writer = pq.ParquetWriter(directory / "data.parquet", schema, compression="zstd")
    qwriter: pq.ParquetWriter | None = None
    sealed: dict[str, identity.SealedWriter] = {}
    tokens = duckdb.connect()
    for stream, column in enumerate(contract.columns):
        if column.is_identifier:
            (directory / sealed_path(stream)).parent.mkdir(mode=0o700, exist_ok=True)
            sealed[column.name] = identity.SealedWriter(
                directory / sealed_path(stream), data_key, snapshot_ref, column.name, stream
            )
    try:
        source = open_source(contract, handle, file_format, size)
        for batch in source.batches:
            first = rows_read + 1
            n = batch.num_rows
            if rows_read + n > contract.limits.max_rows:
                raise FileProblem(
                    f"the file has more than {contract.limits.max_rows:,} rows, the contract's "
                    "limit (limits.max_rows)"
                )
            too_long = _too_long(contract, batch, first)
            if too_long:
                raise FileProblem(too_long)
            checked = validate_batch(contract, batch, first, source.extra_formats)
            invalid += int(checked.bad.sum())
            if contract.record_id:
                repeated, repeats = duplicate_records(contract, batch, first, seen_ids, checked.bad)
                duplicates += int(repeated.sum())
                checked.bad |= repeated
                checked.problems = sorted(checked.problems + repeats, key=lambda p: p.row)
            for problem in checked.problems:
                counts[(problem.column, problem.code)] += 1
                if len(kept) < MAX_PROBLEMS_KEPT:
                    kept.append(problem.as_dict())
            rows = np.arange(first, first + n, dtype=np.int64)
            good = ~checked.bad
            if checked.bad.any():
                qwriter = qwriter or pq.ParquetWriter(
                    directory / "quarantine.parquet", qschema, compression="zstd"
                )
                bad_index = pa.array(np.nonzero(checked.bad)[0])
                bad_rows = rows[checked.bad]
                arrays = [pa.array(bad_rows, pa.int64())]
                arrays += _encrypt_batch(
                    data_key,
                    snapshot_ref,
                    [f"quarantine/{c.name}" for c in contract.columns],
                    [
                        pc.cast(batch.column(c.name), pa.string()).take(bad_index)
                        for c in contract.columns
                    ],
                    bad_rows,
                    QUARANTINE_STREAM,
                )
                qwriter.write_batch(pa.record_batch(arrays, schema=qschema))
                quarantined += len(bad_rows)
            if good.any():
                index = pa.array(np.nonzero(good)[0])
                good_rows = rows[good]
                arrays = [pa.array(good_rows, pa.int64())]
                for stream, column in enumerate(contract.columns):
                    typed = checked.typed[column.name].take(index)
                    if not column.is_identifier:
                        arrays.append(pc.cast(typed, ARROW_TYPES[column.type]))
                        continue
                    norm = checked.normalised[column.name].take(index)
                    arrays.append(_tokens(tokens, pseudonymisation_key, norm))
                    arrays.append(
                        _encrypt_rows(
                            data_key,
                            norm,
                            identity.column_aad(snapshot_ref, column.name),
                            stream,
                            good_rows,
                        )
                    )
                    if column.identifier in GENERALISED:
                        arrays.append(_generalise(column.identifier, typed, norm))
                    sealed[column.name].write(norm, good_rows)
                writer.write_batch(pa.record_batch(arrays, schema=schema))
                accepted += len(good_rows)
            rows_read += n
            if progress:
                progress(rows_read, source.done_units(), source.total_units)
            if pause:
                time.sleep(pause)
        sha = source.sha256()
    except FileProblem as problem:
        file_problems.append(str(problem))
    finally:
        writer.close()
        if qwriter is not None:
            qwriter.close()
        for sealed_writer in sealed.values():
            sealed_writer.close()
        tokens.close()

    bad_rows = quarantined
    outcome = "accepted"
    reasons: list[str] = list(file_problems)
    if not file_problems:
        if invalid and contract.bad_rows.value == "reject":
            reasons.append(
                f"{invalid:,} of {rows_read:,} rows have problems and the contract says bad "
                "rows reject the file"
            )
        if duplicates and contract.duplicate_records.value == "reject":
            reasons.append(
                f"{duplicates:,} of {rows_read:,} rows repeat a {contract.record_id!r} of an "
                "earlier row and the contract says duplicate records reject the file"
            )
        if reasons:
            pass  # the policy has spoken; the quarantine limit no longer matters
        elif bad_rows and rows_read and bad_rows / rows_read > contract.quarantine_limit:
            reasons.append(
                f"{bad_rows:,} of {rows_read:,} rows have problems, more than the contract's "
                f"quarantine limit of {contract.quarantine_limit:.0%}"
            )
        elif accepted == 0:
            reasons.append("the file has no rows that could be accepted")
    if reasons:
        outcome = "rejected"
    report = {
        "outcome": outcome,
        "reasons": reasons,
        "file_name": file_name,
        "file_format": file_format.value,
        "file_sha256": sha,
        "policy": contract.bad_rows.value,
        "duplicate_policy": contract.duplicate_records.value,
        "rows_duplicated": duplicates,
        "rows_read": rows_read,
        "rows_accepted": accepted if outcome == "accepted" else 0,
        "rows_quarantined": quarantined if outcome == "accepted" else 0,
        "rows_with_problems": bad_rows,
        "problem_count": sum(counts.values()),
        "problems_shown": len(kept),
        "problem_counts": [
            {"column": column, "code": code, "count": count}
            for (column, code), count in sorted(counts.items(), key=lambda kv: -kv[1])
        ],
        "problems": kept,
        "pseudonymisation_key_version": key_version,
    }
    if outcome == "rejected":
        return Staged(directory, outcome, report, rows_read, 0, 0, sha, plan)

    manifest = {
        "snapshot": snapshot_ref,
        "contract": contract.model_dump(mode="json"),
        "storage": plan,
        "rows": accepted,
        "quarantined": quarantined,
        "file_sha256": sha,
        "pseudonymisation_key_version": key_version,
        "wrapped_data_key": wrapped,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    # Written inside a 0700 staging directory, so never readable by others; 0600 before the
    # snapshot is moved into place.
    tighten_tree(directory)
    fsync_tree(directory)
    return Staged(
        directory,
        outcome,
        report,
        rows_read,
        accepted,
        quarantined,
        sha,
        plan,
        wrapped,
        key_version,
    )


def problem_lines(report: dict[str, Any], limit: int = 20) -> list[str]:
    lines = []
    for p in report.get("problems", [])[:limit]:
        shown = f" (value {p['value']!r})" if p.get("value") is not None else ""
        lines.append(f"row {p['row']}, column {p['column']!r}: {p['message']}{shown}")
    return lines


__all__ = ["Problem", "stage", "sweep_staging", "EncryptedSpool", "FileProblem"]
