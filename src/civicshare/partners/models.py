"""Organisations, the charter they endorse, people and their memberships."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicshare.core.identity import Role  # noqa: F401  (re-exported: the column type)
from civicshare.db import Base, Timestamped, text_enum


class PartnerType(enum.StrEnum):
    county_council = "county_council"
    district_council = "district_council"
    nhs_trust = "nhs_trust"
    icb = "icb"
    police = "police"
    fire_and_rescue = "fire_and_rescue"
    childrens_trust = "childrens_trust"
    other = "other"

    @property
    def label(self) -> str:
        return {
            "county_council": "County council",
            "district_council": "District council",
            "nhs_trust": "NHS trust",
            "icb": "Integrated care board",
            "police": "Police",
            "fire_and_rescue": "Fire and rescue",
            "childrens_trust": "Children's trust",
            "other": "Other",
        }[self.value]

    def counted(self, n: int) -> str:
        """'1 NHS trust', '2 NHS trusts', for sentences."""
        singular, plural = {
            "county_council": ("county council", "county councils"),
            "district_council": ("district council", "district councils"),
            "nhs_trust": ("NHS trust", "NHS trusts"),
            "icb": ("integrated care board", "integrated care boards"),
            "police": ("police force", "police forces"),
            "fire_and_rescue": ("fire and rescue service", "fire and rescue services"),
            "childrens_trust": ("children's trust", "children's trusts"),
            "other": ("other organisation", "other organisations"),
        }[self.value]
        return f"{n} {singular if n == 1 else plural}"


class PartnerStatus(enum.StrEnum):
    invited = "invited"
    endorsed = "endorsed"
    suspended = "suspended"
    left = "left"


class Partner(Timestamped, Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[PartnerType] = mapped_column(text_enum(PartnerType, "partner_type"))
    status: Mapped[PartnerStatus] = mapped_column(
        text_enum(PartnerStatus, "partner_status"), default=PartnerStatus.invited
    )
    ods_code: Mapped[str | None] = mapped_column(String(16))
    district: Mapped[str | None] = mapped_column(String(64))
    ico_registration: Mapped[str | None] = mapped_column(String(16))
    dpo_name: Mapped[str | None] = mapped_column(String(200))
    dpo_email: Mapped[str | None] = mapped_column(String(200))
    dpo_address: Mapped[str | None] = mapped_column(Text)  # postal, optional; public
    caldicott_guardian: Mapped[str | None] = mapped_column(String(200))
    siro: Mapped[str | None] = mapped_column(String(200))
    joined_on: Mapped[date | None]
    left_on: Mapped[date | None]


class CharterVersion(Timestamped, Base):
    """One published version of the partnership's data sharing charter (never edited)."""

    __tablename__ = "charter_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    summary_of_changes: Mapped[str] = mapped_column(Text, default="")
    published_on: Mapped[date]


class CharterEndorsement(Timestamped, Base):
    __tablename__ = "charter_endorsements"
    __table_args__ = (UniqueConstraint("partner_id", "charter_version_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    charter_version_id: Mapped[int] = mapped_column(
        ForeignKey("charter_versions.id", ondelete="RESTRICT")
    )
    signatory_name: Mapped[str] = mapped_column(String(200))
    signatory_role: Mapped[str] = mapped_column(String(200))
    endorsed_on: Mapped[date]
    recorded_by_membership_id: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="RESTRICT")
    )


class Person(Timestamped, Base):
    """Who someone is. How they prove it lives apart, in accounts.Credential."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="person", order_by="Membership.id"
    )


class Membership(Timestamped, Base):
    """A person's place in one partner, with the roles they hold there."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("person_id", "partner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="RESTRICT"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    job_title: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    ended_at: Mapped[datetime | None]

    person: Mapped[Person] = relationship(back_populates="memberships")
    partner: Mapped[Partner] = relationship()
    role_grants: Mapped[list[MembershipRole]] = relationship(
        cascade="all, delete-orphan", order_by="MembershipRole.role"
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(grant.role for grant in self.role_grants)


class MembershipRole(Base):
    __tablename__ = "membership_roles"

    membership_id: Mapped[int] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(text_enum(Role, "role"), primary_key=True)
