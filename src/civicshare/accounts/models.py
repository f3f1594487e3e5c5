"""Credentials, sessions and tokens. Identity (partners.Person) is kept apart from these so
that another way to sign in (OIDC with Microsoft Entra ID) is one more credential kind."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from civicshare.db import Base, Timestamped, text_enum


class CredentialKind(enum.StrEnum):
    password = "password"
    oidc = "oidc"


class Credential(Timestamped, Base):
    """One way for a person to sign in: an argon2 password hash, or an OIDC issuer + subject."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("kind", "issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    kind: Mapped[CredentialKind] = mapped_column(text_enum(CredentialKind, "credential_kind"))
    issuer: Mapped[str] = mapped_column(String(300), default="local")
    subject: Mapped[str] = mapped_column(String(300))
    secret_hash: Mapped[str | None] = mapped_column(String(300))
    last_used_at: Mapped[datetime | None]


class WebSession(Timestamped, Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    membership_id: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE")
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class ApiToken(Timestamped, Base):
    """Automation acting as one membership, limited to scopes, until it expires or is revoked."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class ThrottleKind(enum.StrEnum):
    address = "address"  # one client address, whatever e-mail it tries
    pair = "pair"  # one e-mail address from one client address
    account = "account"  # one e-mail address from anywhere


class SignInThrottle(Base):
    """Recent failed sign-ins for one key, and until when further tries are refused.

    Written only when a sign-in fails (and deleted when one succeeds), never on other requests.
    The key is a SHA-256 digest of the kind and the e-mail and/or client address, so the table
    holds no address in the clear; keys for unknown e-mail addresses are kept like any other."""

    __tablename__ = "sign_in_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[ThrottleKind] = mapped_column(text_enum(ThrottleKind, "throttle_kind"))
    failures: Mapped[int]
    last_failure_at: Mapped[datetime]
    blocked_until: Mapped[datetime | None]


class TokenAuth(enum.StrEnum):
    """How the gateway proves itself at a provider's token endpoint."""

    client_secret_basic = "client_secret_basic"  # HTTP Basic (Entra ID accepts either)
    client_secret_post = "client_secret_post"  # client_id and client_secret in the form
    none = "none"  # a public client: PKCE alone


class PartnerOidc(Timestamped, Base):
    """How one partner's people sign in with their own organisation's OpenID provider.

    The client secret is never stored: `client_secret_env` names the environment variable of
    the server process that holds it. `group_roles` maps a value of the groups claim to the
    roles it grants at this partner, e.g. {"civicshare-ig": ["ig_lead"]}."""

    __tablename__ = "partner_oidc"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), unique=True
    )
    issuer: Mapped[str] = mapped_column(String(300))
    client_id: Mapped[str] = mapped_column(String(300))
    client_secret_env: Mapped[str | None] = mapped_column(String(100))
    token_auth: Mapped[TokenAuth] = mapped_column(
        text_enum(TokenAuth, "token_auth"), default=TokenAuth.client_secret_basic
    )
    scopes: Mapped[str] = mapped_column(String(300), default="openid email profile")
    groups_claim: Mapped[str] = mapped_column(String(100), default="groups")
    group_roles: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    trust_email: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime | None]


class OidcSignInAttempt(Base):
    """One sign-in started at a provider and not yet finished: what the callback checks.

    Found by the digest of `state`, bound to the browser that started it by the digest of a
    random cookie, used once (deleted by the callback, whatever its outcome), and dead after
    OIDC_ATTEMPT_LIFETIME. The nonce and PKCE verifier never leave the server."""

    __tablename__ = "oidc_sign_in_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[datetime]
