"""Governance-store table of trained discharge models: what each was trained on and under."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from civicshare.db import Base, utcnow


class DischargeModel(Base):
    """One training run: the saved file, the snapshots and agreement it was trained under,
    and the report of every model it compared (figures on the test period)."""

    __tablename__ = "discharge_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    chosen: Mapped[str] = mapped_column(String(32))  # score, logistic or boosted
    agreement_ref: Mapped[str] = mapped_column(String(64))
    agreement_version: Mapped[int | None]
    snapshots: Mapped[dict[str, Any]] = mapped_column(JSON)  # "provider/dataset" -> version
    receipts: Mapped[list[int]] = mapped_column(JSON)
    as_of: Mapped[date]  # the data's own date: the latest admission or discharge recorded
    periods: Mapped[dict[str, Any]] = mapped_column(JSON)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    file: Mapped[str] = mapped_column(String(300))  # under the data directory
    file_sha256: Mapped[str] = mapped_column(String(64))
    trained_by: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
