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

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.dataplane import snapshots
from civicshare.datasets import service as datasets
from civicshare.datasets.contracts import ColumnType, Contract, Retention
from civicshare.datasets.models import Dataset, DatasetContract, DatasetSnapshot, SnapshotStatus
from civicshare.db import utcnow

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
    # Residents' details of members' enquiries deleted (enquiries.upkeep.PurgedDetails).
    resident_details: list[Any] = field(default_factory=list)
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
            "resident_details": len(self.resident_details),
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
            if snap.status == SnapshotStatus.purged and snapshots.present(settings, snap.path):
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
            values = snapshots.read_dates(settings, current, rules.age_column)
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


def _evidence(settings: Settings, purge: Purge, snap: DatasetSnapshot) -> None:
    found = snapshots.evidence(settings, snap.path)
    purge.data_sha256 = found.data_sha256
    purge.quarantine_sha256 = found.quarantine_sha256
    purge.bytes = found.bytes


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
    left = [r for r in rows if snapshots.present(settings, r.path)]
    for snap in left:
        ref = f"{snap.path.removeprefix('snapshots/')}"
        if report.dry_run:
            report.completed.append(ref)
            continue
        freed = snapshots.stored_bytes(settings, snap.path)
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
        snapshots.remove_files(settings, snap.path)
        report.completed.append(ref)


# -- trimming rows past their age ----------------------------------------------------------


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
    values = snapshots.read_dates(settings, current, rules.age_column)
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

    snapshots.one_writer_at_a_time(session, settings, dataset.id)
    version = snapshots.next_version(session, dataset.id)
    old_ref = snapshots.snapshot_ref(partner_key, dataset.name, current.version)
    new_ref = snapshots.snapshot_ref(partner_key, dataset.name, version)
    contract = Contract.model_validate(session.get(DatasetContract, current.contract_id).body)
    rewritten = snapshots.rewrite_keeping(
        settings, current, contract, ~old, new_ref, "retention max_age_days"
    )
    with snapshots.installing(
        session,
        settings,
        dataset,
        partner_key,
        version,
        rewritten.directory,
        contract_id=current.contract_id,
        row_count=rewritten.rows,
        quarantined_count=current.quarantined_count,
        file_name=current.file_name,
        file_format=current.file_format,
        file_sha256=current.file_sha256,
        pseudonymisation_key_version=current.pseudonymisation_key_version,
        wrapped_data_key=rewritten.wrapped_data_key,
        storage=current.storage,
    ) as row:
        dataset.row_count = row.row_count
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
            row_count=row.row_count,
            details={
                "from_snapshot": old_ref,
                "to_snapshot": new_ref,
                "rule": RULE_MAX_AGE,
                "max_age_days": rules.max_age_days,
                "age_column": rules.age_column,
                "cutoff": cutoff.isoformat(),
                "rows_dropped": dropped,
                "rows_kept": row.row_count,
                "data_parquet_sha256": snapshots.file_sha256(settings, row.path),
            },
        )
        _mark_purged(session, current, purge, now, None, replaced_by=new_ref)
        session.flush()
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
                snapshots.remove_files(settings, relative)
            except OSError as error:
                report.errors.append(
                    f"{purge.ref}: recorded as purged but its files could not be deleted "
                    f"({type(error).__name__}); the next run tries again"
                )
            purge.done = True
        for trim in report.trims:
            if trim.dataset == name and trim.to_version is not None:
                trim.done = True
    _purge_resident_details(session, report, today, dry_run)
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


def _purge_resident_details(session, report: RetentionReport, today: date, dry_run: bool) -> None:
    """Residents' details of members' enquiries past their agreement's retention period."""
    from civicshare.enquiries import upkeep as enquiries

    try:
        report.resident_details = enquiries.purge_resident_details(session, today, dry_run)
        if not dry_run:
            session.commit()
    except Exception as error:  # noqa: BLE001
        session.rollback()
        report.resident_details = []
        report.errors.append(f"enquiries' resident details: {type(error).__name__}: {error}")
        log.exception("retention failed for enquiries' resident details")


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
    """Run retention every `interval_seconds`, first after one interval, until cancelled."""
    import functools

    from civicshare.core.schedule import repeat

    work = functools.partial(tick, sessions, settings)  # `tick` looked up now: tests replace it
    await repeat("retention run", interval_seconds, work, log)
