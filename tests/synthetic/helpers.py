from __future__ import annotations

import math
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

POSTCODE_RE = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][ABD-HJLNP-UW-Z]{2}$")


def read_dataset(out: Path, entry: dict) -> pa.Table:
    path = out / entry["file"]
    if entry["format"] == "parquet":
        return pq.read_table(path)
    # read every column as text, as a partner's file would be read
    convert = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in entry["columns"]}, strings_can_be_null=True
    )
    return pacsv.read_csv(path, convert_options=convert)


def within(applied: int, eligible: int, rate: float, sigmas: float = 3.5) -> bool:
    if eligible == 0:
        return applied == 0
    se = math.sqrt(max(rate * (1 - rate), 1e-12) / eligible)
    return abs(applied / eligible - rate) <= sigmas * se + 1.0 / eligible
