"""Who is calling: FastAPI dependencies for the acting membership, and the token API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

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


# -- which token scope each route needs, named once -------------------------------------------

# What a route that needs no token scope says instead, so that no route is unscoped by omission.
PUBLIC = "public"  # anyone, without credentials
SIGNED_IN = "signed-in"  # any caller: a signed-in person or a token with any scope
SESSION = "session"  # signed-in people only: a token is refused
# No token or session: the route itself checks a request signature (HMAC) and refuses without.
REQUEST_SIGNATURE = "request-signature"
NO_SCOPE = (PUBLIC, SIGNED_IN, SESSION, REQUEST_SIGNATURE)
SCOPE_KEY = "x-scope"  # where the OpenAPI document records each operation's scope


async def session_only(actor: ActorDep) -> Actor:
    if actor.via != "session":
        raise HTTPException(403, "This is for signed-in people, not API tokens.")
    return actor


def scope_dependency(scope: str):
    """The dependency that enforces `scope` (a token scope or one of NO_SCOPE)."""
    if scope in (PUBLIC, REQUEST_SIGNATURE):
        return None
    if scope == SIGNED_IN:
        return current_actor
    if scope == SESSION:
        return session_only
    if scope not in service.SCOPES:
        raise ValueError(f"unknown token scope {scope!r}: add it to accounts.service.SCOPES")
    return require_scope(scope)


class ApiRouter(APIRouter):
    """An APIRouter whose every route names the token scope it needs, in one place:
    `@router.get(path, scope="incidents:read", ...)`.

    The scope is checked by a dependency that runs before the route's own parameters and body
    are validated and before it looks anything up, so a token without it gets 403 whatever it
    sends. It is recorded as `x-scope` on the operation in the OpenAPI document. `scope` is
    required: a route that needs none says PUBLIC, SIGNED_IN, SESSION or REQUEST_SIGNATURE."""

    def _scoped(self, scope: str, options: dict[str, Any]) -> dict[str, Any]:
        dependency = scope_dependency(scope)
        if dependency is not None:
            options["dependencies"] = [Depends(dependency), *(options.get("dependencies") or [])]
        options["openapi_extra"] = {**(options.get("openapi_extra") or {}), SCOPE_KEY: scope}
        return options

    def get(self, path: str, *, scope: str, **options: Any):  # type: ignore[override]
        return super().get(path, **self._scoped(scope, options))

    def post(self, path: str, *, scope: str, **options: Any):  # type: ignore[override]
        return super().post(path, **self._scoped(scope, options))

    def put(self, path: str, *, scope: str, **options: Any):  # type: ignore[override]
        return super().put(path, **self._scoped(scope, options))

    def patch(self, path: str, *, scope: str, **options: Any):  # type: ignore[override]
        return super().patch(path, **self._scoped(scope, options))

    def delete(self, path: str, *, scope: str, **options: Any):  # type: ignore[override]
        return super().delete(path, **self._scoped(scope, options))


# -- the API -------------------------------------------------------------------------------

router = ApiRouter(prefix="/api", tags=["accounts"])


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


@router.get("/me", scope=SIGNED_IN, response_model=MeOut, summary="Who you are acting as")
def me(actor: ActorDep) -> dict:
    return {
        "person": actor.person_name,
        "partner": actor.partner_name,
        "partner_key": actor.partner_key,
        "roles": sorted(actor.roles),
        "via": actor.via,
        "scopes": sorted(actor.scopes) if actor.scopes is not None else None,
    }


@router.get(
    "/tokens",
    scope=SIGNED_IN,
    response_model=list[TokenOut],
    summary="Your membership's API tokens",
)
def list_tokens(actor: ActorDep, session: SessionDep) -> list[dict]:
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.membership_id == actor.membership_id).order_by(ApiToken.id)
    )
    return [_token_out(token) for token in tokens]


@router.post(
    "/tokens",
    scope=SESSION,
    response_model=NewTokenOut,
    status_code=201,
    summary="Create a token (signed-in people only, not a token)",
)
def create_token(
    body: TokenIn,
    actor: ActorDep,
    session: SessionDep,
) -> dict:
    membership = session.get(Membership, actor.membership_id)
    try:
        secret, token = service.create_api_token(
            session, membership, name=body.name, scopes=body.scopes, days=body.days
        )
    except AuthError as error:
        raise HTTPException(422, str(error)) from None
    return {**_token_out(token), "token": secret}


@router.delete(
    "/tokens/{token_id}", scope=SIGNED_IN, response_model=TokenOut, summary="Revoke a token"
)
def revoke_token(
    token_id: RowId,
    actor: ActorDep,
    session: SessionDep,
) -> dict:
    try:
        return _token_out(service.revoke_api_token(session, token_id, actor.membership_id))
    except AuthError as error:
        raise HTTPException(404, str(error)) from None
