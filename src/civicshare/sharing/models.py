"""Receipts: what was delivered to whom, under which agreement, for what purpose."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from civicshare.db import Base, utcnow


class Receipt(Base):
    __tablename__ = "share_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="RESTRICT"))
    recipient: Mapped[str] = mapped_column(String(64))  # partner key
    provider: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(String(100))
    snapshot_version: Mapped[int]
    agreement: Mapped[str] = mapped_column(String(16))
    agreement_version: Mapped[int]
    purpose: Mapped[str] = mapped_column(Text)  # the code of one of the agreement's purposes
    purpose_note: Mapped[str] = mapped_column(Text, default="")  # the requester's own words
    columns: Mapped[list[str]] = mapped_column(JSON)
    row_count: Mapped[int]
    output_format: Mapped[str] = mapped_column(String(16))
    output_sha256: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))  # api, cli, web
