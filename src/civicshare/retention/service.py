"""Retention: data past its retention period is purged, with evidence of what was deleted.

The rules live in each dataset's contract (`Contract.retention`, docs/retention.md):

* a superseded snapshot is purged once it has been superseded for `keep_superseded_days`, or
  as soon as more than `keep_superseded_versions` newer superseded snapshots exist;
* with `max_age_days` and `age_column`, rows of the current snapshot whose `age_column` is
  older than `today - max_age_days` are dropped: a new version is written without them (the
  way ingest writes one: staged, fsynced, renamed into place, then recorded) and the version
  they were in is purged at once under the rule `max_age_days`.

The current snapshot is never deleted: only the `max_age_days` rule, written in the contract
by the provider, removes rows from what is shared, and it does so by replacing the version.

Order of work, and why (decision 0007)
--------------------------------------
For each dataset, in one transaction: compute the evidence from the files (SHA-256 of each
Parquet file, bytes, rows), mark the snapshot `purged` with `purged_at` and the rule, and
append an audit record. Commit. Only then delete the files (renamed aside into the staging
area first, so a crash mid-delete leaves an orphan that `ingest.sweep_staging` removes).

* A crash before the commit: nothing is recorded and nothing deleted; the next run starts over.
* A crash after the commit, before the files go: the store says `purged` while the files
  remain. Every run begins by finishing such purges (`dataset.snapshot_purge_completed` in
  the audit log) and `retention status` lists them, so nobody needs to notice by hand.
* The other order (delete, then record) could lose the evidence of a deletion: never.

`run()` therefore commits the session it is given (once per dataset, and after expiring
agreements); a failure on one dataset is rolled back, reported and does not stop the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.datasets import ingest
from civicshare.datasets import service as datasets
from civicshare.datasets.contracts import ColumnType, Contract, Retention
from civicshare.datasets.models import Dataset, DatasetContract, DatasetSnapshot, SnapshotStatus
from civicshare.db import utcnow
from civicshare.identity import service as identity

log = logging.getLogger(__name__)

RULE_DAYS = "keep_superseded_days"
RULE_VERSIONS = "keep_superseded_versions"
RULE_MAX_AGE = "max_age_days"


# -- what a run finds and does -------------------------------------------------------------


@dataclass
class Purge:
    """One snapshot whose files are (or would be) deleted."""

    dataset: str  # partner/dataset
    version: int
    rule: str
    reason: str
    due_on: date
    row_count: int
    quarantined_count: int
    bytes: int = 0
    data_sha256: str | None = None
    quarantine_sha256: str | None = None
    done: bool = False

    @property
    def ref(self) -> str:
        return f"{self.dataset}/v{self.version}"


@dataclass
class Trim:
    """Rows of a current snapshot past `max_age_days`: a new version without them."""

    dataset: str
    from_version: int
    to_version: int | None
    age_column: str
    cutoff: date
    rows_dropped: int
    rows_kept: int
    done: bool = False


@dataclass
class Pending:
    """What `retention status` shows: the next thing due for one snapshot, and when."""

    dataset: str
    version: int
    status: str
    rule: str
    due_on: date | None
    what: str


@dataclass
class RetentionReport:
    today: date
    dry_run: bool
    purges: list[Purge] = field(default_factory=list)
    trims: list[Trim] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)  # purges finished from earlier runs
    expired: list[tuple[str, int, str]] = field(default_factory=list)  # (ref, version, reason)
    errors: list[str] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(p.bytes for p in self.purges if p.done)

    def counts(self) -> dict[str, int]:
        return {
            "purged": sum(1 for p in self.purges if p.done),
            "due": len(self.purges),
            "trimmed": sum(1 for t in self.trims if t.done),
            "completed": len(self.completed),
            "expired": len(self.expired),
            "errors": len(self.errors),
        }


# -- working out what is due ---------------------------------------------------------------


def _day(moment: datetime) -> date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def rules_of(session: Session, dataset: Dataset) -> Retention:
    """The retention rules in force: those of the dataset's latest contract."""
    contract = datasets.current_contract(session, dataset)
    return contract.retention if contract is not None else Retention()


def _superseded_on(snaps: list[DatasetSnapshot]) -> dict[int, date]:
    """Each version's supersession date: when the next version was made."""
    ordered = sorted(snaps, key=lambda s: s.version)
    out = {}
    for older, newer in zip(ordered, ordered[1:], strict=False):
        out[older.version] = _day(newer.created_at)
    return out


def _superseded_due(
    snaps: list[DatasetSnapshot], rules: Retention
) -> list[tuple[DatasetSnapshot, str, date]]:
    """Every superseded snapshot with the rule that removes it and the day it falls due."""
    on = _superseded_on(snaps)
    superseded = sorted(
        (s for s in snaps if s.status == SnapshotStatus.superseded),
        key=lambda s: s.version,
        reverse=True,
    )
    out = []
    for index, snap in enumerate(superseded):
        since = on.get(snap.version, _day(snap.created_at))
        by_days = since + timedelta(days=rules.keep_superseded_days + 1)  # kept N whole days
        candidates = [(by_days, RULE_DAYS)]
        if index >= rules.keep_superseded_versions:
            pushed_out = superseded[index - rules.keep_superseded_versions]
            candidates.append((on.get(pushed_out.version, since), RULE_VERSIONS))
        due_on, rule = min(candidates, key=lambda c: (c[0], c[1] != RULE_DAYS))
        out.append((snap, rule, due_on))
    return sorted(out, key=lambda item: item[0].version)


def _reason(rule: str, rules: Retention) -> str:
    if rule == RULE_DAYS:
        return f"superseded for more than {rules.keep_superseded_days} days"
    if rule == RULE_VERSIONS:
        return f"more than {rules.keep_superseded_versions} newer superseded versions"
    return f"rows older than {rules.max_age_days} days were dropped into a new version"


def _age_values(settings: Settings, snap: DatasetSnapshot, column: str) -> pa.Array | None:
    path = settings.data_dir / snap.path / "data.parquet"
    if not path.is_file():
        return None
    table = pq.read_table(path, columns=[column])
    values = table.column(column).combine_chunks()
    if pa.types.is_timestamp(values.type):
        values = pc.cast(values, pa.date32())
    return values


def _age_rule_applies(session: Session, snap: DatasetSnapshot, rules: Retention) -> bool:
    if rules.max_age_days is None:
        return False
    body = session.get(DatasetContract, snap.contract_id).body
    stored = Contract.model_validate(body)
    try:
        column = stored.column(rules.age_column)
    except KeyError:
        return False
    return column.type in (ColumnType.date, ColumnType.datetime) and not column.is_identifier


def _too_old(values: pa.Array, cutoff: date) -> np.ndarray:
    """A boolean mask of rows older than `cutoff` (nulls are kept: their age is unknown)."""
    old = pc.less(values, pa.scalar(cutoff, pa.date32()))
    return np.asarray(pc.fill_null(old, False).to_numpy(zero_copy_only=False), dtype=bool)


def _datasets(session: Session) -> list[tuple[Dataset, str]]:
    from civicshare.partners.models import Partner

    return [
        (dataset, key)
        for dataset, key in session.execute(
            select(Dataset, Partner.key)
            .join(Partner, Partner.id == Dataset.partner_id)
            .order_by(Partner.key, Dataset.name)
        )
    ]


def status(session: Session, settings: Settings, today: date | None = None) -> list[Pending]:
    """What each rule will remove next, and when; and purges whose files are still there."""
    today = today or date.today()
    out: list[Pending] = []
    for dataset, partner_key in _datasets(session):
        name = f"{partner_key}/{dataset.name}"
        rules = rules_of(session, dataset)
        snaps = datasets.snapshots_of(session, dataset)
        for snap in snaps:
            if snap.status == SnapshotStatus.purged and (settings.data_dir / snap.path).exists():
                out.append(
                    Pending(
                        name,
                        snap.version,
                        "purged",
                        snap.purge_rule or "",
                        None,
                        "files still present: the next run removes them",
                    )
                )
        for snap, rule, due_on in _superseded_due(snaps, rules):
            out.append(
                Pending(name, snap.version, "superseded", rule, due_on, f"{snap.row_count:,} rows")
            )
        current = next((s for s in snaps if s.status == SnapshotStatus.current), None)
        if current is not None and _age_rule_applies(session, current, rules):
            values = _age_values(settings, current, rules.age_column)
            if values is not None and len(values) and values.null_count < len(values):
                oldest = pc.min(values).as_py()
                cutoff = today - timedelta(days=rules.max_age_days)
                due_on = oldest + timedelta(days=rules.max_age_days + 1)
                dropped = int(_too_old(values, cutoff).sum())
                what = (
                    f"{dropped:,} rows older than {cutoff.isoformat()}"
                    if dropped
                    else f"oldest row {oldest.isoformat()}"
                )
                out.append(Pending(name, current.version, "current", RULE_MAX_AGE, due_on, what))
    out.sort(key=lambda p: (p.due_on or date.min, p.dataset, p.version))
    return out


# -- evidence and deletion -----------------------------------------------------------------


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _bytes(directory: Path) -> int:
    if not directory.is_dir():
        return 0
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def _evidence(settings: Settings, purge: Purge, snap: DatasetSnapshot) -> None:
    directory = settings.data_dir / snap.path
    purge.data_sha256 = _sha256(directory / "data.parquet")
    purge.quarantine_sha256 = _sha256(directory / "quarantine.parquet")
    purge.bytes = _bytes(directory)


def _remove(settings: Settings, relative: str) -> bool:
    """Delete a snapshot directory: renamed into staging first, so a crash leaves an orphan
    that `ingest.sweep_staging` removes, never half a snapshot in place."""
    directory = settings.data_dir / relative
    if not directory.exists():
        return False
    root = ingest.staging_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    aside = root / f"orphan-purge-{uuid.uuid4().hex[:12]}"
    directory.rename(aside)
    ingest.fsync_dir(directory.parent)
    shutil.rmtree(aside, ignore_errors=True)
    return True


def _mark_purged(
    session: Session,
    snap: DatasetSnapshot,
    purge: Purge,
    now: datetime,
    superseded_on: date | None,
    **more: Any,
) -> None:
    snap.status = SnapshotStatus.purged
    snap.purged_at = now
    snap.purge_rule = purge.rule
    audit.record(
        session,
        None,
        "dataset.snapshot_purged",
        "dataset",
        purge.ref,
        reason=f"Retention: {purge.reason}",
        dataset=purge.dataset,
        row_count=purge.row_count,
        details={
            "snapshot": purge.ref,
            "snapshot_version": purge.version,
            "rule": purge.rule,
            "due_on": purge.due_on.isoformat(),
            "superseded_on": superseded_on.isoformat() if superseded_on else None,
            "purged_at": now.isoformat(),
            "rows": purge.row_count,
            "rows_quarantined": purge.quarantined_count,
            "data_parquet_sha256": purge.data_sha256,
            "quarantine_parquet_sha256": purge.quarantine_sha256,
            "bytes_freed": purge.bytes,
            "files_present": purge.data_sha256 is not None,
            "source_file_sha256": snap.file_sha256,
            **more,
        },
    )


def _finish_earlier(session: Session, settings: Settings, report: RetentionReport) -> None:
    """Purges committed by a run that stopped before deleting the files: delete them now."""
    rows = session.scalars(
        select(DatasetSnapshot).where(DatasetSnapshot.status == SnapshotStatus.purged)
    ).all()
    left = [r for r in rows if (settings.data_dir / r.path).exists()]
    for snap in left:
        ref = f"{snap.path.removeprefix('snapshots/')}"
        if report.dry_run:
            report.completed.append(ref)
            continue
        freed = _bytes(settings.data_dir / snap.path)
        audit.record(
            session,
            None,
            "dataset.snapshot_purge_completed",
            "dataset",
            ref,
            reason="Retention: files of a snapshot purged earlier were still present",
            dataset=ref.rsplit("/", 1)[0],
            details={
                "snapshot": ref,
                "rule": snap.purge_rule,
                "purged_at": snap.purged_at.isoformat() if snap.purged_at else None,
                "bytes_freed": freed,
            },
        )
        session.commit()
        _remove(settings, snap.path)
        report.completed.append(ref)


# -- trimming rows past their age ----------------------------------------------------------


def _reencrypt(
    table: pa.Table,
    columns: list[tuple[str, str, int]],
    old_key: bytes,
    old_ref: str,
    new_key: bytes,
    new_ref: str,
    sealed_in=None,
) -> pa.Table:
    """Re-encrypt each (stored column, AAD name, nonce stream) under the new version's key and
    reference: a ciphertext is bound to its snapshot, so it cannot simply be copied. With
    `sealed_in` (a directory), each column is also sealed there, as ingest does."""
    rows = np.asarray(table.column("_row").to_numpy(), dtype=np.int64)
    for stored, aad_name, stream in columns:
        plain = identity.decrypt_values(
            old_key, table.column(stored), identity.column_aad(old_ref, aad_name)
        )
        fresh = ingest.encrypt_rows(
            new_key, plain, identity.column_aad(new_ref, aad_name), stream, rows
        )
        table = table.set_column(table.schema.get_field_index(stored), stored, fresh)
        if sealed_in is not None:
            path = sealed_in / ingest.sealed_path(stream)
            path.parent.mkdir(mode=0o700, exist_ok=True)
            writer = identity.SealedWriter(path, new_key, new_ref, aad_name, stream)
            try:
                writer.write(plain, rows)
            finally:
                writer.close()
    return table


def _write_trimmed(
    settings: Settings,
    snap: DatasetSnapshot,
    contract: Contract,
    keep: np.ndarray,
    old_ref: str,
    new_ref: str,
) -> tuple[Path, str, int]:
    """Stage the new version's files; return (staging dir, wrapped data key, kept rows)."""
    source = settings.data_dir / snap.path
    old_key = identity.unwrap_data_key(settings, snap.wrapped_data_key)
    new_key, wrapped = identity.new_data_key(settings)
    directory = ingest.new_staging_dir(settings)
    try:
        table = pq.read_table(source / "data.parquet").filter(pa.array(keep))
        data_columns = [
            (f"{c.name}__enc", c.name, stream)
            for stream, c in enumerate(contract.columns)
            if c.is_identifier
        ]
        table = _reencrypt(
            table, data_columns, old_key, old_ref, new_key, new_ref, sealed_in=directory
        )
        pq.write_table(
            table.cast(ingest.data_schema(contract)),
            directory / "data.parquet",
            compression="zstd",
        )
        quarantined = 0
        if (source / "quarantine.parquet").is_file():
            # Quarantined rows have no trusted age: they follow the snapshot they belong to.
            qtable = pq.read_table(source / "quarantine.parquet")
            q_columns = [
                (f"{c.name}__enc", f"quarantine/{c.name}", ingest.QUARANTINE_STREAM + i)
                for i, c in enumerate(contract.columns)
            ]
            qtable = _reencrypt(qtable, q_columns, old_key, old_ref, new_key, new_ref)
            pq.write_table(qtable, directory / "quarantine.parquet", compression="zstd")
            quarantined = qtable.num_rows
        manifest = json.loads((source / "manifest.json").read_text())
        manifest.update(
            snapshot=new_ref,
            rows=table.num_rows,
            quarantined=quarantined,
            wrapped_data_key=wrapped,
            derived_from=old_ref,
            derived_by="retention max_age_days",
        )
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
        ingest.fsync_tree(directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return directory, wrapped, table.num_rows


def _trim(
    session: Session,
    settings: Settings,
    report: RetentionReport,
    dataset: Dataset,
    partner_key: str,
    current: DatasetSnapshot,
    rules: Retention,
    now: datetime,
) -> list[tuple[Purge, str]]:
    name = f"{partner_key}/{dataset.name}"
    values = _age_values(settings, current, rules.age_column)
    if values is None:
        return []
    cutoff = report.today - timedelta(days=rules.max_age_days)
    old = _too_old(values, cutoff)
    dropped = int(old.sum())
    if not dropped:
        return []
    trim = Trim(
        name, current.version, None, rules.age_column, cutoff, dropped, len(values) - dropped
    )
    report.trims.append(trim)
    purge = Purge(
        name,
        current.version,
        RULE_MAX_AGE,
        _reason(RULE_MAX_AGE, rules),
        report.today,
        current.row_count,
        current.quarantined_count,
    )
    _evidence(settings, purge, current)
    report.purges.append(purge)
    if report.dry_run:
        return []

    version = max(s.version for s in datasets.snapshots_of(session, dataset)) + 1
    old_ref, new_ref = f"{name}/v{current.version}", f"{name}/v{version}"
    contract = Contract.model_validate(session.get(DatasetContract, current.contract_id).body)
    staged, wrapped, kept = _write_trimmed(settings, current, contract, ~old, old_ref, new_ref)
    relative = Path("snapshots") / partner_key / dataset.name / f"v{version}"
    target = settings.data_dir / relative
    if target.exists():  # left by a run that renamed but never committed
        _remove(settings, str(relative))
    staged.rename(target)
    ingest.fsync_dir(target.parent)
    try:
        qcount = current.quarantined_count
        row = DatasetSnapshot(
            dataset_id=dataset.id,
            contract_id=current.contract_id,
            version=version,
            status=SnapshotStatus.current,
            path=str(relative),
            row_count=kept,
            quarantined_count=qcount,
            file_name=current.file_name,
            file_format=current.file_format,
            file_sha256=current.file_sha256,
            pseudonymisation_key_version=current.pseudonymisation_key_version,
            wrapped_data_key=wrapped,
            storage=current.storage,
        )
        session.add(row)
        dataset.row_count = kept
        audit.record(
            session,
            None,
            "dataset.rows_aged_out",
            "dataset",
            new_ref,
            reason=(
                f"Retention: {dropped:,} rows with {rules.age_column} before "
                f"{cutoff.isoformat()} are older than {rules.max_age_days} days"
            ),
            dataset=name,
            row_count=kept,
            details={
                "from_snapshot": old_ref,
                "to_snapshot": new_ref,
                "rule": RULE_MAX_AGE,
                "max_age_days": rules.max_age_days,
                "age_column": rules.age_column,
                "cutoff": cutoff.isoformat(),
                "rows_dropped": dropped,
                "rows_kept": kept,
                "data_parquet_sha256": _sha256(target / "data.parquet"),
            },
        )
        _mark_purged(session, current, purge, now, None, replaced_by=new_ref)
        session.flush()
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    trim.to_version = version
    return [(purge, current.path)]


# -- the run -------------------------------------------------------------------------------


def _run_dataset(
    session: Session,
    settings: Settings,
    report: RetentionReport,
    dataset: Dataset,
    partner_key: str,
    now: datetime,
) -> list[tuple[Purge, str]]:
    """Record what is due for one dataset (not committed); return the directories to delete."""
    name = f"{partner_key}/{dataset.name}"
    rules = rules_of(session, dataset)
    snaps = datasets.snapshots_of(session, dataset)
    on = _superseded_on(snaps)
    deletions: list[tuple[Purge, str]] = []
    for snap, rule, due_on in _superseded_due(snaps, rules):
        if due_on > report.today:
            continue
        purge = Purge(
            name,
            snap.version,
            rule,
            _reason(rule, rules),
            due_on,
            snap.row_count,
            snap.quarantined_count,
        )
        _evidence(settings, purge, snap)
        report.purges.append(purge)
        if not report.dry_run:
            _mark_purged(session, snap, purge, now, on.get(snap.version))
            deletions.append((purge, snap.path))
    current = next((s for s in snaps if s.status == SnapshotStatus.current), None)
    if current is not None and _age_rule_applies(session, current, rules):
        deletions += _trim(session, settings, report, dataset, partner_key, current, rules, now)
    return deletions


def run(
    session: Session, settings: Settings, today: date | None = None, dry_run: bool = False
) -> RetentionReport:
    """Purge what is due under each dataset's retention rules and expire agreements whose end
    or review date has passed. Commits `session` (see the module's notes on order); with
    `dry_run` nothing is written, deleted or committed and the report says what would be."""
    today = today or date.today()
    report = RetentionReport(today=today, dry_run=dry_run)
    now = utcnow()  # purged_at is when it happened, whatever `today` the rules were run for
    try:
        _finish_earlier(session, settings, report)
    except Exception as error:  # noqa: BLE001
        session.rollback()
        report.errors.append(f"finishing earlier purges: {type(error).__name__}: {error}")
    for dataset, partner_key in _datasets(session):
        name = f"{partner_key}/{dataset.name}"
        try:
            deletions = _run_dataset(session, settings, report, dataset, partner_key, now)
            if dry_run:
                continue
            session.commit()
        except Exception as error:  # noqa: BLE001
            session.rollback()
            for purge in report.purges:
                if purge.dataset == name:
                    purge.done = False
            report.errors.append(f"{name}: {type(error).__name__}: {error}")
            log.exception("retention failed for %s", name)
            continue
        for purge, relative in deletions:
            try:
                _remove(settings, relative)
            except OSError as error:
                report.errors.append(
                    f"{purge.ref}: recorded as purged but its files could not be deleted "
                    f"({type(error).__name__}); the next run tries again"
                )
            purge.done = True
        for trim in report.trims:
            if trim.dataset == name and trim.to_version is not None:
                trim.done = True
    if not dry_run:
        try:
            from civicshare.agreements import service as agreements

            for version, reason in agreements.expire_due(session, today):
                report.expired.append((version.reference, version.number, reason))
            session.commit()
        except Exception as error:  # noqa: BLE001
            session.rollback()
            report.expired.clear()
            report.errors.append(f"expiring agreements: {type(error).__name__}: {error}")
    return report


# -- on a schedule while the server runs ---------------------------------------------------


def tick(sessions, settings: Settings) -> dict[str, int] | None:
    """One scheduled run in its own unit of work. Never raises; logs counts only (no refs,
    no messages that could name anything), and returns them, or None when the run failed."""
    from civicshare.db import session_scope

    try:
        with session_scope(sessions) as session:
            counts = run(session, settings).counts()
    except Exception as error:  # noqa: BLE001  (the server must outlive a failed run)
        log.error("scheduled retention run failed (%s)", type(error).__name__)
        return None
    log.info(
        "scheduled retention run: %d snapshots purged, %d trimmed, %d finished, "
        "%d agreements expired, %d errors",
        counts["purged"],
        counts["trimmed"],
        counts["completed"],
        counts["expired"],
        counts["errors"],
    )
    return counts


async def every(sessions, settings: Settings, interval_seconds: float) -> None:
    """Run retention every `interval_seconds`, first after one interval, until cancelled.

    Each run happens in a worker thread, so requests are served meanwhile."""
    import asyncio

    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await asyncio.to_thread(tick, sessions, settings)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001
            log.error("scheduled retention run failed (%s)", type(error).__name__)
