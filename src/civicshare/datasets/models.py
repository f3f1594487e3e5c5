"""Datasets: what each partner provides, its contract, its snapshots and every push."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicshare.db import Base, Timestamped, text_enum, utcnow


class Dataset(Timestamped, Base):
    """A dataset a partner provides: its current contract and snapshots hang off it."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("partner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    file_format: Mapped[str] = mapped_column(String(16))
    row_count: Mapped[int] = mapped_column(default=0)
    column_count: Mapped[int] = mapped_column(default=0)


class DatasetContract(Base):
    """One version of a dataset's contract (the JSON as validated). Never changed once made."""

    __tablename__ = "dataset_contracts"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"))
    version: Mapped[int]
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(300), default="")


class SnapshotStatus(enum.StrEnum):
    current = "current"
    superseded = "superseded"
    purged = "purged"  # files deleted under a retention rule; the row stays as evidence


class DatasetSnapshot(Base):
    """An immutable version of a dataset: Parquet under data_dir/<path>, written whole."""

    __tablename__ = "dataset_snapshots"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"))
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_contracts.id", ondelete="RESTRICT")
    )
    version: Mapped[int]
    status: Mapped[SnapshotStatus] = mapped_column(
        text_enum(SnapshotStatus, "snapshot_status"), default=SnapshotStatus.current
    )
    path: Mapped[str] = mapped_column(String(500))  # relative to data_dir
    row_count: Mapped[int]
    quarantined_count: Mapped[int] = mapped_column(default=0)
    file_name: Mapped[str] = mapped_column(String(300))
    file_format: Mapped[str] = mapped_column(String(16))
    file_sha256: Mapped[str] = mapped_column(String(64))
    pseudonymisation_key_version: Mapped[int]
    wrapped_data_key: Mapped[str] = mapped_column(Text)
    storage: Mapped[dict[str, Any]] = mapped_column(JSON)  # contract column -> stored columns
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    purged_at: Mapped[datetime | None] = mapped_column(default=None)
    purge_rule: Mapped[str | None] = mapped_column(String(64), default=None)


class IngestOutcome(enum.StrEnum):
    accepted = "accepted"
    rejected = "rejected"


class DatasetIngest(Base):
    """Every push, accepted or rejected, with its validation report (no identifying values)."""

    __tablename__ = "dataset_ingests"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"))
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_snapshots.id", ondelete="RESTRICT")
    )
    outcome: Mapped[IngestOutcome] = mapped_column(text_enum(IngestOutcome, "ingest_outcome"))
    file_name: Mapped[str] = mapped_column(String(300))
    file_sha256: Mapped[str] = mapped_column(String(64))
    rows_read: Mapped[int]
    rows_accepted: Mapped[int]
    rows_quarantined: Mapped[int]
    problem_count: Mapped[int]
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor_label: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
