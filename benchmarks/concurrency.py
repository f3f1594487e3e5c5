"""Benchmark: concurrent API clients against a served gateway, on SQLite and on PostgreSQL.

    python benchmarks/concurrency.py                 # 5 s of load per store
    python benchmarks/concurrency.py --size 60       # the run in docs/benchmarks.md

Setup per store: the demo partnership on a synthetic county of `--people` residents, one API
token for the county's analyst (share:read) and one for the acute trust's data provider
(datasets:write), and `civicshare serve` in a child process (uvicorn, one process).

Load: 8 clients pulling the acute trust's admissions under the discharge agreement (JSON,
every row decided, executed, audited and receipted) and 2 clients pushing the admissions file
as a new version, all at once for `--size` seconds, with /healthz probed twice a second.
Baseline, side by side on the same server: one client pulling alone for the same time.

Printed per store: requests per second, p95 latency of pulls and pushes, the number of 5xx
answers and of requests that got no answer within 30 s, and the ratio of concurrent pull
throughput to the lone client's. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from tests.load import prepare_store, run_load, serve  # noqa: E402

from civicshare.config import Settings  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def measure(settings: Settings, seconds: float, people: int) -> dict:
    store = prepare_store(settings, people=people)
    with serve(settings) as url:
        run_load(url, store, seconds=0, pullers=1, pushers=0, rounds=3)  # warm up
        alone = run_load(url, store, seconds=seconds, pullers=1, pushers=0)
        together = run_load(url, store, seconds=seconds, pullers=8, pushers=2)
    pulls_alone = len(alone.of("pull")) / alone.seconds
    pulls_together = len(together.of("pull")) / together.seconds
    return {
        "concurrent": together.summary(),
        "alone": alone.summary(kinds=("pull",)),
        "pull_throughput_ratio": round(pulls_together / pulls_alone, 2),
        "pull_p95_ratio": round(together.p95("pull") / alone.p95("pull"), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=5, help="seconds of load per phase")
    parser.add_argument("--people", type=int, default=300, help="residents in the county")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="admin URL ('' to skip)")
    args = parser.parse_args()

    results = {"seconds": args.size, "people": args.people}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "sqlite" / "data"
        settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir.parent}/s.db")
        results["sqlite"] = measure(settings, args.size, args.people)
        print("sqlite", json.dumps(results["sqlite"]), flush=True)
        if args.postgres:
            admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            name = f"civicshare_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = make_url(args.postgres).set(database=name).render_as_string(False)
                settings = Settings(data_dir=Path(tmp) / "postgresql" / "data", database_url=url)
                results["postgresql"] = measure(settings, args.size, args.people)
                print("postgresql", json.dumps(results["postgresql"]), flush=True)
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
