"""Datasets: what each partner provides, its contract, validated ingest and snapshots.

Interface for the sharing engine and other domains
--------------------------------------------------
* `current_snapshot(session, partner_key, dataset_name, settings=None) -> SnapshotInfo | None`
  The dataset's current immutable snapshot: `data_path` (one Parquet file), `row_count`,
  `version`, `ref` ("partner/dataset/vN"), `contract` (a `Contract`: columns with type,
  identifier kind, special category, criminal offence), `storage` (per contract column how it
  is stored, below), `pseudonymisation_key_version`, `wrapped_data_key`.
* `current_snapshots(session, [(partner_key, dataset_name), ...], settings=None)` — the same
  for several datasets at once: {pair: SnapshotInfo | None}.
* `snapshot(session, partner_key, dataset_name, version, settings=None)` — any version.

Snapshot layout: `data_dir/snapshots/<partner>/<dataset>/v<N>/`
  `data.parquet`        accepted rows: `_row` (row number in the partner's file), then per
                        contract column either the column itself, typed (not an identifier),
                        or for an identifier column `c`:
                          `c__token`  hex HMAC-SHA256(pseudonymisation key vK, normalised value)
                          (the normalised values only sealed: `sealed/<k>.bin`, decision
                          0039; versions made before also hold `c__enc`, AES-256-GCM per value)
                          `c__year`   date_of_birth only: year of birth (int16, plaintext)
                          `c__sector` postcode only: postcode sector, e.g. "WR5 1" (plaintext)
  `quarantine.parquet`  quarantined rows' numbers, their fields sealed (`sealed/quarantine-<k>.bin`;
                        before decision 0039 every field as `c__enc`) (may be absent)
  `manifest.json`       contract, storage map, counts, key version, wrapped data key
`storage[c]` = {"stored_as": "plain"|"pseudonymised", "plain": c | "token": .., "sealed": ..,
  ("encrypted": .. before 0039), "generalised": {"year"|"sector": ..}, "type", "identifier",
  "special_category", ...}.
Tokens for a recipient: identity.service.agreement_tokens(settings, column, agreement_ref).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare import db
from civicshare.accounts.service import Actor
from civicshare.audit import service as audit
from civicshare.config import Settings, get_settings
from civicshare.core.errors import DomainError
from civicshare.dataplane import ingest, snapshots
from civicshare.datasets.contracts import Contract, example_contracts, parse_contract
from civicshare.datasets.models import (
    Dataset,
    DatasetContract,
    DatasetIngest,
    DatasetSnapshot,
    IngestOutcome,
    SnapshotStatus,
)
from civicshare.partners import service as partners


class DatasetError(DomainError):
    """A request about datasets that cannot be met; the message says why."""


class PushNotAllowed(DatasetError):
    """Acting for one partner, pushing data for another."""

    status = 403


@dataclass(frozen=True)
class PartnerHoldings:
    """What one partner shares through the gateway, in counts."""

    partner_id: int
    datasets: int
    rows: int
    titles: tuple[str, ...]


@dataclass(frozen=True)
class SnapshotInfo:
    id: int
    partner_key: str
    dataset_name: str
    version: int
    ref: str
    directory: Path
    data_path: Path
    quarantine_path: Path | None
    row_count: int
    quarantined_count: int
    contract: Contract
    storage: dict[str, dict[str, Any]]
    pseudonymisation_key_version: int
    wrapped_data_key: str
    file_sha256: str
    created_at: datetime
    status: str


@dataclass(frozen=True)
class PushResult:
    outcome: str
    report: dict[str, Any]
    snapshot: SnapshotInfo | None
    ingest_id: int


# -- the dataset register (kept for the home page and the demo) ----------------------------


def register(
    session: Session,
    *,
    partner_id: int,
    name: str,
    title: str,
    file_format: str,
    row_count: int,
    column_count: int,
    description: str = "",
) -> Dataset:
    """Create or update the dataset `name` of a partner."""
    dataset = session.scalars(
        select(Dataset).where(Dataset.partner_id == partner_id, Dataset.name == name)
    ).one_or_none() or Dataset(partner_id=partner_id, name=name)
    dataset.title = title
    dataset.description = description
    dataset.file_format = file_format
    dataset.row_count = row_count
    dataset.column_count = column_count
    session.add(dataset)
    session.flush()
    return dataset


def holdings_by_partner(session: Session) -> dict[int, PartnerHoldings]:
    totals = session.execute(
        select(Dataset.partner_id, func.count(Dataset.id), func.sum(Dataset.row_count)).group_by(
            Dataset.partner_id
        )
    ).all()
    titles: dict[int, list[str]] = {}
    for partner_id, title in session.execute(
        select(Dataset.partner_id, Dataset.title).order_by(Dataset.title)
    ):
        titles.setdefault(partner_id, []).append(title)
    return {
        partner_id: PartnerHoldings(partner_id, count, int(rows or 0), tuple(titles[partner_id]))
        for partner_id, count, rows in totals
    }


# -- contracts -----------------------------------------------------------------------------


def _audit(session, actor, action, entity_id, *, reason="", **facts) -> None:
    """audit.record with the audit domain's keyword parameters where it has them."""
    accepted = inspect.signature(audit.record).parameters
    direct = {k: v for k, v in facts.items() if k in accepted}
    details = {k: v for k, v in facts.items() if k not in accepted}
    audit.record(
        session, actor, action, "dataset", entity_id, reason=reason, details=details, **direct
    )


def get_dataset(session: Session, partner_key: str, name: str) -> Dataset | None:
    partner = partners.get_by_key(session, partner_key)
    if partner is None:
        return None
    return session.scalars(
        select(Dataset).where(Dataset.partner_id == partner.id, Dataset.name == name)
    ).one_or_none()


def require_dataset(session: Session, partner_key: str, name: str) -> Dataset:
    """The partner's dataset of this name; refused (404) when there is none."""
    found = get_dataset(session, partner_key, name)
    if found is None:
        raise DatasetError(f"{partner_key} has no dataset {name!r}.", field="dataset", status=404)
    return found


def latest_contract_row(session: Session, dataset: Dataset) -> DatasetContract | None:
    return session.scalars(
        select(DatasetContract)
        .where(DatasetContract.dataset_id == dataset.id)
        .order_by(DatasetContract.version.desc())
    ).first()


def current_contract(session: Session, dataset: Dataset) -> Contract | None:
    row = latest_contract_row(session, dataset)
    return None if row is None else Contract.model_validate(row.body)


# Fields added after contracts were first stored, with their defaults: left at the default they
# are not part of the digest, so an unchanged contract registered again is not a new version.
ADDED_LATER = {"one_record_per_person": False}


def contract_digest(body: dict[str, Any]) -> str:
    kept = {k: v for k, v in body.items() if k not in ADDED_LATER or v != ADDED_LATER[k]}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


def register_contract(
    session: Session, contract: Contract | dict | str, *, actor: Actor | None = None
) -> DatasetContract:
    """Register (or revise) a dataset's contract. A changed contract is a new version."""
    if not isinstance(contract, Contract):
        contract = parse_contract(contract)
    partner = partners.get_by_key(session, contract.partner)
    if partner is None:
        raise DatasetError(f"there is no partner with the key {contract.partner!r}")
    if actor is not None and actor.partner_key != contract.partner and not _is_host_admin(actor):
        raise DatasetError(
            f"acting for {actor.partner_key}, you cannot register a dataset of {contract.partner}"
        )
    dataset = (
        register(
            session,
            partner_id=partner.id,
            name=contract.name,
            title=contract.title,
            description=contract.description,
            file_format=contract.format.value,
            row_count=0,
            column_count=len(contract.columns),
        )
        if get_dataset(session, contract.partner, contract.name) is None
        else _update(session, contract)
    )
    body = contract.model_dump(mode="json")
    digest = contract_digest(body)
    latest = latest_contract_row(session, dataset)
    if latest is not None and latest.sha256 == digest:
        return latest
    row = DatasetContract(
        dataset_id=dataset.id,
        version=(latest.version + 1) if latest else 1,
        body=body,
        sha256=digest,
        created_by=actor.label if actor else audit.SYSTEM,
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        actor,
        "dataset.contract_registered",
        f"{contract.partner}/{contract.name}",
        contract_version=row.version,
        column_count=len(contract.columns),
        identifier_columns=sum(1 for c in contract.columns if c.is_identifier),
        bad_rows=contract.bad_rows.value,
    )
    return row


def _update(session: Session, contract: Contract) -> Dataset:
    dataset = get_dataset(session, contract.partner, contract.name)
    dataset.title = contract.title
    dataset.description = contract.description
    dataset.file_format = contract.format.value
    dataset.column_count = len(contract.columns)
    session.flush()
    return dataset


def _is_host_admin(actor: Actor) -> bool:
    from civicshare.partners.models import Role

    return actor.partner_key == get_settings().host_partner and actor.has_role(Role.admin)


# -- snapshots -----------------------------------------------------------------------------


def _info(
    session: Session,
    row: DatasetSnapshot,
    dataset: Dataset,
    partner_key: str,
    settings: Settings,
    contract_row: DatasetContract | None = None,
) -> SnapshotInfo:
    if contract_row is None or contract_row.id != row.contract_id:
        contract_row = session.get(DatasetContract, row.contract_id)
    directory = settings.data_dir / row.path
    quarantine = directory / snapshots.QUARANTINE_FILE
    return SnapshotInfo(
        id=row.id,
        partner_key=partner_key,
        dataset_name=dataset.name,
        version=row.version,
        ref=f"{partner_key}/{dataset.name}/v{row.version}",
        directory=directory,
        data_path=directory / snapshots.DATA_FILE,
        quarantine_path=quarantine if row.quarantined_count else None,
        row_count=row.row_count,
        quarantined_count=row.quarantined_count,
        contract=Contract.model_validate(contract_row.body),
        storage=row.storage,
        pseudonymisation_key_version=row.pseudonymisation_key_version,
        wrapped_data_key=row.wrapped_data_key,
        file_sha256=row.file_sha256,
        created_at=row.created_at,
        status=row.status.value,
    )


def current_snapshot(
    session: Session, partner_key: str, dataset_name: str, settings: Settings | None = None
) -> SnapshotInfo | None:
    """The dataset's current snapshot, or None when it has none (or does not exist)."""
    dataset = get_dataset(session, partner_key, dataset_name)
    if dataset is None:
        return None
    row = session.scalars(
        select(DatasetSnapshot)
        .where(
            DatasetSnapshot.dataset_id == dataset.id,
            DatasetSnapshot.status == SnapshotStatus.current,
        )
        .order_by(DatasetSnapshot.version.desc())
    ).first()
    return (
        None
        if row is None
        else _info(session, row, dataset, partner_key, settings or get_settings())
    )


# What current_snapshots() read, by (store, the "snapshots" change stamp's token, data
# directory, pairs asked): a view asks the same few pairs on every request, and reading them
# costs two queries and a contract parse each. Any write to partners, datasets, contracts or
# snapshots replaces the token (db.STAMPED). Size 0 keeps none.
SNAPSHOT_LOOKUPS = db.Kept("snapshots", 64)


def current_snapshots(
    session: Session,
    wanted: Iterable[tuple[str, str]],
    settings: Settings | None = None,
) -> dict[tuple[str, str], SnapshotInfo | None]:
    """`current_snapshot()` for several (partner key, dataset name) pairs in two queries (the
    snapshots with their datasets and partners, then their contracts) instead of four each, or
    in one (the change stamp's token) when this process read the same pairs under the same
    token. Each pair maps to what `current_snapshot()` would return for it, None included."""
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        return {}
    settings = settings or get_settings()
    found = SNAPSHOT_LOOKUPS.get(
        session,
        lambda: _read_current_snapshots(session, wanted, settings),
        (str(settings.data_dir), tuple(wanted)),
    )
    return dict(found)


def _read_current_snapshots(
    session: Session, wanted: list[tuple[str, str]], settings: Settings
) -> dict[tuple[str, str], SnapshotInfo | None]:
    from civicshare.partners.models import Partner

    found: dict[tuple[str, str], SnapshotInfo | None] = dict.fromkeys(wanted)
    rows = session.execute(
        select(Partner.key, Dataset, DatasetSnapshot)
        .join(Dataset, Dataset.partner_id == Partner.id)
        .join(DatasetSnapshot, DatasetSnapshot.dataset_id == Dataset.id)
        .where(
            Partner.key.in_({key for key, _ in wanted}),
            Dataset.name.in_({name for _, name in wanted}),
            DatasetSnapshot.status == SnapshotStatus.current,
        )
        .order_by(DatasetSnapshot.version.desc(), DatasetSnapshot.id)
    ).all()
    newest: dict[tuple[str, str], tuple[Dataset, DatasetSnapshot]] = {}
    for key, dataset, row in rows:
        if (key, dataset.name) in found:
            newest.setdefault((key, dataset.name), (dataset, row))
    contracts = {
        c.id: c
        for c in session.scalars(
            select(DatasetContract).where(
                DatasetContract.id.in_({row.contract_id for _, row in newest.values()})
            )
        )
    }
    for (key, name), (dataset, row) in newest.items():
        found[(key, name)] = _info(
            session, row, dataset, key, settings, contracts.get(row.contract_id)
        )
    return found


def snapshot(
    session: Session,
    partner_key: str,
    dataset_name: str,
    version: int,
    settings: Settings | None = None,
) -> SnapshotInfo | None:
    dataset = get_dataset(session, partner_key, dataset_name)
    if dataset is None:
        return None
    row = session.scalars(
        select(DatasetSnapshot).where(
            DatasetSnapshot.dataset_id == dataset.id, DatasetSnapshot.version == version
        )
    ).one_or_none()
    return (
        None
        if row is None
        else _info(session, row, dataset, partner_key, settings or get_settings())
    )


def snapshots_of(session: Session, dataset: Dataset) -> list[DatasetSnapshot]:
    return list(
        session.scalars(
            select(DatasetSnapshot)
            .where(DatasetSnapshot.dataset_id == dataset.id)
            .order_by(DatasetSnapshot.version.desc())
        )
    )


def ingests_of(session: Session, dataset: Dataset, limit: int = 20) -> list[DatasetIngest]:
    return list(
        session.scalars(
            select(DatasetIngest)
            .where(DatasetIngest.dataset_id == dataset.id)
            .order_by(DatasetIngest.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class DatasetRow:
    partner_key: str
    partner_name: str
    dataset: Dataset
    has_contract: bool
    current_version: int | None
    rows: int
    quarantined: int
    versions: int


def list_datasets(session: Session, partner_key: str | None = None) -> list[DatasetRow]:
    from civicshare.partners.models import Partner

    query = select(Dataset, Partner).join(Partner, Partner.id == Dataset.partner_id)
    if partner_key:
        query = query.where(Partner.key == partner_key)
    out = []
    for dataset, partner in session.execute(query.order_by(Partner.name, Dataset.name)):
        snaps = snapshots_of(session, dataset)
        current = next((s for s in snaps if s.status == SnapshotStatus.current), None)
        out.append(
            DatasetRow(
                partner_key=partner.key,
                partner_name=partner.name,
                dataset=dataset,
                has_contract=latest_contract_row(session, dataset) is not None,
                current_version=current.version if current else None,
                rows=current.row_count if current else dataset.row_count,
                quarantined=current.quarantined_count if current else 0,
                versions=len(snaps),
            )
        )
    return out


# -- pushing a file ------------------------------------------------------------------------


def may_push(actor: Actor, partner_key: str) -> bool:
    """A data provider or admin of the partner itself (an actor acts for one partner)."""
    from civicshare.partners.models import Role

    return actor.partner_key == partner_key and actor.has_role(Role.data_provider, Role.admin)


def push(
    session: Session,
    settings: Settings,
    partner_key: str,
    dataset_name: str,
    source: Path | BinaryIO,
    *,
    file_name: str | None = None,
    actor: Actor | None = None,
    progress: ingest.Progress | None = None,
) -> PushResult:
    """Validate a file against the dataset's contract and, if it passes, make it the new
    snapshot: whole or not at all. Records the push (accepted or rejected) and audits it in
    the caller's unit of work. `actor` None is an operator at the server's command line."""
    if actor is not None and not may_push(actor, partner_key):
        raise PushNotAllowed(
            f"acting for {actor.partner_key}, you cannot push data for {partner_key}: only a "
            "data provider or admin of that partner can"
        )
    dataset = get_dataset(session, partner_key, dataset_name)
    contract_row = latest_contract_row(session, dataset) if dataset else None
    if dataset is None or contract_row is None:
        raise DatasetError(
            f"{partner_key} has no dataset {dataset_name!r} with a contract; register its "
            "contract first (civicshare datasets register CONTRACT.json)",
            field="dataset",
            status=404,
        )
    contract = Contract.model_validate(contract_row.body)
    ingest.sweep_staging(settings)
    snapshots.one_writer_at_a_time(session, settings, dataset.id)
    version = snapshots.next_version(session, dataset.id)
    ref = snapshots.snapshot_ref(partner_key, dataset_name, version)

    file_name = file_name or (Path(source).name if isinstance(source, str | Path) else "upload")
    file_format = ingest.guess_format(file_name, contract)
    with contextlib.ExitStack() as stack:
        if isinstance(source, str | Path):
            source = stack.enter_context(open(source, "rb"))
        source.seek(0, os.SEEK_END)
        size = source.tell()
        source.seek(0)
        staged = ingest.stage(
            settings,
            contract,
            source,
            file_name=file_name,
            file_format=file_format,
            size=size,
            snapshot_ref=ref,
            progress=progress,
        )

    report = staged.report
    name = f"{partner_key}/{dataset_name}"
    if staged.outcome == "rejected":
        return _rejected(session, actor, dataset, name, staged, file_name)

    with snapshots.installing(
        session,
        settings,
        dataset,
        partner_key,
        version,
        staged.directory,
        contract_id=contract_row.id,
        row_count=staged.rows_accepted,
        quarantined_count=staged.rows_quarantined,
        file_name=file_name,
        file_format=file_format.value,
        file_sha256=staged.sha256,
        pseudonymisation_key_version=staged.key_version,
        wrapped_data_key=staged.wrapped_data_key,
        storage=staged.storage,
    ) as row:
        report["snapshot_version"] = version
        dataset.row_count = staged.rows_accepted
        dataset.column_count = len(contract.columns)
        dataset.file_format = file_format.value
        record = DatasetIngest(
            dataset_id=dataset.id,
            snapshot_id=row.id,
            outcome=IngestOutcome.accepted,
            file_name=file_name,
            file_sha256=staged.sha256,
            rows_read=staged.rows_read,
            rows_accepted=staged.rows_accepted,
            rows_quarantined=staged.rows_quarantined,
            problem_count=report["problem_count"],
            report=report,
            actor_label=actor.label if actor else audit.SYSTEM,
        )
        session.add(record)
        session.flush()
        _audit(
            session,
            actor,
            "dataset.ingest_accepted",
            name,
            dataset=name,
            snapshot_version=version,
            file_sha256=staged.sha256,
            rows_read=staged.rows_read,
            row_count=staged.rows_accepted,
            rows_quarantined=staged.rows_quarantined,
            problem_count=report["problem_count"],
            pseudonymisation_key_version=staged.key_version,
            ingest_id=record.id,
        )
    return PushResult(
        "accepted", report, _info(session, row, dataset, partner_key, settings), record.id
    )


def _rejected(session, actor, dataset, name: str, staged, file_name: str) -> PushResult:
    """Record and audit a file refused whole; no snapshot is made."""
    record = DatasetIngest(
        dataset_id=dataset.id,
        outcome=IngestOutcome.rejected,
        file_name=file_name,
        file_sha256=staged.sha256,
        rows_read=staged.rows_read,
        rows_accepted=0,
        rows_quarantined=0,
        problem_count=staged.report["problem_count"],
        report=staged.report,
        actor_label=actor.label if actor else audit.SYSTEM,
    )
    session.add(record)
    session.flush()
    _audit(
        session,
        actor,
        "dataset.ingest_rejected",
        name,
        reason="; ".join(staged.report["reasons"])[:500],
        dataset=name,
        file_sha256=staged.sha256,
        rows_read=staged.rows_read,
        problem_count=staged.report["problem_count"],
        ingest_id=record.id,
    )
    return PushResult("rejected", staged.report, None, record.id)


# -- the demo ------------------------------------------------------------------------------


def ingest_demo(
    session: Session, settings: Settings, county_dir: Path, actor: Actor | None = None
) -> list[PushResult]:
    """Register the shipped contracts for partners that exist and push the county's files
    (a contract without a file in the county is registered with no snapshot).

        Loads only what is missing: a dataset that has any snapshot (current, superseded or
        purged) is never pushed again, and a dataset that has a contract keeps it, so a version
        or contract a person pushed is never replaced by the synthetic file on a later run."""
    results = []
    for contract in example_contracts():
        if partners.get_by_key(session, contract.partner) is None:
            continue
        path = Path(county_dir) / "datasets" / f"{contract.name}.{contract.format.value}"
        dataset = get_dataset(session, contract.partner, contract.name)
        if not path.is_file():
            # No file in the county: a dataset published through its own service (births,
            # changes of address: civicshare events publish). Its contract only.
            if dataset is None:
                register_contract(session, contract, actor=actor)
            continue
        if dataset is not None and snapshots_of(session, dataset):
            continue
        if dataset is None or latest_contract_row(session, dataset) is None:
            register_contract(session, contract, actor=actor)
        results.append(push(session, settings, contract.partner, contract.name, path, actor=actor))
    return results
