"""Governance-store tables of members' enquiries: the partnership's topics, the routing table,
each partner's service level, the enquiries and their history.

A resident's details (name, contact, address) are stored only sealed: AES-256-GCM under a data
key of the enquiry's own, wrapped by the gateway's key-encryption key (identity.service), so a
purge deletes the ciphertext and the key together."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicshare.db import Base, text_enum, utcnow
from civicshare.partners.models import Membership, Partner

ANY_DISTRICT = "*"


class EnquiryStatus(enum.StrEnum):
    with_team = "with_team"  # routed, awaiting the team's answer
    more_info = "more_info"  # the team asked the councillor for more
    answered = "answered"

    @property
    def label(self) -> str:
        return {
            "with_team": "With the team",
            "more_info": "More information needed",
            "answered": "Answered",
        }[self.value]


class EnquiryTopic(Base):
    __tablename__ = "enquiry_topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)


class EnquiryRoute(Base):
    """Topic and district (or ANY_DISTRICT) -> the partner and team that answer."""

    __tablename__ = "enquiry_routes"
    __table_args__ = (UniqueConstraint("topic_id", "district"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("enquiry_topics.id", ondelete="CASCADE"))
    district: Mapped[str] = mapped_column(String(64))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    team: Mapped[str] = mapped_column(String(200))

    topic: Mapped[EnquiryTopic] = relationship()
    partner: Mapped[Partner] = relationship()


class EnquiryServiceLevel(Base):
    """Days a partner has to answer a member's enquiry."""

    __tablename__ = "enquiry_service_levels"

    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True
    )
    days: Mapped[int]


class Enquiry(Base):
    __tablename__ = "enquiries"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)  # ENQ-0001
    # The hat: the membership it was raised under, and that membership's partner.
    membership_id: Mapped[int] = mapped_column(
        ForeignKey("memberships.id", ondelete="RESTRICT"), index=True
    )
    raised_for_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    topic_id: Mapped[int] = mapped_column(ForeignKey("enquiry_topics.id", ondelete="RESTRICT"))
    summary: Mapped[str] = mapped_column(Text)
    postcode: Mapped[str] = mapped_column(String(16), default="")
    easting: Mapped[float | None] = mapped_column(Float)
    northing: Mapped[float | None] = mapped_column(Float)
    district: Mapped[str] = mapped_column(String(64))
    consent: Mapped[bool] = mapped_column(default=False)
    consent_recorded_at: Mapped[datetime | None]
    routed_to_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="RESTRICT"), index=True
    )
    team: Mapped[str] = mapped_column(String(200))
    status: Mapped[EnquiryStatus] = mapped_column(
        text_enum(EnquiryStatus, "enquiry_status"), default=EnquiryStatus.with_team
    )
    due_on: Mapped[date]
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    answer: Mapped[str] = mapped_column(Text, default="")
    # The resident's details, sealed (see the module's notes); None once purged or never given.
    resident_sealed: Mapped[str | None] = mapped_column(Text)
    resident_key: Mapped[str | None] = mapped_column(Text)
    resident_purged_at: Mapped[datetime | None]
    reminded_before_at: Mapped[datetime | None]
    reminded_after_at: Mapped[datetime | None]

    membership: Mapped[Membership] = relationship()
    raised_for: Mapped[Partner] = relationship(foreign_keys=[raised_for_id])
    topic: Mapped[EnquiryTopic] = relationship()
    routed_to: Mapped[Partner] = relationship(foreign_keys=[routed_to_id])
    events: Mapped[list[EnquiryEvent]] = relationship(
        back_populates="enquiry", order_by="EnquiryEvent.id"
    )


class EnquiryEvent(Base):
    """The enquiry's history: raised, answered, asked for more, replied, transferred, reminded,
    resident details purged. Never edited or deleted."""

    __tablename__ = "enquiry_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    enquiry_id: Mapped[int] = mapped_column(
        ForeignKey("enquiries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    membership_id: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="RESTRICT")
    )
    action: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    enquiry: Mapped[Enquiry] = relationship(back_populates="events")
    membership: Mapped[Membership | None] = relationship()
