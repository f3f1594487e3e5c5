"""A production deployment: pooled PostgreSQL, API workers beside one scheduler process, one
outbox deliverer at a time, and a backup that restores to a store that verifies and shares."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from civicshare import db
from civicshare.app import start_background_jobs
from civicshare.audit import service as audit
from civicshare.audit.models import AuditCheckpoint
from civicshare.cli import app as cli_app
from civicshare.config import Settings
from civicshare.events import outbox
from tests.conftest import api_token, demo_store, fresh_postgres_database, unavailable
from tests.sharing.conftest import cli_pull

ANALYST = "analyst@worcestershire-cc.example"
PURPOSE = "discharge-planning"  # one of ISA-0001's permitted purposes


def test_one_holder_of_a_transaction_lock_across_sessions(settings, sessions):
    with sessions() as first, sessions() as second:
        assert db.transaction_lock(first, settings.data_dir, 7, 1, wait=False)
        assert not db.transaction_lock(second, settings.data_dir, 7, 1, wait=False)
        assert db.transaction_lock(second, settings.data_dir, 7, 2, wait=False)  # another key
        second.rollback()
        first.commit()  # the end of the unit of work releases it
        assert db.transaction_lock(second, settings.data_dir, 7, 1, wait=False)
        second.rollback()


def test_a_second_deliverer_does_nothing_while_the_first_is_delivering(settings, sessions):
    with sessions() as first, sessions() as second:
        assert not outbox.deliver_due(first, settings).busy
        tick = outbox.deliver_due(second, settings)
        assert tick.busy and tick.attempted == 0
        first.commit()
        assert not outbox.deliver_due(second, settings).busy
        second.rollback()


@pytest.mark.postgres
def test_pool_settings_reach_the_engine(postgres_url, tmp_path):
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=postgres_url,
        database_pool_size=3,
        database_max_overflow=2,
        database_pool_timeout=4,
    )
    engine = db.make_engine(settings.effective_database_url, settings)
    try:
        assert engine.pool.size() == 3
        assert engine.pool._max_overflow == 2 and engine.pool._timeout == 4
    finally:
        engine.dispose()


def test_the_schedules_started_follow_the_settings(tmp_path):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def started(**options) -> list[str]:
        jobs = start_background_jobs(None, Settings(data_dir=tmp_path, **options))
        for job in jobs:
            job.cancel()
        return sorted(job.get_name() for job in jobs)

    def names(**options) -> list[str]:
        # A thread of its own: a browser test run before this one in the same worker leaves
        # Playwright's event loop running in the main thread, where asyncio.run() refuses.
        with ThreadPoolExecutor(max_workers=1) as thread:
            return thread.submit(asyncio.run, started(**options)).result()

    assert names(events_deliver_seconds=5, index_run_minutes=30) == [
        "audit-checkpoints",
        "life-event-deliveries",
        "person-index",
        "reminders",
        "retention",
    ]
    off = {"retention_interval_minutes": 0, "audit_checkpoint_minutes": 0,
           "reminders_interval_minutes": 0}  # fmt: skip
    assert names(**off) == []


def test_the_scheduler_process_stops_on_sigterm_and_signs_a_last_checkpoint(
    settings, sessions, operator_env
):
    with db.session_scope(sessions) as session:
        audit.record(session, None, "signed_in", "person")
    env = {
        **os.environ,
        "CIVICSHARE_DATA_DIR": str(settings.data_dir),
        "CIVICSHARE_DATABASE_URL": settings.effective_database_url,
        "CIVICSHARE_EVENTS_DELIVER_SECONDS": "0.2",
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "civicshare"), "scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = process.stdout.readline()
        assert "Scheduler running: retention, audit-checkpoints, life-event-deliveries" in first
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=60)[0]
    finally:
        process.kill()
    assert process.returncode == 0, first + rest
    assert "Scheduler stopped." in rest
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1


# -- backup and restore ------------------------------------------------------------------------


def libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def pull(settings: Settings, token: str, out: Path) -> list[dict]:
    cli_pull(settings, token, PURPOSE, out)
    return pacsv.read_csv(out).to_pylist()


def run_cli(settings: Settings, *args: str):
    return CliRunner().invoke(
        cli_app,
        list(args),
        env={"CIVICSHARE_DATA_DIR": str(settings.data_dir),
             "CIVICSHARE_DATABASE_URL": settings.effective_database_url, "COLUMNS": "200"},
    )  # fmt: skip


@pytest.mark.postgres
def test_a_backup_restores_to_a_store_that_verifies_and_shares_the_same_rows(
    postgres_admin, tmp_path
):
    """The procedure of docs/deploying.md: pg_dump, then the data directory; restored on a new
    server, the audit log verifies (signed checkpoints included) and a pull gives the same rows."""
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        unavailable("pg_dump and pg_restore are not installed", "Install PostgreSQL's client tools")
    backup = tmp_path / "backup"
    backup.mkdir()
    with fresh_postgres_database(postgres_admin) as live_url:
        live = Settings(data_dir=tmp_path / "live" / "data", database_url=live_url)
        demo_store(live, people=300)
        token = api_token(live, ANALYST, ["share:read"])
        before = pull(live, token, tmp_path / "before.csv")
        assert before, "the demo grants the analyst rows to pull"
        assert run_cli(live, "audit", "checkpoint").exit_code == 0
        subprocess.run(
            ["pg_dump", "--format=custom", "--file", str(backup / "store.dump"),
             libpq_url(live_url)],
            check=True,
        )  # fmt: skip
        with tarfile.open(backup / "data.tar.gz", "w:gz") as archive:
            archive.add(live.data_dir, arcname="data")
    # The live server is gone (its database dropped). A new one, from the backup:
    with fresh_postgres_database(postgres_admin) as new_url:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", libpq_url(new_url),
             str(backup / "store.dump")],
            check=True,
        )  # fmt: skip
        with tarfile.open(backup / "data.tar.gz") as archive:
            archive.extractall(tmp_path / "restored", filter="data")
        restored = Settings(data_dir=tmp_path / "restored" / "data", database_url=new_url)
        current = run_cli(restored, "db", "current")
        assert current.exit_code == 0 and "latest" in current.output, current.output
        verified = run_cli(restored, "audit", "verify")
        assert verified.exit_code == 0, verified.output
        assert "intact" in verified.output.lower(), verified.output
        after = pull(restored, token, tmp_path / "after.csv")
        assert after == before
        # The restored log records the new pull after what the backup held.
        assert run_cli(restored, "audit", "verify").exit_code == 0


@pytest.mark.postgres
def test_api_workers_serve_one_store_while_the_scheduler_runs_apart(postgres_url, tmp_path):
    """`civicshare serve --workers 2` with background_jobs off: every worker answers ready."""
    import socket
    import time

    import httpx2

    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url)
    settings.ensure_dirs()
    engine = db.make_engine(postgres_url)
    db.upgrade(engine)
    engine.dispose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "CIVICSHARE_DATA_DIR": str(settings.data_dir),
        "CIVICSHARE_DATABASE_URL": postgres_url,
        "CIVICSHARE_BACKGROUND_JOBS": "false",
    }
    command = [str(Path(sys.executable).parent / "civicshare"), "serve", "--workers", "2"]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready, deadline = None, time.monotonic() + 180
        while time.monotonic() < deadline and ready is None:
            try:
                ready = httpx2.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            except httpx2.TransportError:
                time.sleep(1)
        assert ready is not None and ready.status_code == 200, "no worker became ready"
        assert ready.json()["database"]["backend"] == "postgresql"
        answers = [httpx2.get(f"http://127.0.0.1:{port}/healthz").status_code for _ in range(20)]
        assert answers == [200] * 20
    finally:
        process.terminate()
        output = process.communicate(timeout=60)[0]
    assert output.count("Application startup complete.") >= 1, output
    assert "died" not in output, output
