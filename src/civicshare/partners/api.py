"""The partnership over HTTP: partners, the charter and endorsements, memberships."""

from __future__ import annotations

from datetime import date

from fastapi import HTTPException, Request
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session

from civicshare.accounts.api import ActorDep, ApiRouter
from civicshare.accounts.service import Actor
from civicshare.db import RowId, SessionDep
from civicshare.partners import service
from civicshare.partners.models import Partner, PartnerStatus, PartnerType, Role

router = ApiRouter(prefix="/api", tags=["partners"])


def is_partnership_admin(request: Request, actor: Actor) -> bool:
    """Admins of the host partner manage the partnership itself."""
    return (
        actor.has_role(Role.admin) and actor.partner_key == request.app.state.settings.host_partner
    )


def may_manage(request: Request, actor: Actor, partner: Partner) -> bool:
    """A partner's own admins manage its details and members; so do the partnership's admins."""
    own_admin = actor.partner_id == partner.id and actor.has_role(Role.admin)
    return own_admin or is_partnership_admin(request, actor)


def _partner(session: Session, key: str) -> Partner:
    partner = service.get_by_key(session, key)
    if partner is None:
        raise HTTPException(404, f"There is no partner with the key {key!r}.")
    return partner


def _managed_partner(session: Session, request: Request, actor: Actor, key: str, doing: str):
    """The partner `key`, if the actor may manage it; 403 naming what they tried otherwise."""
    partner = _partner(session, key)
    if not may_manage(request, actor, partner):
        raise HTTPException(403, f"Only {partner.name}'s admins {doing}.")
    return partner


class PartnerOut(BaseModel):
    key: str
    name: str
    type: PartnerType
    status: PartnerStatus
    ods_code: str | None
    district: str | None
    ico_registration: str | None
    dpo_name: str | None
    dpo_email: str | None
    dpo_address: str | None
    caldicott_guardian: str | None
    siro: str | None
    joined_on: date | None
    left_on: date | None

    model_config = {"from_attributes": True}


class PartnerIn(BaseModel):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")
    name: str = Field(min_length=2, max_length=200)
    type: PartnerType
    ods_code: str | None = None
    ico_registration: str | None = None


class PartnerDetailsIn(BaseModel):
    name: str | None = Field(default=None, min_length=2, max_length=200)
    ods_code: str | None = None
    ico_registration: str | None = None
    dpo_name: str | None = None
    dpo_email: str | None = None
    dpo_address: str | None = Field(default=None, max_length=500)
    caldicott_guardian: str | None = None
    siro: str | None = None

    @model_validator(mode="after")
    def _a_partner_keeps_its_name(self):
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null: send a new name, or leave it out to keep it")
        return self


class StatusIn(BaseModel):
    status: PartnerStatus
    reason: str = Field(min_length=3, description="Why; kept in the audit log.")
    on: date = Field(default_factory=date.today)


class CharterIn(BaseModel):
    title: str = Field(min_length=3)
    body: str = Field(min_length=10)
    summary_of_changes: str = ""


class EndorsementIn(BaseModel):
    signatory_name: str = Field(min_length=2)
    signatory_role: str = Field(min_length=2)
    endorsed_on: date = Field(default_factory=date.today)


class MemberIn(BaseModel):
    email: str
    display_name: str | None = Field(default=None, description="Needed for someone new.")
    roles: list[Role] = Field(min_length=1)
    job_title: str = ""


class MemberOut(BaseModel):
    id: int
    email: str
    display_name: str
    job_title: str
    roles: list[Role]


class CharterVersionOut(BaseModel):
    version: int
    title: str
    published_on: date
    summary_of_changes: str
    body: str


class CharterEndorsementOut(BaseModel):
    partner: str
    endorsed_current: bool
    latest_endorsed_version: int | None
    signatory: str | None
    endorsed_on: date | None


class CharterOut(BaseModel):
    current_version: int | None
    versions: list[CharterVersionOut]
    partners: list[CharterEndorsementOut]


class PublishedOut(BaseModel):
    version: int


class EndorsedOut(BaseModel):
    partner: str
    version: int


def _member_out(membership) -> dict:
    return {
        "id": membership.id,
        "email": membership.person.email,
        "display_name": membership.person.display_name,
        "job_title": membership.job_title,
        "roles": sorted(membership.roles),
    }


@router.get(
    "/partners", scope="partners:read", response_model=list[PartnerOut], summary="Every partner"
)
def list_partners(*, actor: ActorDep, session: SessionDep):
    return service.list_partners(session)


@router.get(
    "/partners/{key}", scope="partners:read", response_model=PartnerOut, summary="One partner"
)
def get_partner(*, key: str, actor: ActorDep, session: SessionDep):
    return _partner(session, key)


@router.post(
    "/partners",
    scope="partners:write",
    response_model=PartnerOut,
    status_code=201,
    summary="Invite a partner",
)
def invite_partner(
    *,
    body: PartnerIn,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    if not is_partnership_admin(request, actor):
        raise HTTPException(403, "Only the partnership's admins invite new partners.")
    try:
        return service.invite(session, actor, **body.model_dump())
    except ValueError as error:
        raise HTTPException(409, str(error)) from None


@router.patch(
    "/partners/{key}",
    scope="partners:write",
    response_model=PartnerOut,
    summary="Change a partner's details",
)
def update_partner(
    *,
    key: str,
    body: PartnerDetailsIn,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    partner = _managed_partner(session, request, actor, key, "change its details")
    service.update_details(session, actor, partner, body.model_dump(exclude_unset=True))
    return partner


@router.post(
    "/partners/{key}/status",
    scope="partners:write",
    response_model=PartnerOut,
    summary="Suspend, reinstate or mark as left",
)
def set_partner_status(
    *,
    key: str,
    body: StatusIn,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    if not is_partnership_admin(request, actor):
        raise HTTPException(403, "Only the partnership's admins change a partner's status.")
    partner = _partner(session, key)
    try:
        service.change_status(session, actor, partner, body.status, reason=body.reason, on=body.on)
    except ValueError as error:
        raise HTTPException(409, str(error)) from None
    return partner


@router.get(
    "/charter",
    scope="partners:read",
    response_model=CharterOut,
    summary="The charter: every version, and who endorsed the current one",
)
def charter(*, actor: ActorDep, session: SessionDep) -> dict:
    current = service.current_charter(session)
    return {
        "current_version": current.version if current else None,
        "versions": [
            {
                "version": v.version,
                "title": v.title,
                "published_on": v.published_on,
                "summary_of_changes": v.summary_of_changes,
                "body": v.body,
            }
            for v in service.charter_versions(session)
        ],
        "partners": [
            {
                "partner": s.partner.key,
                "endorsed_current": s.current,
                "latest_endorsed_version": s.latest_version,
                "signatory": s.endorsement.signatory_name if s.endorsement else None,
                "endorsed_on": s.endorsement.endorsed_on if s.endorsement else None,
            }
            for s in service.endorsement_states(session)
        ],
    }


@router.post(
    "/charter",
    scope="partners:write",
    response_model=PublishedOut,
    status_code=201,
    summary="Publish a new charter version",
)
def publish_charter(
    *,
    body: CharterIn,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
) -> dict:
    if not is_partnership_admin(request, actor):
        raise HTTPException(403, "Only the partnership's admins publish the charter.")
    version = service.publish_charter(session, **body.model_dump(), on=date.today(), actor=actor)
    return {"version": version.version}


@router.post(
    "/charter/{version}/endorsements",
    scope="partners:write",
    response_model=EndorsedOut,
    status_code=201,
    summary="Record your partner's endorsement of a charter version",
)
def endorse(
    *,
    version: RowId,
    body: EndorsementIn,
    actor: ActorDep,
    session: SessionDep,
) -> dict:
    if not actor.has_role(Role.admin, Role.ig_lead):
        raise HTTPException(403, "Only an admin or IG lead records their partner's endorsement.")
    charter_version = next(
        (v for v in service.charter_versions(session) if v.version == version), None
    )
    if charter_version is None:
        raise HTTPException(404, f"There is no charter version {version}.")
    partner = session.get(Partner, actor.partner_id)
    try:
        service.endorse_charter(
            session,
            partner,
            charter_version,
            signatory_name=body.signatory_name,
            signatory_role=body.signatory_role,
            on=body.endorsed_on,
            actor=actor,
        )
    except ValueError as error:
        raise HTTPException(409, str(error)) from None
    return {"partner": partner.key, "version": version}


@router.get(
    "/partners/{key}/members",
    scope="partners:read",
    response_model=list[MemberOut],
    summary="A partner's members",
)
def members(
    *,
    key: str,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    partner = _managed_partner(session, request, actor, key, "see its members")
    return [_member_out(m) for m in service.memberships_of_partner(session, partner.id)]


@router.post(
    "/partners/{key}/members",
    scope="partners:write",
    response_model=MemberOut,
    status_code=201,
    summary="Add someone to a partner, or change their roles there",
)
def add_member(
    *,
    key: str,
    body: MemberIn,
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    partner = _managed_partner(session, request, actor, key, "add its members")
    try:
        membership = service.grant_membership(session, actor, partner, **body.model_dump())
    except ValueError as error:
        raise HTTPException(422, str(error)) from None
    return _member_out(membership)
