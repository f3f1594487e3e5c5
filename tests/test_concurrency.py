"""Concurrent API use against a served gateway, on the embedded store and on PostgreSQL.

Found in review: on PostgreSQL, eight concurrent requests with one token froze the whole
gateway (a database call on the event loop waited for a row lock whose holder could only
finish on that loop); on SQLite, token requests failed with 500 "database is locked" because
each wrote the token's last use and held the write lock for the rest of the request."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from civicshare import db
from civicshare.audit.models import AuditRecord
from civicshare.config import Settings
from civicshare.dataplane.ingest import PAUSE_ENV
from civicshare.datasets.models import Dataset, DatasetSnapshot
from civicshare.partners.models import Partner
from civicshare.sharing.models import Receipt
from tests.conftest import fresh_postgres_database, sqlite_settings
from tests.load import DATASET, PROVIDER, prepare_store, run_load, serve

# Bounded: eight token clients pulling and two pushing for this long.
LOAD_SECONDS = float(os.environ.get("CIVICSHARE_LOAD_SECONDS", "20"))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def store(request, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(f"load-{request.param}") / "data"
    if request.param == "sqlite":
        yield prepare_store(sqlite_settings(data_dir))
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_admin")) as url:
        yield prepare_store(Settings(data_dir=data_dir, database_url=url))


@pytest.fixture(scope="module")
def gateway(store):
    with serve(store.settings) as url:
        yield url


def counts(settings: Settings) -> dict[str, int]:
    engine = db.make_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:

            def count(statement) -> int:
                return connection.execute(statement).scalar_one()

            return {
                "share_allowed": count(
                    select(func.count())
                    .select_from(AuditRecord)
                    .where(AuditRecord.action == "share_allowed")
                ),
                "receipts": count(select(func.count()).select_from(Receipt)),
                "ingest_accepted": count(
                    select(func.count())
                    .select_from(AuditRecord)
                    .where(AuditRecord.action == "dataset.ingest_accepted")
                ),
                "snapshots": count(select(func.count()).select_from(DatasetSnapshot)),
            }
    finally:
        engine.dispose()


def test_concurrent_requests_with_one_token_all_answer(gateway, store):
    load = run_load(gateway, store, seconds=0, pullers=8, pushers=0, rounds=3, timeout=30)

    assert not load.failures(), load.failures()[:3]
    assert load.count("pull", 200) == 24
    assert load.of("health") and all(o.status == 200 for o in load.of("health"))


def test_pulls_and_pushes_together_without_a_server_error(gateway, store):
    before = counts(store.settings)

    load = run_load(gateway, store, seconds=LOAD_SECONDS, pullers=8, pushers=2, timeout=30)

    after = counts(store.settings)
    assert not load.failures(), load.failures()[:3]
    assert {o.status for o in load.of("pull")} == {200}, load.of("pull")[:3]
    assert {o.status for o in load.of("push")} == {200}, load.of("push")[:3]
    assert load.of("pull") and load.of("push")
    assert all(o.status == 200 for o in load.of("health"))
    # Every answered request is accounted for in the audit log, and nothing more.
    pulled, pushed = load.count("pull", 200), load.count("push", 200)
    assert after["share_allowed"] - before["share_allowed"] == pulled
    assert after["receipts"] - before["receipts"] == pulled
    assert after["ingest_accepted"] - before["ingest_accepted"] == pushed
    assert after["snapshots"] - before["snapshots"] == pushed


def test_pulls_answer_while_a_slow_push_is_validated(store):
    """A push being validated (held here for 6 s, longer than SQLite's 5 s wait for the
    writer) once held the store's write lock from its first moment: every token pull meanwhile
    answered 500 "database is locked"."""
    with serve(store.settings, extra_env={PAUSE_ENV: "6"}) as url:
        load = run_load(url, store, seconds=8, pullers=4, pushers=1, timeout=60)

    assert not load.failures(), load.failures()[:3]
    assert load.count("push", 200) >= 1
    assert max(o.seconds for o in load.of("push")) >= 6  # the push was slow, as meant
    assert load.count("pull", 200) >= 8


def test_concurrent_pushes_keep_every_committed_snapshot(gateway, store):
    """Two pushes at once once took the same version number, and the second deleted the
    first's committed files as if a crash had left them: every later pull was a 500."""
    load = run_load(gateway, store, seconds=0, pullers=0, pushers=2, rounds=2, timeout=60)
    assert [o.status for o in load.of("push")] == [200] * 4, load.of("push")
    engine = db.make_engine(store.settings.effective_database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(DatasetSnapshot.version, DatasetSnapshot.path)
                .join(Dataset, Dataset.id == DatasetSnapshot.dataset_id)
                .join(Partner, Partner.id == Dataset.partner_id)
                .where(Partner.key == PROVIDER, Dataset.name == DATASET)
                .order_by(DatasetSnapshot.version)
            ).all()
    finally:
        engine.dispose()
    assert len(rows) >= 5  # the store's first version and this test's four pushes at least
    assert [version for version, _ in rows] == list(range(1, len(rows) + 1))
    missing = [p for _, p in rows if not (store.settings.data_dir / p / "data.parquet").is_file()]
    assert not missing
