"""Retention: due snapshots purged with evidence, the rest kept, crash-safe. Both backends."""

from __future__ import annotations

import asyncio
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from civicshare import db
from civicshare.audit import service as audit
from civicshare.audit.models import AuditRecord
from civicshare.datasets import service as datasets
from civicshare.datasets.models import DatasetSnapshot, SnapshotStatus
from civicshare.identity import service as identity
from civicshare.retention import service as retention
from tests.agreements.conftest import make_active
from tests.dataplane.legacy import make_per_value
from tests.datasets.conftest import GOOD_ROWS, simple_contract, write_csv

TODAY = date.today()
PARTNER, NAME = "worcs-acute", "test-people"


def register(sessions, **retention_rules):
    contract = simple_contract(bad_rows="quarantine")
    if retention_rules:
        contract["retention"] = retention_rules
    with db.session_scope(sessions) as session:
        datasets.register_contract(session, contract)


def push(sessions, settings, tmp_path, rows=GOOD_ROWS, n=1):
    for i in range(n):
        path = write_csv(tmp_path / f"people-{i}.csv", rows)
        with db.session_scope(sessions) as session:
            result = datasets.push(session, settings, PARTNER, NAME, path)
        assert result.outcome == "accepted", result.report


def statuses(sessions) -> dict[int, str]:
    with db.session_scope(sessions) as session:
        rows = session.scalars(select(DatasetSnapshot).order_by(DatasetSnapshot.version))
        return {r.version: r.status.value for r in rows}


def snapshot_dir(settings, version):
    return settings.data_dir / "snapshots" / PARTNER / NAME / f"v{version}"


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(sessions, settings, today=TODAY, dry_run=False):
    with db.session_scope(sessions) as session:
        return retention.run(session, settings, today=today, dry_run=dry_run)


def purge_records(sessions, action="dataset.snapshot_purged"):
    with db.session_scope(sessions) as session:
        return [
            (r.entity_id, r.dataset, r.row_count, r.details)
            for r in session.scalars(
                select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
            )
        ]


def audit_count(sessions) -> int:
    with db.session_scope(sessions) as session:
        return session.scalar(select(func.count(AuditRecord.id)))


def assert_chain_intact(sessions):
    with db.session_scope(sessions) as session:
        result = audit.verify(session)
    assert result.intact, result.message


def test_superseded_snapshots_past_their_days_are_purged_with_evidence(
    world, sessions, settings, tmp_path
):
    register(sessions)
    push(sessions, settings, tmp_path, n=3)
    expected = {v: sha256(snapshot_dir(settings, v) / "data.parquet") for v in (1, 2)}
    sizes = {
        v: sum(p.stat().st_size for p in snapshot_dir(settings, v).rglob("*") if p.is_file())
        for v in (1, 2)
    }

    report = run(sessions, settings, today=TODAY + timedelta(days=31))

    assert [(p.ref, p.rule, p.done) for p in report.purges] == [
        (f"{PARTNER}/{NAME}/v1", "keep_superseded_days", True),
        (f"{PARTNER}/{NAME}/v2", "keep_superseded_days", True),
    ]
    assert statuses(sessions) == {1: "purged", 2: "purged", 3: "current"}
    assert not snapshot_dir(settings, 1).exists() and not snapshot_dir(settings, 2).exists()
    assert (snapshot_dir(settings, 3) / "data.parquet").is_file()
    records = purge_records(sessions)
    assert [(e, d, n) for e, d, n, _ in records] == [
        (f"{PARTNER}/{NAME}/v1", f"{PARTNER}/{NAME}", 3),
        (f"{PARTNER}/{NAME}/v2", f"{PARTNER}/{NAME}", 3),
    ]
    for version, (_, _, _, details) in zip((1, 2), records, strict=True):
        assert details["data_parquet_sha256"] == expected[version]
        assert details["bytes_freed"] == sizes[version]
        assert details["rule"] == "keep_superseded_days"
        assert details["purged_at"] and details["due_on"]
    # evidence holds counts and hashes, never a resident's data
    shown = json.dumps([r[3] for r in records]).upper()
    assert not any(word in shown for word in ("SMITH", "JONES", "WR5", "9434765919"))
    with db.session_scope(sessions) as session:
        purged = session.scalars(
            select(DatasetSnapshot).where(DatasetSnapshot.status == SnapshotStatus.purged)
        ).all()
        assert all(s.purged_at is not None and s.purge_rule for s in purged)
        assert datasets.current_snapshot(session, PARTNER, NAME, settings).version == 3
    assert_chain_intact(sessions)


def test_snapshots_not_yet_due_are_kept(world, sessions, settings, tmp_path):
    register(sessions)
    push(sessions, settings, tmp_path, n=2)
    report = run(sessions, settings, today=TODAY + timedelta(days=30))
    assert report.purges == []
    assert statuses(sessions) == {1: "superseded", 2: "current"}
    assert snapshot_dir(settings, 1).is_dir()
    assert purge_records(sessions) == []


def test_more_superseded_versions_than_the_rule_allows_go_at_once(
    world, sessions, settings, tmp_path
):
    register(sessions, keep_superseded_versions=1)
    push(sessions, settings, tmp_path, n=4)
    report = run(sessions, settings)
    assert [(p.version, p.rule) for p in report.purges] == [
        (1, "keep_superseded_versions"),
        (2, "keep_superseded_versions"),
    ]
    assert statuses(sessions) == {1: "purged", 2: "purged", 3: "superseded", 4: "current"}
    assert snapshot_dir(settings, 3).is_dir()


def test_the_current_snapshot_is_never_purged(world, sessions, settings, tmp_path):
    register(sessions, keep_superseded_days=0, keep_superseded_versions=0)
    push(sessions, settings, tmp_path, n=1)
    report = run(sessions, settings, today=TODAY + timedelta(days=3650))
    assert report.purges == []
    assert statuses(sessions) == {1: "current"}


def test_a_dry_run_changes_nothing(world, sessions, settings, tmp_path):
    register(sessions)
    push(sessions, settings, tmp_path, n=3)
    before = audit_count(sessions)
    report = run(sessions, settings, today=TODAY + timedelta(days=31), dry_run=True)
    assert [(p.version, p.done) for p in report.purges] == [(1, False), (2, False)]
    assert report.purges[0].data_sha256 == sha256(snapshot_dir(settings, 1) / "data.parquet")
    assert statuses(sessions) == {1: "superseded", 2: "superseded", 3: "current"}
    assert all(snapshot_dir(settings, v).is_dir() for v in (1, 2, 3))
    assert audit_count(sessions) == before


class Crash(BaseException):
    """The process dying between the commit and the deletion of the files."""


def test_a_run_that_dies_after_recording_is_finished_by_the_next(
    world, sessions, settings, tmp_path, monkeypatch
):
    register(sessions)
    push(sessions, settings, tmp_path, n=2)
    real_remove = retention.snapshots.remove_files

    def crash(*_args):
        raise Crash

    monkeypatch.setattr(retention.snapshots, "remove_files", crash)
    with pytest.raises(Crash):
        run(sessions, settings, today=TODAY + timedelta(days=31))
    # recorded (with its evidence) but the files are still there, and status says so
    assert statuses(sessions) == {1: "purged", 2: "current"}
    assert snapshot_dir(settings, 1).is_dir()
    assert len(purge_records(sessions)) == 1
    with db.session_scope(sessions) as session:
        pending = retention.status(session, settings, TODAY + timedelta(days=31))
    assert [(p.version, p.status, p.due_on) for p in pending] == [(1, "purged", None)]

    monkeypatch.setattr(retention.snapshots, "remove_files", real_remove)
    report = run(sessions, settings, today=TODAY + timedelta(days=31))
    assert report.completed == [f"{PARTNER}/{NAME}/v1"]
    assert report.purges == []
    assert not snapshot_dir(settings, 1).exists()
    assert len(purge_records(sessions)) == 1  # one deletion, one record of it
    assert len(purge_records(sessions, "dataset.snapshot_purge_completed")) == 1

    again = run(sessions, settings, today=TODAY + timedelta(days=31))  # idempotent
    assert (again.purges, again.completed, again.errors) == ([], [], [])
    assert_chain_intact(sessions)


AGED_ROWS = [
    "A1,943 476 5919,Smith,01/02/1950,WR5 1PS,100120001916,3,12.50,Y,2020-01-02 10:00,asthma",
    "A2,9434765870,Jones,28/02/1961,wr51ps,100120000783,0,0,N,{recent},",
    "A3,,Brown,,B98 1YD,,,,,,",
    "A4,9434765918,Green,31/02/1950,WR5 1PS,1,x,1,Y,2020-01-02 10:00,",  # quarantined
]


@pytest.mark.parametrize("layout", ["sealed", "per_value"])
def test_rows_older_than_the_maximum_age_are_dropped_into_a_new_version(
    world, sessions, settings, tmp_path, layout
):
    """`per_value`: a snapshot made before decision 0039 (per-value ciphertext beside the sealed
    columns) is trimmed in its own layout."""
    register(sessions, max_age_days=365, age_column="seen")
    recent = (TODAY - timedelta(days=10)).strftime("%Y-%m-%d 09:00")
    rows = [r.replace("{recent}", recent) for r in AGED_ROWS]
    push(sessions, settings, tmp_path, rows=rows)
    with db.session_scope(sessions) as session:
        v1 = datasets.current_snapshot(session, PARTNER, NAME, settings)
    if layout == "per_value":
        make_per_value(settings, sessions, v1)
        with db.session_scope(sessions) as session:
            v1 = datasets.current_snapshot(session, PARTNER, NAME, settings)
    old_sha = sha256(snapshot_dir(settings, 1) / "data.parquet")
    v1_tokens = pq.read_table(v1.data_path)["nhs__token"].to_pylist()

    preview = run(sessions, settings, dry_run=True)
    assert [(t.rows_dropped, t.rows_kept, t.done) for t in preview.trims] == [(1, 2, False)]
    assert statuses(sessions) == {1: "current"}

    report = run(sessions, settings)
    assert [(t.from_version, t.to_version, t.rows_dropped, t.done) for t in report.trims] == [
        (1, 2, 1, True)
    ]
    assert statuses(sessions) == {1: "purged", 2: "current"}
    assert not snapshot_dir(settings, 1).exists()
    with db.session_scope(sessions) as session:
        v2 = datasets.current_snapshot(session, PARTNER, NAME, settings)
    assert (v2.version, v2.row_count, v2.quarantined_count) == (2, 2, 1)
    table = pq.read_table(v2.data_path)
    assert table["_row"].to_pylist() == [2, 3]
    assert table["nhs__token"].to_pylist() == v1_tokens[1:]
    data_key = identity.unwrap_data_key(settings, v2.wrapped_data_key)
    if layout == "per_value":
        # identifiers are re-encrypted for the new version and still decrypt
        plain = identity.decrypt_column(settings, v2, "nhs", table["nhs__enc"])
        assert plain.to_pylist() == ["9434765870", None]
    else:
        assert not [name for name in table.column_names if name.endswith("__enc")]
    # ... and re-sealed under the new version's key, only the kept rows
    sealed = identity.unseal_column(
        settings, v2, "nhs", v2.directory / v2.storage["nhs"]["sealed"], v2.row_count
    )
    assert sealed.column("_row").to_pylist() == [2, 3]
    assert sealed.column("value").to_pylist() == ["9434765870", None]
    quarantine = pq.read_table(v2.quarantine_path)
    assert quarantine["_row"].to_pylist() == [4]
    if layout == "per_value":
        names = identity.decrypt_values(
            data_key, quarantine["surname__enc"], identity.column_aad(v2.ref, "quarantine/surname")
        ).to_pylist()
    else:
        path = v2.directory / "sealed/quarantine-2.bin"
        names = identity.unseal_values(data_key, path, v2.ref, "quarantine/surname", 1)
        names = names.column("value").to_pylist()
    assert names == ["Green"]
    (aged,) = purge_records(sessions, "dataset.rows_aged_out")
    assert aged[3]["rows_dropped"] == 1 and aged[3]["to_snapshot"] == f"{PARTNER}/{NAME}/v2"
    (purged,) = purge_records(sessions)
    assert purged[3]["rule"] == "max_age_days" and purged[3]["data_parquet_sha256"] == old_sha
    assert_chain_intact(sessions)

    assert run(sessions, settings).trims == []  # nothing more is too old


def test_a_run_expires_agreements_whose_end_date_has_passed(world, sessions, settings):
    with db.session_scope(sessions) as session:
        version = make_active(session, world, end_date=TODAY + timedelta(days=30))
        reference = version.reference
    assert run(sessions, settings, today=TODAY + timedelta(days=30)).expired == []
    report = run(sessions, settings, today=TODAY + timedelta(days=31))
    assert [(r, n) for r, n, _ in report.expired] == [(reference, 1)]
    with db.session_scope(sessions) as session:
        from civicshare.agreements import service as agreements

        assert agreements.get(session, reference).versions[0].status.value == "expired"


def test_contract_rules_are_checked():
    from civicshare.datasets.contracts import ContractError, parse_contract

    with pytest.raises(ContractError, match="give both or neither"):
        parse_contract({**simple_contract(), "retention": {"max_age_days": 30}})
    with pytest.raises(ContractError, match="must be a date or datetime"):
        parse_contract(
            {**simple_contract(), "retention": {"max_age_days": 30, "age_column": "dob"}}
        )
    assert parse_contract(simple_contract()).retention.keep_superseded_days == 30


def test_one_scheduled_tick_purges_and_logs_only_counts(
    world, sessions, settings, tmp_path, caplog, monkeypatch
):
    register(sessions, keep_superseded_versions=0)
    push(sessions, settings, tmp_path, n=2)
    with caplog.at_level("INFO", logger="civicshare.retention.service"):
        counts = retention.tick(sessions, settings)
    assert counts["purged"] == 1 and counts["errors"] == 0
    assert statuses(sessions) == {1: "purged", 2: "current"}
    assert "1 snapshots purged" in caplog.text and NAME not in caplog.text

    def broken(*_args, **_kwargs):
        raise RuntimeError(f"cannot reach {NAME}")

    monkeypatch.setattr(retention, "run", broken)
    caplog.clear()
    with caplog.at_level("INFO", logger="civicshare.retention.service"):
        assert retention.tick(sessions, settings) is None  # never raises
    assert "RuntimeError" in caplog.text and NAME not in caplog.text


def test_the_schedule_runs_repeatedly_and_survives_failures(sessions, settings, monkeypatch):
    calls = []

    def fake_tick(_sessions, _settings):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a failing run")  # even a raising tick does not end the loop

    monkeypatch.setattr(retention, "tick", fake_tick)

    async def main():
        task = asyncio.create_task(retention.every(sessions, settings, 0.01))
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    # In a thread of its own: once a browser test has started Playwright's sync API, the main
    # thread has an event loop running for the rest of the session.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, asyncio.wait_for(main(), 10)).result()
    assert len(calls) >= 3


def test_the_server_starts_the_schedule_and_stops_it(settings, engine, monkeypatch):
    from fastapi.testclient import TestClient

    from civicshare.app import create_app

    started = []

    async def fake_every(_sessions, _settings, interval):
        started.append(interval)
        await asyncio.sleep(3600)

    monkeypatch.setattr(retention, "every", fake_every)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code in (200, 404)
    assert started == [3600]
    started.clear()
    off = settings.model_copy(update={"retention_interval_minutes": 0})
    with TestClient(create_app(off)):
        pass
    assert started == []


def test_the_commands_print_what_they_purge(world, sessions, settings, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from civicshare.cli import app

    register(sessions)
    push(sessions, settings, tmp_path, n=2)
    monkeypatch.setenv("CIVICSHARE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CIVICSHARE_DATABASE_URL", settings.effective_database_url)
    later = (TODAY + timedelta(days=31)).isoformat()
    runner = CliRunner()
    result = runner.invoke(app, ["retention", "status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "v1" in result.output and "keep_superseded_days" in result.output
    result = runner.invoke(
        app, ["retention", "run", "--dry-run", "--today", later], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "Would be purged" in result.output and "Nothing was changed" in result.output
    assert snapshot_dir(settings, 1).is_dir()
    result = runner.invoke(app, ["retention", "run", "--today", later], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "1 snapshot purged" in result.output
    assert not snapshot_dir(settings, 1).exists()
    result = runner.invoke(app, ["retention", "run", "--today", "31/12/2026"])
    assert result.exit_code != 0
