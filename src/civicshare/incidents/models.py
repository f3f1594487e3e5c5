"""Governance-store tables of incidents, break-glass grants and their review.

Geometry is stored in British National Grid metres (EPSG:27700): a circle as centre and radius,
a polygon as a list of rings (each a list of [easting, northing]). No household data is stored
here: households are drawn afresh through decide -> execute on every view.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicshare.db import Base, text_enum, utcnow
from civicshare.partners.models import Membership, Partner


class IncidentStatus(enum.StrEnum):
    open = "open"
    closed = "closed"


class AreaKind(enum.StrEnum):
    circle = "circle"
    polygon = "polygon"


class ReviewStatus(enum.StrEnum):
    pending = "pending"
    appropriate = "appropriate"
    inappropriate = "inappropriate"


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)  # INC-0001
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # fire, flood, gas, other
    status: Mapped[IncidentStatus] = mapped_column(
        text_enum(IncidentStatus, "incident_status"), default=IncidentStatus.open
    )
    agreement: Mapped[str] = mapped_column(String(16))  # the emergency agreement acted under
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="RESTRICT"))
    area_kind: Mapped[AreaKind] = mapped_column(text_enum(AreaKind, "incident_area_kind"))
    centre_easting: Mapped[float | None] = mapped_column(Float)
    centre_northing: Mapped[float | None] = mapped_column(Float)
    radius_m: Mapped[float | None] = mapped_column(Float)
    polygon: Mapped[list[Any] | None] = mapped_column(JSON)  # rings of [easting, northing]
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    closing_note: Mapped[str] = mapped_column(Text, default="")

    partner: Mapped[Partner] = relationship()
    opened_by: Mapped[Membership] = relationship()
    events: Mapped[list[IncidentEvent]] = relationship(
        back_populates="incident", order_by="IncidentEvent.id"
    )


class IncidentEvent(Base):
    """The incident log: opened, area changed, households viewed, break glass, exported,
    closed. Each entry is also in the audit log; this one is the incident's own view of it."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    membership_id: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="RESTRICT")
    )
    action: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    incident: Mapped[Incident] = relationship(back_populates="events")
    membership: Mapped[Membership | None] = relationship()


class BreakGlass(Base):
    """Named-person detail for one incident, for one membership, for a stated reason, until
    it expires. Every view under it is an IncidentEvent and an audit record."""

    __tablename__ = "break_glass"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    incident: Mapped[Incident] = relationship()
    membership: Mapped[Membership] = relationship()
    reviews: Mapped[list[BreakGlassReview]] = relationship(
        back_populates="break_glass", order_by="BreakGlassReview.id"
    )


class BreakGlassReview(Base):
    """One per provider partner whose data was seen under a break-glass: its IG leads review
    the access after the event."""

    __tablename__ = "break_glass_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    break_glass_id: Mapped[int] = mapped_column(
        ForeignKey("break_glass.id", ondelete="CASCADE"), index=True
    )
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    datasets: Mapped[list[str]] = mapped_column(JSON, default=list)
    records_seen: Mapped[int] = mapped_column(default=0)
    status: Mapped[ReviewStatus] = mapped_column(
        text_enum(ReviewStatus, "break_glass_review_status"), default=ReviewStatus.pending
    )
    reviewed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="RESTRICT")
    )
    reviewed_at: Mapped[datetime | None]
    comment: Mapped[str] = mapped_column(Text, default="")

    break_glass: Mapped[BreakGlass] = relationship(back_populates="reviews")
    partner: Mapped[Partner] = relationship()
    reviewed_by: Mapped[Membership | None] = relationship()
