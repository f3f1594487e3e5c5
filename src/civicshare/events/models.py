"""Governance-store tables of life events: the events a registration service publishes, the
outbox of notifications to each partner that needs to know, every delivery attempt, and each
partner's webhook endpoint and signing keys.

No table holds a resident's name, address or NHS number: an event is named by the provider's
own entry number, a notification carries only what the agreement grants (the event reference,
the date of death, birth or move, the new address where granted, the recipient's own record
references).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicshare.db import Base, text_enum, utcnow


class EventType(enum.StrEnum):
    death = "death"
    birth = "birth"
    change_of_address = "change_of_address"


class MatchStatus(enum.StrEnum):
    """How an event stands with the person index: only `matched` events are sent."""

    matched = "matched"  # strong links reach other partners' records: those partners are told
    held = "held"  # only uncertain matches so far: nothing sent until a reviewer decides
    unmatched = "unmatched"  # no record elsewhere is the same person: nobody to tell


class DeliveryStatus(enum.StrEnum):
    pending = "pending"  # waiting for the worker (or for the recipient to pull it)
    delivered = "delivered"  # the recipient's endpoint answered 2xx
    dead = "dead"  # failed every attempt: on the dead-letter list until replayed
    pulled = "pulled"  # acknowledged by the recipient through the pull API or CLI


class KeyKind(enum.StrEnum):
    webhook = "webhook"  # the gateway signs deliveries to the partner with it
    inbound = "inbound"  # the partner's registration system signs what it posts to the gateway


class LifeEvent(Base):
    """One registered life event, as the provider published it."""

    __tablename__ = "life_events"
    __table_args__ = (
        UniqueConstraint("provider", "dataset", "reference"),
        Index("ix_life_events_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))  # the provider's entry number
    event_type: Mapped[EventType] = mapped_column(text_enum(EventType, "life_event_type"))
    provider: Mapped[str] = mapped_column(String(64))  # partner key
    dataset: Mapped[str] = mapped_column(String(200))
    snapshot_version: Mapped[int]
    status: Mapped[MatchStatus] = mapped_column(
        text_enum(MatchStatus, "life_event_status"), default=MatchStatus.unmatched
    )
    person_key: Mapped[str | None] = mapped_column(String(32), default=None)
    # A review is open on a record of this person: partners it may add are told once decided.
    awaiting_review: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(default=None)  # notifications made
    received_via: Mapped[str] = mapped_column(String(16), default="web")
    # [{"partner": key, "outcome": "notified" | "withheld", "reason": "..."}]: who was told.
    recipients: Mapped[list[Any]] = mapped_column(JSON, default=list)

    notifications: Mapped[list[EventNotification]] = relationship(
        back_populates="event", order_by="EventNotification.id"
    )


class EventNotification(Base):
    """One event told to one recipient partner: the outbox row the worker delivers."""

    __tablename__ = "event_notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "recipient"),
        UniqueConstraint("recipient", "sequence"),
        Index("ix_event_notifications_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("life_events.id", ondelete="RESTRICT"))
    recipient: Mapped[str] = mapped_column(String(64))  # partner key
    sequence: Mapped[int]  # 1, 2, 3, ... per recipient: delivered in this order
    delivery_id: Mapped[str] = mapped_column(String(40), unique=True)  # stable across retries
    agreement: Mapped[str] = mapped_column(String(64))
    receipt_id: Mapped[int | None] = mapped_column(default=None)  # the share that read it
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    action: Mapped[str] = mapped_column(String(200), default="")  # what the recipient must do
    status: Mapped[DeliveryStatus] = mapped_column(
        text_enum(DeliveryStatus, "event_delivery_status"), default=DeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    # The recipient's own record of what it did (end tenancy, close account, ...).
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    outcome_note: Mapped[str] = mapped_column(Text, default="")
    outcome_by: Mapped[str | None] = mapped_column(String(300), default=None)
    outcome_at: Mapped[datetime | None] = mapped_column(default=None)
    # The date of death, the child's date of birth or the date of the move.
    event_date: Mapped[date | None] = mapped_column(Date, default=None)

    event: Mapped[LifeEvent] = relationship(back_populates="notifications")
    attempt_rows: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="notification", order_by="DeliveryAttempt.id"
    )


class DeliveryAttempt(Base):
    """One try at delivering a notification: the HTTP status or the error, and how long."""

    __tablename__ = "event_delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("event_notifications.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[float] = mapped_column(default=0.0)
    key_ids: Mapped[str] = mapped_column(String(200), default="")  # the keys it was signed with
    replay: Mapped[bool] = mapped_column(default=False)  # sent again by an admin's replay

    notification: Mapped[EventNotification] = relationship(back_populates="attempt_rows")


class EventEndpoint(Base):
    """Where a partner receives its notifications by webhook (none: it pulls them)."""

    __tablename__ = "event_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner: Mapped[str] = mapped_column(String(64), unique=True)  # partner key
    url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(300), default="")


class EventKey(Base):
    """A shared HMAC secret, encrypted at rest under a data key the gateway's key-encryption
    key wraps. During a rotation the previous key signs alongside the new one until
    `retires_at`."""

    __tablename__ = "event_keys"
    __table_args__ = (Index("ix_event_keys_partner_kind", "partner", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner: Mapped[str] = mapped_column(String(64))  # partner key
    kind: Mapped[KeyKind] = mapped_column(text_enum(KeyKind, "event_key_kind"))
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    wrapped_data_key: Mapped[str] = mapped_column(Text)
    secret_encrypted: Mapped[str] = mapped_column(Text)  # base64(nonce || ciphertext || tag)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retires_at: Mapped[datetime | None] = mapped_column(default=None)
