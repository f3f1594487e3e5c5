"""Signing in, web sessions, API tokens, and the Actor: one person acting as one membership."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.models import ApiToken, Credential, CredentialKind, WebSession
from civicshare.db import utcnow
from civicshare.partners.models import Membership, Person, Role

SESSION_LIFETIME = timedelta(hours=12)
SESSION_IDLE_TIMEOUT = timedelta(hours=2)
# Last use of a session or token is written at most this often: a write on every request makes
# concurrent requests queue for SQLite's one writer and for PostgreSQL's row lock.
LAST_USE_GRANULARITY = timedelta(minutes=1)
MAX_FAILED_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
MAX_TOKEN_DAYS = 365
TOKEN_PREFIX = "cs_"

# What an API token may be limited to. Signed-in people have every scope; roles still apply.
SCOPES = {
    "partners:read": "read partners, people and the charter",
    "partners:write": "change partners, people and the charter",
    "agreements:read": "read information sharing agreements",
    "agreements:write": "draft, amend and decide on agreements",
    "datasets:write": "push datasets",
    "share:read": "pull shared data under an agreement",
    "audit:read": "read the audit log",
}

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AuthError(Exception):
    """A sign-in or token problem, in words a user can act on."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, as which membership. Permissions come from this one membership only."""

    person_id: int
    person_name: str
    membership_id: int
    partner_id: int
    partner_key: str
    partner_name: str
    roles: frozenset[Role]
    via: str  # "session", "token" or "cli"
    scopes: frozenset[str] | None = None  # None: every scope (signed-in people, the CLI)

    def has_role(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    @property
    def label(self) -> str:
        return f"{self.person_name} ({self.partner_name})"


def actor_for(membership: Membership, via: str, scopes: frozenset[str] | None = None) -> Actor:
    return Actor(
        person_id=membership.person.id,
        person_name=membership.person.display_name,
        membership_id=membership.id,
        partner_id=membership.partner.id,
        partner_key=membership.partner.key,
        partner_name=membership.partner.name,
        roles=membership.roles,
        via=via,
        scopes=scopes,
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


def _stale(last_use: datetime | None, now: datetime) -> bool:
    return last_use is None or _aware(last_use) + LAST_USE_GRANULARITY <= now


# -- passwords -----------------------------------------------------------------------------


def set_password(session: Session, person: Person, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"A password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    credential = session.scalars(
        select(Credential).where(
            Credential.person_id == person.id, Credential.kind == CredentialKind.password
        )
    ).one_or_none() or Credential(
        person_id=person.id, kind=CredentialKind.password, subject=person.email
    )
    credential.secret_hash = _hasher.hash(password)
    credential.failed_attempts = 0
    credential.locked_until = None
    session.add(credential)
    session.flush()


def authenticate(session: Session, email: str, password: str) -> Person:
    """The person with this e-mail and password; AuthError otherwise (the same message whether
    the e-mail or the password was wrong)."""
    wrong = AuthError("The e-mail address or password is not right.")
    row = session.execute(
        select(Person, Credential)
        .join(Credential, Credential.person_id == Person.id)
        .where(Person.email == email.strip().lower(), Credential.kind == CredentialKind.password)
    ).one_or_none()
    if row is None:
        _verify(_DUMMY_HASH, password)
        raise wrong
    person, credential = row
    now = utcnow()
    if credential.locked_until and _aware(credential.locked_until) > now:
        raise AuthError(
            "This account is locked for 15 minutes after too many wrong passwords. "
            "Try again later or ask your partner's admin."
        )
    if not person.active or not _verify(credential.secret_hash or _DUMMY_HASH, password):
        credential.failed_attempts += 1
        if credential.failed_attempts >= MAX_FAILED_ATTEMPTS:
            credential.locked_until = now + LOCKOUT
            credential.failed_attempts = 0
        raise wrong
    credential.failed_attempts = 0
    credential.last_used_at = now
    if _hasher.check_needs_rehash(credential.secret_hash):
        credential.secret_hash = _hasher.hash(password)
    return person


def _verify(secret_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(secret_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- memberships ---------------------------------------------------------------------------


def active_memberships(session: Session, person_id: int) -> list[Membership]:
    from civicshare.partners.models import Partner, PartnerStatus

    return list(
        session.scalars(
            select(Membership)
            .join(Partner)
            .where(
                Membership.person_id == person_id,
                Membership.active.is_(True),
                Partner.status.not_in([PartnerStatus.left, PartnerStatus.suspended]),
            )
            .order_by(Partner.name)
        )
    )


def membership_of(session: Session, person_id: int, membership_id: int) -> Membership:
    for membership in active_memberships(session, person_id):
        if membership.id == membership_id:
            return membership
    raise AuthError("You are not an active member of that partner.")


# -- web sessions --------------------------------------------------------------------------


def start_session(session: Session, person: Person) -> tuple[str, WebSession]:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    web_session = WebSession(
        token_hash=_digest(token),
        person_id=person.id,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=now + SESSION_LIFETIME,
        last_seen_at=now,
    )
    memberships = active_memberships(session, person.id)
    if len(memberships) == 1:  # the only choice there is
        web_session.membership_id = memberships[0].id
    session.add(web_session)
    session.flush()
    return token, web_session


def resolve_session(session: Session, token: str) -> WebSession | None:
    web_session = session.scalars(
        select(WebSession).where(WebSession.token_hash == _digest(token))
    ).one_or_none()
    if web_session is None:
        return None
    now = utcnow()
    if (
        _aware(web_session.expires_at) <= now
        or _aware(web_session.last_seen_at) + SESSION_IDLE_TIMEOUT <= now
    ):
        session.delete(web_session)
        return None
    if _stale(web_session.last_seen_at, now):
        web_session.last_seen_at = now
    return web_session


def choose_membership(session: Session, web_session: WebSession, membership_id: int) -> Membership:
    membership = membership_of(session, web_session.person_id, membership_id)
    web_session.membership_id = membership.id
    # A new acting identity gets a new CSRF token: forms from the old one stop working.
    web_session.csrf_token = secrets.token_urlsafe(32)
    return membership


def end_session(session: Session, token: str) -> None:
    web_session = session.scalars(
        select(WebSession).where(WebSession.token_hash == _digest(token))
    ).one_or_none()
    if web_session is not None:
        session.delete(web_session)


def csrf_ok(web_session: WebSession, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(web_session.csrf_token, presented)


# -- API tokens ----------------------------------------------------------------------------


def create_api_token(
    session: Session,
    membership: Membership,
    *,
    name: str,
    scopes: list[str],
    days: int,
) -> tuple[str, ApiToken]:
    """A new token; the secret is returned once and only its digest is kept."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise AuthError(f"Unknown scope {', '.join(unknown)}; choose from {', '.join(SCOPES)}.")
    if not scopes:
        raise AuthError("A token needs at least one scope.")
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise AuthError(f"A token must expire within 1 to {MAX_TOKEN_DAYS} days.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        token_hash=_digest(secret),
        prefix=secret[:10],
        name=name,
        membership_id=membership.id,
        scopes=sorted(set(scopes)),
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(token)
    session.flush()
    return secret, token


def resolve_api_token(session: Session, secret: str) -> ApiToken | None:
    token = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == _digest(secret))
    ).one_or_none()
    now = utcnow()
    if token is None or token.revoked_at is not None or _aware(token.expires_at) <= now:
        return None
    if _stale(token.last_used_at, now):
        token.last_used_at = now
    return token


def revoke_api_token(session: Session, token_id: int, by_membership_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.membership_id != by_membership_id:
        raise AuthError("No such token for this membership.")
    token.revoked_at = utcnow()
    return token
