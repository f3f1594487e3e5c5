"""Governance-store tables of subject access, rectification and erasure.

The requester's details (name, date of birth, address, NHS number as given) are sealed with a
data key of their own (AES-GCM, wrapped by the store's key-encryption key), never held in
plain text: the tables otherwise name records only by their source and record id, as the
person index does. A correction's new value is sealed the same way.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicshare.db import Base, text_enum, utcnow


class RequestStatus(enum.StrEnum):
    open = "open"
    completed = "completed"  # the export was given to the requester


class Match(enum.StrEnum):
    confident = "confident"  # found by the rules or strong links: exported
    uncertain = "uncertain"  # listed for the IG lead; exported only once confirmed
    confirmed = "confirmed"  # an uncertain candidate the IG lead confirmed: exported
    excluded = "excluded"  # an uncertain candidate the IG lead excluded: never exported


EXPORTED = (Match.confident, Match.confirmed)


class AccessRequest(Base):
    """A subject access request: who asked (sealed), when, by when it is due."""

    __tablename__ = "rights_access_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    opened_by: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="SET NULL"), default=None
    )
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_on: Mapped[date]
    due_on: Mapped[date]  # one month from receipt, or the extended date
    extended: Mapped[bool] = mapped_column(default=False)
    extension_reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[RequestStatus] = mapped_column(
        text_enum(RequestStatus, "rights_access_status"), default=RequestStatus.open
    )
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    wrapped_key: Mapped[str] = mapped_column(Text)  # the details' data key, wrapped
    sealed_details: Mapped[bytes] = mapped_column()  # JSON of the details as given

    records: Mapped[list[AccessRecord]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="AccessRecord.id"
    )


class AccessRecord(Base):
    """A record found for a request, how it was found and whether it is exported."""

    __tablename__ = "rights_access_records"
    __table_args__ = (UniqueConstraint("request_id", "source", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("rights_access_requests.id", ondelete="CASCADE")
    )
    source: Mapped[str] = mapped_column(String(200))  # partner/dataset
    record_id: Mapped[str] = mapped_column(String(200))
    match: Mapped[Match] = mapped_column(text_enum(Match, "rights_access_match"))
    how: Mapped[str] = mapped_column(Text, default="")  # which details agreed, or the link
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime | None] = mapped_column(default=None)

    request: Mapped[AccessRequest] = relationship(back_populates="records")


class CorrectionKind(enum.StrEnum):
    rectify = "rectify"
    erase = "erase"


class CorrectionStatus(enum.StrEnum):
    open = "open"  # recipients still to confirm, or the provider's snapshot still to carry it
    complete = "complete"  # every recipient confirmed and the provider's snapshot carries it


class SnapshotCheck(enum.StrEnum):
    waiting = "waiting"  # no snapshot after the decision yet
    carried = "carried"  # the corrected value is there / the erased record is gone
    not_carried = "not-carried"  # a later snapshot still holds the old value or the record


class Correction(Base):
    """A decision to rectify or erase one record, passed on to every partner that received it."""

    __tablename__ = "rights_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    access_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("rights_access_requests.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[CorrectionKind] = mapped_column(text_enum(CorrectionKind, "rights_correction"))
    provider: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(String(100))
    record_id: Mapped[str] = mapped_column(String(200))
    column: Mapped[str | None] = mapped_column(String(100), default=None)  # rectify only
    wrapped_key: Mapped[str | None] = mapped_column(Text, default=None)
    sealed_value: Mapped[bytes | None] = mapped_column(default=None)  # the corrected value
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="SET NULL"), default=None
    )
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    snapshot_version: Mapped[int]  # the provider's snapshot when decided
    status: Mapped[CorrectionStatus] = mapped_column(
        text_enum(CorrectionStatus, "rights_correction_status"), default=CorrectionStatus.open
    )
    snapshot_check: Mapped[SnapshotCheck] = mapped_column(
        text_enum(SnapshotCheck, "rights_snapshot_check"), default=SnapshotCheck.waiting
    )
    checked_version: Mapped[int | None] = mapped_column(default=None)
    checked_at: Mapped[datetime | None] = mapped_column(default=None)

    tasks: Mapped[list[CorrectionTask]] = relationship(
        back_populates="correction", cascade="all, delete-orphan", order_by="CorrectionTask.id"
    )


class CorrectionTask(Base):
    """One recipient's task: apply the correction to what it received, and confirm."""

    __tablename__ = "rights_correction_tasks"
    __table_args__ = (UniqueConstraint("correction_id", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    correction_id: Mapped[int] = mapped_column(
        ForeignKey("rights_corrections.id", ondelete="CASCADE")
    )
    recipient: Mapped[str] = mapped_column(String(64))  # partner key
    receipts: Mapped[list[int]] = mapped_column(JSON, default=list)  # the deliveries it came in
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    confirmed_by: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="SET NULL"), default=None
    )
    outcome: Mapped[str] = mapped_column(String(32), default="")  # applied, not-held
    note: Mapped[str] = mapped_column(Text, default="")
    reminders: Mapped[int] = mapped_column(default=0)
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)

    correction: Mapped[Correction] = relationship(back_populates="tasks")
