"""Signing in and out, choosing the membership to act as, and API tokens, in the browser."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts import oidc, service
from civicshare.accounts.api import (
    CSRF_FIELD,
    SESSION_COOKIE,
    ActorDep,
    optional_actor,
)
from civicshare.accounts.models import ApiToken
from civicshare.accounts.service import AuthError
from civicshare.audit import service as audit
from civicshare.db import RowId, SessionDep
from civicshare.partners.models import Membership
from civicshare.web.forms import FormDep, field_errors
from civicshare.web.templating import render

router = APIRouter(include_in_schema=False)

# The sign-in form's CSRF token before there is a session: a double-submit cookie.
SIGN_IN_COOKIE = "civicshare_sign_in"
SIGN_IN_FORM_EXPIRED = (
    "This sign-in form has expired or did not come from this site. "
    "Enter your e-mail address and password again."
)


def _safe_next(target: str | None) -> str:
    # Only paths on this site: never an open redirect.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _sign_in_token(request: Request) -> str:
    """The sign-in form's CSRF token: the browser's pre-session cookie if it has a well-formed
    one (so two open tabs both work), else a new one."""
    token = request.cookies.get(SIGN_IN_COOKIE, "")
    return token if service.sign_in_token_ok(token) else service.new_sign_in_token()


def _sign_in_page(
    request: Request, session: Session, *, token: str, status_code: int = 200, **context
):
    context.setdefault("email", "")
    context.setdefault("next", "/")
    response = render(
        request,
        "accounts/sign_in.html",
        status_code=status_code,
        sign_in_token=token,
        providers=oidc.sign_in_options(session),
        **context,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/sign-in",
        max_age=int(service.SIGN_IN_TOKEN_LIFETIME.total_seconds()),
    )
    return response


@router.get("/sign-in")
def sign_in_form(
    *,
    request: Request,
    next: str = "/",
    actor=Depends(optional_actor),
    session: SessionDep,
):
    return _sign_in_page(
        request, session, token=_sign_in_token(request), next=_safe_next(next), errors={}
    )


def _client_address(request: Request) -> str:
    # The peer, or what a trusted proxy says it is (uvicorn's --forwarded-allow-ips).
    return request.client.host if request.client else "unknown"


@router.post("/sign-in")
def sign_in(request: Request, form: FormDep, session: SessionDep):
    email = str(form.get("email", ""))
    password = str(form.get("password", ""))
    next_path = _safe_next(str(form.get("next", "/")))
    cookie = request.cookies.get(SIGN_IN_COOKIE)
    if not service.sign_in_csrf_ok(cookie, form.get(CSRF_FIELD)):
        # Checked before anything else: a page elsewhere cannot sign a browser in as someone
        # (login CSRF), nor spend anyone's tries. A fresh form comes back to try again with.
        return _sign_in_page(
            request,
            session,
            token=service.new_sign_in_token(),
            status_code=403,
            next=next_path,
            errors={"sign-in": SIGN_IN_FORM_EXPIRED},
            email=email,
        )
    errors = {}
    if not email.strip():
        errors["email"] = "Enter your e-mail address"
    if not password:
        errors["password"] = "Enter your password"
    if not errors:
        try:
            person = service.authenticate(
                session, email, password, address=_client_address(request)
            )
        except AuthError as error:
            errors["password"] = str(error)
    if errors:
        # The failed try must be counted even though the page shows an error.
        session.commit()
        return _sign_in_page(
            request,
            session,
            token=cookie,
            status_code=400,
            next=next_path,
            errors=errors,
            email=email,
        )
    audit.record(session, None, "signed_in", "person", person.id, details={"via": "password"})
    return _signed_in_response(request, session, person, next_path)


def _signed_in_response(
    request: Request, session: Session, person, next_path: str, membership_id: int | None = None
) -> RedirectResponse:
    """A new web session for `person` (acting as `membership_id` when given), its cookie, and
    the way on. The same for every way of signing in."""
    # A new session id whatever the browser brought (session fixation): the old one ends.
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        service.end_session(session, previous)
    token, web_session = service.start_session(session, person)
    if membership_id is not None:
        web_session.membership_id = membership_id
    target = next_path if web_session.membership_id else "/choose-membership"
    if target != next_path:
        target += f"?next={next_path}"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=int(service.SESSION_LIFETIME.total_seconds()),
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


# -- signing in with a partner's own OpenID provider (decision 0015) -----------------------

# Binds a sign-in started at a provider to the browser that started it. SameSite=Lax: the
# provider sends the browser back with a top-level GET from its own site.
OIDC_COOKIE = "civicshare_oidc"
OIDC_COOKIE_PATH = "/sign-in/oidc"


def _oidc_refused(request: Request, session: Session, message: str, status_code: int = 400):
    response = _sign_in_page(
        request,
        session,
        token=_sign_in_token(request),
        status_code=status_code,
        errors={"oidc": message},
    )
    response.delete_cookie(OIDC_COOKIE, path=OIDC_COOKIE_PATH)
    return response


@router.get("/sign-in/oidc/callback", name="oidc_callback")
def oidc_callback(
    *,
    request: Request,
    state: str | None = None,
    code: str | None = None,
    error: str | None = None,
    session: SessionDep,
):
    try:
        signed_in = oidc.finish(
            session,
            state=state,
            code=code,
            error=error,
            browser_token=request.cookies.get(OIDC_COOKIE),
            redirect_uri=str(request.url_for("oidc_callback")),
        )
    except oidc.OidcError as refusal:
        # The attempt is used up and the refusal audited even though the page shows an error.
        session.commit()
        return _oidc_refused(request, session, str(refusal))
    response = _signed_in_response(
        request,
        session,
        signed_in.person,
        _safe_next(signed_in.next_path),
        membership_id=signed_in.membership.id,
    )
    response.delete_cookie(OIDC_COOKIE, path=OIDC_COOKIE_PATH)
    return response


@router.get("/sign-in/oidc/{partner}")
def oidc_start(
    *,
    request: Request,
    partner: str,
    next: str = "/",
    session: SessionDep,
):
    try:
        started = oidc.begin(
            session,
            partner,
            redirect_uri=str(request.url_for("oidc_callback")),
            next_path=_safe_next(next),
        )
    except oidc.OidcError as refusal:
        session.rollback()
        return _oidc_refused(request, session, str(refusal), status_code=404)
    response = RedirectResponse(started.authorization_url, status_code=303)
    response.set_cookie(
        OIDC_COOKIE,
        started.browser_token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=OIDC_COOKIE_PATH,
        max_age=int(oidc.ATTEMPT_LIFETIME.total_seconds()),
    )
    return response


@router.post("/sign-out")
def sign_out(
    *,
    request: Request,
    actor=Depends(optional_actor),
    session: SessionDep,
):
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        service.end_session(session, cookie)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _signed_in(request: Request) -> None:
    if request.state.web_session is None:
        raise HTTPException(401, "Sign in first.")


@router.get("/choose-membership")
def choose_membership_form(
    *,
    request: Request,
    next: str = "/",
    actor=Depends(optional_actor),
    session: SessionDep,
):
    _signed_in(request)
    memberships = service.active_memberships(session, request.state.web_session.person_id)
    return render(
        request,
        "accounts/choose_membership.html",
        memberships=memberships,
        next=_safe_next(next),
        error=None,
    )


@router.post("/choose-membership")
def choose_membership(
    *,
    request: Request,
    membership_id: int | None = Form(None),
    next: str = Form("/"),
    actor=Depends(optional_actor),
    session: SessionDep,
):
    _signed_in(request)
    web_session = request.state.web_session
    try:
        if membership_id is None:
            raise AuthError("Select the partner you are acting for")
        membership = service.choose_membership(session, web_session, membership_id)
        request.state.csrf_token = web_session.csrf_token
    except AuthError as error:
        return render(
            request,
            "accounts/choose_membership.html",
            status_code=400,
            memberships=service.active_memberships(session, web_session.person_id),
            next=_safe_next(next),
            error=str(error),
        )
    audit.record(
        session,
        service.actor_for(membership, "session"),
        "chose_membership",
        "membership",
        membership.id,
    )
    return RedirectResponse(_safe_next(next), status_code=303)


@router.get("/account/tokens")
def tokens_page(
    request: Request,
    actor: ActorDep,
    session: SessionDep,
):
    return _tokens_page(request, actor, session)


def _tokens_page(request, actor, session, *, status_code=200, new_secret=None, errors=None):
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.membership_id == actor.membership_id).order_by(ApiToken.id)
    ).all()
    return render(
        request,
        "accounts/tokens.html",
        status_code=status_code,
        tokens=tokens,
        scopes=service.SCOPES,
        new_secret=new_secret,
        errors=errors or {},
    )


@router.post("/account/tokens")
def create_token(
    request: Request,
    form: FormDep,
    actor: ActorDep,
    session: SessionDep,
):
    name = str(form.get("name", "")).strip()
    scopes = [str(scope) for scope in form.getlist("scopes")]
    errors = {}
    if not name:
        errors["name"] = "Enter what the token is for"
    try:
        days = int(str(form.get("days", "90")))
    except ValueError:
        days = 0
        errors["days"] = "Enter the number of days as a whole number, like 90"
    if not errors:
        try:
            membership = session.get(Membership, actor.membership_id)
            secret, token = service.create_api_token(
                session, membership, name=name, scopes=scopes, days=days
            )
        except AuthError as error:
            errors.update(field_errors(error, "days"))
    if errors:
        return _tokens_page(request, actor, session, status_code=400, errors=errors)
    audit.record(
        session,
        actor,
        "token_created",
        "api_token",
        token.id,
        details={"scopes": token.scopes, "name": name},
    )
    return _tokens_page(request, actor, session, new_secret=secret)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(
    request: Request,
    token_id: RowId,
    actor: ActorDep,
    session: SessionDep,
):
    service.revoke_api_token(session, token_id, actor.membership_id)
    audit.record(session, actor, "token_revoked", "api_token", token_id)
    return RedirectResponse("/account/tokens", status_code=303)
