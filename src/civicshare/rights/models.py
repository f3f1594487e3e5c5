"""Objections and the national data opt-out, per person (a person index key, never a name)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from civicshare.db import Base, utcnow


class Objection(Base):
    """A resident's objection (UK GDPR Art 21) to the use of their records for one permitted
    purpose (an agreement's purpose code): decide() withholds their rows from any share under
    that purpose while it stands. Recorded by an IG lead; withdrawn, never deleted."""

    __tablename__ = "rights_objections"
    __table_args__ = (Index("ix_rights_objections_purpose", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_key: Mapped[str] = mapped_column(String(32), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="SET NULL")
    )
    withdrawn_at: Mapped[datetime | None] = mapped_column(default=None)
    withdrawn_by: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="SET NULL"), default=None
    )


class NationalOptOut(Base):
    """A person whose health feed record says they registered the national data opt-out; the
    set is replaced whole each time the feed is read (`rights opt-outs refresh`)."""

    __tablename__ = "rights_national_opt_outs"

    person_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(200))  # partner/dataset of the health feed
    snapshot_version: Mapped[int]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
