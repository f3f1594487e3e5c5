"""Snapshots on object storage: ingest and the data plane's extract with the snapshot on an S3
server, against the same on the data directory (the floor), side by side in one process.

Two scratch gateways (SQLite stores in a temporary directory) with the acute trust's admissions
contract: one keeps its snapshots in `data_dir`, the other on moto's S3 server started here on a
free port (HTTP on the loopback: the round trips of a real store, without its network or disks).
Times:

  ingest     datasets.push of the same synthetic admissions CSV (benchmarks/extract.py makes
             it; staged on disk either way, object storage adds the upload and the manifest),
             pushed twice: `first_ingest` also starts the object storage clients, `ingest` is
             the second push (a new version replacing the first)
  minimised  the data plane's part of share() for a minimised grant (pseudonymised NHS number,
             generalised postcode and birth year, plain clinical columns): snapshot_view,
             compile, DuckDB over the snapshot's Parquet joined to the agreement's derived
             pseudonyms, then Parquet written
  discharge  the same for the discharge grant (identifiable names, NHS number, date of birth
             and postcode, adults only): sealed columns read and decrypted as well

decide() and the audit record are the same whatever the store, so they are left out. Ratio =
object storage / data directory (median of --repeat runs after a first run that derives the
pseudonyms). Last line: JSON, `ratio` for the minimised extract.

    .venv/bin/python benchmarks/object_storage.py                # 20,000 rows
    .venv/bin/python benchmarks/object_storage.py --size 1000000
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import boto3
import pyarrow.parquet as pq
from extract import make_admissions
from moto.server import ThreadedMotoServer

from civicshare import db
from civicshare.agreements.models import Generalisation, Treatment
from civicshare.config import Settings
from civicshare.dataplane import query as compiler
from civicshare.dataplane.grant import ColumnGrant, Grant
from civicshare.datasets import service as datasets
from civicshare.datasets.contracts import example_contracts
from civicshare.partners import service as partners

TODAY = date.today()
KEY = b"benchmark agreement token key..."
CLINICAL = ("ADMIT_DT", "DISCH_DT", "DISCH_PATHWAY", "CFS_SCORE")


def _grant(columns: list[ColumnGrant], **more) -> Grant:
    return Grant("BENCH", 1, "worcs-acute", "worcestershire-cc", "acute-admissions",
                 tuple(columns), **more)  # fmt: skip


GRANTS = {
    "minimised": _grant(
        [
            ColumnGrant("NHS_NO", Treatment.pseudonymised),
            ColumnGrant("POSTCODE", Treatment.generalised, Generalisation.postcode_sector),
            ColumnGrant("DOB", Treatment.generalised, Generalisation.birth_year),
            *(ColumnGrant(c, Treatment.identifiable) for c in CLINICAL),
        ]
    ),  # fmt: skip
    "discharge": _grant(
        [
            ColumnGrant(c, Treatment.identifiable)
            for c in ("NHS_NO", "PAT_SURNAME", "PAT_FORENAME", "DOB", "POSTCODE", *CLINICAL)
        ],
        row_scope={"min_age": 18},
    ),  # fmt: skip
}


def gateway(root: Path, **store) -> Settings:
    settings = Settings(data_dir=root / "data", database_url=f"sqlite:///{root / 'store.db'}",
                        **store)  # fmt: skip
    settings.ensure_dirs()
    return settings


def extract(settings: Settings, snapshot, shape: str, out: Path) -> tuple[float, int]:
    started = time.perf_counter()
    view = compiler.snapshot_view(settings, snapshot)
    compiled = compiler.compile_grant(GRANTS[shape], view, today=TODAY)
    table = compiler.run(compiled, view, agreement_key=KEY,
                         **compiler.snapshot_readers(settings, snapshot))  # fmt: skip
    pq.write_table(table, out)
    return time.perf_counter() - started, table.num_rows


def prepare(settings: Settings, csv: Path) -> tuple[float, float, object]:
    """A migrated store with the acute trust's contract, and the CSV pushed twice: (seconds of
    the first push, of the second, the snapshot). The first push on object storage also pays
    for starting its clients (botocore reads its service models once per process)."""
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    with db.session_scope(sessions) as session:
        partners.upsert(session, [{"key": "worcs-acute", "name": "Acute Trust",
                                   "type": "nhs_trust", "status": "endorsed"}])  # fmt: skip
        contract = next(c for c in example_contracts() if c.name == "acute-admissions")
        datasets.register_contract(session, contract)
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        with db.session_scope(sessions) as session:
            pushed = datasets.push(session, settings, "worcs-acute", "acute-admissions", csv)
        seconds.append(time.perf_counter() - started)
        if pushed.snapshot is None:
            raise SystemExit(f"the benchmark extract was refused: {pushed.report}")
    engine.dispose()
    return seconds[0], seconds[1], pushed.snapshot


def compare(gateways: dict[str, Settings], csv: Path, root: Path, repeat: int) -> dict:
    """Ingest on each store, then each extract on each store in turn, `repeat` times."""
    times: dict[str, dict] = {name: {} for name in gateways}
    snapshots = {}
    for name, settings in gateways.items():
        first, times[name]["ingest_seconds"], snapshots[name] = prepare(settings, csv)
        times[name]["first_ingest_seconds"] = first
    for shape in GRANTS:
        runs: dict[str, list] = {name: [] for name in gateways}
        for name, settings in gateways.items():  # the first run derives the pseudonyms
            extract(settings, snapshots[name], shape, root / "first.parquet")
        for _ in range(repeat):
            for name, settings in gateways.items():
                runs[name].append(extract(settings, snapshots[name], shape, root / "out.parquet"))
        for name in gateways:
            times[name][shape] = statistics.median(t for t, _ in runs[name])
            times[name][f"{shape}_rows"] = runs[name][0][1]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="rows in the extract")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        credentials = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     **credentials).create_bucket(Bucket="bench")  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "local").mkdir()
            (Path(tmp) / "s3").mkdir()
            csv = Path(tmp) / "acute-admissions.csv"
            make_admissions(csv, args.size)
            s3_settings = gateway(
                Path(tmp) / "s3", snapshot_store="s3://bench/gateway", s3_endpoint_url=endpoint,
                s3_region="us-east-1", s3_access_key_id="bench", s3_secret_access_key="bench",
            )  # fmt: skip
            gateways = {"local": gateway(Path(tmp) / "local"), "s3": s3_settings}
            times = compare(gateways, csv, Path(tmp), args.repeat)
            local, s3 = times["local"], times["s3"]
    finally:
        server.stop()
    results: dict = {"rows": args.size}
    for part in ("first_ingest_seconds", "ingest_seconds", *GRANTS):
        ratio = s3[part] / local[part]
        results[part.removesuffix("_seconds")] = {
            "local_seconds": round(local[part], 3), "s3_seconds": round(s3[part], 3),
            "ratio": round(ratio, 2),
        }  # fmt: skip
        print(f"{part:>20}: data directory {local[part]:.3f}s, object storage {s3[part]:.3f}s, "
              f"ratio {ratio:.2f}x")  # fmt: skip
    for shape in GRANTS:
        assert local[f"{shape}_rows"] == s3[f"{shape}_rows"], (
            "the two stores delivered different rows"
        )
        results[shape]["rows_out"] = s3[f"{shape}_rows"]
    results["ratio"] = results["minimised"]["ratio"]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
