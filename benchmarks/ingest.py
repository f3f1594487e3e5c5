"""Ingest benchmark: rows per second with validation, tokenisation and encryption.

Generates a synthetic CSV shaped like a hospital admissions extract (record id, NHS number,
surname, forename, date of birth, postcode, UPRN, an integer, a decimal, a boolean, a
datetime, a health field; six identifier columns) in a temporary directory, pushes it through
`datasets.service.push` into a scratch SQLite store, and as the baseline reads the same CSV
with pyarrow and writes it to Parquet (zstd) with no validation, in the same process.
The two run in turn `--repeat` times (each ingest into a new store); ratio = the median
ingest time / the median baseline time (wall clock), `ratios` each turn's; cpu_ratio the same
for the CPU time of the process's threads. The last line is one JSON object.

    .venv/bin/python benchmarks/ingest.py               # 50,000 rows
    .venv/bin/python benchmarks/ingest.py --size 1000000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from civicshare import db
from civicshare.config import Settings
from civicshare.datasets import service
from civicshare.partners import service as partners
from civicshare.synthetic.common import nhs_check_digit

CONTRACT = {
    "partner": "bench-trust",
    "name": "admissions",
    "title": "Benchmark admissions",
    "date_formats": ["%Y%m%d"],
    "datetime_formats": ["%Y-%m-%d %H:%M"],
    "bad_rows": "quarantine",
    "quarantine_limit": 0.2,
    "columns": [
        {"name": "SPELL_ID", "required": True},
        {"name": "NHS_NO", "identifier": "nhs_number"},
        {"name": "SURNAME", "identifier": "family_name", "required": True},
        {"name": "FORENAME", "identifier": "given_name"},
        {"name": "DOB", "type": "date", "identifier": "date_of_birth", "required": True},
        {"name": "POSTCODE", "identifier": "postcode"},
        {"name": "UPRN", "identifier": "uprn"},
        {"name": "LOS_DAYS", "type": "integer"},
        {"name": "COST", "type": "decimal"},
        {"name": "READMIT", "type": "boolean"},
        {"name": "ADMIT_DT", "type": "datetime", "required": True},
        {"name": "SPECIALTY", "special_category": True, "special_category_kind": "health"},
    ],
}
SURNAMES = ["SMITH", "JONES", "TAYLOR", "BROWN", "WILLIAMS", "WILSON", "JOHNSON", "DAVIES"]
FORENAMES = ["JOHN", "MARGARET", "DAVID", "SUSAN", "PETER", "LINDA", "JAMES", "MARY"]


def make_csv(path: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    first9 = rng.integers(900_000_000, 999_999_999, rows)
    check = nhs_check_digit(first9)
    check[check == 10] = 0  # about 1 in 11 invalid: the 'wrong NHS number' mess
    nhs = np.char.add(first9.astype(str), check.astype(str))
    nhs[rng.random(rows) < 0.03] = ""
    dob = (np.datetime64("1930-01-01") + rng.integers(0, 30_000, rows)).astype("datetime64[D]")
    admit = np.datetime64("2025-01-01T00:00") + rng.integers(0, 500_000, rows).astype(
        "timedelta64[m]"
    )
    table = pa.table(
        {
            "SPELL_ID": [f"SP{i:09d}" for i in range(rows)],
            "NHS_NO": nhs,
            "SURNAME": np.array(SURNAMES)[rng.integers(0, 8, rows)],
            "FORENAME": np.array(FORENAMES)[rng.integers(0, 8, rows)],
            "DOB": np.char.replace(dob.astype(str), "-", ""),
            "POSTCODE": np.char.add(
                np.char.add("WR", rng.integers(1, 15, rows).astype(str)),
                np.char.add(" 1", np.array(["AB", "PS", "YD", "HN"])[rng.integers(0, 4, rows)]),
            ),
            "UPRN": (100_120_000_000 + rng.integers(0, 900_000, rows)).astype(str),
            "LOS_DAYS": rng.integers(0, 40, rows).astype(str),
            "COST": np.round(rng.random(rows) * 1000, 2).astype(str),
            "READMIT": np.array(["Y", "N"])[rng.integers(0, 2, rows)],
            "ADMIT_DT": np.char.replace(admit.astype(str), "T", " "),
            "SPECIALTY": np.array(["100", "110", "300", "430"])[rng.integers(0, 4, rows)],
        }
    )
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="all_valid"))


def baseline(csv_path: Path, out: Path) -> tuple[float, float]:
    """(wall, CPU) seconds to read the CSV with pyarrow's threads and write zstd Parquet."""
    start, cpu = time.perf_counter(), time.process_time()
    reader = pacsv.open_csv(csv_path)
    writer = None
    for batch in reader:
        writer = writer or pq.ParquetWriter(out, batch.schema, compression="zstd")
        writer.write_batch(batch)
    writer.close()
    return time.perf_counter() - start, time.process_time() - cpu


def ingest(tmp: Path, csv_path: Path):
    """(result, wall, CPU) of one push of the CSV into a new store under `tmp`."""
    settings = Settings(data_dir=tmp / "data", database_url=f"sqlite:///{tmp / 'b.db'}")
    settings.ensure_dirs()
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    with db.session_scope(sessions) as session:
        partners.upsert(session, [{"key": "bench-trust", "name": "Bench", "type": "other"}])
        service.register_contract(session, CONTRACT)
    start, cpu = time.perf_counter(), time.process_time()
    with db.session_scope(sessions) as session:
        result = service.push(session, settings, "bench-trust", "admissions", csv_path)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    engine.dispose()
    return result, seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=50_000, help="rows in the CSV")
    parser.add_argument(
        "--repeat", type=int, default=3, help="ingest and baseline runs, in turn (medians kept)"
    )
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv_path = tmp / "admissions.csv"
        make_csv(csv_path, args.size)
        size_mib = csv_path.stat().st_size / (1 << 20)
        for number in range(args.repeat):
            run = tmp / f"run{number}"
            run.mkdir()
            result, ingest_seconds, ingest_cpu = ingest(run, csv_path)
            base_seconds, base_cpu = baseline(csv_path, run / "baseline.parquet")
            runs.append((ingest_seconds, ingest_cpu, base_seconds, base_cpu))
            shutil.rmtree(run)
    ingest_seconds, ingest_cpu, base_seconds, base_cpu = (
        statistics.median(run[k] for run in runs) for k in range(4)
    )
    report = result.report
    figures = {
        "rows": args.size,
        "csv_mib": round(size_mib, 1),
        "outcome": result.outcome,
        "rows_accepted": report["rows_accepted"],
        "rows_quarantined": report["rows_quarantined"],
        "repeat": args.repeat,
        "ingest_seconds": round(ingest_seconds, 2),
        "ingest_rows_per_second": round(args.size / ingest_seconds),
        "baseline_seconds": round(base_seconds, 2),
        "baseline_rows_per_second": round(args.size / base_seconds),
        "ratio": round(ingest_seconds / base_seconds, 2),
        "ratios": [round(run[0] / run[2], 2) for run in runs],
        # CPU of all the process's threads: on a machine shared with other work, the wall
        # clock ratio moves with the load; this one much less.
        "ingest_cpu_seconds": round(ingest_cpu, 2),
        "baseline_cpu_seconds": round(base_cpu, 2),
        "cpu_ratio": round(ingest_cpu / base_cpu, 2),
    }
    print(
        f"ingest   {ingest_seconds:8.2f} s  {figures['ingest_rows_per_second']:>10,} rows/s  "
        f"(validate, tokenise 6 identifier columns, encrypt, quarantine; median of {args.repeat})"
    )
    print(
        f"baseline {base_seconds:8.2f} s  {figures['baseline_rows_per_second']:>10,} rows/s  "
        "(pyarrow CSV -> Parquet, no checks)"
    )
    print(f"ratio    {figures['ratio']} x  (CPU: {figures['cpu_ratio']} x)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
