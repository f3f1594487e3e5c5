"""A delivered table as the file its recipient asked for: CSV or Parquet. CSV goes through the
formula-safe writer (text cells starting = + - @ tab or CR are prefixed with ')."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from civicshare import csvsafe

FILE_FORMATS = ("csv", "parquet")


class _Hashed:
    """A write-only binary file passing everything on to `target` and hashing it on the way,
    so the digest is of exactly the bytes written, hashed while they are still in cache."""

    closed = False

    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.digest = hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.target.write(data)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self.target.flush()

    def close(self) -> None:  # the target is the caller's to close
        self.closed = True


def write_hashed(table: pa.Table, output_format: str, target: BinaryIO) -> str:
    """Write the table to `target` as CSV or Parquet; the SHA-256 (hex) of the bytes written."""
    sink = _Hashed(target)
    if output_format == "csv":
        csvsafe.write_table(table, sink)
    else:
        pq.write_table(table, sink)
    return sink.digest.hexdigest()
