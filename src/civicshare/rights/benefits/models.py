"""The time-saved assumptions an admin has set. A figure with no row here uses its default
(`service.FIGURES`); each edit replaces the row and is audited with the old and new values."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from civicshare.db import Base, utcnow


class BenefitAssumption(Base):
    """Minutes saved each time a figure counts one (a delivery, a notification, a case)."""

    __tablename__ = "benefit_assumptions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # a FIGURES name
    minutes: Mapped[int]
    basis: Mapped[str] = mapped_column(Text, default="")  # why this many minutes
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(300))  # the actor's label
