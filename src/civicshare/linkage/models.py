"""Governance-store tables of the person index and clerical review.

No table here holds a resident's identifier: records are named by their source
("partner/dataset") and the record id the provider's contract names, person keys are random,
and evidence is a hash of keyed tokens. The values themselves stay encrypted in the snapshots.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicshare.db import Base, text_enum, utcnow


class RunStatus(enum.StrEnum):
    running = "running"
    done = "done"
    failed = "failed"


class LinkageRun(Base):
    """One run of the person index: which snapshots it linked, with which model, and what came
    of it (its report)."""

    __tablename__ = "linkage_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[RunStatus] = mapped_column(
        text_enum(RunStatus, "linkage_run_status"), default=RunStatus.running
    )
    started_by: Mapped[str] = mapped_column(String(300), default="")
    purpose: Mapped[str] = mapped_column(Text, default="")
    trained: Mapped[bool] = mapped_column(default=False)  # this run trained the model
    model_run_id: Mapped[int | None] = mapped_column(default=None)  # run whose model was used
    model_json: Mapped[str | None] = mapped_column(Text, default=None)  # when trained here
    threshold: Mapped[float | None] = mapped_column(default=None)  # match probability
    review_lower: Mapped[float | None] = mapped_column(default=None)
    snapshots: Mapped[list[Any]] = mapped_column(JSON, default=list)  # refs linked in this run
    new_records: Mapped[int] = mapped_column(default=0)
    existing_records: Mapped[int] = mapped_column(default=0)
    pairs: Mapped[int] = mapped_column(default=0)
    links: Mapped[int] = mapped_column(default=0)
    review_items: Mapped[int] = mapped_column(default=0)
    persons: Mapped[int] = mapped_column(default=0)
    merges: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float | None] = mapped_column(default=None)
    mapping_path: Mapped[str | None] = mapped_column(String(500), default=None)  # to data_dir
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class IndexedSource(Base):
    """The snapshot version of each person-holding dataset that the index currently holds."""

    __tablename__ = "person_index_sources"

    source: Mapped[str] = mapped_column(String(200), primary_key=True)  # partner/dataset
    snapshot_version: Mapped[int]
    record_count: Mapped[int] = mapped_column(default=0)
    run_id: Mapped[int] = mapped_column(ForeignKey("linkage_runs.id", ondelete="RESTRICT"))


class PersonKey(Base):
    """A pseudonymous person key. Merged keys stay, pointing at the key that absorbed them."""

    __tablename__ = "person_keys"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_run_id: Mapped[int | None] = mapped_column(default=None)
    merged_into: Mapped[str | None] = mapped_column(String(32), default=None)
    merged_at: Mapped[datetime | None] = mapped_column(default=None)
    split_from: Mapped[str | None] = mapped_column(String(32), default=None)


class IndexedRecord(Base):
    """One record of a dataset in the index and its person key."""

    __tablename__ = "person_index_records"
    __table_args__ = (
        UniqueConstraint("source", "record_id"),
        Index("ix_person_index_records_person_key", "person_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    snapshot_version: Mapped[int]
    record_id: Mapped[str] = mapped_column(String(200))
    person_key: Mapped[str] = mapped_column(String(32))
    # SHA-256 over the record's keyed tokens: a changed value means changed evidence.
    evidence: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int] = mapped_column(ForeignKey("linkage_runs.id", ondelete="RESTRICT"))


class LinkOrigin(enum.StrEnum):
    model = "model"
    reviewer = "reviewer"
    # A record without a date of birth attached to an indexed resident of its property by name
    # (linkage.person_index.attach); not a model probability: its evidence says how.
    attachment = "attachment"


class IndexedLink(Base):
    """An accepted link between two records: the clusters are its connected components."""

    __tablename__ = "person_index_links"
    __table_args__ = (
        UniqueConstraint(
            "source_l", "record_id_l", "source_r", "record_id_r", name="uq_person_index_links_pair"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_l: Mapped[str] = mapped_column(String(200))
    record_id_l: Mapped[str] = mapped_column(String(200))
    source_r: Mapped[str] = mapped_column(String(200))
    record_id_r: Mapped[str] = mapped_column(String(200))
    match_probability: Mapped[float]
    origin: Mapped[LinkOrigin] = mapped_column(text_enum(LinkOrigin, "linkage_link_origin"))
    run_id: Mapped[int | None] = mapped_column(default=None)
    # For a household attachment (or a reviewer's decision on one): how it was made, e.g.
    # {"method": "household attachment", "property": "uprn", "name": "nickname", "residents": 3}.
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class ReviewStatus(enum.StrEnum):
    open = "open"
    accepted = "accepted"
    rejected = "rejected"
    superseded = "superseded"  # a later run found the pair no longer in question


class ReviewItem(Base):
    """A pair in the grey zone waiting for a person to decide: what the model said of it."""

    __tablename__ = "linkage_review_items"
    __table_args__ = (Index("ix_linkage_review_items_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("linkage_runs.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    source_l: Mapped[str] = mapped_column(String(200))
    snapshot_version_l: Mapped[int]
    record_id_l: Mapped[str] = mapped_column(String(200))
    source_r: Mapped[str] = mapped_column(String(200))
    snapshot_version_r: Mapped[int]
    record_id_r: Mapped[str] = mapped_column(String(200))
    match_weight: Mapped[float]
    match_probability: Mapped[float]
    # comparison -> {"weight": mw_..., "level": gamma_...}; no values, only weights and levels.
    waterfall: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[ReviewStatus] = mapped_column(
        text_enum(ReviewStatus, "linkage_review_status"), default=ReviewStatus.open
    )


class Label(enum.StrEnum):
    match = "match"
    non_match = "non_match"


class LinkageDecision(Base):
    """A reviewer's decision on a pair: feeds the index (merge or never link) and the next
    training as a label."""

    __tablename__ = "linkage_decisions"
    __table_args__ = (
        UniqueConstraint(
            "source_l", "record_id_l", "source_r", "record_id_r", name="uq_linkage_decisions_pair"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("linkage_review_items.id", ondelete="RESTRICT"), default=None
    )
    source_l: Mapped[str] = mapped_column(String(200))
    record_id_l: Mapped[str] = mapped_column(String(200))
    source_r: Mapped[str] = mapped_column(String(200))
    record_id_r: Mapped[str] = mapped_column(String(200))
    label: Mapped[Label] = mapped_column(text_enum(Label, "linkage_label"))
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(300))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
