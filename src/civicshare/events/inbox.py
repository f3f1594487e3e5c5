"""What a recipient partner does with its notifications (pull, acknowledge, record the outcome,
export), what an admin does with the outbox (list, replay), and the signed registration API.

Every change is audited; nothing here carries a name, an address or an NHS number.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from civicshare import csvsafe
from civicshare.accounts.service import Actor, actor_for
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.db import utcnow
from civicshare.events import keys as event_keys
from civicshare.events import outbox
from civicshare.events.models import (
    DeliveryStatus,
    EventKey,
    EventNotification,
    KeyKind,
)
from civicshare.events.receiver import Receiver, Refused
from civicshare.events.service import OUTCOMES, EventsError
from civicshare.partners import service as partners
from civicshare.partners.models import Role

REGISTRATION_SYSTEM_EMAIL = "registration-system@civicshare.invalid"
INBOX_COLUMNS = (
    "sequence",
    "delivery_id",
    "event_reference",
    "event_type",
    "date_of_death",
    "event_date",
    "new_address",
    "new_postcode",
    "your_records",
    "action",
    "status",
    "outcome",
    "outcome_note",
    "outcome_at",
)


def may_administer(actor: Actor, settings: Settings) -> bool:
    """The outbox and its dead letters belong to the gateway's host: its admins see them."""
    return actor.partner_key == settings.host_partner and actor.has_role(Role.admin)


def _require_admin(actor: Actor | None, settings: Settings) -> None:
    if actor is not None and not may_administer(actor, settings):  # None: the operator
        raise EventsError(
            "Only an admin of the partner that runs the gateway can see and replay deliveries.",
            status=403,
        )


def _notification(session: Session, notification_id: int) -> EventNotification:
    found = session.get(EventNotification, notification_id)
    if found is None:
        raise EventsError(f"There is no notification {notification_id}.", field="id", status=404)
    return found


# -- the recipient ----------------------------------------------------------------------------


def inbox(
    session: Session, actor: Actor, *, after: int = 0, pending_only: bool = False, limit: int = 500
) -> list[EventNotification]:
    """The acting partner's notifications in sequence order, after the cursor `after`."""
    query = (
        select(EventNotification)
        .options(selectinload(EventNotification.event))
        .where(EventNotification.recipient == actor.partner_key)
        .where(EventNotification.sequence > after)
        .order_by(EventNotification.sequence)
        .limit(min(max(limit, 1), 1000))
    )
    if pending_only:
        query = query.where(EventNotification.status == DeliveryStatus.pending)
    return list(session.scalars(query))


def acknowledge(
    session: Session, actor: Actor, upto: int, *, via: str = "api"
) -> list[EventNotification]:
    """Mark the acting partner's pending notifications up to sequence `upto` as pulled."""
    rows = list(
        session.scalars(
            select(EventNotification).where(
                EventNotification.recipient == actor.partner_key,
                EventNotification.status == DeliveryStatus.pending,
                EventNotification.sequence <= upto,
            )
        )
    )
    now = utcnow()
    entries = []
    for row in rows:
        row.status, row.delivered_at = DeliveryStatus.pulled, now
        entries.append(
            audit.Entry(
                actor,
                "events.notification_pulled",
                "event_notification",
                row.id,
                {"details": {"delivery_id": row.delivery_id, "sequence": row.sequence, "via": via}},
            )
        )
    audit.append_many(session, entries)
    return rows


def record_outcome(
    session: Session, actor: Actor, notification_id: int, outcome: str, note: str = ""
) -> EventNotification:
    """The recipient's record of what it did about one notification."""
    row = _notification(session, notification_id)
    if row.recipient != actor.partner_key:
        raise EventsError("That notification is not for your organisation.", status=404)
    if outcome not in OUTCOMES:
        raise EventsError(
            f"{outcome!r} is not an outcome: use one of {', '.join(OUTCOMES)}.", field="outcome"
        )
    note = note.strip()
    refusal = audit.identifier_refusal("The note", note)
    if refusal:
        raise EventsError(refusal, field="note", status=422)
    if len(note) > 1000:
        raise EventsError("The note is over 1,000 characters.", field="note")
    row.outcome, row.outcome_note = outcome, note
    row.outcome_by, row.outcome_at = actor.label, utcnow()
    audit.record(
        session,
        actor,
        "events.outcome_recorded",
        "event_notification",
        row.id,
        reason=OUTCOMES[outcome],
        details={"delivery_id": row.delivery_id, "outcome": outcome},
    )
    return row


def inbox_row(row: EventNotification) -> dict[str, Any]:
    event = row.payload.get("event", {})
    return {
        "id": row.id,
        "sequence": row.sequence,
        "delivery_id": row.delivery_id,
        "event_reference": event.get("reference"),
        "event_type": row.payload.get("type"),
        "date_of_death": event.get("date_of_death"),
        # The date of death, of the child's birth or of the move, as the agreement granted it.
        "event_date": row.event_date.isoformat() if row.event_date else None,
        # Only where the recipient's agreement grants the new address (changes of address).
        "new_address": event.get("new_address"),
        "new_postcode": event.get("new_postcode"),
        "your_records": "; ".join(
            f"{r['dataset']} {r['record_id']}" for r in row.payload.get("records", [])
        ),
        "records": row.payload.get("records", []),
        "action": row.action,
        "status": row.status.value,
        "outcome": row.outcome,
        "outcome_note": row.outcome_note,
        "outcome_at": row.outcome_at.isoformat() if row.outcome_at else None,
        "payload": row.payload,
    }


def inbox_csv(rows: list[EventNotification]) -> str:
    """The inbox as CSV, every cell a spreadsheet could run made safe (csvsafe)."""
    return csvsafe.rows_text(
        [[inbox_row(r)[c] for c in INBOX_COLUMNS] for r in rows], INBOX_COLUMNS
    )


# -- the admin: the outbox and the dead-letter list -------------------------------------------


def deliveries(
    session: Session,
    actor: Actor | None,
    settings: Settings,
    *,
    status: str | None = None,
    limit: int = 200,
) -> list[EventNotification]:
    _require_admin(actor, settings)
    query = (
        select(EventNotification)
        .options(selectinload(EventNotification.event))
        .order_by(EventNotification.id.desc())
        .limit(min(max(limit, 1), 1000))
    )
    if status:
        try:
            wanted = DeliveryStatus(status)
        except ValueError:
            raise EventsError(
                f"{status!r} is not a delivery status: use one of "
                + ", ".join(s.value for s in DeliveryStatus),
                field="status",
            ) from None
        query = query.where(EventNotification.status == wanted)
    return list(session.scalars(query))


def replay(
    session: Session, settings: Settings, actor: Actor | None, notification_id: int
) -> EventNotification:
    """Send a dead-lettered (or delivered) notification again, once, now."""
    _require_admin(actor, settings)
    row = _notification(session, notification_id)
    if row.status == DeliveryStatus.pending:
        raise EventsError(
            f"Notification {row.id} is still in the outbox: the worker sends it.", status=409
        )
    if row.status == DeliveryStatus.pulled:
        raise EventsError(f"Notification {row.id} was pulled by its recipient.", status=409)
    audit.record(
        session,
        actor,
        "events.replay_requested",
        "event_notification",
        row.id,
        details={"delivery_id": row.delivery_id, "was": row.status.value},
    )
    outbox.replay(session, settings, row, actor)
    return row


def delivery_row(row: EventNotification) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_reference": row.event.reference,
        "recipient": row.recipient,
        "sequence": row.sequence,
        "delivery_id": row.delivery_id,
        "status": row.status.value,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "last_error": row.last_error,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
    }


# -- the signed registration API --------------------------------------------------------------

_seen_lock = threading.Lock()
_seen: dict[str, float] = {}  # delivery ids of signed registrations taken (this process)


def registration_system_actor(session: Session, partner_key: str) -> Actor:
    """The registration system's service membership of its partner (a data provider)."""
    partner = partners.get_by_key(session, partner_key)
    person = partners.get_person_by_email(
        session, REGISTRATION_SYSTEM_EMAIL
    ) or partners.create_person(
        session, email=REGISTRATION_SYSTEM_EMAIL, display_name="Registration system (signed API)"
    )
    membership = next((m for m in person.memberships if m.partner_id == partner.id), None)
    if membership is None:
        membership = partners.add_membership(session, person, partner, [Role.data_provider])
    return actor_for(membership, "signed")


def verify_signed(
    session: Session, settings: Settings, headers: Mapping[str, str], body: bytes
) -> Actor:
    """The registration system a signed request comes from (its inbound key's partner), or
    EventsError 401: bad or unknown signature, a time outside the replay window, or an id seen
    before."""
    from civicshare.events.receiver import SIGNATURE_HEADER, parse_signature

    header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
    try:
        _, signatures = parse_signature(header)
    except Refused as refused:
        raise EventsError(str(refused), field="signature", status=401) from None
    key_ids = [kid for kid, _ in signatures]
    row = session.scalars(
        select(EventKey).where(EventKey.key_id.in_(key_ids), EventKey.kind == KeyKind.inbound)
    ).first()
    if row is None:
        raise EventsError("Signed with no inbound key the gateway holds.", status=401)
    held = dict(event_keys.active_keys(session, settings, row.partner, KeyKind.inbound))
    receiver = Receiver(held, window_seconds=settings.events_replay_window_seconds)
    try:
        delivery_id = receiver.check(headers, body)
    except Refused as refused:
        raise EventsError(f"Refused: {refused}", field="signature", status=401) from None
    now = time.time()
    with _seen_lock:
        horizon = now - 2 * settings.events_replay_window_seconds
        for old in [k for k, at in _seen.items() if at < horizon]:
            del _seen[old]
        if delivery_id in _seen:
            raise EventsError(f"Request {delivery_id} was received before (a replay).", status=409)
        _seen[delivery_id] = now
    return registration_system_actor(session, row.partner)


def day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
