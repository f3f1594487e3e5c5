"""Information sharing agreements (ISAs): an agreement, its versions, parties, data items,
approvals. A version is never edited once submitted; an amendment is a new version."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from civicshare.db import Base, Timestamped, text_enum
from civicshare.partners.models import Membership, Partner


class Status(enum.StrEnum):
    draft = "draft"
    submitted = "submitted"  # awaiting the IG lead of every party
    approved = "approved"  # every party approved; awaiting the IG group
    endorsed = "endorsed"  # the IG group endorsed; awaiting activation
    active = "active"
    suspended = "suspended"
    expired = "expired"
    revoked = "revoked"
    superseded = "superseded"  # an amendment became active in its place
    withdrawn = "withdrawn"  # a draft or submission abandoned

    @property
    def label(self) -> str:
        return {
            "submitted": "Awaiting approvals",
            "approved": "Awaiting IG group",
        }.get(self.value, self.value.capitalize())

    @property
    def tag_class(self) -> str:
        return {
            "draft": "govuk-tag--grey",
            "submitted": "govuk-tag--blue",
            "approved": "govuk-tag--light-blue",
            "endorsed": "govuk-tag--turquoise",
            "active": "govuk-tag--green",
            "suspended": "govuk-tag--orange",
            "expired": "govuk-tag--yellow",
            "revoked": "govuk-tag--red",
            "superseded": "govuk-tag--grey",
            "withdrawn": "govuk-tag--grey",
        }[self.value]


class ControllerArrangement(enum.StrEnum):
    separate = "separate"
    joint = "joint"

    @property
    def label(self) -> str:
        return {
            "separate": "Separate controllers",
            "joint": "Joint controllers (Article 26)",
        }[self.value]


class Article6(enum.StrEnum):
    consent = "a"
    contract = "b"
    legal_obligation = "c"
    vital_interests = "d"
    public_task = "e"
    legitimate_interests = "f"

    @property
    def label(self) -> str:
        return {
            "a": "Consent – Article 6(1)(a)",
            "b": "Contract – Article 6(1)(b)",
            "c": "Legal obligation – Article 6(1)(c)",
            "d": "Vital interests – Article 6(1)(d)",
            "e": "Public task – Article 6(1)(e)",
            "f": "Legitimate interests – Article 6(1)(f)",
        }[self.value]


class Article9(enum.StrEnum):
    explicit_consent = "a"
    employment_social_security = "b"
    vital_interests = "c"
    not_for_profit = "d"
    made_public = "e"
    legal_claims = "f"
    substantial_public_interest = "g"
    health_social_care = "h"
    public_health = "i"
    archiving_research = "j"

    @property
    def label(self) -> str:
        return {
            "a": "Explicit consent – Article 9(2)(a)",
            "b": "Employment, social security and social protection – Article 9(2)(b)",
            "c": "Vital interests of someone unable to consent – Article 9(2)(c)",
            "d": "Not-for-profit bodies – Article 9(2)(d)",
            "e": "Made public by the data subject – Article 9(2)(e)",
            "f": "Legal claims or judicial acts – Article 9(2)(f)",
            "g": "Substantial public interest – Article 9(2)(g)",
            "h": "Health or social care – Article 9(2)(h)",
            "i": "Public health – Article 9(2)(i)",
            "j": "Archiving, research and statistics – Article 9(2)(j)",
        }[self.value]


# DPA 2018 Schedule 1 conditions: code -> (part, label). Part 3 conditions serve only
# criminal offence data (Article 10), through DPA 2018 s10(5).
SCHEDULE1: dict[str, tuple[int, str]] = {
    "1": (1, "Para 1 – employment, social security and social protection"),
    "2": (1, "Para 2 – health or social care purposes"),
    "3": (1, "Para 3 – public health"),
    "4": (1, "Para 4 – research, archiving and statistics"),
    "6": (2, "Para 6 – statutory and government purposes"),
    "7": (2, "Para 7 – administration of justice and parliamentary purposes"),
    "8": (2, "Para 8 – equality of opportunity or treatment"),
    "10": (2, "Para 10 – preventing or detecting unlawful acts"),
    "11": (2, "Para 11 – protecting the public"),
    "12": (2, "Para 12 – regulatory requirements"),
    "14": (2, "Para 14 – preventing fraud"),
    "16": (2, "Para 16 – support for individuals with a disability or medical condition"),
    "17": (2, "Para 17 – counselling"),
    "18": (2, "Para 18 – safeguarding of children and of individuals at risk"),
    "19": (2, "Para 19 – safeguarding of economic well-being of certain individuals"),
    "24": (2, "Para 24 – disclosure to elected representatives"),
    "29": (3, "Para 29 – consent"),
    "30": (3, "Para 30 – protecting an individual's vital interests"),
    "33": (3, "Para 33 – legal claims"),
}

# Which Schedule 1 Part 1 paragraph each Article 9 condition needs (DPA 2018 s10(2)–(3)).
ARTICLE9_NEEDS_PART1 = {
    Article9.employment_social_security: "1",
    Article9.health_social_care: "2",
    Article9.public_health: "3",
    Article9.archiving_research: "4",
}


class SpecialCategory(enum.StrEnum):
    health = "health"
    racial_ethnic = "racial_ethnic"
    political = "political"
    religious = "religious"
    trade_union = "trade_union"
    genetic = "genetic"
    biometric = "biometric"
    sex_life = "sex_life"
    sexual_orientation = "sexual_orientation"

    @property
    def label(self) -> str:
        return {
            "health": "health",
            "racial_ethnic": "racial or ethnic origin",
            "political": "political opinions",
            "religious": "religious or philosophical beliefs",
            "trade_union": "trade union membership",
            "genetic": "genetic data",
            "biometric": "biometric data",
            "sex_life": "sex life",
            "sexual_orientation": "sexual orientation",
        }[self.value]


class Treatment(enum.StrEnum):
    identifiable = "identifiable"
    pseudonymised = "pseudonymised"
    generalised = "generalised"
    excluded = "excluded"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Generalisation(enum.StrEnum):
    age_band = "age_band"  # date of birth -> five-year age band
    birth_year = "birth_year"  # date of birth -> year
    postcode_sector = "postcode_sector"  # WR1 2AB -> WR1 2
    postcode_district = "postcode_district"  # WR1 2AB -> WR1
    month = "month"  # a date -> its month
    flag = "flag"  # a value -> whether it is present

    @property
    def label(self) -> str:
        return {
            "age_band": "Date of birth to five-year age band",
            "birth_year": "Date of birth to year of birth",
            "postcode_sector": "Postcode to postcode sector (WR1 2)",
            "postcode_district": "Postcode to postcode district (WR1)",
            "month": "Date to month",
            "flag": "Value to a yes/no flag",
        }[self.value]


class PartyRole(enum.StrEnum):
    provider = "provider"
    recipient = "recipient"
    both = "both"

    @property
    def label(self) -> str:
        return {"provider": "Provides data", "recipient": "Receives data", "both": "Both"}[
            self.value
        ]

    @property
    def provides(self) -> bool:
        return self in (PartyRole.provider, PartyRole.both)

    @property
    def receives(self) -> bool:
        return self in (PartyRole.recipient, PartyRole.both)


class Frequency(enum.StrEnum):
    one_off = "one_off"
    on_request = "on_request"
    on_event = "on_event"
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    in_emergency = "in_emergency"

    @property
    def label(self) -> str:
        return {
            "one_off": "Once",
            "on_request": "Case by case, on request",
            "on_event": "When an event happens (for example a discharge or a death)",
            "daily": "Daily",
            "weekly": "Weekly",
            "monthly": "Monthly",
            "in_emergency": "Only when an emergency is declared",
        }[self.value]


class Decision(enum.StrEnum):
    approve = "approve"
    reject = "reject"


# The ICO's list of processing likely to result in high risk (plus two of its other criteria).
DPIA_CRITERIA: dict[str, str] = {
    "matching": "Matching or combining data from several sources",
    "vulnerable": "Processing about vulnerable people (children, adults at risk, patients)",
    "special_at_scale": "Special category or criminal offence data on a large scale",
    "invisible": "Invisible processing: people are not told directly",
    "physical_harm": "A data breach could put someone's physical health or safety at risk",
    "innovative": "Innovative technology (for example automated matching or profiling)",
    "denial_of_service": "Decisions about access to a service, opportunity or benefit",
}


class Agreement(Timestamped, Base):
    """An agreement: a stable reference across its versions."""

    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    drafted_by_partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="RESTRICT")
    )
    template_key: Mapped[str | None] = mapped_column(String(64))

    drafted_by: Mapped[Partner] = relationship()
    versions: Mapped[list[AgreementVersion]] = relationship(
        back_populates="agreement",
        order_by="AgreementVersion.number",
        foreign_keys="AgreementVersion.agreement_id",
    )

    @property
    def latest(self) -> AgreementVersion:
        return self.versions[-1]


class AgreementVersion(Timestamped, Base):
    """One version of an agreement with every field the ICO data sharing code asks for."""

    __tablename__ = "agreement_versions"
    __table_args__ = (UniqueConstraint("agreement_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id", ondelete="CASCADE"))
    number: Mapped[int]
    status: Mapped[Status] = mapped_column(text_enum(Status, "agreement_status"))
    amends_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("agreement_versions.id", ondelete="RESTRICT")
    )
    change_summary: Mapped[str] = mapped_column(Text, default="")

    title: Mapped[str] = mapped_column(String(200))
    # Purpose and necessity. `purpose` is the prose explaining the sharing; `purposes` are the
    # permitted purposes a share request must name, each {"code": "discharge-planning",
    # "description": "a sentence"}: decide() refuses any other.
    purpose: Mapped[str] = mapped_column(Text, default="")
    purposes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    necessity: Mapped[str] = mapped_column(Text, default="")
    benefits: Mapped[str] = mapped_column(Text, default="")
    data_subjects: Mapped[str] = mapped_column(Text, default="")
    # Controllers
    controller_arrangement: Mapped[ControllerArrangement | None] = mapped_column(
        text_enum(ControllerArrangement, "controller_arrangement")
    )
    joint_arrangement: Mapped[str] = mapped_column(Text, default="")
    # Lawful basis
    article6: Mapped[Article6 | None] = mapped_column(text_enum(Article6, "article6_basis"))
    article9: Mapped[Article9 | None] = mapped_column(text_enum(Article9, "article9_condition"))
    schedule1: Mapped[list[str]] = mapped_column(JSON, default=list)
    appropriate_policy_document: Mapped[bool] = mapped_column(default=False)
    article10_schedule1: Mapped[list[str]] = mapped_column(JSON, default=list)
    dpa_part3: Mapped[bool] = mapped_column(default=False)
    law_enforcement_purpose: Mapped[str] = mapped_column(Text, default="")
    statutory_powers: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Row scope: {"recipient_district_only": bool, "min_age": int|None, "max_age": int|None,
    #             "description": str}
    row_scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Operation
    frequency: Mapped[Frequency | None] = mapped_column(text_enum(Frequency, "frequency"))
    retention: Mapped[str] = mapped_column(Text, default="")
    deletion_method: Mapped[str] = mapped_column(Text, default="")
    security: Mapped[str] = mapped_column(Text, default="")
    rights_handling: Mapped[str] = mapped_column(Text, default="")
    # DPIA screening: criterion -> bool; dpia_required is derived at each save.
    dpia_answers: Mapped[dict[str, bool]] = mapped_column(JSON, default=dict)
    dpia_required: Mapped[bool | None]
    dpia_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    dpia_outcome: Mapped[str] = mapped_column(Text, default="")
    dpia_completed_on: Mapped[date | None]
    # Dates and emergencies
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    review_date: Mapped[date | None]
    emergency: Mapped[bool] = mapped_column(default=False)
    emergency_trigger: Mapped[str] = mapped_column(Text, default="")
    # Lifecycle evidence. Who drafted (created the version) and who submitted it, so that the
    # IG group's endorsement can be kept apart from them (separation of duties).
    drafted_by_membership_id: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="RESTRICT")
    )
    submitted_by_membership_id: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="RESTRICT")
    )
    submitted_at: Mapped[datetime | None]
    submission_round: Mapped[int] = mapped_column(default=0)
    endorsed_by_membership_id: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="RESTRICT")
    )
    endorsement_meeting_date: Mapped[date | None]
    endorsement_minute_ref: Mapped[str] = mapped_column(String(100), default="")
    activated_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    status_reason: Mapped[str] = mapped_column(Text, default="")

    agreement: Mapped[Agreement] = relationship(
        back_populates="versions", foreign_keys=[agreement_id]
    )
    parties: Mapped[list[AgreementParty]] = relationship(
        cascade="all, delete-orphan", order_by="AgreementParty.id"
    )
    data_items: Mapped[list[AgreementDataItem]] = relationship(
        cascade="all, delete-orphan", order_by="AgreementDataItem.id"
    )
    approvals: Mapped[list[AgreementApproval]] = relationship(
        cascade="all, delete-orphan", order_by="AgreementApproval.id"
    )
    drafter: Mapped[Membership | None] = relationship(foreign_keys=[drafted_by_membership_id])
    submitter: Mapped[Membership | None] = relationship(foreign_keys=[submitted_by_membership_id])
    endorser: Mapped[Membership | None] = relationship(foreign_keys=[endorsed_by_membership_id])

    @property
    def reference(self) -> str:
        return self.agreement.reference

    def party(self, partner_id: int) -> AgreementParty | None:
        return next((p for p in self.parties if p.partner_id == partner_id), None)

    @property
    def providers(self) -> list[AgreementParty]:
        return [p for p in self.parties if p.role.provides]

    @property
    def recipients(self) -> list[AgreementParty]:
        return [p for p in self.parties if p.role.receives]

    @property
    def shared_items(self) -> list[AgreementDataItem]:
        return [i for i in self.data_items if i.treatment != Treatment.excluded]

    def purpose_codes(self) -> list[str]:
        return [p["code"] for p in self.purposes or []]

    def current_approvals(self) -> dict[int, AgreementApproval]:
        """The decision of each party in the current submission round, by partner id."""
        return {
            a.partner_id: a for a in self.approvals if a.submission_round == self.submission_round
        }


class AgreementParty(Base):
    __tablename__ = "agreement_parties"
    __table_args__ = (UniqueConstraint("version_id", "partner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("agreement_versions.id", ondelete="CASCADE"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    role: Mapped[PartyRole] = mapped_column(text_enum(PartyRole, "party_role"))

    partner: Mapped[Partner] = relationship()


class AgreementDataItem(Base):
    """One column of one provider's dataset, and how it is treated before it is shared."""

    __tablename__ = "agreement_data_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("agreement_versions.id", ondelete="CASCADE"))
    provider_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    dataset: Mapped[str] = mapped_column(String(100))
    column: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    treatment: Mapped[Treatment] = mapped_column(text_enum(Treatment, "treatment"))
    generalisation: Mapped[Generalisation | None] = mapped_column(
        text_enum(Generalisation, "generalisation")
    )
    special_category: Mapped[SpecialCategory | None] = mapped_column(
        text_enum(SpecialCategory, "special_category")
    )
    criminal_offence: Mapped[bool] = mapped_column(default=False)
    personal: Mapped[bool] = mapped_column(default=True)

    provider: Mapped[Partner] = relationship()

    @property
    def provider_key(self) -> str:
        return self.provider.key


class AgreementApproval(Base):
    """A party's decision on a submitted version, made by that party's IG lead."""

    __tablename__ = "agreement_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("agreement_versions.id", ondelete="CASCADE"))
    submission_round: Mapped[int]
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="RESTRICT"))
    decision: Mapped[Decision] = mapped_column(text_enum(Decision, "approval_decision"))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]

    partner: Mapped[Partner] = relationship()
    membership: Mapped[Membership] = relationship()
