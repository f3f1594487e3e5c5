"""Signing in, web sessions, API tokens, and the Actor: one person acting as one membership."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from civicshare.accounts.models import (
    ApiToken,
    Credential,
    CredentialKind,
    SignInThrottle,
    ThrottleKind,
    WebSession,
)
from civicshare.core.errors import DomainError
from civicshare.core.identity import Actor, Role  # noqa: F401  (Actor re-exported)
from civicshare.db import utcnow
from civicshare.partners.models import Membership, Person

SESSION_LIFETIME = timedelta(hours=12)
SESSION_IDLE_TIMEOUT = timedelta(hours=2)
# Last use of a session or token is written at most this often: a write on every request makes
# concurrent requests queue for SQLite's one writer and for PostgreSQL's row lock.
LAST_USE_GRANULARITY = timedelta(minutes=1)
MIN_PASSWORD_LENGTH = 12
MAX_TOKEN_DAYS = 365
TOKEN_PREFIX = "cs_"

# What an API token may do, each in the plain words the token page shows. Every API route names
# the one it needs (`scope=` on civicshare.accounts.api.ApiRouter). A token may do only what its
# scopes allow and, within them, what its membership's roles allow; signed-in people have every
# scope (their roles still apply).
SCOPES = {
    "partners:read": "read partners, people and the charter",
    "partners:write": "change partners, people and the charter",
    "agreements:read": "read information sharing agreements",
    "agreements:write": "draft, amend and decide on agreements",
    "datasets:read": "list datasets, their contracts and snapshots",
    "datasets:write": "register dataset contracts and push datasets",
    "share:read": "pull shared data under an agreement",
    "incidents:read": "see incidents, their vulnerable households and logs, and break-glass "
    "use to review",
    "incidents:write": "open, move and close incidents, and record break-glass reviews",
    "works:read": "see the works programme your agreements share, its clashes and restrictions",
    "works:write": "publish your organisation's works programme",
    "discharge:read": "see discharge planning models, the discharge team's list and the demand "
    "forecast your agreements allow",
    "incidents:break-glass": "break glass in an incident and see the named people it opens",
    "counciltax:read": "see your district's single person discount review cases",
    "counciltax:review": "run your district's single person discount review and record outcomes",
    "index:read": "see the person index: its status, runs and clerical review queue",
    "index:review": "accept or reject pairs in the person index's review queue",
    "audit:read": "read the audit log",
    "rights:read": "see subject access requests (the rights desk) and your organisation's "
    "rectification and erasure tasks",
    "rights:write": "open and answer subject access requests, decide rectifications and "
    "erasures, and confirm your organisation's tasks",
    "benefits:read": "see what sharing produced month by month, the time it saved and the "
    "assumptions behind it",
    "benefits:write": "change the time-saved assumptions (the host partner's admins)",
    "events:read": "see and pull your organisation's life event notifications and record "
    "what you did about each",
    "events:write": "publish registrations (deaths) as the registration service",
    "objections:write": "record and withdraw residents' objections to a purpose, list them, "
    "and refresh the national data opt-out (IG leads)",
    "enquiries:read": "list and read members' enquiries raised under, or routed to, the "
    "token's membership",
    "enquiries:write": "raise members' enquiries (elected members); answer, question and "
    "transfer them (caseworkers)",
}

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AuthError(DomainError):
    """A sign-in or token problem, in words a user can act on."""


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
    session.add(credential)
    session.flush()


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    address: str = "unknown",
    now: datetime | None = None,
) -> Person:
    """The person with this e-mail and password, signing in from client `address`.

    Otherwise AuthError with SIGN_IN_FAILED, whatever the reason: an unknown e-mail, a wrong
    password, a person no longer active, or tries refused by a throttle (see decision 0014).
    Every case but the throttled one verifies one argon2 hash, so they take the same time; a
    throttled try checks no password at all, and throttling treats unknown and known e-mail
    addresses alike. Failures are recorded in `session`: commit it even though this raised."""
    now = now or utcnow()
    email = email.strip().lower()
    keys = _throttle_keys(email, address)
    throttles = _recent(_load_throttles(session, keys), now)
    if _throttled(throttles, now):
        raise AuthError(SIGN_IN_FAILED)
    row = session.execute(
        select(Person, Credential)
        .join(Credential, Credential.person_id == Person.id)
        .where(Person.email == email, Credential.kind == CredentialKind.password)
    ).one_or_none()
    person, credential = row if row is not None else (None, None)
    # Always one verification, and always before looking at whether the person is active.
    verified = _verify((credential and credential.secret_hash) or _DUMMY_HASH, password)
    if person is None or not verified or not person.active:
        _record_failure(session, keys, now)
        raise AuthError(SIGN_IN_FAILED)
    if ThrottleKind.pair in throttles:
        # A correct password clears its own e-mail-and-address count. The address count is
        # kept (one valid account must not reset a spraying address) and the account count
        # runs down by itself (a success must not reopen it to every stranger at once).
        session.delete(throttles[ThrottleKind.pair])
    credential.last_used_at = now
    if _hasher.check_needs_rehash(credential.secret_hash):
        credential.secret_hash = _hasher.hash(password)
    return person


def _verify(secret_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(secret_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- sign-in throttles ---------------------------------------------------------------------
#
# Three counts of recent failures, each with exponential back-off once it passes its free
# allowance: a client address (whatever e-mail it tries), an e-mail from one address (the
# "pair") and an e-mail from anywhere (the "account"). The account count applies only to
# addresses that have themselves failed for that e-mail recently, so strangers elsewhere cannot
# stop the real person signing in from an address of their own. Decision 0014 says why.

SIGN_IN_FAILED = (
    "The e-mail address or password is not right, or there have been too many tries. "
    "Wait a few minutes and try again, or ask your partner's admin."
)


@dataclass(frozen=True)
class ThrottleRule:
    free: int  # failures allowed before the back-off starts
    first_delay: timedelta  # the back-off after the free failures; doubles with each more


THROTTLE_RULES = {
    ThrottleKind.pair: ThrottleRule(free=5, first_delay=timedelta(seconds=30)),
    ThrottleKind.address: ThrottleRule(free=20, first_delay=timedelta(seconds=30)),
    ThrottleKind.account: ThrottleRule(free=20, first_delay=timedelta(seconds=30)),
}
THROTTLE_MAX_DELAY = timedelta(minutes=15)
# A count with no failure for this long starts again from nothing (and its row may be swept).
THROTTLE_FORGET_AFTER = timedelta(hours=1)


def _throttle_keys(email: str, address: str) -> dict[ThrottleKind, str]:
    """The digest of each throttle's key: no e-mail or client address is stored in the clear."""
    values = {
        ThrottleKind.address: address,
        ThrottleKind.pair: f"{email}\n{address}",
        ThrottleKind.account: email,
    }
    return {kind: _digest(f"{kind}\n{value}") for kind, value in values.items()}


def back_off(kind: ThrottleKind, failures: int) -> timedelta | None:
    """How long tries are refused after the failures-th failure in a row (None: not at all)."""
    rule = THROTTLE_RULES[kind]
    if failures < rule.free:
        return None
    doublings = min(failures - rule.free, 16)  # 30 s * 2**16 is far past the cap already
    return min(rule.first_delay * 2**doublings, THROTTLE_MAX_DELAY)


def _recent(rows: dict[ThrottleKind, SignInThrottle], now: datetime):
    return {
        kind: row
        for kind, row in rows.items()
        if _aware(row.last_failure_at) + THROTTLE_FORGET_AFTER > now
    }


def _load_throttles(session: Session, keys: dict[ThrottleKind, str]):
    kind_of = {digest: kind for kind, digest in keys.items()}
    rows = session.scalars(
        select(SignInThrottle).where(SignInThrottle.key_hash.in_(list(keys.values())))
    )
    return {kind_of[row.key_hash]: row for row in rows}


def _throttled(rows: dict[ThrottleKind, SignInThrottle], now: datetime) -> bool:
    """Whether this try is refused unchecked, given its keys' recent rows."""

    def blocked(kind: ThrottleKind) -> bool:
        row = rows.get(kind)
        return bool(row and row.blocked_until and _aware(row.blocked_until) > now)

    return (
        blocked(ThrottleKind.address)
        or blocked(ThrottleKind.pair)
        # Only for an address that has itself failed for this e-mail lately: a correct
        # password from anywhere else still gets in while strangers hammer the account.
        or (blocked(ThrottleKind.account) and ThrottleKind.pair in rows)
    )


def _upsert(session: Session):
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _record_failure(session: Session, keys: dict[ThrottleKind, str], now: datetime) -> None:
    """Count one failure against each key, in one atomic statement each (concurrent failures
    from several workers all count), and start or lengthen its back-off."""
    table = SignInThrottle.__table__
    insert = _upsert(session)
    forgotten = table.c.last_failure_at <= now - THROTTLE_FORGET_AFTER
    for kind, digest in keys.items():
        statement = insert(table).values(
            key_hash=digest, kind=kind, failures=1, last_failure_at=now, blocked_until=None
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.key_hash],
            set_={
                "failures": case((forgotten, 1), else_=table.c.failures + 1),
                "last_failure_at": now,
            },
        ).returning(table.c.id, table.c.failures)
        row_id, failures = session.execute(statement).one()
        delay = back_off(kind, failures)
        if delay is not None:
            session.execute(
                update(table).where(table.c.id == row_id).values(blocked_until=now + delay)
            )
    # Sweep what nobody remembers any more; only on a failure, so other requests never write.
    session.execute(delete(table).where(table.c.last_failure_at <= now - THROTTLE_FORGET_AFTER))


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


# -- the sign-in form's CSRF token (before there is a session) -----------------------------

SIGN_IN_TOKEN_LIFETIME = timedelta(hours=2)


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(32)


def sign_in_token_ok(token: str | None) -> bool:
    """Well-formed: 43 URL-safe characters, as new_sign_in_token() makes."""
    return (
        isinstance(token, str) and len(token) == 43 and all(c.isalnum() or c in "-_" for c in token)
    )


def sign_in_csrf_ok(cookie: str | None, presented: object) -> bool:
    """Double submit: the form field must equal the browser's pre-session cookie, which a page
    on another site can neither read nor send (SameSite=Strict)."""
    return (
        sign_in_token_ok(cookie)
        and isinstance(presented, str)
        and hmac.compare_digest(cookie, presented)
    )


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
        raise AuthError(
            f"Unknown scope {', '.join(unknown)}; choose from {', '.join(SCOPES)}.", field="scopes"
        )
    if not scopes:
        raise AuthError("A token needs at least one scope.", field="scopes")
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise AuthError(f"A token must expire within 1 to {MAX_TOKEN_DAYS} days.", field="days")
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


def token_actor(session: Session, secret: str, via: str = "token") -> Actor:
    """Who an API token acts as, for the command line; refused when the token is unknown,
    expired or revoked, or its membership has ended."""
    token = resolve_api_token(session, secret)
    membership = session.get(Membership, token.membership_id) if token else None
    if membership is None or not membership.active:
        raise AuthError("The API token is unknown, expired or revoked.", field="token", status=401)
    return actor_for(membership, via, frozenset(token.scopes))


def revoke_api_token(session: Session, token_id: int, by_membership_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.membership_id != by_membership_id:
        raise AuthError("No such token for this membership.", status=404)
    token.revoked_at = utcnow()
    return token
