"""Snapshots on disk: where a version lives, installing a staged version in place of the current
one, rewriting a version keeping some of its rows, reading a column, and removing one.

A snapshot is `data_dir/snapshots/<partner>/<dataset>/v<N>/`:
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

import hashlib
import json
import shutil
import uuid
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
    fsync_dir,
    fsync_tree,
    new_staging_dir,
    staging_root,
)
from civicshare.dataplane.ingest.staging import QUARANTINE_STREAM, encrypt_rows
from civicshare.dataplane.ingest.storage import (
    data_schema,
    per_value,
    quarantine_sealed_path,
    sealed_path,
)
from civicshare.datasets.contracts import Contract
from civicshare.datasets.models import Dataset, DatasetSnapshot, SnapshotStatus
from civicshare.identity import service as identity
from civicshare.private import private_dir

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
    """Delete a snapshot directory: renamed into staging first, so a crash leaves an orphan
    that `ingest.sweep_staging` removes, never half a snapshot in place."""
    directory = settings.data_dir / relative
    if not directory.exists():
        return False
    root = private_dir(staging_root(settings))
    aside = root / f"orphan-purge-{uuid.uuid4().hex[:12]}"
    directory.rename(aside)
    fsync_dir(directory.parent)
    shutil.rmtree(aside, ignore_errors=True)
    return True


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
    """Move a staged directory into place as `version`, make it the dataset's current snapshot
    (the one before is superseded) and yield its row, flushed. If the caller's block fails,
    the files are removed again; the caller's rollback undoes the rows."""
    relative = relative_path(partner_key, dataset.name, version)
    target = settings.data_dir / relative
    try:
        private_dir(target.parent)
        if target.exists():
            # Left by a run that renamed but never committed: it was never a snapshot.
            remove_files(settings, relative)
        staged.rename(target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    fsync_dir(target.parent)
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
        shutil.rmtree(target, ignore_errors=True)
        raise


# -- reading and evidence ------------------------------------------------------------------


def data_path(settings: Settings, snapshot: DatasetSnapshot) -> Path:
    return settings.data_dir / snapshot.path / DATA_FILE


def read_dates(settings: Settings, snapshot: DatasetSnapshot, column: str) -> pa.Array | None:
    """One plain (not identifier) date or datetime column of every accepted row, as dates;
    None when the snapshot's files are gone."""
    path = data_path(settings, snapshot)
    if not path.is_file():
        return None
    values = pq.read_table(path, columns=[column]).column(column).combine_chunks()
    if pa.types.is_timestamp(values.type):
        values = pc.cast(values, pa.date32())
    return values


def file_sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def directory_bytes(directory: Path) -> int:
    if not directory.is_dir():
        return 0
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


@dataclass(frozen=True)
class Evidence:
    """What a snapshot's files were, recorded before they are deleted."""

    data_sha256: str | None
    quarantine_sha256: str | None
    bytes: int


def evidence(settings: Settings, relative: str | Path) -> Evidence:
    directory = settings.data_dir / relative
    return Evidence(
        file_sha256(directory / DATA_FILE),
        file_sha256(directory / QUARANTINE_FILE),
        directory_bytes(directory),
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


def _rewrite_per_value(source: Path, directory: Path, contract: Contract, keep, keys):
    """A snapshot made before decision 0039: per-value ciphertext re-encrypted, and sealed."""
    table = pq.read_table(source / DATA_FILE).filter(pa.array(keep))
    data_columns = [
        (f"{c.name}__enc", c.name, stream)
        for stream, c in enumerate(contract.columns)
        if c.is_identifier
    ]
    table = _reencrypt(table, data_columns, keys, sealed_in=directory)
    schema = data_schema(contract, encrypted=True)
    pq.write_table(table.cast(schema), directory / DATA_FILE, compression="zstd")
    quarantined = 0
    if (source / QUARANTINE_FILE).is_file():
        qtable = pq.read_table(source / QUARANTINE_FILE)
        q_columns = [
            (f"{c.name}__enc", f"quarantine/{c.name}", QUARANTINE_STREAM + i)
            for i, c in enumerate(contract.columns)
        ]
        qtable = _reencrypt(qtable, q_columns, keys)
        pq.write_table(qtable, directory / QUARANTINE_FILE, compression="zstd")
        quarantined = qtable.num_rows
    return table, quarantined


def _reseal(source: Path, target: Path, name: str, stream: int, keys, rows: pa.Array, keep=None):
    """One sealed column read under the old key and reference and sealed again under the new
    ones, keeping the rows where `keep` is true; its row numbers must be `rows` in order."""
    old_key, old_ref, new_key, new_ref = keys
    values = identity.unseal_values(old_key, source, old_ref, name, len(rows))
    if not values.column("_row").equals(pa.chunked_array([rows])):
        raise identity.DecryptionError("a sealed column does not line up with its snapshot")
    if keep is not None:
        values = values.filter(pa.array(keep))
    writer = identity.SealedWriter(target, new_key, new_ref, name, stream)
    try:
        writer.write(values.column("value").combine_chunks(), values.column("_row").to_numpy())
    finally:
        writer.close()


def _rewrite_sealed(source: Path, directory: Path, contract: Contract, keep, keys):
    """A snapshot that keeps identifier values only sealed: each sealed column (and each
    quarantined field) unsealed, cut to the rows kept, and sealed under the new key."""
    whole = pq.read_table(source / DATA_FILE)
    rows = whole.column("_row").combine_chunks()
    table = whole.filter(pa.array(keep))
    (directory / "sealed").mkdir(mode=0o700, exist_ok=True)
    for stream, column in enumerate(contract.columns):
        if column.is_identifier:
            path = sealed_path(stream)
            _reseal(source / path, directory / path, column.name, stream, keys, rows, keep)
    pq.write_table(table.cast(data_schema(contract)), directory / DATA_FILE, compression="zstd")
    quarantined = 0
    if (source / QUARANTINE_FILE).is_file():
        qtable = pq.read_table(source / QUARANTINE_FILE)
        qrows = qtable.column("_row").combine_chunks()
        for index, column in enumerate(contract.columns):
            path = quarantine_sealed_path(index)
            name, stream = f"quarantine/{column.name}", QUARANTINE_STREAM + index
            _reseal(source / path, directory / path, name, stream, keys, qrows)
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
    source = settings.data_dir / snapshot.path
    old_ref = str(Path(snapshot.path).relative_to(SNAPSHOTS_DIR))
    old_key = identity.unwrap_data_key(settings, snapshot.wrapped_data_key)
    new_key, wrapped = identity.new_data_key(settings)
    keys = (old_key, old_ref, new_key, new_ref)
    directory = new_staging_dir(settings)
    try:
        if per_value(snapshot.storage):
            table, quarantined = _rewrite_per_value(source, directory, contract, keep, keys)
        else:
            table, quarantined = _rewrite_sealed(source, directory, contract, keep, keys)
        manifest = json.loads((source / MANIFEST_FILE).read_text())
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
