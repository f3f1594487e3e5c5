"""Killing an ingest part way leaves no partial version and loses nothing already stored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
from sqlalchemy import func, select

from civicshare import db
from civicshare.datasets import service
from civicshare.datasets.models import DatasetIngest
from tests.datasets.conftest import GOOD_ROWS, HEADER, simple_contract, write_csv

ROWS = 150_000  # about 12 MB: several 4 MiB blocks, so several batches


def big_csv(path):
    with open(path, "w") as out:
        out.write(HEADER)
        for i in range(ROWS):
            out.write(f"{GOOD_ROWS[i % 2].replace('A1', f'R{i}').replace('A2', f'R{i}')}\n")
    return path


def cli_push(settings, path, pause: str = "0"):
    env = {
        **os.environ,
        "CIVICSHARE_DATA_DIR": str(settings.data_dir),
        "CIVICSHARE_DATABASE_URL": settings.effective_database_url,
        "CIVICSHARE_TEST_INGEST_PAUSE": pause,
        "COLUMNS": "100",
    }
    code = "from civicshare.cli import app; app()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "datasets", "push", "worcs-acute", "test-people", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_sigkill_mid_ingest_leaves_no_partial_version_and_a_retry_succeeds(
    seeded, settings, tmp_path
):
    with db.session_scope(seeded) as session:
        service.register_contract(session, simple_contract())
        v1 = service.push(
            session,
            settings,
            "worcs-acute",
            "test-people",
            write_csv(tmp_path / "a.csv", GOOD_ROWS),
        ).snapshot
    before = pq.read_table(v1.data_path)
    path = big_csv(tmp_path / "big.csv")

    process = cli_push(settings, path, pause="2")
    staging = settings.data_dir / "snapshots" / ".tmp"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the first batch has been written
        written = list(staging.glob("*/data.parquet"))
        if written and written[0].stat().st_size > 0 and process.poll() is None:
            break
        time.sleep(0.05)
    else:
        process.kill()
        raise AssertionError(process.communicate()[0].decode())
    assert process.poll() is None, "the push finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()

    dataset_dir = settings.data_dir / "snapshots/worcs-acute/test-people"
    assert sorted(p.name for p in dataset_dir.iterdir()) == ["v1"]
    assert len(list(staging.iterdir())) == 1  # the dead ingest's staging, swept on next start
    with db.session_scope(seeded) as session:
        current = service.current_snapshot(session, "worcs-acute", "test-people", settings)
        assert session.scalar(select(func.count(DatasetIngest.id))) == 1
    assert current.version == 1
    assert pq.read_table(current.data_path).equals(before)

    retry = cli_push(settings, path)
    output = retry.communicate(timeout=300)[0].decode()
    assert retry.returncode == 0, output
    assert "Accepted: snapshot v2, 150,000 rows" in output
    assert "9434765919" not in output
    assert list(staging.iterdir()) == []
    with db.session_scope(seeded) as session:
        current = service.current_snapshot(session, "worcs-acute", "test-people", settings)
    assert (current.version, current.row_count) == (2, ROWS)
    assert pq.read_table(v1.data_path).equals(before)
