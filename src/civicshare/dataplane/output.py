"""A delivered table as the file its recipient asked for: CSV or Parquet. CSV goes through the
formula-safe writer (text cells starting = + - @ tab or CR are prefixed with ')."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from civicshare import csvsafe


def table_bytes(table: pa.Table, output_format: str) -> bytes:
    if output_format == "csv":
        return csvsafe.table_bytes(table)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def write_table(table: pa.Table, output_format: str, out: Path) -> None:
    if output_format == "parquet":
        pq.write_table(table, out)
    else:
        csvsafe.write_table(table, out)
