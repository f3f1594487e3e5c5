"""Snapshots on S3-compatible object storage (decision 0037), against a real S3 server: moto's
server mode on a free port, spoken to over HTTP by s3fs exactly as MinIO or AWS would be.

Ingest, a governed pull (decide, then execute), a new version replacing the old, the retention
and erasure rewrites, and an ingest that fails at each step leaving nothing a reader can see."""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from datetime import timedelta

import boto3
import numpy as np
import pyarrow.parquet as pq
import pytest
from moto import server as moto_server
from pydantic import ValidationError
from sqlalchemy import select

from civicshare import db
from civicshare.config import Settings
from civicshare.dataplane import query as compiler
from civicshare.dataplane import snapshots
from civicshare.dataplane.store import LocalStore, S3Store, snapshot_store
from civicshare.datasets import service as datasets
from civicshare.datasets.contracts import Contract
from civicshare.datasets.models import Dataset, DatasetContract, DatasetSnapshot
from civicshare.identity import service as identity
from civicshare.retention import service as retention
from civicshare.sharing.delivery import share
from civicshare.sharing.service import ShareRequest, decide
from tests.agreements.conftest import TODAY, make_active, world  # noqa: F401  (a fixture)
from tests.dataplane.legacy import make_per_value
from tests.datasets.conftest import GOOD_ROWS, county, simple_contract, write_csv  # noqa: F401
from tests.retention.test_retention import AGED_ROWS
from tests.sharing.test_decide import PURPOSE, analyst_at
from tests.sharing.test_extract_storage import (  # pushed: a fixture
    PSEUDONYMISED,
    _activate,
    _rows,
    pushed,  # noqa: F401
)

PREFIX = "gateway"
PARTNER, NAME = "worcs-acute", "test-people"


@pytest.fixture(scope="module")
def s3_endpoint():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint):
    name = f"civicshare-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"  # the governance store is not what is tested


@pytest.fixture
def settings(settings, bucket, s3_endpoint) -> Settings:
    return Settings(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        snapshot_store=f"s3://{bucket}/{PREFIX}",
        s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1",
        s3_access_key_id="test",
        s3_secret_access_key="test",
    )


def objects(settings: Settings) -> list[str]:
    """Every key in the bucket under the prefix, relative to it."""
    store = snapshot_store(settings)
    return sorted(k.split(f"/{PREFIX}/", 1)[1] for k in store.fs.find(store.base))


def local_snapshot_dirs(settings: Settings) -> list[str]:
    root = settings.data_dir / "snapshots"
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*/v*"))


def push_people(sessions, settings, tmp_path, rows=GOOD_ROWS, name="people.csv"):
    with db.session_scope(sessions) as session:
        return datasets.push(session, settings, PARTNER, NAME, write_csv(tmp_path / name, rows))


@pytest.fixture(autouse=True)
def partners(world):  # noqa: F811
    """The partnership's partners (the dataset's provider among them)."""
    return world


def register_people(sessions, **contract):
    with db.session_scope(sessions) as session:
        datasets.register_contract(session, simple_contract(bad_rows="quarantine", **contract))


def test_an_ingested_file_is_published_on_object_storage_manifest_last(
    sessions, settings, tmp_path
):
    register_people(sessions)
    result = push_people(sessions, settings, tmp_path)
    assert result.outcome == "accepted", result.report
    store = snapshot_store(settings)
    assert isinstance(store, S3Store)
    keys = objects(settings)
    manifest = json.loads(
        store.fs.cat_file(f"{store.base}/snapshots/{PARTNER}/{NAME}/v1/manifest.json")
    )
    attempt = manifest["published"]["attempt"]
    version = f"snapshots/{PARTNER}/{NAME}/v1"
    assert keys == sorted(
        [f"{version}/manifest.json"]
        + [f"{version}/{attempt}/{name}" for name in manifest["published"]["objects"]]
    )
    assert {"data.parquet", "sealed/1.bin"} <= set(manifest["published"]["objects"])
    assert manifest["rows"] == result.snapshot.row_count == 3
    assert local_snapshot_dirs(settings) == []  # staged on disk, kept only on the store
    assert list((settings.data_dir / "snapshots" / ".tmp").iterdir()) == []
    # What a reader opens is the published attempt's file.
    location = store.file(version, "data.parquet")
    assert location == f"s3://{store.base}/{version}/{attempt}/data.parquet"
    with store.open(location) as handle:
        assert pq.read_table(handle).column("_row").to_pylist() == [1, 2, 3]


def test_a_version_without_its_manifest_is_not_there(sessions, settings, tmp_path):
    store = snapshot_store(settings)
    version = f"snapshots/{PARTNER}/{NAME}/v7"
    store.fs.pipe_file(f"{store.base}/{version}/abc/data.parquet", b"half an upload")
    assert store.file(version, "data.parquet") is None
    assert store.read_manifest(version) is None
    assert snapshots.present(settings, version)  # ... but retention sees the leftover
    assert snapshots.remove_files(settings, version)
    assert objects(settings) == []


def _pull(session, settings, reference):
    analyst = analyst_at(session, "worcestershire-cc")
    request = ShareRequest(analyst, PURPOSE, "worcs-acute", "acute-admissions", agreement=reference)
    decision = decide(session, request, TODAY)
    assert decision.allowed, decision.reason
    return decision.grant, share(session, settings, request, via="api", today=TODAY).table


def _local_copy(settings, snapshot, tmp_path) -> compiler.SnapshotView:
    """The same snapshot's files downloaded to disk, as a view the local path reads."""
    store = snapshot_store(settings)
    version = f"snapshots/{snapshot.ref}"
    target = tmp_path / "copy"
    for name in (
        "data.parquet",
        *(s["sealed"] for s in snapshot.storage.values() if "sealed" in s),
    ):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        with store.open(store.file(version, name)) as handle:
            (target / name).write_bytes(handle.read())
    view = compiler.snapshot_view(settings, snapshot)
    return compiler.SnapshotView(
        view.ref, (str(target / "data.parquet"),), view.columns, cache_dir=None, store=None
    ), target


def test_a_governed_pull_reads_the_snapshot_from_object_storage(
    sessions,
    settings,
    pushed,  # noqa: F811 (the fixture)
    tmp_path,
):
    with db.session_scope(sessions) as session:
        identifiable = make_active(session, pushed).agreement.reference  # adults, decrypted
        pseudonymised = _activate(session, pushed, PSEUDONYMISED).agreement.reference
        grant, delivered = _pull(session, settings, identifiable)
        p_grant, p_delivered = _pull(session, settings, pseudonymised)
        _, p_again = _pull(session, settings, pseudonymised)
        snapshot = datasets.current_snapshot(session, "worcs-acute", "acute-admissions", settings)
    assert delivered.num_rows > 0 and p_delivered.num_rows > 0
    # The pseudonyms were derived once and kept beside the snapshot, on the store.
    derived = [k for k in objects(settings) if "/derived/pseudonyms-" in k]
    assert len(derived) == 1
    assert _rows(p_again) == _rows(p_delivered)
    # Exactly what the same grant gives over the same files read from local disk.
    local, target = _local_copy(settings, snapshot, tmp_path)
    readers = {
        "decrypt": lambda column, values: identity.decrypt_column(
            settings, snapshot, column, values
        ),
        "unseal": lambda column, path, rows: identity.unseal_column(
            settings, snapshot, column, target / path, rows
        ),
    }
    expected = compiler.run(
        compiler.compile_grant(grant, local, today=TODAY), local,
        agreement_key=identity.agreement_key(settings, grant.agreement), **readers,
    )  # fmt: skip
    assert _rows(delivered) == _rows(expected)
    p_expected = compiler.run(
        compiler.compile_grant(p_grant, local, today=TODAY), local,
        agreement_key=identity.agreement_key(settings, p_grant.agreement), **readers,
    )  # fmt: skip
    assert _rows(p_delivered) == _rows(p_expected)


def test_a_new_version_replaces_the_old_and_the_old_can_be_removed(sessions, settings, tmp_path):
    register_people(sessions)
    assert push_people(sessions, settings, tmp_path).outcome == "accepted"
    second = push_people(sessions, settings, tmp_path, rows=GOOD_ROWS[:2], name="two.csv")
    assert second.outcome == "accepted" and second.snapshot.version == 2
    with db.session_scope(sessions) as session:
        current = datasets.current_snapshot(session, PARTNER, NAME, settings)
        old = datasets.snapshot(session, PARTNER, NAME, 1, settings)
    assert (current.version, current.row_count, old.status) == (2, 2, "superseded")
    store = snapshot_store(settings)
    for info, rows in ((current, [1, 2]), (old, [1, 2, 3])):
        with store.open(store.file(f"snapshots/{info.ref}", "data.parquet")) as handle:
            assert pq.read_table(handle).column("_row").to_pylist() == rows
    assert snapshots.remove_files(settings, f"snapshots/{old.ref}")
    assert not snapshots.present(settings, f"snapshots/{old.ref}")
    assert all(f"/{NAME}/v2/" in k for k in objects(settings))
    assert not snapshots.remove_files(settings, f"snapshots/{old.ref}")  # nothing left to remove


def test_retention_trims_and_purges_a_snapshot_on_object_storage(sessions, settings, tmp_path):
    register_people(sessions, retention={"max_age_days": 365, "age_column": "seen"})
    recent = (TODAY - timedelta(days=10)).strftime("%Y-%m-%d 09:00")
    result = push_people(
        sessions, settings, tmp_path, [r.replace("{recent}", recent) for r in AGED_ROWS]
    )
    assert result.outcome == "accepted", result.report
    before = snapshots.evidence(settings, f"snapshots/{result.snapshot.ref}")
    assert before.data_sha256 and before.quarantine_sha256 and before.bytes > 0

    with db.session_scope(sessions) as session:
        report = retention.run(session, settings, today=TODAY)
    assert report.errors == []
    assert [(t.from_version, t.to_version, t.rows_dropped, t.done) for t in report.trims] == [
        (1, 2, 1, True)
    ]
    assert [(p.data_sha256, p.bytes, p.done) for p in report.purges] == [
        (before.data_sha256, before.bytes, True)
    ]
    assert all(f"/{NAME}/v2/" in k for k in objects(settings))  # v1 gone from the store
    with db.session_scope(sessions) as session:
        v2 = datasets.current_snapshot(session, PARTNER, NAME, settings)
    store = snapshot_store(settings)
    with store.open(store.file(f"snapshots/{v2.ref}", "data.parquet")) as handle:
        table = pq.read_table(handle)
    assert table.column("_row").to_pylist() == [2, 3]
    with store.open(store.file(f"snapshots/{v2.ref}", v2.storage["nhs"]["sealed"])) as handle:
        sealed = identity.unseal_column(settings, v2, "nhs", handle, v2.row_count)
    assert sealed.column("value").to_pylist() == ["9434765870", None]


def test_a_snapshot_made_before_decision_0039_is_trimmed_on_object_storage(
    sessions, settings, tmp_path
):
    """A per-value snapshot (ciphertext per identifier value, quarantined fields the same
    way), published on the store, is trimmed in its own layout reading only from the store."""
    register_people(sessions, retention={"max_age_days": 365, "age_column": "seen"})
    recent = (TODAY - timedelta(days=10)).strftime("%Y-%m-%d 09:00")
    local = Settings(data_dir=settings.data_dir, database_url=settings.database_url)
    result = push_people(
        sessions, local, tmp_path, [r.replace("{recent}", recent) for r in AGED_ROWS]
    )
    assert result.outcome == "accepted", result.report
    with db.session_scope(sessions) as session:
        v1 = datasets.current_snapshot(session, PARTNER, NAME, local)
    make_per_value(local, sessions, v1)
    staged = tmp_path / "staged-v1"
    shutil.copytree(v1.directory, staged)
    snapshot_store(settings).install(staged, f"snapshots/{v1.ref}")
    shutil.rmtree(v1.directory)  # only the store holds it now
    assert "__enc" in " ".join(pq.read_schema(snapshot_store(settings).open(
        snapshot_store(settings).file(f"snapshots/{v1.ref}", "quarantine.parquet")
    )).names)  # fmt: skip

    with db.session_scope(sessions) as session:
        report = retention.run(session, settings, today=TODAY)
    assert report.errors == []
    assert [(t.from_version, t.to_version, t.rows_dropped, t.done) for t in report.trims] == [
        (1, 2, 1, True)
    ]
    assert all(f"/{NAME}/v2/" in k for k in objects(settings))
    assert local_snapshot_dirs(settings) == []
    with db.session_scope(sessions) as session:
        v2 = datasets.current_snapshot(session, PARTNER, NAME, settings)
    assert v2.storage["nhs"]["encrypted"] == "nhs__enc"  # kept in its own layout
    view = compiler.snapshot_view(settings, v2)
    readers = compiler.snapshot_readers(settings, v2)
    store = snapshot_store(settings)
    with store.open(store.file(f"snapshots/{v2.ref}", "data.parquet")) as handle:
        table = pq.read_table(handle)
    assert table.column("_row").to_pylist() == [2, 3]
    nhs = readers["decrypt"]("nhs", table.column("nhs__enc"))
    assert nhs.to_pylist() == ["9434765870", None]
    sealed = readers["unseal"]("nhs", view.columns["nhs"].sealed, 2)
    assert sealed.column("value").to_pylist() == ["9434765870", None]
    with store.open(store.file(f"snapshots/{v2.ref}", "quarantine.parquet")) as handle:
        quarantine = pq.read_table(handle)
    assert quarantine.column("_row").to_pylist() == [4]
    assert "nhs__enc" in quarantine.column_names


def test_an_erasure_rewrite_publishes_a_version_without_the_record(sessions, settings, tmp_path):
    register_people(sessions)
    assert push_people(sessions, settings, tmp_path).outcome == "accepted"
    with db.session_scope(sessions) as session:
        dataset = session.scalars(select(Dataset).where(Dataset.name == NAME)).one()
        current = session.scalars(
            select(DatasetSnapshot).where(DatasetSnapshot.dataset_id == dataset.id)
        ).one()
        contract = Contract.model_validate(session.get(DatasetContract, current.contract_id).body)
        snapshots.one_writer_at_a_time(session, settings, dataset.id)
        version = snapshots.next_version(session, dataset.id)
        new_ref = snapshots.snapshot_ref(PARTNER, NAME, version)
        keep = np.array([True, False, True])  # erase the second record (A2, Jones)
        rewritten = snapshots.rewrite_keeping(settings, current, contract, keep, new_ref, "erasure")
        with snapshots.installing(
            session, settings, dataset, PARTNER, version, rewritten.directory,
            contract_id=current.contract_id, row_count=rewritten.rows,
            quarantined_count=current.quarantined_count, file_name=current.file_name,
            file_format=current.file_format, file_sha256=current.file_sha256,
            pseudonymisation_key_version=current.pseudonymisation_key_version,
            wrapped_data_key=rewritten.wrapped_data_key, storage=current.storage,
        ):  # fmt: skip
            pass
    with db.session_scope(sessions) as session:
        v2 = datasets.current_snapshot(session, PARTNER, NAME, settings)
    assert (v2.version, v2.row_count) == (2, 2)
    view = compiler.snapshot_view(settings, v2)
    readers = compiler.snapshot_readers(settings, v2)
    surnames = readers["unseal"]("surname", view.columns["surname"].sealed, 2)
    assert surnames.column("_row").to_pylist() == [1, 3]
    assert "jones" not in {v.lower() for v in surnames.column("value").to_pylist()}
    manifest = snapshot_store(settings).read_manifest(f"snapshots/{v2.ref}")
    assert manifest["derived_by"] == "erasure" and manifest["rows"] == 2
    assert "published" not in manifest


def test_a_rejected_file_leaves_nothing_on_the_store(sessions, settings, tmp_path):
    register_people(sessions)  # quarantine, up to half the rows; every surname is missing
    bad = [",".join(f if i != 2 else "" for i, f in enumerate(r.split(","))) for r in GOOD_ROWS]
    result = push_people(sessions, settings, tmp_path, rows=bad)
    assert result.outcome == "rejected"
    assert objects(settings) == [] and local_snapshot_dirs(settings) == []


def test_an_upload_that_fails_half_way_leaves_nothing_visible(
    sessions, settings, tmp_path, monkeypatch
):
    register_people(sessions)
    store = snapshot_store(settings)
    real_put = store.fs.put_file
    calls = []

    def failing_put(local, key, **kwargs):
        calls.append(key)
        if len(calls) == 2:
            raise ConnectionError("the object store went away")
        return real_put(local, key, **kwargs)

    monkeypatch.setattr(store.fs, "put_file", failing_put)
    with pytest.raises(ConnectionError):
        push_people(sessions, settings, tmp_path)
    assert objects(settings) == []  # the first object was taken back; no manifest was written
    assert list((settings.data_dir / "snapshots" / ".tmp").iterdir()) == []
    with db.session_scope(sessions) as session:
        assert datasets.current_snapshot(session, PARTNER, NAME, settings) is None
    monkeypatch.setattr(store.fs, "put_file", real_put)
    again = push_people(sessions, settings, tmp_path)
    assert again.outcome == "accepted" and again.snapshot.version == 1


def test_an_ingest_that_fails_after_publishing_is_unpublished(
    sessions, settings, tmp_path, monkeypatch
):
    register_people(sessions)
    real_audit = datasets._audit

    def failing_audit(session, actor, action, *args, **kwargs):
        if action == "dataset.ingest_accepted":
            raise RuntimeError("the audit log is unavailable")
        return real_audit(session, actor, action, *args, **kwargs)

    monkeypatch.setattr(datasets, "_audit", failing_audit)
    with pytest.raises(RuntimeError):
        push_people(sessions, settings, tmp_path)
    assert objects(settings) == []
    with db.session_scope(sessions) as session:
        assert datasets.current_snapshot(session, PARTNER, NAME, settings) is None
    monkeypatch.setattr(datasets, "_audit", real_audit)
    again = push_people(sessions, settings, tmp_path)
    assert again.outcome == "accepted" and again.snapshot.version == 1
    store = snapshot_store(settings)
    with store.open(store.file(f"snapshots/{again.snapshot.ref}", "data.parquet")) as handle:
        assert pq.read_table(handle).num_rows == 3


def test_the_data_directory_stays_the_default(tmp_path):
    store = snapshot_store(Settings(data_dir=tmp_path))
    assert isinstance(store, LocalStore)
    assert store.file("snapshots/p/d/v1", "data.parquet") == str(
        tmp_path / "snapshots/p/d/v1/data.parquet"
    )


def test_a_snapshot_store_that_is_not_s3_is_refused(tmp_path):
    for wrong in ("gs://bucket", "s3://", "/srv/snapshots"):
        with pytest.raises(ValidationError, match="snapshot_store is empty .* or s3://bucket"):
            Settings(data_dir=tmp_path, snapshot_store=wrong)


def test_readiness_says_whether_the_object_store_answers(settings, engine, s3_endpoint):
    """/readyz reports the object store: ready when its bucket answers, 503 naming it when the
    bucket is gone (never a key or a path)."""
    from fastapi.testclient import TestClient

    from civicshare.app import create_app

    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["snapshot_store"] == {"status": "ok"}
    missing = settings.model_copy(update={"snapshot_store": "s3://no-such-bucket-here/snapshots"})
    with TestClient(create_app(missing)) as client:
        unready = client.get("/readyz")
        assert unready.status_code == 503
        body = unready.json()
        assert body["status"] == "unready" and body["snapshot_store"]["status"] == "unavailable"
        # Why, by kind: never the bucket, the endpoint or a key.
        assert "s3://" not in unready.text and "no-such-bucket-here" not in unready.text
        assert s3_endpoint not in unready.text
