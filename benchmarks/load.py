"""Benchmark: a locust run against the API on PostgreSQL with the demo data.

    python benchmarks/load.py                                # 20 users, 20 s, 2 workers
    python benchmarks/load.py --size 60 --users 50 --workers 2   # the run in docs/benchmarks.md

Setup: a new PostgreSQL database with the demo partnership on a synthetic county of `--people`
residents, an API token for the county's analyst (share:read), and `civicshare serve --workers
N` in a child process (background jobs off, as in production beside `civicshare scheduler`).

Load (benchmarks/locustfile.py, no wait between requests): analysts pulling the acute trust's
admissions under the discharge agreement (JSON; every row decided, executed, audited and
receipted) four times for each /api/me, and residents reading the public register, one for
every three analysts. Floor, side by side on the same server with the same users: /healthz
only. Printed: requests per second, p99 by request and overall, failures, and the ratios to the
floor. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from sqlalchemy import create_engine  # noqa: E402
from tests.conftest import fresh_postgres_database  # noqa: E402
from tests.load import prepare_store, serve  # noqa: E402

from civicshare.config import Settings  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def locust(url: str, users: list[str], count: int, seconds: float, token: str, out: Path) -> dict:
    """One headless locust run; its statistics by request name (and "Aggregated")."""
    prefix = out / "-".join(users)
    command = [
        str(Path(sys.executable).with_name("locust")), "-f", str(LOCUSTFILE), "--headless",
        "--host", url, "--users", str(count), "--spawn-rate", str(count),
        "--run-time", f"{int(seconds)}s", "--csv", str(prefix), "--only-summary",
        "--loglevel", "WARNING", *users,
    ]  # fmt: skip
    env = {**os.environ, "CIVICSHARE_LOAD_PULL_TOKEN": token}
    run = subprocess.run(command, env=env, check=False, capture_output=True, text=True)
    with open(f"{prefix}_stats.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["Request Count"])]
    if not rows:
        raise RuntimeError(f"locust made no request: {run.stderr[-2000:]}")
    return {
        row["Name"]: {
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "rps": round(float(row["Requests/s"]), 1),
            "p50_ms": float(row["50%"]),
            "p99_ms": float(row["99%"]),
        }
        for row in rows
    }


def measure(settings: Settings, args) -> dict:
    store = prepare_store(settings, people=args.people)
    extra = {"CIVICSHARE_BACKGROUND_JOBS": "false"}
    with serve(settings, extra, workers=args.workers) as url, tempfile.TemporaryDirectory() as out:
        out = Path(out)
        locust(url, ["Analyst"], 2, 3, store.pull_token, out)  # warm every worker up
        floor = locust(url, ["Floor"], args.users, args.size, store.pull_token, out)
        mix = locust(url, ["Analyst", "Resident"], args.users, args.size, store.pull_token, out)
    total, base = mix["Aggregated"], floor["Aggregated"]
    return {
        "users": args.users,
        "workers": args.workers,
        "seconds": args.size,
        "people": args.people,
        "requests": total["requests"],
        "failures": total["failures"],
        "rps": total["rps"],
        "p99_ms": total["p99_ms"],
        "by_request": {name: row for name, row in mix.items() if name != "Aggregated"},
        "floor_rps": base["rps"],
        "floor_p99_ms": base["p99_ms"],
        "floor_failures": base["failures"],
        "ratio": round(total["p99_ms"] / base["p99_ms"], 2) if base["p99_ms"] else None,
        "rps_ratio": round(base["rps"] / total["rps"], 2) if total["rps"] else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=20, help="seconds of load per run")
    parser.add_argument("--users", type=int, default=20, help="concurrent locust users")
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    parser.add_argument("--people", type=int, default=300, help="residents in the county")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="admin URL of a server")
    args = parser.parse_args()

    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    try:
        with fresh_postgres_database(admin) as url, tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp) / "data", database_url=url)
            results = measure(settings, args)
    finally:
        admin.dispose()
    for request, row in results["by_request"].items():
        print(
            f"{request:32} {row['requests']:>7} requests  {row['failures']} failed  "
            f"{row['rps']:>7} /s  p50 {row['p50_ms']:>6} ms  p99 {row['p99_ms']:>6} ms"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
