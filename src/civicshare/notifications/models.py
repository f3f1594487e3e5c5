"""Governance-store table of in-app notifications: one row per recipient membership."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicshare.db import Base, utcnow
from civicshare.partners.models import Membership


class Notification(Base):
    """A message for one membership: kept whether or not its e-mail was sent."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    # "sent", "failed", "off" (no SMTP server set) or "no-address"; never the address itself.
    email_status: Mapped[str] = mapped_column(String(16), default="off")

    membership: Mapped[Membership] = relationship()
