"""Signing in with a partner's own OpenID provider (Microsoft Entra ID or any other).

The authorisation code flow with PKCE (S256), a `state` and a `nonce`; the code is exchanged at
the provider's token endpoint and the ID token checked (signature by the provider's published
keys, issuer, audience, expiry, nonce) with joserfc. The provider's groups claim decides the
roles of the person's membership of that partner. Decision 0015 says why it is built this way.

Nothing here knows HTTP requests or pages: `accounts/pages.py` is the adapter. Calls to the
provider are blocking; they run in the worker thread of a plain `def` route."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from civicshare.accounts.models import (
    Credential,
    CredentialKind,
    OidcSignInAttempt,
    PartnerOidc,
    TokenAuth,
)
from civicshare.audit import service as audit
from civicshare.core.errors import DomainError
from civicshare.db import utcnow
from civicshare.partners.models import (
    Membership,
    MembershipRole,
    Partner,
    PartnerStatus,
    Person,
    Role,
)

# A sign-in started at the provider must come back within this long.
ATTEMPT_LIFETIME = timedelta(minutes=10)
# The provider's discovery document and keys are fetched again after this long (and the keys
# at once when a token names a key the gateway has not seen: the provider rotated them).
METADATA_LIFETIME = timedelta(hours=1)
HTTP_TIMEOUT = 10.0
# Clocks differ a little between the provider and the gateway.
CLOCK_LEEWAY_SECONDS = 120
# Asymmetric signatures only: never "none", never a MAC keyed with the client secret.
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]
DEFAULT_SCOPES = "openid email profile"


class OidcError(Exception):
    """A sign-in with a provider that cannot go on, in words the person can act on."""


class OidcConfigError(DomainError, ValueError):
    """A partner's OIDC settings that cannot be used, naming the setting."""

    status = 422


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


# -- configuration (the host's operator, at the command line) -----------------------------


def _check_issuer(issuer: str) -> str:
    issuer = issuer.strip().rstrip("/")
    parts = urlsplit(issuer)
    if not parts.scheme or not parts.hostname:
        raise OidcConfigError(f"issuer {issuer!r} is not a URL like https://login.example/tenant")
    if parts.scheme != "https" and not _loopback(parts.hostname):
        raise OidcConfigError(
            f"issuer {issuer!r} must use https (plain http only for a provider on this machine)"
        )
    if parts.query or parts.fragment:
        raise OidcConfigError(f"issuer {issuer!r} must not have a query or fragment")
    return issuer


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_group_roles(pairs: Iterable[str]) -> dict[str, list[str]]:
    """["civicshare-ig=ig_lead", "civicshare-ig=viewer", "team=analyst"] -> a group's roles."""
    mapping: dict[str, set[str]] = {}
    for pair in pairs:
        group, sep, role = pair.rpartition("=")
        group, role = group.strip(), role.strip()
        if not sep or not group or not role:
            raise OidcConfigError(f"group mapping {pair!r} is not GROUP=ROLE")
        try:
            Role(role)
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise OidcConfigError(
                f"group mapping {pair!r}: {role!r} is not a role; roles are {allowed}"
            ) from None
        mapping.setdefault(group, set()).add(role)
    if not mapping:
        raise OidcConfigError("map at least one group to a role (--group GROUP=ROLE)")
    return {group: sorted(roles) for group, roles in sorted(mapping.items())}


def config_for(session: Session, partner_id: int) -> PartnerOidc | None:
    return session.scalars(
        select(PartnerOidc).where(PartnerOidc.partner_id == partner_id)
    ).one_or_none()


def configure(
    session: Session,
    partner: Partner,
    *,
    issuer: str,
    client_id: str,
    client_secret_env: str | None,
    group_roles: Mapping[str, list[str]],
    token_auth: TokenAuth | str = TokenAuth.client_secret_basic,
    scopes: str = DEFAULT_SCOPES,
    groups_claim: str = "groups",
    trust_email: bool = False,
    operator: dict | None = None,
) -> PartnerOidc:
    """Create or replace `partner`'s provider settings, and audit the change."""
    token_auth = TokenAuth(token_auth)
    issuer = _check_issuer(issuer)
    if not client_id.strip():
        raise OidcConfigError("client id is empty")
    scope_list = scopes.split()
    if "openid" not in scope_list:
        raise OidcConfigError(f"scopes {scopes!r} must include openid")
    if token_auth is TokenAuth.none:
        if client_secret_env:
            raise OidcConfigError("a public client (--token-auth none) takes no client secret")
    elif not client_secret_env:
        raise OidcConfigError(
            f"--token-auth {token_auth.value} needs --client-secret-env: the name of the "
            "environment variable that holds the client secret"
        )
    elif not client_secret_env.replace("_", "").isalnum() or client_secret_env[0].isdigit():
        raise OidcConfigError(
            f"client secret variable {client_secret_env!r} is not an environment variable name"
        )
    if not groups_claim.strip():
        raise OidcConfigError("groups claim is empty")
    group_roles = parse_group_roles(
        f"{group}={role}" for group, roles in group_roles.items() for role in roles
    )
    config = config_for(session, partner.id)
    before = _shown(config) if config is not None else None
    if config is None:
        config = PartnerOidc(partner_id=partner.id)
        session.add(config)
    config.issuer = issuer
    config.client_id = client_id.strip()
    config.client_secret_env = client_secret_env or None
    config.token_auth = token_auth
    config.scopes = " ".join(scope_list)
    config.groups_claim = groups_claim.strip()
    config.group_roles = group_roles
    config.trust_email = trust_email
    config.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        None,
        "oidc_configured",
        "partner",
        partner.key,
        details={**(operator or {}), "before": before, "after": _shown(config)},
    )
    return config


def remove(session: Session, partner: Partner, *, operator: dict | None = None) -> bool:
    """Stop `partner`'s people signing in with its provider (their password, if any, stays)."""
    config = config_for(session, partner.id)
    if config is None:
        return False
    before = _shown(config)
    session.delete(config)
    session.execute(delete(OidcSignInAttempt).where(OidcSignInAttempt.partner_id == partner.id))
    audit.record(
        session,
        None,
        "oidc_removed",
        "partner",
        partner.key,
        details={**(operator or {}), "before": before},
    )
    return True


def _shown(config: PartnerOidc) -> dict[str, Any]:
    """The settings as audited and shown: the secret's variable name, never the secret."""
    return {
        "issuer": config.issuer,
        "client_id": config.client_id,
        "client_secret_env": config.client_secret_env,
        "token_auth": TokenAuth(config.token_auth).value,
        "scopes": config.scopes,
        "groups_claim": config.groups_claim,
        "group_roles": config.group_roles,
        "trust_email": config.trust_email,
    }


def shown(config: PartnerOidc) -> dict[str, Any]:
    return _shown(config)


@dataclass(frozen=True)
class SignInOption:
    partner_key: str
    partner_name: str


def sign_in_options(session: Session) -> list[SignInOption]:
    """The partners whose people may sign in with their own provider, by name."""
    rows = session.execute(
        select(Partner.key, Partner.name)
        .join(PartnerOidc, PartnerOidc.partner_id == Partner.id)
        .where(Partner.status.not_in([PartnerStatus.left, PartnerStatus.suspended]))
        .order_by(Partner.name)
    )
    return [SignInOption(key, name) for key, name in rows]


# -- the provider's metadata and keys ------------------------------------------------------


@dataclass
class _Cached:
    value: Any
    fetched: float


_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()


def _http() -> httpx2.Client:
    return httpx2.Client(timeout=HTTP_TIMEOUT, follow_redirects=False)


def _get_json(url: str) -> dict[str, Any]:
    try:
        with _http() as client:
            response = client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        body = response.json()
    except (httpx2.HTTPError, ValueError) as error:
        raise OidcError(
            "Your organisation's sign-in service could not be reached or gave an answer the "
            "gateway did not understand. Try again in a few minutes, or use your e-mail "
            f"address and password if you have one. ({type(error).__name__})"
        ) from error
    if not isinstance(body, dict):
        raise OidcError("Your organisation's sign-in service gave an answer that is not JSON.")
    return body


def _cached(key: str, fetch, *, refresh: bool = False):
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and not refresh and now - hit.fetched < METADATA_LIFETIME.total_seconds():
        return hit.value
    value = fetch()
    with _cache_lock:
        _cache[key] = _Cached(value, now)
    return value


def discover(issuer: str) -> dict[str, Any]:
    """The provider's discovery document, whose `issuer` must be the one configured."""

    def fetch():
        document = _get_json(f"{issuer}/.well-known/openid-configuration")
        if str(document.get("issuer", "")).rstrip("/") != issuer:
            raise OidcError(
                "Your organisation's sign-in service names itself differently from the issuer "
                "the gateway was set up with; ask the partnership's admin to check it."
            )
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(field), str):
                raise OidcError(f"Your organisation's sign-in service does not publish {field}.")
        return document

    return _cached(f"discovery {issuer}", fetch)


def _keys(jwks_uri: str, *, refresh: bool = False) -> KeySet:
    return _cached(
        f"jwks {jwks_uri}", lambda: KeySet.import_key_set(_get_json(jwks_uri)), refresh=refresh
    )


def forget_cached_metadata() -> None:
    with _cache_lock:
        _cache.clear()


# -- starting a sign-in --------------------------------------------------------------------


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Started:
    authorization_url: str
    browser_token: str  # for the browser's cookie: binds the callback to this browser


def begin(
    session: Session, partner_key: str, *, redirect_uri: str, next_path: str = "/"
) -> Started:
    """Record a new attempt and give the URL to send the browser to at the provider."""
    partner, config = _partner_config(session, partner_key)
    document = discover(config.issuer)
    now = utcnow()
    # Attempts never finished are swept when others start (each lives ten minutes).
    session.execute(delete(OidcSignInAttempt).where(OidcSignInAttempt.expires_at <= now))
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters: RFC 7636 allows 43 to 128
    browser_token = secrets.token_urlsafe(32)
    session.add(
        OidcSignInAttempt(
            state_hash=_digest(state),
            browser_hash=_digest(browser_token),
            partner_id=partner.id,
            nonce=nonce,
            code_verifier=verifier,
            next_path=next_path[:500],
            expires_at=now + ATTEMPT_LIFETIME,
        )
    )
    session.flush()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": redirect_uri,
            "scope": config.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    endpoint = document["authorization_endpoint"]
    separator = "&" if "?" in endpoint else "?"
    return Started(f"{endpoint}{separator}{query}", browser_token)


def _partner_config(session: Session, partner_key: str) -> tuple[Partner, PartnerOidc]:
    partner = session.scalars(select(Partner).where(Partner.key == partner_key)).one_or_none()
    config = config_for(session, partner.id) if partner is not None else None
    if partner is None or config is None:
        raise OidcError("That partner does not sign in with its own organisation's account here.")
    if partner.status in (PartnerStatus.left, PartnerStatus.suspended):
        raise OidcError(f"{partner.name} is {partner.status.value}: no one can sign in for it.")
    return partner, config


# -- finishing it: the callback -------------------------------------------------------------

ATTEMPT_UNKNOWN = (
    "This sign-in has expired, was already used, or was started in another browser. "
    "Start again from the sign-in page."
)


@dataclass(frozen=True)
class SignedIn:
    person: Person
    membership: Membership
    next_path: str


def finish(
    session: Session,
    *,
    state: str | None,
    code: str | None,
    error: str | None,
    browser_token: str | None,
    redirect_uri: str,
) -> SignedIn:
    """Check the callback, exchange the code, check the ID token, and find or make the person
    and their membership with the roles their groups map to.

    Raises OidcError with a message for the person; refusals after the attempt was found are
    audited. Either way the attempt is gone (one use): commit `session` even when this raised."""
    attempt = None
    if state:
        attempt = session.scalars(
            select(OidcSignInAttempt).where(OidcSignInAttempt.state_hash == _digest(state))
        ).one_or_none()
    if attempt is None:
        raise OidcError(ATTEMPT_UNKNOWN)
    session.delete(attempt)  # used once, whatever happens next
    session.flush()
    browser_ok = bool(browser_token) and secrets.compare_digest(
        attempt.browser_hash, _digest(browser_token)
    )
    if not browser_ok or _aware(attempt.expires_at) <= utcnow():
        raise OidcError(ATTEMPT_UNKNOWN)
    partner = session.get(Partner, attempt.partner_id)
    try:
        partner, config = _partner_config(session, partner.key)
        if error:
            raise OidcError(
                "Your organisation's sign-in service did not sign you in "
                f"({error[:100]}). Try again, or ask your IT service desk."
            )
        if not code:
            raise OidcError("Your organisation's sign-in service sent no authorisation code.")
        document = discover(config.issuer)
        id_token = _exchange(config, document, code, attempt.code_verifier, redirect_uri)
        claims = _check_id_token(config, document, id_token, attempt.nonce)
        roles = roles_for(config, claims)
        person = _person_for(session, config, claims)
        membership = _membership_for(session, person, partner, roles)
    except OidcError as refusal:
        audit.record(
            session,
            None,
            "sign_in_refused",
            "partner",
            partner.key,
            details={"via": "oidc", "reason": str(refusal)},
        )
        raise
    audit.record(
        session,
        None,
        "signed_in",
        "person",
        person.id,
        details={
            "via": "oidc",
            "partner": partner.key,
            "issuer": config.issuer,
            "roles": sorted(r.value for r in membership.roles),
        },
    )
    return SignedIn(person, membership, attempt.next_path)


def _exchange(
    config: PartnerOidc, document: dict[str, Any], code: str, verifier: str, redirect_uri: str
) -> str:
    """The ID token for `code`, from the provider's token endpoint."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    auth = None
    token_auth = TokenAuth(config.token_auth)
    if token_auth is TokenAuth.none:
        form["client_id"] = config.client_id
    else:
        secret = os.environ.get(config.client_secret_env or "")
        if not secret:
            raise OidcError(
                "The gateway's secret for your organisation's sign-in service is not set up on "
                "the server. Ask the partnership's admin."
            )
        if token_auth is TokenAuth.client_secret_post:
            form |= {"client_id": config.client_id, "client_secret": secret}
        else:
            auth = httpx2.BasicAuth(config.client_id, secret)
    try:
        with _http() as client:
            response = client.post(
                document["token_endpoint"],
                data=form,
                auth=auth,
                headers={"Accept": "application/json"},
            )
        body = response.json()
    except (httpx2.HTTPError, ValueError) as error:
        raise OidcError(
            "Your organisation's sign-in service could not be reached to finish signing in. "
            f"Try again in a few minutes. ({type(error).__name__})"
        ) from error
    if response.status_code != 200 or not isinstance(body, dict):
        reason = body.get("error", response.status_code) if isinstance(body, dict) else "?"
        raise OidcError(
            "Your organisation's sign-in service refused to finish signing you in "
            f"({reason}). Start again from the sign-in page."
        )
    id_token = body.get("id_token")
    if not isinstance(id_token, str):
        raise OidcError("Your organisation's sign-in service sent no ID token.")
    return id_token


def _check_id_token(
    config: PartnerOidc, document: dict[str, Any], id_token: str, nonce: str
) -> dict[str, Any]:
    """The ID token's claims once its signature, issuer, audience, expiry and nonce hold."""
    try:
        try:
            token = jwt.decode(id_token, _keys(document["jwks_uri"]), ID_TOKEN_ALGORITHMS)
        except (JoseError, ValueError):
            # Perhaps signed with a key published since the gateway last fetched the keys.
            keys = _keys(document["jwks_uri"], refresh=True)
            token = jwt.decode(id_token, keys, ID_TOKEN_ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": config.issuer},
            aud={"essential": True, "value": config.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except (JoseError, ValueError) as error:
        raise OidcError(
            "The sign-in could not be checked: the identity token from your organisation's "
            f"sign-in service is not valid for this gateway ({_jose_reason(error)}). "
            "Start again from the sign-in page."
        ) from error
    claims = dict(token.claims)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != config.client_id:
        raise OidcError("The identity token was issued to another application (azp).")
    return claims


def _jose_reason(error: Exception) -> str:
    return getattr(error, "description", None) or str(error) or type(error).__name__


def roles_for(config: PartnerOidc, claims: Mapping[str, Any]) -> frozenset[Role]:
    """The roles the token's groups map to at this partner; refused when there are none."""
    value = claims.get(config.groups_claim)
    if value is None and config.groups_claim in (claims.get("_claim_names") or {}):
        raise OidcError(
            "You are in too many groups for your organisation's sign-in service to list them. "
            "Ask your IT team to send only the groups assigned to this application."
        )
    groups = [value] if isinstance(value, str) else list(value or [])
    roles = {
        Role(role)
        for group in groups
        if isinstance(group, str)
        for role in config.group_roles.get(group, [])
    }
    if not roles:
        raise OidcError(
            "Your organisation's account is not in any group that gives access to this gateway. "
            "Ask your information governance lead to add you to the right group."
        )
    return frozenset(roles)


def _person_for(session: Session, config: PartnerOidc, claims: Mapping[str, Any]) -> Person:
    """The person this provider's subject is: by their OIDC credential, else by a confirmed
    e-mail address (linking an existing person or adding a new one)."""
    issuer, subject = config.issuer, str(claims["sub"])
    credential = session.scalars(
        select(Credential).where(
            Credential.kind == CredentialKind.oidc,
            Credential.issuer == issuer,
            Credential.subject == subject,
        )
    ).one_or_none()
    if credential is not None:
        person = session.get(Person, credential.person_id)
    else:
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise OidcError(
                "Your organisation's sign-in service did not give your e-mail address, which "
                "the gateway needs the first time you sign in. Ask your IT team to send the "
                "email claim."
            )
        if not (config.trust_email or claims.get("email_verified") is True):
            raise OidcError(
                "Your organisation's sign-in service did not confirm your e-mail address, so "
                "the gateway cannot tell who you are here. Ask the partnership's admin."
            )
        email = email.strip().lower()
        person = session.scalars(select(Person).where(Person.email == email)).one_or_none()
        if person is None:
            name = claims.get("name")
            person = Person(
                email=email,
                display_name=(name.strip() if isinstance(name, str) and name.strip() else None)
                or email.split("@")[0],
            )
            session.add(person)
            session.flush()
            audit.record(
                session, None, "person_added", "person", person.id, details={"via": "oidc"}
            )
        credential = Credential(
            person_id=person.id, kind=CredentialKind.oidc, issuer=issuer, subject=subject
        )
        session.add(credential)
        session.flush()
        audit.record(
            session,
            None,
            "credential_linked",
            "person",
            person.id,
            details={"via": "oidc", "issuer": issuer},
        )
    if person is None or not person.active:
        raise OidcError(
            "Your account here is no longer active. Ask your partner's admin if this is wrong."
        )
    credential.last_used_at = utcnow()
    return person


def _membership_for(
    session: Session, person: Person, partner: Partner, roles: frozenset[Role]
) -> Membership:
    """The person's membership of `partner` with exactly `roles`: added when missing; roles
    the groups no longer grant are taken away. An ended membership is not reopened."""
    membership = session.scalars(
        select(Membership).where(
            Membership.person_id == person.id, Membership.partner_id == partner.id
        )
    ).one_or_none()
    if membership is None:
        membership = Membership(person=person, partner=partner, job_title="")
        session.add(membership)
        session.flush()
        audit.record(
            session,
            None,
            "membership_added",
            "membership",
            membership.id,
            details={"via": "oidc", "partner": partner.key},
        )
    elif not membership.active:
        raise OidcError(
            f"Your membership of {partner.name} here has ended. Ask {partner.name}'s admin if "
            "this is wrong."
        )
    before = membership.roles
    if before != roles:
        membership.role_grants = [g for g in membership.role_grants if g.role in roles] + [
            MembershipRole(role=role) for role in sorted(roles - before)
        ]
        session.flush()
        audit.record(
            session,
            None,
            "roles_changed",
            "membership",
            membership.id,
            details={
                "via": "oidc",
                "partner": partner.key,
                "before": sorted(r.value for r in before),
                "after": sorted(r.value for r in roles),
            },
        )
    return membership
