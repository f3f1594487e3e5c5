"""Snapshots on object storage: ingest and a governed extract with the snapshot on an S3 server,
against the same on the data directory (the floor), side by side in one process.

Two scratch gateways (SQLite stores in a temporary directory), each with the acute trust, the
county council and two active discharge agreements (benchmarks/extract.py builds them): one keeps
its snapshots in `data_dir`, the other on moto's S3 server started here on a free port (HTTP on
the loopback: the round trips of a real store, without its network or disks). Times:

  ingest     datasets.push of the same synthetic admissions CSV (staged on disk either way;
             object storage adds the upload and the manifest)
  minimised  share() of the minimised grant (pseudonymised NHS number, generalised columns):
             decide, compile, DuckDB over the snapshot's Parquet, the agreement's derived
             pseudonyms, audit, write Parquet
  discharge  share() of the discharge template (identifiable, adults): sealed columns opened
             and decrypted as well

Ratio = object storage / data directory (median of --repeat runs after a first run that derives
the pseudonyms). Last line: JSON.

    .venv/bin/python benchmarks/object_storage.py                # 20,000 rows
    .venv/bin/python benchmarks/object_storage.py --size 1000000
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
from pathlib import Path

import boto3
from extract import build, governed
from moto.server import ThreadedMotoServer

from civicshare.config import Settings

SHAPES = ("minimised", "discharge")


def gateway(root: Path, **store) -> Settings:
    settings = Settings(data_dir=root / "data", database_url=f"sqlite:///{root / 'store.db'}",
                        **store)  # fmt: skip
    settings.ensure_dirs()
    return settings


def timed(settings: Settings, rows: int, root: Path, repeat: int) -> dict:
    world = build(settings, rows, root)
    out = {"ingest_seconds": world["ingest_seconds"]}
    for shape in SHAPES:
        governed(settings, world, shape, root / "first.parquet")  # derives the pseudonyms
        times = [governed(settings, world, shape, root / "out.parquet") for _ in range(repeat)]
        out[shape] = statistics.median(t for t, _ in times)
        out[f"{shape}_rows"] = times[0][1]
    world["engine"].dispose()
    return out


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
            local = timed(gateway(Path(tmp) / "local"), args.size, Path(tmp) / "local", args.repeat)
            s3_settings = gateway(
                Path(tmp) / "s3", snapshot_store="s3://bench/gateway", s3_endpoint_url=endpoint,
                s3_region="us-east-1", s3_access_key_id="bench", s3_secret_access_key="bench",
            )  # fmt: skip
            s3 = timed(s3_settings, args.size, Path(tmp) / "s3", args.repeat)
    finally:
        server.stop()
    results: dict = {"rows": args.size}
    for part in ("ingest_seconds", *SHAPES):
        ratio = s3[part] / local[part]
        results[part.removesuffix("_seconds")] = {
            "local_seconds": round(local[part], 3), "s3_seconds": round(s3[part], 3),
            "ratio": round(ratio, 2),
        }  # fmt: skip
        print(f"{part:>14}: data directory {local[part]:.3f}s, object storage {s3[part]:.3f}s, "
              f"ratio {ratio:.2f}x")  # fmt: skip
    for shape in SHAPES:
        assert local[f"{shape}_rows"] == s3[f"{shape}_rows"], (
            "the two stores delivered different rows"
        )
        results[shape]["rows_out"] = s3[f"{shape}_rows"]
    results["ratio"] = results["minimised"]["ratio"]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
