"""The clashes the gateway has already told promoters about (governance store), so each clash
is notified once, to both promoters, however many times the programme is read."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicshare.db import Base, utcnow


class ClashNotice(Base):
    """One clash between two works, first found at `found_at`, notified to both promoters."""

    __tablename__ = "works_clash_notices"
    __table_args__ = (UniqueConstraint("reference_a", "reference_b"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference_a: Mapped[str] = mapped_column(String(64))
    reference_b: Mapped[str] = mapped_column(String(64))
    promoter_a: Mapped[str] = mapped_column(String(64))  # partner key
    promoter_b: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    overlap_start: Mapped[date] = mapped_column(Date)
    overlap_end: Mapped[date] = mapped_column(Date)
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
