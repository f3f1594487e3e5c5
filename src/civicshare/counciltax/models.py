"""The single person discount review's tables: each run of the review, and each case it found
with the reviewer's outcome. A case holds the evidence summary (counts, years and sources),
never the other partners' records."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicshare.db import Base, utcnow


class Outcome(enum.StrEnum):
    """What the district's reviewer decided about a case."""

    under_investigation = "under_investigation"
    discount_removed = "discount_removed"
    discount_still_due = "discount_still_due"
    no_further_action = "no_further_action"

    @property
    def label(self) -> str:
        return {
            "under_investigation": "Under investigation",
            "discount_removed": "Discount removed",
            "discount_still_due": "Discount still due",
            "no_further_action": "No further action",
        }[self.value]


class DiscountReview(Base):
    """One run of the review for one district: what was read and what was found."""

    __tablename__ = "counciltax_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(String(64), index=True)
    partner_key: Mapped[str] = mapped_column(String(64))
    membership_id: Mapped[int] = mapped_column(
        ForeignKey("memberships.id", ondelete="RESTRICT"), index=True
    )
    run_by: Mapped[str] = mapped_column(String(300))
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    review_date: Mapped[date] = mapped_column(Date)
    accounts_read: Mapped[int] = mapped_column(Integer)
    discounts: Mapped[int] = mapped_column(Integer)
    cases_found: Mapped[int] = mapped_column(Integer)
    # per source: dataset, snapshot version, receipt id, rows; or withheld with the reason
    sources: Mapped[list] = mapped_column(JSON, default=list)


class DiscountCase(Base):
    """An account with the discount where another adult appears at the property. One per
    account: a later run updates its evidence; a recorded outcome stays."""

    __tablename__ = "counciltax_cases"
    __table_args__ = (UniqueConstraint("district", "account_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district: Mapped[str] = mapped_column(String(64), index=True)
    account_ref: Mapped[str] = mapped_column(String(64))
    property_ref: Mapped[str] = mapped_column(String(32))
    review_id: Mapped[int] = mapped_column(
        ForeignKey("counciltax_reviews.id", ondelete="CASCADE"), index=True
    )
    score: Mapped[float] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    latest_year: Mapped[int | None] = mapped_column(Integer, nullable=True)  # of any evidence
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outcome_note: Mapped[str] = mapped_column(Text, default="")
    outcome_by: Mapped[str | None] = mapped_column(String(300), nullable=True)
    outcome_at: Mapped[datetime | None] = mapped_column(nullable=True)
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
