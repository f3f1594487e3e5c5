"""Webhook endpoints and the HMAC keys that sign deliveries (and a registration system's posts).

A secret is made by the gateway, shown once, and kept encrypted: AES-256-GCM under a fresh data
key wrapped by the gateway's key-encryption key (identity.new_data_key), as snapshots are.
Rotating makes a new key and keeps the previous one signing alongside it until its retirement
time, so a partner can install the new secret without missing a delivery.
"""

from __future__ import annotations

import base64
import os
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.core.errors import DomainError
from civicshare.db import utcnow
from civicshare.events.models import EventEndpoint, EventKey, KeyKind

SECRET_AAD = b"civicshare event key v1"


class EndpointError(DomainError):
    """An endpoint or key request that cannot be met."""


def _seal(settings: Settings, secret: str) -> tuple[str, str]:
    from civicshare.identity import service as identity

    data_key, wrapped = identity.new_data_key(settings)
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(data_key).encrypt(nonce, secret.encode(), SECRET_AAD)
    return wrapped, base64.b64encode(sealed).decode()


def _open(settings: Settings, key: EventKey) -> bytes:
    from civicshare.identity import service as identity

    data_key = identity.unwrap_data_key(settings, key.wrapped_data_key)
    raw = base64.b64decode(key.secret_encrypted)
    return AESGCM(data_key).decrypt(raw[:12], raw[12:], SECRET_AAD)


def _as_utc(moment: datetime | None) -> datetime | None:
    from datetime import UTC

    if moment is not None and moment.tzinfo is None:  # SQLite gives naive datetimes back
        return moment.replace(tzinfo=UTC)
    return moment


def active_keys(
    session: Session, settings: Settings, partner: str, kind: KeyKind, now: datetime | None = None
) -> list[tuple[str, bytes]]:
    """(key id, secret) of every key that signs now: the newest first."""
    now = now or utcnow()
    rows = session.scalars(
        select(EventKey)
        .where(EventKey.partner == partner, EventKey.kind == kind)
        .order_by(EventKey.id.desc())
    ).all()
    return [
        (row.key_id, _open(settings, row))
        for row in rows
        if row.retires_at is None or _as_utc(row.retires_at) > now
    ]


def key_rows(session: Session, partner: str, kind: KeyKind) -> list[EventKey]:
    return list(
        session.scalars(
            select(EventKey)
            .where(EventKey.partner == partner, EventKey.kind == kind)
            .order_by(EventKey.id.desc())
        )
    )


def rotate(
    session: Session,
    settings: Settings,
    actor: Actor | None,
    partner: str,
    kind: KeyKind,
    *,
    overlap: timedelta | None = None,
    now: datetime | None = None,
) -> tuple[str, str]:
    """A new key for the partner (the first, or the next in a rotation): (key id, secret). The
    secret is returned this once. Keys still signing retire after `overlap` (default the
    setting events_key_overlap_hours)."""
    now = now or utcnow()
    overlap = overlap if overlap is not None else timedelta(hours=settings.events_key_overlap_hours)
    retired = []
    for row in key_rows(session, partner, kind):
        if row.retires_at is None or _as_utc(row.retires_at) > now + overlap:
            row.retires_at = now + overlap
            retired.append(row.key_id)
    key_id = "k_" + secrets.token_hex(4)
    secret = "whsec_" + secrets.token_urlsafe(32)
    wrapped, sealed = _seal(settings, secret)
    session.add(
        EventKey(
            partner=partner,
            kind=kind,
            key_id=key_id,
            wrapped_data_key=wrapped,
            secret_encrypted=sealed,
            created_at=now,
        )
    )
    session.flush()
    audit.record(
        session,
        actor,
        "events.key_rotated",
        "event_key",
        key_id,
        reason=f"New {kind.value} signing key for {partner}.",
        details={"partner": partner, "kind": kind.value, "retiring": retired},
    )
    return key_id, secret


def endpoint_of(session: Session, partner: str) -> EventEndpoint | None:
    return session.scalars(select(EventEndpoint).where(EventEndpoint.partner == partner)).first()


def endpoints(session: Session) -> dict[str, str]:
    """partner key -> webhook URL, for every partner with one."""
    return {row.partner: row.url for row in session.scalars(select(EventEndpoint))}


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise EndpointError("The webhook URL must be an http(s) URL with a host.", field="url")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise EndpointError(
            "The webhook URL must use https (plain http only to this machine, for testing).",
            field="url",
        )
    return url


def set_endpoint(
    session: Session,
    settings: Settings,
    actor: Actor | None,
    partner: str,
    url: str | None,
) -> tuple[EventEndpoint | None, tuple[str, str] | None]:
    """Set (or with None remove) the partner's webhook URL. The first time, a signing key is
    made too: returned (key id, secret) that once; None otherwise."""
    row = endpoint_of(session, partner)
    if url is None:
        if row is not None:
            session.delete(row)
            audit.record(session, actor, "events.endpoint_removed", "event_endpoint", partner)
        return None, None
    url = check_url(url)
    label = actor.label if actor else audit.SYSTEM
    if row is None:
        row = EventEndpoint(partner=partner, url=url, updated_by=label)
        session.add(row)
    else:
        row.url, row.updated_at, row.updated_by = url, utcnow(), label
    session.flush()
    audit.record(
        session, actor, "events.endpoint_set", "event_endpoint", partner, details={"url": url}
    )
    new_key = None
    if not active_keys(session, settings, partner, KeyKind.webhook):
        new_key = rotate(session, settings, actor, partner, KeyKind.webhook)
    return row, new_key
