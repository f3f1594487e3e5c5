"""Snapshots on disk: where a version lives, installing a staged version in place of the current
one, rewriting a version keeping some of its rows, reading a column, and removing one.

A snapshot is `snapshots/<partner>/<dataset>/v<N>/` in the snapshot store (`store`: the data
directory, or object storage where the version's files sit under a published attempt):
  `data.parquet`        accepted rows (see `storage.storage_plan` for how each column is kept)
  `quarantine.parquet`  quarantined rows' file row numbers (may be absent); before decision
                        0039 also every field's per-value ciphertext
  `sealed/<k>.bin`      identifier columns sealed whole (identity.service.SealedWriter)
  `sealed/quarantine-<k>.bin`  quarantined rows' fields, sealed (since decision 0039)
  `manifest.json`       contract, storage map, counts, key version, wrapped data key
  `derived/`            per-agreement pseudonym files (query.agreement_pseudonyms)
Nothing outside the data plane opens these files; the governance store's `DatasetSnapshot`
row says which version is current.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare import db
from civicshare.config import Settings
from civicshare.dataplane.ingest.layout import (
    DATA_FILE,
    MANIFEST_FILE,
    QUARANTINE_FILE,
    SNAPSHOTS_DIR,
    fsync_tree,
    new_staging_dir,
)
from civicshare.dataplane.ingest.staging import QUARANTINE_STREAM, encrypt_rows
from civicshare.dataplane.ingest.storage import (
    data_schema,
    per_value,
    quarantine_sealed_path,
    sealed_path,
)
from civicshare.dataplane.store import SnapshotStore, snapshot_store
from civicshare.datasets.contracts import Contract
from civicshare.datasets.models import Dataset, DatasetSnapshot, SnapshotStatus
from civicshare.identity import service as identity

DERIVED_DIR = "derived"


def relative_path(partner_key: str, dataset_name: str, version: int) -> Path:
    """A version's directory relative to the data directory (what `DatasetSnapshot.path` holds)."""
    return Path(SNAPSHOTS_DIR, partner_key, dataset_name, f"v{version}")


def snapshot_ref(partner_key: str, dataset_name: str, version: int) -> str:
    return f"{partner_key}/{dataset_name}/v{version}"


def next_version(session: Session, dataset_id: int) -> int:
    latest = session.scalar(
        select(func.max(DatasetSnapshot.version)).where(DatasetSnapshot.dataset_id == dataset_id)
    )
    return (latest or 0) + 1


# -- installing a version ------------------------------------------------------------------


def one_writer_at_a_time(session: Session, settings: Settings, dataset_id: int) -> None:
    """Wait for any other writer of this dataset's versions (a push, a retention trim) to end,
    and hold others off until this unit of work ends (commit or rollback).

    A writer numbers its version before staging (the number is sealed into the encrypted
    columns), so two at once would take the same number, and the second would remove the
    first's committed files as if a crash had left them. PostgreSQL holds an advisory lock
    for the transaction; the embedded store a file lock per dataset in data_dir/locks (no
    database lock: SQLite's one writer must stay free while a file is validated)."""
    db.transaction_lock(session, settings.data_dir, WRITER_LOCK_SPACE, dataset_id, wait=True)


# The advisory lock's first key ("push"), apart from any other use of advisory locks.
WRITER_LOCK_SPACE = 0x70757368


def remove_files(settings: Settings, relative: str | Path) -> bool:
    """Delete a snapshot's files, never leaving half a snapshot visible: on disk renamed into
    staging first (a crash leaves an orphan that `ingest.sweep_staging` removes), on object
    storage unpublished first (store.S3Store.remove)."""
    return snapshot_store(settings).remove(relative)


def present(settings: Settings, relative: str | Path) -> bool:
    """Whether anything of a snapshot's files is left (a purge that stopped half-way)."""
    return bool(snapshot_store(settings).listing(relative))


@contextmanager
def installing(
    session: Session,
    settings: Settings,
    dataset: Dataset,
    partner_key: str,
    version: int,
    staged: Path,
    **row: object,
) -> Iterator[DatasetSnapshot]:
    """Publish a staged directory as `version` (store.SnapshotStore.install), make it the
    dataset's current snapshot (the one before is superseded) and yield its row, flushed. If
    the caller's block fails, the files are removed again; the caller's rollback undoes the
    rows."""
    relative = relative_path(partner_key, dataset.name, version)
    store = snapshot_store(settings)
    store.install(staged, relative)
    try:
        for previous in session.scalars(
            select(DatasetSnapshot).where(
                DatasetSnapshot.dataset_id == dataset.id,
                DatasetSnapshot.status == SnapshotStatus.current,
            )
        ):
            previous.status = SnapshotStatus.superseded
        snapshot = DatasetSnapshot(
            dataset_id=dataset.id,
            version=version,
            status=SnapshotStatus.current,
            path=str(relative),
            **row,
        )
        session.add(snapshot)
        session.flush()
        yield snapshot
    except BaseException:
        # The caller's error is what matters: a version left behind has no committed row, and
        # the next install at this number replaces it.
        with contextlib.suppress(Exception):
            store.remove(relative)
        raise


# -- reading and evidence ------------------------------------------------------------------


def read_dates(settings: Settings, snapshot: DatasetSnapshot, column: str) -> pa.Array | None:
    """One plain (not identifier) date or datetime column of every accepted row, as dates;
    None when the snapshot's files are gone."""
    store = snapshot_store(settings)
    location = store.file(snapshot.path, DATA_FILE)
    if location is None or not store.exists(location):
        return None
    with store.open(location) as handle:
        values = pq.read_table(handle, columns=[column]).column(column).combine_chunks()
    if pa.types.is_timestamp(values.type):
        values = pc.cast(values, pa.date32())
    return values


def file_sha256(settings: Settings, relative: str | Path, name: str = DATA_FILE) -> str | None:
    """SHA-256 of one file of a snapshot (its `data.parquet` unless named); None when gone."""
    store = snapshot_store(settings)
    location = store.file(relative, name)
    if location is None or not store.exists(location):
        return None
    digest = hashlib.sha256()
    with store.open(location) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stored_bytes(settings: Settings, relative: str | Path) -> int:
    """Bytes of everything left of a snapshot (derived files included)."""
    return sum(snapshot_store(settings).listing(relative).values())


@dataclass(frozen=True)
class Evidence:
    """What a snapshot's files were, recorded before they are deleted."""

    data_sha256: str | None
    quarantine_sha256: str | None
    bytes: int


def evidence(settings: Settings, relative: str | Path) -> Evidence:
    return Evidence(
        file_sha256(settings, relative, DATA_FILE),
        file_sha256(settings, relative, QUARANTINE_FILE),
        stored_bytes(settings, relative),
    )


# -- rewriting a version keeping some rows -------------------------------------------------


def _reencrypt(
    table: pa.Table,
    columns: list[tuple[str, str, int]],
    keys: tuple[bytes, str, bytes, str],
    sealed_in: Path | None = None,
) -> pa.Table:
    """Re-encrypt each (stored column, AAD name, nonce stream) under the new version's key and
    reference: a ciphertext is bound to its snapshot, so it cannot simply be copied. With
    `sealed_in` (a directory), each column is also sealed there, as ingest does."""
    old_key, old_ref, new_key, new_ref = keys
    rows = np.asarray(table.column("_row").to_numpy(), dtype=np.int64)
    for stored, aad_name, stream in columns:
        plain = identity.decrypt_values(
            old_key, table.column(stored), identity.column_aad(old_ref, aad_name)
        )
        fresh = encrypt_rows(new_key, plain, identity.column_aad(new_ref, aad_name), stream, rows)
        table = table.set_column(table.schema.get_field_index(stored), stored, fresh)
        if sealed_in is not None:
            path = sealed_in / sealed_path(stream)
            path.parent.mkdir(mode=0o700, exist_ok=True)
            writer = identity.SealedWriter(path, new_key, new_ref, aad_name, stream)
            try:
                writer.write(plain, rows)
            finally:
                writer.close()
    return table


@dataclass(frozen=True)
class _Source:
    """The version a rewrite reads, through the snapshot store (object storage or disk)."""

    store: SnapshotStore
    version: str

    def location(self, name: str) -> str:
        location = self.store.file(self.version, name)
        if location is None:
            raise FileNotFoundError(f"the files of snapshot {self.version} are gone")
        return location

    def has(self, name: str) -> bool:
        return self.store.exists(self.location(name))

    def table(self, name: str) -> pa.Table:
        with self.store.open(self.location(name)) as handle:
            return pq.read_table(handle)


def _rewrite_per_value(source: _Source, directory: Path, contract: Contract, keep, keys):
    """A snapshot made before decision 0039: per-value ciphertext re-encrypted, and sealed."""
    table = source.table(DATA_FILE).filter(pa.array(keep))
    data_columns = [
        (f"{c.name}__enc", c.name, stream)
        for stream, c in enumerate(contract.columns)
        if c.is_identifier
    ]
    table = _reencrypt(table, data_columns, keys, sealed_in=directory)
    schema = data_schema(contract, encrypted=True)
    pq.write_table(table.cast(schema), directory / DATA_FILE, compression="zstd")
    quarantined = 0
    if source.has(QUARANTINE_FILE):
        qtable = source.table(QUARANTINE_FILE)
        q_columns = [
            (f"{c.name}__enc", f"quarantine/{c.name}", QUARANTINE_STREAM + i)
            for i, c in enumerate(contract.columns)
        ]
        qtable = _reencrypt(qtable, q_columns, keys)
        pq.write_table(qtable, directory / QUARANTINE_FILE, compression="zstd")
        quarantined = qtable.num_rows
    return table, quarantined


def _reseal(source: _Source, path: str, target: Path, name: str, stream: int, keys,
            rows: pa.Array, keep=None):  # fmt: skip
    """One sealed column (`path` in the source version) read under the old key and reference
    and sealed again under the new ones, keeping the rows where `keep` is true; its row
    numbers must be `rows` in order."""
    old_key, old_ref, new_key, new_ref = keys
    with source.store.open(source.location(path)) as handle:
        values = identity.unseal_values(old_key, handle, old_ref, name, len(rows))
    if not values.column("_row").equals(pa.chunked_array([rows])):
        raise identity.DecryptionError("a sealed column does not line up with its snapshot")
    if keep is not None:
        values = values.filter(pa.array(keep))
    writer = identity.SealedWriter(target, new_key, new_ref, name, stream)
    try:
        writer.write(values.column("value").combine_chunks(), values.column("_row").to_numpy())
    finally:
        writer.close()


def _rewrite_sealed(source: _Source, directory: Path, contract: Contract, keep, keys):
    """A snapshot that keeps identifier values only sealed: each sealed column (and each
    quarantined field) unsealed, cut to the rows kept, and sealed under the new key."""
    whole = source.table(DATA_FILE)
    rows = whole.column("_row").combine_chunks()
    table = whole.filter(pa.array(keep))
    (directory / "sealed").mkdir(mode=0o700, exist_ok=True)
    for stream, column in enumerate(contract.columns):
        if column.is_identifier:
            path = sealed_path(stream)
            _reseal(source, path, directory / path, column.name, stream, keys, rows, keep)
    pq.write_table(table.cast(data_schema(contract)), directory / DATA_FILE, compression="zstd")
    quarantined = 0
    if source.has(QUARANTINE_FILE):
        qtable = source.table(QUARANTINE_FILE)
        qrows = qtable.column("_row").combine_chunks()
        for index, column in enumerate(contract.columns):
            path = quarantine_sealed_path(index)
            name, stream = f"quarantine/{column.name}", QUARANTINE_STREAM + index
            _reseal(source, path, directory / path, name, stream, keys, qrows)
        pq.write_table(qtable, directory / QUARANTINE_FILE, compression="zstd")
        quarantined = qtable.num_rows
    return table, quarantined


@dataclass(frozen=True)
class Rewritten:
    directory: Path  # staged; pass to `installing`
    wrapped_data_key: str
    rows: int


def rewrite_keeping(
    settings: Settings,
    snapshot: DatasetSnapshot,
    contract: Contract,
    keep: np.ndarray,
    new_ref: str,
    reason: str,
) -> Rewritten:
    """Stage a new version holding only the accepted rows where `keep` is true (quarantined
    rows follow the snapshot), under a new data key: what retention and erasure need."""
    store = snapshot_store(settings)
    manifest = store.read_manifest(snapshot.path)
    if manifest is None:
        raise FileNotFoundError(f"the files of snapshot {snapshot.path} are gone")
    old_ref = str(Path(snapshot.path).relative_to(SNAPSHOTS_DIR))
    old_key = identity.unwrap_data_key(settings, snapshot.wrapped_data_key)
    new_key, wrapped = identity.new_data_key(settings)
    keys = (old_key, old_ref, new_key, new_ref)
    directory = new_staging_dir(settings)
    try:
        source = _Source(store, snapshot.path)
        if per_value(snapshot.storage):
            table, quarantined = _rewrite_per_value(source, directory, contract, keep, keys)
        else:
            table, quarantined = _rewrite_sealed(source, directory, contract, keep, keys)
        manifest.update(
            snapshot=new_ref,
            rows=table.num_rows,
            quarantined=quarantined,
            wrapped_data_key=wrapped,
            derived_from=old_ref,
            derived_by=reason,
        )
        (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        fsync_tree(directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return Rewritten(directory, wrapped, table.num_rows)
