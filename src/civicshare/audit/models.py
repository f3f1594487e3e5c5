"""Audit: every governance change and every decision, with who, as which membership, and why.

The records form one hash chain (see `audit/chain.py` for the exact format); the chain head is
one row that every writer locks, so appends serialise; signed checkpoints pin the chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from civicshare.db import Base, utcnow

OUTCOMES = ("allowed", "denied")

# The chain head is one row with this id; checkpoint records carry this action, and one is
# signed automatically when a record's seq is a multiple of the `audit_checkpoint_every`
# setting (default CHECKPOINT_EVERY; see service.checkpoint_every).
HEAD_ID = 1
CHECKPOINT_ACTION = "audit_checkpoint_signed"
CHECKPOINT_EVERY = 1000


class AuditRecord(Base):
    """One append-only record, linked to the one before it by `prev_hash`."""

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_entity", "entity_type", "entity_id"),
        Index("ix_audit_records_at", "at"),
        Index("ix_audit_records_action", "action"),
        Index("ix_audit_records_actor_partner", "actor_partner"),
        Index("ix_audit_records_agreement_ref", "agreement_ref"),
        Index("ix_audit_records_dataset", "dataset"),
        CheckConstraint("outcome IN ('allowed', 'denied')", name="outcome"),
        CheckConstraint("seq > 0", name="seq_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"))
    membership_id: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="RESTRICT")
    )
    actor_label: Mapped[str] = mapped_column(String(300))
    actor_partner: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The facts of a sharing decision, as columns so the log can be filtered.
    purpose: Mapped[str | None] = mapped_column(String(200))
    agreement_ref: Mapped[str | None] = mapped_column(String(32))
    agreement_version: Mapped[int | None]
    dataset: Mapped[str | None] = mapped_column(String(200))
    columns: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    output_sha256: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(16))


class AuditChainHead(Base):
    """The one row naming the last record of the chain; writers lock it to append."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    record_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """An Ed25519 signature over (seq, record_hash, at) of the chain at one moment."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    record_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))
