"""A delivered table as the file its recipient asked for: CSV or Parquet. CSV goes through the
formula-safe writer (text cells starting = + - @ tab or CR are prefixed with ')."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from civicshare import csvsafe

FILE_FORMATS = ("csv", "parquet")


class HashingWriter:
    """A write-only binary file that hashes everything written to it, so the digest is of
    exactly the bytes written, and passes it on to `target` (kept nowhere without one)."""

    closed = False

    def __init__(self, target: BinaryIO | None = None) -> None:
        self.target = target
        self.digest = hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.target.write(data) if self.target is not None else len(data)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        if self.target is not None:
            self.target.flush()

    def close(self) -> None:  # the target is the caller's to close
        self.closed = True


def write_hashed(table: pa.Table, output_format: str, target: BinaryIO) -> str:
    """Write the table to `target` as CSV or Parquet; the SHA-256 (hex) of the bytes written."""
    sink = HashingWriter(target)
    if output_format == "csv":
        csvsafe.write_table(table, sink)
    else:
        pq.write_table(table, sink)
    return sink.digest.hexdigest()
