"""Who is calling: FastAPI dependencies for the acting membership, and the token API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from civicshare.accounts import service
from civicshare.accounts.models import ApiToken
from civicshare.accounts.service import Actor, AuthError
from civicshare.db import RowId, SessionDep, session_scope
from civicshare.partners.models import Membership, PartnerStatus, Role

SESSION_COOKIE = "civicshare_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class MembershipNotChosen(HTTPException):
    """Signed in, but not yet acting as any membership."""

    choose_membership = True  # pages send the browser to choose one

    def __init__(self) -> None:
        super().__init__(403, "Choose which partner you are acting for first.")


async def presented_csrf(request: Request) -> str | None:
    """The CSRF token a signed-in browser's unsafe request presents (header or form field).

    The only async part of finding the caller: reading a form needs the event loop, and it
    touches no store. Everything that does runs in `optional_actor`, in a worker thread."""
    if request.method not in UNSAFE_METHODS or SESSION_COOKIE not in request.cookies:
        return None
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return None
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        presented = (await request.form()).get(CSRF_FIELD)
    return presented if isinstance(presented, str) else None


def optional_actor(
    request: Request,
    session: SessionDep,
    presented: str | None = Depends(presented_csrf),
) -> Actor | None:
    """The caller acting as one membership, from a bearer token or a session cookie.

    A plain function, so FastAPI runs it in a worker thread: a database call on the event
    loop's thread would stall every request while it waits (for a row lock, say). The token
    or session is read, and its last use noted, in a short transaction of its own, committed
    before the request's unit of work takes its connection: the note holds no lock for the
    length of the request, and no request needs two connections at once."""
    if hasattr(request.state, "actor"):
        return request.state.actor
    request.state.actor = None
    request.state.web_session = None
    sessions = request.app.state.sessions
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        with session_scope(sessions) as own:
            token = service.resolve_api_token(own, authorization[7:].strip())
        membership = _membership(session, token.membership_id) if token else None
        if token is None or not _usable(membership):
            raise HTTPException(
                401,
                "The API token is unknown, expired or revoked, or its membership has ended.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.state.actor = service.actor_for(membership, "token", frozenset(token.scopes))
        return request.state.actor

    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with session_scope(sessions) as own:
        found = service.resolve_session(own, cookie)
    if found is None:
        return None
    # Into the request's unit of work (no query): choosing a membership changes it there.
    web_session = session.merge(found, load=False)
    request.state.web_session = web_session
    request.state.csrf_token = web_session.csrf_token
    if request.method in UNSAFE_METHODS and not service.csrf_ok(web_session, presented):
        raise HTTPException(
            403, "This form has expired or did not come from this site. Go back and try again."
        )
    if web_session.membership_id is not None:
        membership = _membership(session, web_session.membership_id)
        if _usable(membership):
            request.state.actor = service.actor_for(membership, "session")
        else:
            web_session.membership_id = None
    return request.state.actor


# What _usable() and actor_for() read, in the query that loads the membership (one instead of
# four on every authenticated request).
_ACTOR_PARTS = (
    joinedload(Membership.person),
    joinedload(Membership.partner),
    joinedload(Membership.role_grants),
)


def _membership(session: Session, membership_id: int) -> Membership | None:
    return session.get(Membership, membership_id, options=_ACTOR_PARTS)


def _usable(membership: Membership | None) -> bool:
    return (
        membership is not None
        and membership.active
        and membership.person.active
        and membership.partner.status not in (PartnerStatus.left, PartnerStatus.suspended)
    )


async def current_actor(request: Request, actor: MaybeActorDep) -> Actor:
    if actor is not None:
        return actor
    if request.state.web_session is not None:
        raise MembershipNotChosen()
    raise HTTPException(
        401, "Sign in, or send an API token.", headers={"WWW-Authenticate": "Bearer"}
    )


# The acting identity, for a route or dependency: `actor: ActorDep` (refuses anonymous callers)
# or `actor: MaybeActorDep` (None when nobody is signed in).
ActorDep = Annotated[Actor, Depends(current_actor)]
MaybeActorDep = Annotated[Actor | None, Depends(optional_actor)]


def require_roles(*roles: Role):
    """A dependency: the actor must hold one of these roles in the membership they act as."""
    names = " or ".join(role.label for role in roles)

    async def dependency(actor: ActorDep) -> Actor:
        if not actor.has_role(*roles):
            raise HTTPException(
                403,
                f"Acting for {actor.partner_name}, you are not a {names}; this needs that role.",
            )
        return actor

    return dependency


def require_scope(scope: str):
    """A dependency: a token must carry this scope (signed-in people have every scope)."""

    async def dependency(actor: ActorDep) -> Actor:
        if not actor.has_scope(scope):
            raise HTTPException(403, f"This API token does not have the scope {scope}.")
        return actor

    return dependency


# -- the API -------------------------------------------------------------------------------

router = APIRouter(prefix="/api", tags=["accounts"])


class MeOut(BaseModel):
    person: str
    partner: str
    partner_key: str
    roles: list[str]
    via: str
    scopes: list[str] | None


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="What the token is for.")
    scopes: list[str] = Field(description=f"Any of: {', '.join(service.SCOPES)}")
    days: int = Field(default=90, description="Days until it expires (1 to 365).")


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewTokenOut(TokenOut):
    token: str = Field(description="The secret, shown this once only.")


def _token_out(token: ApiToken) -> dict:
    return {column: getattr(token, column) for column in TokenOut.model_fields}


@router.get("/me", response_model=MeOut, summary="Who you are acting as")
def me(actor: ActorDep) -> dict:
    return {
        "person": actor.person_name,
        "partner": actor.partner_name,
        "partner_key": actor.partner_key,
        "roles": sorted(actor.roles),
        "via": actor.via,
        "scopes": sorted(actor.scopes) if actor.scopes is not None else None,
    }


@router.get("/tokens", response_model=list[TokenOut], summary="Your membership's API tokens")
def list_tokens(actor: ActorDep, session: SessionDep) -> list[dict]:
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.membership_id == actor.membership_id).order_by(ApiToken.id)
    )
    return [_token_out(token) for token in tokens]


@router.post("/tokens", response_model=NewTokenOut, status_code=201, summary="Create a token")
def create_token(
    body: TokenIn,
    actor: ActorDep,
    session: SessionDep,
) -> dict:
    if actor.via != "session":
        raise HTTPException(403, "API tokens are created by a signed-in person, not by a token.")
    membership = session.get(Membership, actor.membership_id)
    try:
        secret, token = service.create_api_token(
            session, membership, name=body.name, scopes=body.scopes, days=body.days
        )
    except AuthError as error:
        raise HTTPException(422, str(error)) from None
    return {**_token_out(token), "token": secret}


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke a token")
def revoke_token(
    token_id: RowId,
    actor: ActorDep,
    session: SessionDep,
) -> dict:
    try:
        return _token_out(service.revoke_api_token(session, token_id, actor.membership_id))
    except AuthError as error:
        raise HTTPException(404, str(error)) from None
